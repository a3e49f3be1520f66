package runner_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
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

func TestParseOutputs(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  string
	}{
		{"", runner.Files(true), ""},
		{"summary, request", []string{"request_metrics.csv", "summary.md"}, ""},
		{"trace,token_metrics.csv,batch", []string{"token_metrics.csv", "batch_metrics.csv", "chrome_trace.json"}, ""},
		{"request,requests", nil, `unknown output "requests"`},
		{"request,", nil, `unknown output ""`},
	} {
		got, err := runner.ParseOutputs(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %v %v, want %v", c.in, got, err, c.want)
		}
	}
}

// TestKeepFor_SameFiles: a run that keeps no per-iteration records (no
// batch or trace output) writes the same request, token, meta and summary
// files, and says why it cannot write batch_metrics.csv.
func TestKeepFor_SameFiles(t *testing.T) {
	cfg, err := runner.Config("splitwise-code-2qps")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workload.NumRequests = 200
	full, err := runner.Run(context.Background(), runner.Job{Preset: "splitwise-code-2qps", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	names, _ := runner.ParseOutputs("request,token,meta,summary")
	job := runner.Job{Preset: "splitwise-code-2qps", Config: cfg}
	runner.KeepFor(&job.Options, names)
	if !job.Options.SkipBatches || job.Options.KeepMembers {
		t.Fatalf("options %+v", job.Options)
	}
	lean, err := runner.Run(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if lean.Result.Batches != nil || lean.Result.NumBatches != len(full.Result.Batches) {
		t.Fatalf("lean run: %d records, %d batches; full run %d", len(lean.Result.Batches), lean.Result.NumBatches, len(full.Result.Batches))
	}
	for _, n := range names {
		a, _ := full.File(n)
		b, err := lean.File(n)
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs (%v)", n, err)
		}
	}
	if _, err := lean.File("batch_metrics.csv"); err == nil || !strings.Contains(err.Error(), "per-iteration records") {
		t.Errorf("batch_metrics.csv of a lean run: %v", err)
	}
}
