package report_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/runner"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func seedRun(t *testing.T) *engine.Result {
	t.Helper()
	out, err := runner.Run(context.Background(), runner.Job{Preset: "seed", Config: engine.DefaultConfig(),
		Options: engine.Options{KeepMembers: true}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Result
}

func render(t *testing.T, res *engine.Result) map[string][]byte {
	out := map[string][]byte{}
	for _, name := range report.Files {
		var b bytes.Buffer
		if err := report.Write(name, &b, res, report.Meta{EngineVersion: "servesim test", WorkloadName: "preset:seed"}); err != nil {
			t.Fatal(err)
		}
		out[name] = b.Bytes()
	}
	return out
}

// firstDiff reports the first differing line as line:col.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			c := 0
			for c < len(w) && c < len(g) && w[c] == g[c] {
				c++
			}
			return fmt.Sprintf("line %d col %d:\n want %q\n  got %q", i+1, c+1, w, g)
		}
	}
	return ""
}

// TestGolden_Seed compares every output file of the seed run with testdata/
// (go test -update rewrites them) and checks the seed's schema.
func TestGolden_Seed(t *testing.T) {
	files := render(t, seedRun(t))
	for name, got := range files {
		path := filepath.Join("testdata/seed", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if d := firstDiff(want, got); d != "" {
			t.Errorf("%s: %s", name, d)
		}
	}
	if h := strings.SplitN(string(files["request_metrics.csv"]), "\n", 2)[0]; h != "request_id,arrival_time_ns,first_token_time_ns,ttft_ns,completion_time_ns,num_prefill_tokens,num_decode_tokens,num_decode_tokens_actual,status" {
		t.Errorf("request_metrics.csv header %q is not the seed's", h)
	}
	if h := strings.SplitN(string(files["token_metrics.csv"]), "\n", 2)[0]; h != "request_id,token_index,token_time_ns,token_latency_ns" {
		t.Errorf("token_metrics.csv header %q is not the seed's", h)
	}
	if n := strings.Count(string(files["token_metrics.csv"]), "\n"); n != 1+4*64 {
		t.Errorf("token_metrics.csv has %d lines, want 257", n)
	}
}

// TestDeterministic: two runs of the same input produce identical bytes.
func TestDeterministic(t *testing.T) {
	a, b := render(t, seedRun(t)), render(t, seedRun(t))
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between runs", name)
		}
	}
}

func TestStats(t *testing.T) {
	s := report.StatsOf([]float64{4, 1, 3, 2})
	if s.Min != 1 || s.Max != 4 || s.Mean != 2.5 || s.P50 != 2.5 || s.N != 4 {
		t.Errorf("%+v", s)
	}
	// numpy.percentile([1,2,3,4], 90) = 3.7
	if d := s.P90 - 3.7; d > 1e-12 || d < -1e-12 {
		t.Errorf("P90 %v", s.P90)
	}
}

// TestCollect_GapsPast32Bits: the gaps between tokens are kept in 32 bits
// until one is 2^32 ns or more, then in 64; either way the statistics are
// those of every gap.
func TestCollect_GapsPast32Bits(t *testing.T) {
	for _, opMs := range []float64{0.01, 20} { // ~6 s per step at 20 ms per op and layer
		cfg := engine.DefaultConfig()
		cfg.Workload.NumRequests, cfg.Workload.QPS = 30, 2
		cfg.Workload.LengthGenerator, cfg.Workload.MinTokens, cfg.Workload.MaxTokens = "uniform", 16, 256
		set := enginetest.Set(qwen3(t), enginetest.Uniform(opMs, opMs/2, 2*opMs, 3*opMs), 8192, 256)
		w, err := workload.Generate(cfg.WorkloadOptions())
		if err != nil {
			t.Fatal(err)
		}
		res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var gaps []float64
		big := false
		for i, r := range res.Requests {
			if r.Status != engine.StatusOK {
				continue
			}
			ts := res.TokenTimes(i)
			for k := 1; k < len(ts); k++ {
				gaps = append(gaps, float64(ts[k]-ts[k-1]))
				big = big || ts[k]-ts[k-1] >= 1<<32
			}
		}
		if big != (opMs > 1) {
			t.Fatalf("op %v ms: gaps past 32 bits: %v", opMs, big)
		}
		if got, want := report.Compute(res).TokenLatency, report.StatsOf(gaps); got != want {
			t.Errorf("op %v ms: %+v, want %+v", opMs, got, want)
		}
	}
}

func qwen3(t testing.TB) model.Model {
	m, err := model.Lookup("Qwen/Qwen3-0.6B")
	if err != nil {
		t.Fatal(err)
	}
	return m
}
