package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulate_TraceFormats: shared traces run from the CLI; one with
// sessions and prefix blocks is summarised first, and a Mooncake .jsonl is
// never taken for prompts.jsonl.
func TestSimulate_TraceFormats(t *testing.T) {
	fix := func(n string) string { return filepath.Join("../../engine/workload/testdata", n) }
	code, out, errs := runCLI(t, "simulate", "--workload", fix("aiperf_sessions.jsonl"), "--out", t.TempDir())
	if code != exitOK || !strings.Contains(out, "4 requests (4 ok)") {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	want := "workload: mooncake-trace, 4 requests, open-loop arrivals over 0.500 s (4.000 QPS); prompt p50/p90/p99/max 300/700/700/700, " +
		"output 10/20/20/20; 2 sessions (2 turns arrive after their previous turn completes); 6 prefix blocks of 512 tokens, 4 distinct"
	if !strings.Contains(errs, want) {
		t.Errorf("stderr %q lacks %q", errs, want)
	}
	code, out, errs = runCLI(t, "simulate", "--workload", fix("burstgpt.csv"), "--model_filter", "GPT-4", "--out", t.TempDir())
	if code != exitOK || !strings.Contains(out, "1 requests (1 ok)") || !strings.Contains(errs, "kept the 1 of 3 rows with Model GPT-4") {
		t.Errorf("burstgpt: exit %d: %s %s", code, out, errs)
	}
	// A Mooncake file in a directory beside nothing else, named like a prompts file.
	dir := t.TempDir()
	b, _ := os.ReadFile(fix("mooncake.jsonl"))
	os.WriteFile(filepath.Join(dir, "prompts.jsonl"), b, 0o644)
	if code, out, errs := runCLI(t, "simulate", "--workload", dir, "--out", t.TempDir()); code != exitOK || !strings.Contains(out, "3 requests") {
		t.Errorf("mooncake named prompts.jsonl: exit %d: %s %s", code, out, errs)
	}
}
