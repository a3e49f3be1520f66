package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/profiles"
)

// Tiny step logs written by the reference engine's scheduler
// (refengine/sched.py) at the loop's times: step k from 100k+10 to
// 100k+150 ns (empty steps not logged), the outputs of step k processed
// before step k+2. Columns after end_ns: gpu_ms, host_ms, mode, padded,
// num_seqs, num_decodes, num_prefills, num_new, num_tokens, decode_ctx_sum,
// decode_ctx_max, prefill_chunks, preempted.
const (
	// Requests (prompt, output): 16x10, 40x1, 20x2 at t=0; 5 usable blocks.
	freeLog = `0,10,15,150,1.0,0.005,graph,2,2,0,2,2,56,0,0,16:0;40:0,0
1,110,115,250,1.0,0.005,graph,1,1,1,0,0,1,17,17,,0
2,210,215,350,1.0,0.005,graph,2,2,1,1,1,21,18,18,20:0,0
3,310,315,450,1.0,0.005,graph,2,2,2,0,0,2,40,21,,0
4,410,415,550,1.0,0.005,graph,1,1,1,0,0,1,20,20,,0
5,510,515,650,1.0,0.005,graph,1,1,1,0,0,1,21,21,,0
6,610,615,750,1.0,0.005,graph,1,1,1,0,0,1,22,22,,0
7,710,715,850,1.0,0.005,graph,1,1,1,0,0,1,23,23,,0
8,810,815,950,1.0,0.005,graph,1,1,1,0,0,1,24,24,,0
9,910,915,1050,1.0,0.005,graph,1,1,1,0,0,1,25,25,,0
`
	freeSamples = "0,1|0|0,2|0,2|0|0|0|0|0|0"
	// Requests 16x5, 16x5 at t=0 and 1x1 at 150; 2 usable blocks.
	preemptLog = `0,10,15,150,1.0,0.005,graph,2,2,0,2,2,32,0,0,16:0;16:0,0
1,110,115,250,1.0,0.005,graph,1,1,1,0,0,1,17,17,,1
2,210,215,350,1.0,0.005,graph,1,1,1,0,0,1,18,18,,0
3,310,315,450,1.0,0.005,graph,1,1,1,0,0,1,19,19,,0
4,410,415,550,1.0,0.005,graph,1,1,1,0,0,1,20,20,,0
5,610,615,750,1.0,0.005,graph,1,1,0,1,1,17,0,0,17:0,0
6,710,715,850,1.0,0.005,graph,1,1,1,0,0,1,18,18,,0
7,810,815,950,1.0,0.005,graph,1,1,1,0,0,1,19,19,,0
8,910,915,1050,1.0,0.005,graph,1,1,1,0,0,1,20,20,,0
9,1110,1115,1250,1.0,0.005,graph,1,1,0,1,1,1,0,0,1:0,0
`
	preemptSamples = "0,1|0|0|0|0|1|1|1|1|2"
)

// writeRealRun writes a step log and the token_metrics.csv that goes with
// it (each sampled request gets a token at its step's end) and loads them.
func writeRealRun(t *testing.T, log, samples string) ([]compare.RealStep, [][]int) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "step_log.csv"), []byte(strings.Join(compare.StepLogColumns, ",")+"\n"+log), 0o644)
	steps, err := compare.LoadStepLog(filepath.Join(dir, "step_log.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var tm strings.Builder
	tm.WriteString("request_id,token_index,token_time_ns,token_latency_ns\n")
	n := map[string]int{}
	for k, s := range strings.Split(samples, "|") {
		for _, id := range strings.Split(s, ",") {
			fmt.Fprintf(&tm, "%s,%d,%d,0\n", id, n[id], steps[k].EndNs)
			n[id]++
		}
	}
	os.WriteFile(filepath.Join(dir, "token_metrics.csv"), []byte(tm.String()), 0o644)
	got, err := readSamples(dir, steps)
	if err != nil {
		t.Fatal(err)
	}
	return steps, got
}

// TestReplayRun_CatchesWrongDecisions: the logs as the reference engine
// wrote them replay with no difference; each log changed as a scheduler
// with another rule would have run it is caught at the step where that rule
// decides otherwise.
func TestReplayRun_CatchesWrongDecisions(t *testing.T) {
	type req struct {
		at             int64
		prompt, decode int
	}
	freeReqs := []req{{0, 16, 10}, {0, 40, 1}, {0, 20, 2}}
	preemptReqs := []req{{0, 16, 5}, {0, 16, 5}, {150, 1, 1}}
	cases := []struct {
		name          string
		blocks        int
		reqs          []req
		log, samples  string
		edit          func(log, samples string) (string, string)
		wantFirstDiff int
		wantIn        string
	}{
		{name: "free as logged", blocks: 5, reqs: freeReqs, log: freeLog, samples: freeSamples, wantFirstDiff: -1},
		{name: "preempt as logged", blocks: 2, reqs: preemptReqs, log: preemptLog, samples: preemptSamples, wantFirstDiff: -1},
		{
			// blocks freed when the finishing step is scheduled, not when
			// it is processed: request 2 would be admitted in step 1
			name: "freed a step early", blocks: 5, reqs: freeReqs, log: freeLog, samples: freeSamples,
			edit: func(l, s string) (string, string) {
				return strings.Replace(l, "1,110,115,250,1.0,0.005,graph,1,1,1,0,0,1,17,17,,0", "1,110,115,250,1.0,0.005,graph,2,2,1,1,1,21,17,17,20:0,0", 1), s
			},
			wantFirstDiff: 1, wantIn: "replayed 1 seqs",
		},
		{
			// the victim is the first admitted: the same shape, another request's token
			name: "other victim", blocks: 2, reqs: preemptReqs, log: preemptLog, samples: preemptSamples,
			edit:          func(l, s string) (string, string) { return l, strings.Replace(s, "0,1|0|", "0,1|1|", 1) },
			wantFirstDiff: 1, wantIn: "same shape",
		},
		{
			// the preempted request re-queued at the back: request 2 admitted first
			name: "preempted to the back", blocks: 2, reqs: preemptReqs, log: preemptLog, samples: preemptSamples,
			edit: func(l, s string) (string, string) {
				return strings.Replace(l, "5,610,615,750,1.0,0.005,graph,1,1,0,1,1,17,0,0,17:0,0", "5,610,615,750,1.0,0.005,graph,1,1,0,1,1,1,0,0,1:0,0", 1), s
			},
			wantFirstDiff: 5, wantIn: "chunks 17:0",
		},
		{
			// no preemption logged where the pool is full (a decode that
			// needed no block for the token it computes)
			name: "no block for the sampled token", blocks: 2, reqs: preemptReqs, log: preemptLog, samples: preemptSamples,
			edit: func(l, s string) (string, string) {
				return strings.Replace(l, "1,110,115,250,1.0,0.005,graph,1,1,1,0,0,1,17,17,,1", "1,110,115,250,1.0,0.005,graph,2,2,2,0,0,2,34,17,,0", 1), s
			},
			wantFirstDiff: 1, wantIn: "1 preempted",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log, samples := c.log, c.samples
			if c.edit != nil {
				log, samples = c.edit(log, samples)
				if log == c.log && samples == c.samples {
					t.Fatal("the edit changed nothing")
				}
			}
			steps, smp := writeRealRun(t, log, samples)
			wl := &workload.Workload{}
			for i, r := range c.reqs {
				wl.Requests = append(wl.Requests, workload.Request{ID: i, ArrivalNs: r.at, Prefill: r.prompt, Decode: r.decode})
			}
			cfg := engine.DefaultConfig()
			cfg.Scheduler.Type, cfg.Scheduler.NumBlocks, cfg.Scheduler.BatchSizeCap, cfg.Scheduler.MaxNumBatchedTokens = "vllm_v1", c.blocks, 256, 2048
			res, err := replayRun(c.name, cfg, wl, steps, smp)
			if err != nil {
				t.Fatal(err)
			}
			if res.FirstDiff != c.wantFirstDiff || !strings.Contains(res.Diff, c.wantIn) {
				t.Fatalf("first difference at %d (%s), want %d (containing %q)", res.FirstDiff, res.Diff, c.wantFirstDiff, c.wantIn)
			}
			if c.wantFirstDiff < 0 && res.Agreed != len(steps) {
				t.Fatalf("%d of %d steps agreed", res.Agreed, len(steps))
			}
		})
	}
}

func TestReadSamples_TokenOffStep(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token_metrics.csv"), []byte("request_id,token_index,token_time_ns,token_latency_ns\n0,0,151,0\n"), 0o644)
	if _, err := readSamples(dir, []compare.RealStep{{EndNs: 150}}); err == nil || !strings.Contains(err.Error(), "no step's end_ns") {
		t.Fatalf("err %v", err)
	}
}

// TestSimReplay_IsTheSimulatorsLoop: a simulated run on a small pool
// (preemptions, requests waiting for blocks), its own schedule replayed at
// its own step times, comes out step for step as simulated, blocks held
// included, for both schedulers.
func TestSimReplay_IsTheSimulatorsLoop(t *testing.T) {
	set, err := profiles.OpenDir("../../../profiles/testdata/engine-set")
	if err != nil {
		t.Fatal(err)
	}
	var lengths, intervals strings.Builder
	lengths.WriteString("request_id,prompt_id,num_prefill_tokens,num_decode_tokens\n")
	intervals.WriteString("request_id,inter_arrival_ns,arrival_time_ns\n")
	for k := range 60 {
		fmt.Fprintf(&lengths, "%d,p%d,%d,%d\n", k, k, 40+97*k%400, 20+13*k%90)
		fmt.Fprintf(&intervals, "%d,%d,%d\n", k, min(k, 1)*700_000, 700_000*k)
	}
	for _, e := range []manifestEntry{
		{Name: "v1", Scheduler: "vllm_v1", MaxNumBatchedTokens: 512, MaxNumSeqs: 64},
		{Name: "sarathi", Scheduler: "sarathi", Chunk: 256, MaxNumSeqs: 64},
	} {
		t.Run(e.Name, func(t *testing.T) {
			cfg, _, err := runConfig(e, set, []byte(`{"block_size": 16, "num_blocks": 121}`))
			if err != nil {
				t.Fatal(err)
			}
			files := func() []workload.File {
				return []workload.File{{Name: "trace_lengths.csv", R: strings.NewReader(lengths.String())}, {Name: "trace_intervals.csv", R: strings.NewReader(intervals.String())}}
			}
			wl, err := workload.Load(files(), cfg.WorkloadOptions())
			if err != nil {
				t.Fatal(err)
			}
			out, err := runner.Run(context.Background(), runner.Job{Files: files(), Config: cfg, Profile: set})
			if err != nil {
				t.Fatal(err)
			}
			r, err := simReplay(e.Name, cfg, wl, out.Result)
			if err != nil {
				t.Fatal(err)
			}
			restarts := 0
			for _, q := range out.Result.Requests {
				restarts += q.Restarts
			}
			if r.FirstDiff >= 0 || r.Agreed != len(out.Result.Batches) {
				t.Fatalf("step %d: %s (%d of %d agreed)", r.FirstDiff, r.Diff, r.Agreed, len(out.Result.Batches))
			}
			if r.Preempted != restarts || restarts == 0 || r.KVWaited == 0 {
				t.Fatalf("%d preemptions replayed, %d simulated; %d requests waited for blocks", r.Preempted, restarts, r.KVWaited)
			}
		})
	}
}

// FuzzParseSamples: token_metrics text of any shape gives an error or, for
// each step, its requests sorted, every token at a step's end; never a
// panic.
func FuzzParseSamples(f *testing.F) {
	f.Add("request_id,token_time_ns\n0,150\n1,150\n0,250\n")
	f.Add("request_id,token_time_ns\n0,151\n")
	f.Add("token_time_ns,request_id,x\n250,3,a\n150,2,b\n")
	f.Add("request_id\n0\n")
	f.Add("request_id,token_time_ns\n\"0,150\n")
	steps := []compare.RealStep{{EndNs: 150}, {EndNs: 250}}
	f.Fuzz(func(t *testing.T, text string) {
		got, err := parseSamples(strings.NewReader(text), "fuzz", steps)
		if err != nil {
			return
		}
		if len(got) != len(steps) {
			t.Fatalf("%d steps' samples for %d steps", len(got), len(steps))
		}
		n := 0
		for _, ids := range got {
			if !slices.IsSorted(ids) {
				t.Fatalf("samples %v not sorted", ids)
			}
			n += len(ids)
		}
		if rows := strings.Count(strings.TrimRight(text, "\n"), "\n"); n > rows {
			t.Fatalf("%d samples from at most %d rows", n, rows)
		}
	})
}
