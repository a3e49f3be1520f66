package ui

import (
	"strings"
	"testing"
)

func TestDur(t *testing.T) {
	for _, tc := range []struct {
		ms   float64
		want string
	}{
		{0, "0 ms"}, {0.85, "850.0 µs"}, {0.0123, "12.30 µs"}, {2.215957, "2.216 ms"}, {122.0, "122.0 ms"},
		{999.9, "999.9 ms"}, {86705.336, "86.71 s"}, {16299995.68, "16,300 s"},
	} {
		if got := dur(tc.ms); got != tc.want {
			t.Errorf("dur(%v) = %q, want %q", tc.ms, got, tc.want)
		}
	}
	if got := num(-1234567); got != "-1,234,567" {
		t.Errorf("num: %q", got)
	}
}

// TestPanelRules: what applies follows the scheduler and the workload; a
// change against the run on screen is reported as stale, a number written
// differently is not.
func TestPanelRules(t *testing.T) {
	base := settings{"scheduler.type": "sarathi", "scheduler.chunk_size": "512", "scheduler.block_size": "16", "workload.qps": "2",
		"cluster.num_replicas": "1", "workload.trace_lengths_only": "false", "predictor.profile": "a100/qwen3-0.6b", "replica.tensor_parallel_size": "1"}
	c := &Root{Cfg: map[string]string{}, Preset: "seed",
		Presets:  []Preset{{Name: "seed", Files: []string{"seed/vidur_trace.csv"}, Config: base}, {Name: "synthetic", Config: base}},
		Profiles: []Profile{{Name: "a100/qwen3-0.6b", TensorParallel: []int{1, 2}}}}
	c.Result = &Result{Config: base}
	c.shown.state = shareState{Preset: "seed", Config: map[string]string{}}
	if s := c.Stale(); len(s) != 0 {
		t.Fatalf("stale right after the run: %v", s)
	}
	if why := c.Why(field("workload.qps")); !strings.Contains(why, "trace replay") {
		t.Errorf("QPS on a replay: %q", why)
	}
	c.Cfg["scheduler.chunk_size"] = "512.0"
	if s := c.Stale(); len(s) != 0 {
		t.Errorf("512.0 vs 512 reported stale: %v", s)
	}
	c.Cfg["scheduler.type"] = "lightllm"
	if v, why := c.Value(field("scheduler.block_size")), c.Why(field("scheduler.block_size")); v != "1" || why == "" {
		t.Errorf("lightllm block size %q (%q)", v, why)
	}
	if why := c.Why(field("scheduler.chunk_size")); !strings.Contains(why, "sarathi only") {
		t.Errorf("chunk size under lightllm: %q", why)
	}
	if s := strings.Join(c.Stale(), ","); s != "scheduler" {
		t.Errorf("stale: %q", s)
	}
	c.Cfg["scheduler.enable_prefix_caching"] = "true"
	if in, _ := c.inputs(); strings.Contains(in.body, "prefix") || !strings.Contains(in.body, `"block_size":1`) {
		t.Errorf("lightllm run body: %s (want block_size 1, no prefix caching)", in.body)
	}
	c.Preset = "synthetic"
	if why := c.Why(field("workload.qps")); why != "" {
		t.Errorf("QPS on a synthetic workload: %q", why)
	}
	if s := strings.Join(c.Stale(), ","); s != "preset" {
		t.Errorf("stale after a preset change: %q", s)
	}
	var tps []string
	for _, o := range c.OptionsOf(field("replica.tensor_parallel_size")) {
		tps = append(tps, o.Value)
	}
	if strings.Join(tps, ",") != "1,2" {
		t.Errorf("TP choices %v, want the profile's 1,2", tps)
	}
}
