package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func searchCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestSearch_CLI: the files are byte-identical whatever the parallelism;
// a sweep over the cap, an SLO nothing meets and more requests a trial
// than the trace has rows are clear answers.
func TestSearch_CLI(t *testing.T) {
	dir := t.TempDir()
	var got [][]byte
	for _, par := range []string{"1", "3"} {
		out := filepath.Join(dir, par)
		code, stdout, stderr := searchCLI(t, "search", "--preset", "splitwise-conv-2qps", "--search_requests", "60", "--precision", "0.05",
			"--batch_cap_values", "8,64", "--scheduler_values", "sarathi,vllm", "--target_qps", "5", "--parallel", par, "--out", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "search: 4 points") || !strings.Contains(stdout, "cheapest at 5 QPS") {
			t.Errorf("printed %s", stdout)
		}
		var all []byte
		for _, f := range []string{"search.json", "search.csv", "search_curve.csv"} {
			b, err := os.ReadFile(filepath.Join(out, f))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		got = append(got, all)
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Error("--parallel 1 and 3 wrote different files")
	}
	code, _, stderr := searchCLI(t, "search", "--preset", "splitwise-conv-2qps", "--replicas_values", "1,2,3", "--tp_values", "1,2", "--max_points", "5", "--out", filepath.Join(dir, "cap"))
	if code != exitUsage || !strings.Contains(stderr, "the sweep is 6 points") || !strings.Contains(stderr, "over the cap of 5") {
		t.Errorf("cap: exit %d %s", code, stderr)
	}
	code, _, stderr = searchCLI(t, "search", "--preset", "splitwise-conv-2qps", "--search_requests", "30", "--slo_ttft_ms", "0.001", "--min_qps", "0.5", "--out", filepath.Join(dir, "none"))
	if code != exitRun || !strings.Contains(stderr, "no point meets the SLO at any rate down to 0.5 QPS") {
		t.Errorf("none: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "none", "search_curve.csv")); err != nil {
		t.Errorf("no files written when nothing passes: %v", err)
	}
	// more requests a trial than the trace has rows: refused before any
	// trial, nothing written (every point's trials failed alike before)
	code, _, stderr = searchCLI(t, "search", "--preset", "splitwise-conv-2qps", "--search_requests", "20000", "--out", filepath.Join(dir, "rows"))
	if code != exitUsage || !strings.Contains(stderr, "20000 requests per trial, but the workload trace splitwise_conv.csv (preset splitwise-conv-2qps) has 19366 rows") {
		t.Errorf("requests over the trace's rows: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "rows")); err == nil {
		t.Error("a search refused up front wrote its folder")
	}
	code, _, stderr = searchCLI(t, "search", "--preset", "seed", "--slo_e2e_ms", "10", "--out", filepath.Join(dir, "bad"))
	if code != exitUsage || !strings.Contains(stderr, "contradict") {
		t.Errorf("contradictory slo: exit %d %s", code, stderr)
	}
}
