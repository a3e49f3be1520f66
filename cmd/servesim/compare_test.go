package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servesim/servesim/internal/compare"
)

// engineSim simulates a small trace with the engine-layout fixture set.
func engineSim(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "sim")
	trace := filepath.Join(t.TempDir(), "trace.csv")
	os.WriteFile(trace, []byte("arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,4\n0.003,50,3\n"), 0o644)
	code, _, errs := runCLI(t, "simulate", "--workload", trace, "--profile", "../../profiles/testdata/engine-set",
		"--replica_config_device", "h200", "--replica_config_network_device", "h100_pairwise_nvlink", "--out", dir)
	if code != exitOK {
		t.Fatalf("simulate: exit %d: %s", code, errs)
	}
	return dir
}

// fakeReal turns a simulation into a "real" run whose steps took gpuScale
// times the simulated GPU time and the same host time.
func fakeReal(t *testing.T, sim string, gpuScale float64) string {
	real := filepath.Join(t.TempDir(), "real")
	os.MkdirAll(real, 0o755)
	for _, f := range []string{"request_metrics.csv", "token_metrics.csv"} {
		b, err := os.ReadFile(filepath.Join(sim, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(real, f), b, 0o644)
	}
	steps, err := compare.LoadBatchMetrics(filepath.Join(sim, "batch_metrics.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(strings.Join(compare.StepLogColumns, ",") + "\n")
	for i, s := range steps {
		prefills := s.Seqs - s.Decodes
		chunks := ""
		if prefills == 1 {
			chunks = fmt.Sprintf("%d:0", s.Prefill)
		} else if prefills > 1 {
			t.Fatalf("fixture: step %d has %d prefills", i, prefills)
		}
		fmt.Fprintf(&b, "%d,%d,%d,%d,%g,%g,%s,%d,%d,%d,%d,0,%d,0,0,%s,0\n", i, s.ScheduledNs, s.ScheduledNs+s.HostNs, s.EndNs,
			float64(s.GPUNs)/1e6*gpuScale, float64(s.HostNs)/1e6, s.Mode, s.Padded, s.Seqs, s.Decodes, prefills, s.Tokens, chunks)
	}
	os.WriteFile(filepath.Join(real, "step_log.csv"), []byte(b.String()), 0o644)
	return real
}

// TestCompare_StepLog: every step aligns; the real GPU time is 1.1x the
// simulated, so the GPU error is 1/1.1 - 1 = -9.1% and the host error 0.
func TestCompare_StepLog(t *testing.T) {
	sim := engineSim(t)
	real := fakeReal(t, sim, 1.1)
	code, out, errs := runCLI(t, "compare", real, sim)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	steps, _ := compare.LoadBatchMetrics(filepath.Join(sim, "batch_metrics.csv"))
	n := len(steps)
	for _, want := range []string{fmt.Sprintf("| %d | %d | %d | none |", n, n, n), "| -9.1% |", "| +0.0% |", "decode, graph batch 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	md, _ := os.ReadFile(filepath.Join(sim, "compare.md"))
	if !strings.Contains(string(md), "worst-predicted step shapes") {
		t.Errorf("compare.md lacks the step table:\n%s", md)
	}
	// Two pairs: each is compared, then the step shapes over both.
	agg := t.TempDir()
	code, out, errs = runCLI(t, "compare", "--out", agg, real, sim, fakeReal(t, sim, 1.0), sim)
	if code != exitOK || !strings.Contains(out, "# All 2 runs with step logs") {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	if b, err := os.ReadFile(filepath.Join(agg, "compare_steps.md")); err != nil || !strings.Contains(string(b), fmt.Sprintf("| %d |", 2*2)) {
		t.Errorf("aggregate: %v\n%s", err, b)
	}
	if code, _, _ := runCLI(t, "compare", real, sim, real); code != exitUsage {
		t.Errorf("odd argument count: exit %d", code)
	}
}

// TestCompare_UserResults: a vLLM or AIPerf result file is the real side.
func TestCompare_UserResults(t *testing.T) {
	sim := filepath.Join(t.TempDir(), "sim")
	os.MkdirAll(sim, 0o755)
	// TTFTs 11, 22, -, 16.5 ms: +10% on each matched request.
	os.WriteFile(filepath.Join(sim, "request_metrics.csv"), []byte("request_id,arrival_time_ns,first_token_time_ns,ttft_ns,completion_time_ns,num_prefill_tokens,num_decode_tokens,num_decode_tokens_actual,status\n"+
		"0,0,11000000,11000000,23100000,100,3,3,ok\n1,500000000,522000000,22000000,529700000,50,2,2,ok\n2,700000000,-1,-1,-1,30,1,0,failed_in_real_run\n3,1000000000,1016500000,16500000,1029700000,80,4,4,ok\n"), 0o644)
	os.WriteFile(filepath.Join(sim, "token_metrics.csv"), []byte("request_id,token_index,token_time_ns,token_latency_ns\n0,1,1,5500000\n"), 0o644)
	for _, f := range []string{"../../internal/realrun/testdata/vllm_bench_serve.json", "../../internal/realrun/testdata/profile_export.jsonl"} {
		code, out, errs := runCLI(t, "compare", f, sim)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", f, code, errs)
		}
		if !strings.Contains(out, "| TTFT | P50 | 15.000 | 16.500 | +10.0% |") || !strings.Contains(out, "3 requests matched") {
			t.Errorf("%s:\n%s", f, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"ttfts": [0.1], "itls": [[]], "input_lens": [1]}`), 0o644)
	if code, _, errs := runCLI(t, "compare", bad, sim); code != exitInput || !strings.Contains(errs, `no "output_lens" found`) {
		t.Errorf("bad result: exit %d %s", code, errs)
	}
}

// TestCalibrate_CLI: calibrate the engine-layout fixture on a "real" run
// that is its own simulation with GPU 1.1x slower (steps from fakeReal),
// holding a second run out; the new set loads and states both.
func TestCalibrate_CLI(t *testing.T) {
	sim := engineSim(t)
	real := fakeReal(t, sim, 1.1)
	out := filepath.Join(t.TempDir(), "set")
	code, stdout, errs := runCLI(t, "calibrate", "--base", "../../profiles/testdata/engine-set", "--out", out,
		"--fit", real, "--heldout", "../../internal/realrun/testdata/vllm_bench_serve.json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"least squares on the step logs", "scale gemm        1.1000", "heldout  vllm_bench_serve.json: TTFT P50"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"mlp.csv", "attention.csv", "engine.json", "host_overheads.csv", "profile.json", "PROVENANCE.md", "calibration.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// The calibrated set simulates.
	code, _, errs = runCLI(t, "simulate", "--profile", out, "--replica_config_device", "h200", "--replica_config_network_device", "h100_pairwise_nvlink", "--out", t.TempDir())
	if code != exitOK {
		t.Fatalf("simulate with the calibrated set: exit %d: %s", code, errs)
	}
	if code, _, _ := runCLI(t, "calibrate", "--base", "../../profiles/testdata/engine-set", "--out", out); code != exitUsage {
		t.Errorf("no --fit: exit %d", code)
	}
}
