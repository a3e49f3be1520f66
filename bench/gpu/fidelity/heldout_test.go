package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/profiles"
)

// fixtureTree lays out a manifest with one fit and one held-out workload
// (and a fit run made for another fit only, fit_for),
// their "real" runs (servesim's own simulation of them with the fixture
// set, so the simulated error is 0 by construction) and repeats whose every
// time is 3% later than the first run's (a spread of +3%).
func fixtureTree(t *testing.T) heldOutOptions {
	root := t.TempDir()
	wl := filepath.Join(root, "workloads")
	manifest := `{"capacity_qps": 10, "workloads": [
 {"name": "fit-a", "dir": "fit-a", "split": "fit", "shape": "12 requests", "scheduler": "sarathi", "chunk": 256, "max_num_seqs": 32},
 {"name": "ho-b", "dir": "ho-b", "split": "heldout", "shape": "20 requests", "scheduler": "vllm_v1", "max_num_batched_tokens": 512, "max_num_seqs": 32},
 {"name": "fit-c", "dir": "fit-c", "split": "fit", "fit_for": "eager_launch", "shape": "12 requests", "scheduler": "vllm_v1", "max_num_batched_tokens": 512, "max_num_seqs": 32}]}`
	os.MkdirAll(wl, 0o755)
	os.WriteFile(filepath.Join(wl, "MANIFEST.json"), []byte(manifest), 0o644)
	set, err := profiles.OpenDir("../../../profiles/testdata/engine-set")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := readManifest(filepath.Join(wl, "MANIFEST.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range entries {
		dir := filepath.Join(wl, w.Dir)
		os.MkdirAll(dir, 0o755)
		var lengths, intervals strings.Builder
		lengths.WriteString("request_id,prompt_id,num_prefill_tokens,num_decode_tokens\n")
		intervals.WriteString("request_id,inter_arrival_ns,arrival_time_ns\n")
		n := []int{12, 20, 12}[i]
		for k := range n {
			fmt.Fprintf(&lengths, "%d,p%d,%d,%d\n", k, k, 20+37*k%300, 3+k%9)
			fmt.Fprintf(&intervals, "%d,%d,%d\n", k, min(k, 1)*3_000_000, 3_000_000*k)
		}
		os.WriteFile(filepath.Join(dir, "trace_lengths.csv"), []byte(lengths.String()), 0o644)
		os.WriteFile(filepath.Join(dir, "trace_intervals.csv"), []byte(intervals.String()), 0o644)
		cfg, _, err := runConfig(w, set, nil)
		if err != nil {
			t.Fatal(err)
		}
		files := []workload.File{{Name: "trace_lengths.csv", R: strings.NewReader(lengths.String())}, {Name: "trace_intervals.csv", R: strings.NewReader(intervals.String())}}
		out, err := runner.Run(context.Background(), runner.Job{Files: files, Config: cfg, Profile: set, Options: engine.Options{KeepMembers: true}})
		if err != nil {
			t.Fatal(err)
		}
		for _, card := range []string{"x100", "x100-repeat"} {
			rd := filepath.Join(root, "bench", card, w.Name)
			os.MkdirAll(rd, 0o755)
			res := out.Result
			if card == "x100-repeat" { // every request's times 3% later after its arrival
				res = stretch(res, 1.03)
			}
			for _, f := range []string{"request_metrics.csv", "token_metrics.csv"} {
				fh, _ := os.Create(filepath.Join(rd, f))
				if err := report.Write(f, fh, res, report.Meta{}); err != nil {
					t.Fatal(err)
				}
				fh.Close()
			}
			os.WriteFile(filepath.Join(rd, "step_log.csv"), []byte(stepLog(out.Result)), 0o644)
		}
	}
	return heldOutOptions{Manifest: filepath.Join(wl, "MANIFEST.json"), Bench: filepath.Join(root, "bench"), Card: "x100",
		Profile: "../../../profiles/testdata/engine-set", Out: filepath.Join(root, "HELDOUT.md")}
}

// stretch returns a copy of res whose latencies (times after arrival) are
// f times longer.
func stretch(res *engine.Result, f float64) *engine.Result {
	c := *res
	c.Requests = append([]engine.RequestResult(nil), res.Requests...)
	c.Batches = append([]engine.BatchRecord(nil), res.Batches...)
	for i := range c.Batches {
		c.Batches[i].EndAt = int64(math.Round(float64(c.Batches[i].EndAt) * f))
	}
	for i, r := range c.Requests {
		if r.Status == engine.StatusOK {
			c.Requests[i].FirstTokenNs = r.ArrivalNs + int64(math.Round(float64(r.FirstTokenNs-r.ArrivalNs)*f))
			c.Requests[i].CompletionNs = r.ArrivalNs + int64(math.Round(float64(r.CompletionNs-r.ArrivalNs)*f))
		}
	}
	return &c
}

// TestHeldOut_Fixture: the held-out run is its own simulation, so its error
// is 0 at every quantile; the repeat's TTFT and E2E are 3% longer; the
// report states both, the target verdict and the split.
func TestHeldOut_Fixture(t *testing.T) {
	o := fixtureTree(t)
	var summary string
	o.Summarize = func(s string) { summary = s }
	if err := heldOut(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{
		"| ho-b (within target) | 20 requests | TTFT | +0.0% | +0.0% | +0.0% | +3.0% | +3.0% | +3.0% |",
		"## Fit runs (in sample",
		"| fit-a (within target) |",
		"| TTFT | +0.0% | +0.0% | +0.0% | +3.0% | +3.0% | +3.0% |",
		"## Every real step predicted at its own shape",
		"| ho-b | 32 | 32 | 32 | none | 82.4 | 82.4 | +0.0% |",
		// the batch table: the held-out run alone (the fit run is not a batch)
		"| ho-* | 1 | 0.0% / 0.0% | 0.0% / 0.0% | 0.0% / 0.0% | 1 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(summary, "over 1 held-out runs") || !strings.Contains(summary, "1 of 1 within target") {
		t.Errorf("summary %q", summary)
	}
}

func TestReadManifest_Errors(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "m.json")
	for _, tc := range []struct{ in, want string }{
		{`[{"name": "a", "split": "train"}]`, `split "fit" or "heldout"`},
		{`{"workloads": 3}`, "expected"},
	} {
		os.WriteFile(p, []byte(tc.in), 0o644)
		if _, err := readManifest(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.in, err)
		}
	}
	os.WriteFile(p, []byte(`[{"name": "a", "split": "fit"}]`), 0o644)
	if m, err := readManifest(p); err != nil || m[0].Dir != "a" {
		t.Errorf("bare list: %v %+v", err, m)
	}
}

// TestMeets: within 5% at P50 and 10% at P90 for every metric, or within
// the engine's own spread where that is larger.
func TestMeets(t *testing.T) {
	all := func(p50, p90 float64) map[string]float64 {
		m := map[string]float64{}
		for _, k := range metrics {
			m[k+" P50"], m[k+" P90"], m[k+" P99"] = p50, p90, 0.5
		}
		return m
	}
	for _, tc := range []struct {
		err, spread map[string]float64
		want        bool
	}{
		{all(0.049, -0.099), nil, true},
		{all(-0.051, 0), nil, false},
		{all(0.03, 0.11), nil, false},
		{all(0.08, 0.05), all(0.02, 0), false},
		{all(-0.08, 0.05), all(0.09, 0), true}, // the engine itself moves 9% at P50
		{all(0.04, 0.15), all(0, -0.2), true},
	} {
		if got := (runScore{err: tc.err, spread: tc.spread}).meets(); got != tc.want {
			t.Errorf("error %v spread %v: meets %t, want %t", tc.err, tc.spread, got, tc.want)
		}
	}
}

// stepLog writes a simulation's steps as the reference engine's step log.
func stepLog(res *engine.Result) string {
	var b strings.Builder
	b.WriteString("step,start_ns,launch_ns,end_ns,gpu_ms,host_ms,mode,padded,num_seqs,num_decodes,num_prefills,num_new,num_tokens,decode_ctx_sum,decode_ctx_max,prefill_chunks,preempted\n")
	done := map[int]int{}
	for i, rec := range res.Batches {
		var chunks []string
		dec, pre, nw, ctx, ctxMax := 0, 0, 0, 0, 0
		for _, m := range res.Members(i) {
			q := res.Requests[m.Request]
			if done[m.Request] >= q.Prefill {
				dec++
				c := done[m.Request] + 1
				ctx += c
				ctxMax = max(ctxMax, c)
			} else {
				pre++
				if done[m.Request] == 0 {
					nw++
				}
				chunks = append(chunks, fmt.Sprintf("%d:%d", m.Tokens, done[m.Request]))
			}
			done[m.Request] += m.Tokens
		}
		fmt.Fprintf(&b, "%d,%d,%d,%d,%g,%g,%s,%d,%d,%d,%d,%d,%d,%d,%d,%s,0\n", i, rec.ScheduledAt, rec.LaunchedAt(), rec.EndAt,
			float64(rec.ModelNs)/1e6, float64(rec.HostNs)/1e6, rec.ModeName(), rec.Padded, rec.Size(), dec, pre, nw, rec.Tokens(), ctx, ctxMax, strings.Join(chunks, ";"))
	}
	return b.String()
}

// TestHeldOut_Calibrate: calibrated on the fit run only (whose steps are
// the fixture set's own), the set is unchanged in effect: the held-out run
// stays at 0 error, and the report says what the fit used.
func TestHeldOut_Calibrate(t *testing.T) {
	o := fixtureTree(t)
	o.Calibrate = filepath.Join(t.TempDir(), "cal")
	if err := heldOut(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(o.Out)
	md := string(b)
	for _, want := range []string{"calibrated (`servesim calibrate`", "on the manifest's fit runs only (fit-a:", "| ho-b (within target) | 20 requests | TTFT |", "gemm x1.000, attention x1.000, elementwise x1.000"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	prov, err := os.ReadFile(filepath.Join(o.Calibrate, "PROVENANCE.md"))
	if err != nil || strings.Contains(string(prov), "ho-b") {
		t.Errorf("the calibrated set must not mention the held-out run: %v\n%s", err, prov)
	}
}

// TestRunConfig_SarathiWatermark: the simulated Sarathi keeps as many blocks
// free as refengine/sched.py's, int(0.01 x run.json's num_blocks) with block 0
// counted, on a pool of num_blocks - 1; at 1,000 and 200 blocks the plain
// fraction would keep one fewer. vLLM V1 has no watermark and keeps the
// default fraction.
func TestRunConfig_SarathiWatermark(t *testing.T) {
	set, err := profiles.OpenDir("../../../profiles/testdata/engine-set")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		scheduler string
		blocks    int
		want      int
	}{
		{"sarathi", 1000, 10}, {"sarathi", 200, 2}, {"sarathi", 2048, 20}, {"sarathi", 99, 0}, {"sarathi", 100, 1},
		{"sarathi", 64197, 641}, {"sarathi", 769, 7}, {"vllm_v1", 1000, -1},
	} {
		w := manifestEntry{Name: "w", Scheduler: c.scheduler, Chunk: 512, MaxNumBatchedTokens: 2048}
		cfg, _, err := runConfig(w, set, []byte(fmt.Sprintf(`{"block_size": 16, "num_blocks": %d}`, c.blocks)))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Scheduler.NumBlocks != c.blocks-1 {
			t.Errorf("%s at %d blocks: pool %d, want %d", c.scheduler, c.blocks, cfg.Scheduler.NumBlocks, c.blocks-1)
		}
		if c.want < 0 {
			if cfg.Scheduler.WatermarkBlocksFraction != engine.DefaultConfig().Scheduler.WatermarkBlocksFraction {
				t.Errorf("%s: watermark fraction %v changed", c.scheduler, cfg.Scheduler.WatermarkBlocksFraction)
			}
			continue
		}
		r, err := cfg.Resolve()
		if err != nil {
			t.Fatal(err)
		}
		if r.WatermarkBlocks != c.want {
			t.Errorf("%s at %d blocks: watermark %d blocks, want sched.py's %d", c.scheduler, c.blocks, r.WatermarkBlocks, c.want)
		}
	}
}

// TestHeldOut_ReportCurrent: the committed bench/gpu/h200/HELDOUT.md (the
// README's and PROVENANCE.md's fidelity numbers) is what --heldout writes
// today, and profile.json's summary states its line: a change to the
// engine, the set or the runs must come with the regenerated report.
func TestHeldOut_ReportCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates every held-out run")
	}
	t.Chdir("../../..")
	const report = "bench/gpu/h200/HELDOUT.md"
	want, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var line string
	o := heldOutOptions{Manifest: "profiles/tools/gpu/workloads/MANIFEST.json", Bench: "bench/gpu", Card: "h200",
		Profile: filepath.Join("profiles", "h200", "qwen3-0.6b"), Out: filepath.Join(t.TempDir(), "HELDOUT.md"), Summarize: func(s string) { line = s }}
	if err := heldOut(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s is stale: regenerate it with go run ./bench/gpu/fidelity --heldout (and the README's and PROVENANCE.md's numbers from it)", report)
	}
	meta, err := os.ReadFile(filepath.Join(o.Profile, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(meta), line) {
		t.Errorf("profile.json's summary does not end with today's line %q: go run ./bench/gpu/fidelity --heldout records it", line)
	}
}
