package report_test

import (
	"context"
	"io"
	"testing"

	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/internal/runner"
)

// BenchmarkFiles writes token_metrics.csv and request_metrics.csv of a
// splitwise-conv-8qps run (and computes its key results) to io.Discard:
// the cost of the files past the simulation.
func BenchmarkFiles(b *testing.B) {
	cfg, err := runner.Config("splitwise-conv-8qps")
	if err != nil {
		b.Fatal(err)
	}
	out, err := runner.Run(context.Background(), runner.Job{Preset: "splitwise-conv-8qps", Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	res := out.Result
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"token_metrics", func(w io.Writer) error { return report.TokenMetrics(w, res) }},
		{"request_metrics", func(w io.Writer) error { return report.RequestMetrics(w, res) }},
		{"key_results", func(io.Writer) error { report.Compute(res); return nil }},
	} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				if err := f.write(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
