package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestSimulate_Outputs: --outputs writes only the files named, with the
// bytes of a full run's.
func TestSimulate_Outputs(t *testing.T) {
	full, lean := t.TempDir(), t.TempDir()
	if code, _, errs := runCLI(t, "simulate", "--out", full, "--quiet", "--preset", "spaced-2s"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, out, errs := runCLI(t, "simulate", "--out", lean, "--preset", "spaced-2s", "--outputs", "request,token,meta")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "{request_metrics.csv,token_metrics.csv,run_meta.json}") {
		t.Errorf("stdout: %s", out)
	}
	ents, _ := os.ReadDir(lean)
	if len(ents) != 3 {
		t.Errorf("%d files written, want 3", len(ents))
	}
	for _, e := range ents {
		a, _ := os.ReadFile(filepath.Join(full, e.Name()))
		b, _ := os.ReadFile(filepath.Join(lean, e.Name()))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the full run's", e.Name())
		}
	}
	if code, _, errs := runCLI(t, "simulate", "--out", lean, "--outputs", "request,tokens"); code != exitUsage || !strings.Contains(errs, `unknown output "tokens"`) {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// TestSimulate_SeedDefault: with no workload the CLI runs the seed workload
// and writes the seed's files; the CSVs equal the engine's golden files.
func TestSimulate_SeedDefault(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runCLI(t, "simulate", "--out", dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "4 requests (4 ok)") {
		t.Errorf("stdout: %s", out)
	}
	// chrome_trace.json too: its batch names list the members ("[0, 1, 2, 3]", not "[]").
	for _, f := range []string{"request_metrics.csv", "token_metrics.csv", "batch_metrics.csv", "chrome_trace.json"} {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("../../engine/report/testdata/seed", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the engine's golden file", f)
		}
	}
	for _, f := range []string{"run_meta.json", "summary.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestSimulate_Workloads(t *testing.T) {
	spaced := "../../presets/data/spaced-2s"
	tests := []struct {
		name string
		args []string
		code int
		errs string // substring of stderr
	}{
		{"workload directory", []string{"--workload", spaced}, exitOK, ""},
		{"preset", []string{"--preset", "spaced-2s-sarathi-serve"}, exitOK, ""},
		{"synthetic", []string{"--preset", "synthetic", "--synthetic_request_generator_config_num_requests", "20",
			"--fixed_request_length_generator_config_prefill_tokens", "100", "--fixed_request_length_generator_config_decode_tokens", "10",
			"--replica_scheduler_config_type", "vllm"}, exitOK, ""},
		{"bad workload names file, line and column", []string{"--workload", "testdata/bad_trace.csv"}, exitInput, "bad_trace.csv:3:2 (num_prefill_tokens): expected an integer >= 1, got \"ten\""},
		{"missing workload", []string{"--workload", "testdata/nope.csv"}, exitInput, "no such file"},
		{"unknown scheduler", []string{"--replica_scheduler_config_type", "fifo"}, exitUsage, "valid: sarathi, vllm"},
		{"unknown preset", []string{"--preset", "nope"}, exitUsage, "unknown preset"},
		{"unknown config key", []string{"--config", "testdata/bad_config.json"}, exitUsage, "line 1, column 16: unknown key \"chunk_sise\""},
		{"bad flag", []string{"--no_such_flag"}, exitUsage, "unknown flag --no_such_flag"},
		{"grid miss", []string{"--preset", "synthetic", "--interval_generator_config_type", "static",
			"--synthetic_request_generator_config_num_requests", "300", "--replica_scheduler_config_batch_size_cap", "300",
			"--fixed_request_length_generator_config_prefill_tokens", "8", "--fixed_request_length_generator_config_decode_tokens", "50"},
			exitRun, "attention.csv: attn_decode is not profiled at batch_size=282"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"simulate", "--quiet", "--out", t.TempDir()}, tc.args...)
			code, _, errs := runCLI(t, args...)
			if code != tc.code || !strings.Contains(errs, tc.errs) {
				t.Errorf("exit %d (want %d), stderr %q (want it to contain %q)", code, tc.code, errs, tc.errs)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	if code, out, _ := runCLI(t, "profiles"); code != exitOK || !strings.Contains(out, "a100/qwen3-0.6b") || !strings.Contains(out, "SYNTHESIZED") {
		t.Errorf("profiles: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "profiles", "--provenance", "a100/qwen3-0.6b"); code != exitOK || !strings.Contains(out, "leave one model out") {
		t.Errorf("provenance: %d", code)
	}
	if code, out, _ := runCLI(t, "presets"); code != exitOK || !strings.Contains(out, "splitwise-conv-2qps") {
		t.Errorf("presets: %d %q", code, out)
	}
	if code, _, _ := runCLI(t, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, _ := runCLI(t); code != exitUsage {
		t.Errorf("no command: exit %d", code)
	}
}

// TestServe starts the native server on a loopback port, fetches the API and
// a static file, and stops it.
func TestServe(t *testing.T) {
	dist := t.TempDir()
	os.WriteFile(filepath.Join(dist, "index.html"), []byte("<title>servesim</title>"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--dist", dist}, pw, io.Discard) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "servesim: serving on "))
	for _, p := range []string{"/api/presets", "/index.html", "/api/simulate?preset=seed"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if code := <-done; code != exitOK {
		t.Errorf("exit %d", code)
	}
}

// TestSimulate_SaturatedAtFullCap: the H200 engine set runs saturated at
// batch cap 256, where decode rows of many sequences end before the
// simulated pool does. The synthetic lengths reach a 255-decode mixed row
// past its end beside a row that covers it (read as between the rows, not
// counted); 5,000-token requests reach contexts past every row's end,
// read from the budget-cut rows' lines and counted.
func TestSimulate_SaturatedAtFullCap(t *testing.T) {
	long := []string{"--fixed_request_length_generator_config_prefill_tokens", "4000",
		"--fixed_request_length_generator_config_decode_tokens", "1000", "--request_generator_config_max_tokens", "8192"}
	tests := []struct {
		name      string
		scheduler string
		qps, n    string
		extra     []string
		extrap    bool
	}{
		{"synthetic vllm_v1", "vllm_v1", "200", "400", nil, false},
		{"long vllm_v1", "vllm_v1", "400", "800", long, true},
		{"long sarathi", "sarathi", "400", "800", long, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"simulate", "--quiet", "--out", dir, "--profile", "h200/qwen3-0.6b", "--timing_model", "engine",
				"--scheduler", tc.scheduler, "--batch-cap", "256", "--preset", "synthetic", "--qps", tc.qps, "--num-requests", tc.n, "--outputs", "meta"}, tc.extra...)
			if code, _, errs := runCLI(t, args...); code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if n := extrapolatedLookups(t, dir); (n > 0) != tc.extrap {
				t.Errorf("extrapolated_lookups %d; want > 0: %v", n, tc.extrap)
			}
		})
	}
}

// TestSimulate_CachedPrefillsAggregate: on the A100 set (Vidur's
// composition) several prefills of one step are one aggregated key, their
// cached tokens summed; with prefix caching and multi-turn sessions that
// sum passes the prefill rows' 8,192 though each prefill is within them.
// It is read past the rows' end (counted), not refused mid-run.
func TestSimulate_CachedPrefillsAggregate(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := runCLI(t, "simulate", "--quiet", "--out", dir, "--scheduler", "vllm_v1", "--preset", "synthetic", "--qps", "85",
		"--num-requests", "103", "--fixed_request_length_generator_config_prefill_tokens", "790",
		"--fixed_request_length_generator_config_decode_tokens", "201", "--max-num-batched-tokens", "1792", "--prefix-caching",
		"--session-turns", "4", "--replica_scheduler_config_num_blocks", "3222", "--vllm_v1_scheduler_config_long_prefill_token_threshold", "102",
		"--outputs", "meta")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if n := extrapolatedLookups(t, dir); n == 0 {
		t.Errorf("extrapolated_lookups %d; want > 0", n)
	}
}

// extrapolatedLookups is run_meta.json's results.extrapolated_lookups in dir.
func extrapolatedLookups(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "run_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Results struct {
			Extrapolated *int `json:"extrapolated_lookups"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Results.Extrapolated == nil {
		t.Fatalf("run_meta.json: no results.extrapolated_lookups (%v)", err)
	}
	return *meta.Results.Extrapolated
}
