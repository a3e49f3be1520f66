package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulate_UnusedWorkloadFlags: a generator flag that the chosen
// workload does not read (a rate or count on a trace replay, lengths on any
// file) is refused with the flags and the way out named, never dropped;
// the same flags where they are read run.
func TestSimulate_UnusedWorkloadFlags(t *testing.T) {
	dir := t.TempDir()
	replay := filepath.Join(dir, "replay.csv")
	lengths := filepath.Join(dir, "lengths.csv")
	os.WriteFile(replay, []byte("arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,4\n0.003,50,3\n"), 0o644)
	os.WriteFile(lengths, []byte("num_prefill_tokens,num_decode_tokens\n100,4\n50,3\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want []string // in the error; nil: the run succeeds
	}{
		{"qps on a replay", []string{"--workload", replay, "--qps", "4"}, []string{"--qps not used", replay, "--trace_lengths_only"}},
		{"count and rate on a replay", []string{"--workload", replay, "--num-requests", "9", "--qps", "4"}, []string{"--num-requests, --qps not used"}},
		{"count on the default seed", []string{"--num-requests", "100"}, []string{"--num-requests not used", "default workload", "--preset synthetic"}},
		{"lengths on a length trace", []string{"--workload", lengths, "--fixed_request_length_generator_config_prefill_tokens", "64"},
			[]string{"--fixed_request_length_generator_config_prefill_tokens not used", "own prompt and output lengths"}},
		{"gamma on a preset replay", []string{"--preset", "spaced-2s", "--interval_generator_config_type", "gamma"}, []string{"--interval_generator_config_type not used", "preset spaced-2s"}},
		{"rate on a length trace", []string{"--workload", lengths, "--qps", "4", "--num-requests", "2"}, nil},
		{"rate on a replay read for its lengths", []string{"--workload", replay, "--trace_lengths_only", "--qps", "4"}, nil},
		{"lengths and rate on the synthetic preset", []string{"--preset", "synthetic", "--qps", "4", "--num-requests", "5",
			"--fixed_request_length_generator_config_prefill_tokens", "64", "--fixed_request_length_generator_config_decode_tokens", "4"}, nil},
		{"a replay with no generator flag", []string{"--workload", replay}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			code, _, errs := runCLI(t, append([]string{"simulate", "--quiet", "--out", out}, tc.args...)...)
			if tc.want == nil {
				if code != exitOK {
					t.Fatalf("exit %d: %s", code, errs)
				}
				return
			}
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (usage): %s", code, exitUsage, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q: %s", w, errs)
				}
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("%d files written for a refused run", len(ents))
			}
		})
	}
}
