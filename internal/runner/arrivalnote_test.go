package runner_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/runner"
)

// A trace replay keeps its own arrival times: arrival settings that differ
// from the defaults are named in the run's notes (and so in run_meta.json
// and summary.md), never silently dropped; at the defaults, or where the
// arrivals are generated (trace_lengths_only, a length trace), no note.
func TestUnusedArrivalSettingsAreNoted(t *testing.T) {
	trace := "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,4\n0.5,12,3\n"
	lengths := "num_prefill_tokens,num_decode_tokens\n10,4\n12,3\n"
	for _, c := range []struct {
		name, file, body string
		set              func(*engine.WorkloadConfig)
		want             string // "" for no note
	}{
		{"defaults", "t.csv", trace, func(*engine.WorkloadConfig) {}, ""},
		{"qps and cv", "t.csv", trace, func(w *engine.WorkloadConfig) { w.QPS, w.CV = 8, 3 },
			"workload.qps, workload.cv not used: the arrival times of t.csv are replayed as given (set workload.trace_lengths_only to replay its lengths with generated arrivals)"},
		{"lengths only", "t.csv", trace, func(w *engine.WorkloadConfig) { w.QPS, w.TraceLengthsOnly = 8, true }, ""},
		{"length trace", "l.csv", lengths, func(w *engine.WorkloadConfig) { w.QPS = 8 }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			c.set(&cfg.Workload)
			out, err := runner.Run(context.Background(), runner.Job{Config: cfg, Files: []workload.File{{Name: c.file, R: strings.NewReader(c.body)}}})
			if err != nil {
				t.Fatal(err)
			}
			notes := out.Workload.Notes
			has := slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "not used") })
			switch {
			case c.want == "" && has:
				t.Errorf("a note where every setting is read: %q", notes)
			case c.want != "" && !slices.Contains(notes, c.want):
				t.Errorf("notes %q, want %q", notes, c.want)
			}
		})
	}
}
