package ui

import "testing"

// Choosing the H200 set makes vllm_v1 the scheduler; choosing the A100 set
// again takes it back to the default (Sarathi); a scheduler the user chose
// stays whatever the set.
func TestDefaultScheduler_H200IsVLLMV1(t *testing.T) {
	h200, a100 := &Profile{Name: "h200/qwen3-0.6b", Device: "h200"}, &Profile{Name: "a100/qwen3-0.6b", Device: "a100"}
	c := &Root{Cfg: map[string]string{}}
	c.defaultScheduler(h200)
	if got := c.Cfg["scheduler.type"]; got != "vllm_v1" {
		t.Fatalf("h200 set: scheduler %q, want vllm_v1", got)
	}
	c.defaultScheduler(a100)
	if got, set := c.Cfg["scheduler.type"]; set {
		t.Fatalf("a100 set: scheduler %q left set, want the default", got)
	}
	c.Cfg["scheduler.type"] = "orca" // the user's choice
	c.defaultScheduler(h200)
	if got := c.Cfg["scheduler.type"]; got != "orca" {
		t.Fatalf("h200 set overrode the user's scheduler: %q", got)
	}
}
