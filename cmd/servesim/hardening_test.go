package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// profileCopy copies the default embedded profile set into a directory,
// letting edit change (or drop, with nil) each file.
func profileCopy(t *testing.T, edit func(name string, b []byte) []byte) string {
	t.Helper()
	src := "../../profiles/a100/qwen3-0.6b"
	dir := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			b = edit(e.Name(), b)
		}
		if b == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// cellTo sets the first data row's first timing cell of mlp.csv to v.
func cellTo(v string) func(string, []byte) []byte {
	return func(name string, b []byte) []byte {
		if name != "mlp.csv" {
			return b
		}
		lines := strings.SplitN(string(b), "\n", 3)
		cells := strings.SplitN(lines[1], ",", 2)
		lines[1] = v + "," + cells[1]
		return []byte(strings.Join(lines, "\n"))
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHardening_BadInputEndsInAClearError: every input of issue 14 that
// ended in an internal error, a wrong exit code or a silent wrong answer
// ends in a run (with a note where something was changed or dropped) or in
// an error with the documented exit code and a message naming the problem.
func TestHardening_BadInputEndsInAClearError(t *testing.T) {
	const (
		lengths   = "request_id,prompt_id,num_prefill_tokens,num_decode_tokens\n0,p0,9,64\n1,p1,14,64\n"
		intervals = "request_id,inter_arrival_ns,arrival_time_ns\n0,0,0\n1,2000000000,2000000000\n"
		vidur     = "arrived_at,num_prefill_tokens,num_decode_tokens\n0,12,64\n0.5,10,3\n"
	)
	onlyIntervals := writeFiles(t, map[string]string{"trace_intervals.csv": intervals})
	twoVidur := writeFiles(t, map[string]string{"a.csv": vidur, "b.csv": vidur})
	pairPlusVidur := writeFiles(t, map[string]string{"trace_lengths.csv": lengths, "trace_intervals.csv": intervals, "vidur_trace.csv": vidur})
	onlyLengths := writeFiles(t, map[string]string{"trace_lengths.csv": lengths})
	huge := writeFiles(t, map[string]string{"t.csv": "num_prefill_tokens,num_decode_tokens\n1,9223372036854775807\n"})
	overflow := writeFiles(t, map[string]string{"t.csv": "arrived_at,num_prefill_tokens,num_decode_tokens\n0,3000,1000\n1,4611686018427387904,4611686018427387904\n"})
	seedFile := filepath.Join(writeFiles(t, map[string]string{"t.csv": vidur}), "t.csv")
	bigLine := filepath.Join(t.TempDir(), "prompts.jsonl")
	if err := os.WriteFile(bigLine, append(append([]byte(`{"p":"`), bytes.Repeat([]byte("x"), 65<<20)...), `"}`...), 0o644); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	syn := func(a ...string) []string { return append([]string{"--preset", "synthetic"}, a...) }
	tests := []struct {
		name string
		args []string
		code int
		errs string // substring of stderr
	}{
		{"decode count 9223372036854775807", []string{"--workload", huge}, exitInput, "t.csv:2:2 (num_decode_tokens): expected an integer <= 2147483647"},
		{"token counts that overflow a sum", []string{"--workload", overflow}, exitInput, "t.csv:3:2 (num_prefill_tokens): expected an integer <= 2147483647"},
		{"poisson qps 1e-300", syn("--poisson_request_interval_generator_config_qps", "1e-300"), exitUsage, "past the 1e+09 s limit"},
		{"gamma cv Inf", syn("--interval_generator_config_type", "gamma", "--gamma_request_interval_generator_config_cv", "Inf"), exitUsage, "intervals.cv: must be in [0.01, 100]"},
		{"gamma cv 1e200", syn("--interval_generator_config_type", "gamma", "--gamma_request_interval_generator_config_cv", "1e200"), exitUsage, "intervals.cv"},
		{"gamma cv 1e-200", syn("--interval_generator_config_type", "gamma", "--gamma_request_interval_generator_config_cv", "1e-200"), exitUsage, "intervals.cv"},
		{"profile cell 1e15 ms", []string{"--profile", profileCopy(t, cellTo("1e15"))}, exitInput, "mlp.csv:2:1 (time_stats.input_layernorm.median): expected a time in ms <= 3.6e+06"},
		{"profile cell 1e300 ms", []string{"--profile", profileCopy(t, cellTo("1e300"))}, exitInput, "mlp.csv:2:1"},
		{"time_limit Inf", []string{"--time_limit", "Inf"}, exitUsage, "time_limit_s: must be a finite number"},
		{"prefill_scale_factor 1e300", []string{"--prefill_scale_factor", "1e300"}, exitUsage, "prefill_scale_factor: must be a number in [1e-06, 1e+06]"},
		{"block size leaving no KV blocks", []string{"--replica_scheduler_config_block_size", "1000000"}, exitUsage, "no KV blocks"},
		{"zipf max_tokens 3e8 is refused by the planner before lengths are generated", syn("--length_generator_config_type", "zipf", "--request_generator_config_max_tokens", "300000000"), exitUsage, "memory planner"},
		{"num_replicas 1e7", []string{"--cluster_config_num_replicas", "10000000"}, exitUsage, "cluster.num_replicas: must be in [1, 4096]"},
		{"intervals-only directory", []string{"--workload", onlyIntervals}, exitInput, "no trace_lengths.csv"},
		{"two Vidur CSVs", []string{"--workload", twoVidur}, exitInput, "a second one beside"},
		{"the same file twice", []string{"--workload", seedFile, "--workload", seedFile}, exitInput, "a second one beside"},
		{"the pair plus a Vidur trace", []string{"--workload", pairPlusVidur}, exitInput, "cannot be combined"},
		{"missing attention.csv", []string{"--profile", profileCopy(t, func(n string, b []byte) []byte {
			if n == "attention.csv" {
				return nil
			}
			return b
		})}, exitInput, "attention.csv"},
		{"header-only profile CSV", []string{"--profile", profileCopy(t, func(n string, b []byte) []byte {
			if n == "mlp.csv" {
				return b[:bytes.IndexByte(b, '\n')+1]
			}
			return b
		})}, exitInput, "mlp.csv:2: expected a row matching"},
		{"a 65 MB prompts.jsonl line", []string{"--workload", filepath.Join("../../presets/data/spaced-2s", "trace_lengths.csv"),
			"--workload", filepath.Join("../../presets/data/spaced-2s", "trace_intervals.csv"), "--workload", bigLine}, exitInput, "prompts.jsonl:1: expected lines of at most 64 MiB"},
		{"unwritable --out", []string{"--out", filepath.Join(notDir, "sub")}, exitUsage, "--out " + filepath.Join(notDir, "sub") + ": cannot create the output directory"},
		{"compat_head_dim_64 changes only the planner", []string{"--compat_head_dim_64"}, exitOK, ""},
		{"requests that never fit the KV cache get a note", []string{"--replica_scheduler_config_num_blocks", "2"}, exitOK, "note: 4 of 4 requests need more KV cache than a replica has (2 blocks of 16 tokens"},
		{"lengths only: the note says arrivals are synthetic", []string{"--workload", onlyLengths}, exitOK, "note: arrivals are synthetic: Poisson at 0.5 QPS"},
		{"a 100 MB profile name is not echoed whole", []string{"--profile", strings.Repeat("p", 1<<20)}, exitUsage, "bytes in all)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errb bytes.Buffer
			args := append([]string{"simulate", "--out", t.TempDir()}, tc.args...)
			code := run(ctx, args, &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.errs) {
				t.Fatalf("exit %d (want %d), stderr %.600q (want it to contain %q)", code, tc.code, errb.String(), tc.errs)
			}
			if len(errb.String()) > 8192 {
				t.Errorf("stderr is %d bytes", len(errb.String()))
			}
		})
	}
}

// TestHardening_Compare: compare says n/a where the real value is 0 (not
// "+Inf%"), refuses a first token before its arrival, runs on 1-token
// outputs (no time between tokens: no cdf_tbt.svg, said in compare.md),
// and --quiet prints nothing.
func TestHardening_Compare(t *testing.T) {
	const hdr = "request_id,arrival_time_ns,first_token_time_ns,completion_time_ns,status\n"
	const tok = "request_id,token_index,token_latency_ns\n"
	dirs := func(real, sim, realTok, simTok string) (string, string) {
		return writeFiles(t, map[string]string{"request_metrics.csv": hdr + real, "token_metrics.csv": tok + realTok}),
			writeFiles(t, map[string]string{"request_metrics.csv": hdr + sim, "token_metrics.csv": tok + simTok})
	}
	cmp := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"compare"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	// Real TTFT 0 (first token at arrival) and one-token outputs.
	realDir, simDir := dirs("0,100,100,100,ok\n1,200,200,200,ok\n", "0,100,150,150,ok\n1,200,260,260,ok\n", "0,0,0\n1,0,0\n", "0,0,50\n1,0,60\n")
	code, out, errs := cmp(realDir, simDir)
	if code != exitOK || strings.Contains(out, "Inf") || !strings.Contains(out, "n/a (real is 0)") || !strings.Contains(out, "no time between tokens samples") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(simDir, "cdf_tbt.svg")); err == nil {
		t.Error("cdf_tbt.svg written without samples")
	}
	for _, f := range []string{"compare.md", "cdf_ttft.svg", "cdf_e2e.svg"} {
		if _, err := os.Stat(filepath.Join(simDir, f)); err != nil {
			t.Error(err)
		}
	}
	if code, out, errs := cmp("--quiet", realDir, simDir); code != exitOK || out != "" || errs != "" {
		t.Errorf("--quiet: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	realDir, simDir = dirs("0,100,50,150,ok\n", "0,100,150,150,ok\n", "", "")
	if code, _, errs := cmp(realDir, simDir); code != exitInput || !strings.Contains(errs, "request_metrics.csv:2:3 (first_token_time_ns): expected a time >= arrival_time_ns (100), got 50") {
		t.Errorf("first token before arrival: exit %d, %q", code, errs)
	}
}
