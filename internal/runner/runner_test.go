package runner_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/servesim/servesim/internal/runner"
)

// TestCache_SameOutputs: runs of presets through a Cache (parsed once)
// write the same bytes as runs that parse their files every time.
func TestCache_SameOutputs(t *testing.T) {
	var cache runner.Cache
	for _, preset := range []string{"seed", "spaced-2s", "splitwise-code-2qps"} {
		cfg, err := runner.Config(preset)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Workload.NumRequests = min(cfg.Workload.NumRequests, 50)
		fresh, err := runner.Run(context.Background(), runner.Job{Preset: preset, Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := fresh.File("request_metrics.csv")
		for i := range 2 {
			out, err := runner.Run(context.Background(), runner.Job{Preset: preset, Config: cfg, Cache: &cache})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := out.File("request_metrics.csv"); !bytes.Equal(got, want) || out.Meta.WorkloadName != fresh.Meta.WorkloadName {
				t.Fatalf("%s, cached run %d: request_metrics.csv differs (%d vs %d bytes)", preset, i, len(got), len(want))
			}
		}
	}
}
