package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/workload"
)

// engineSet is a constant-time set with engine.json: per layer 8 token ops
// of 0.01 ms (add fused), KV save 0.02, decode and prefill attention 0.1
// each, embedding and LM head 0.2 each. So a step with only decodes or only
// prefills costs 28 x 0.2 + 0.4 = 6.0 ms of GPU, a mixed one 28 x 0.3 + 0.4
// = 8.8 ms. Host: base + per prefill + per prefill token, flat in batch size.
func engineSet(t testing.TB, overlap string, syncMs, base, perPrefill, perToken float64) *predict.Set {
	tm := enginetest.Uniform(0.01, 0.02, 0.1, 0.1)
	tm.MLP["add"] = 0
	tm.MLP["emb"], tm.MLP["lm_head"] = 0.2, 0.2
	tm.Engine = fmt.Sprintf(`{"engine":"test","overlap":%q,"cuda_graph_batch_sizes":[1,2,4,8],"mixed_graph_token_sizes":[8,16,32,64,128],"sync_ms":%g,"fused_ops":["add"]}`, overlap, syncMs)
	tm.Host = []enginetest.HostRow{{Batch: 1, Base: base, PerPrefill: perPrefill, PerToken: perToken}, {Batch: 128, Base: base, PerPrefill: perPrefill, PerToken: perToken}}
	return enginetest.Set(qwen3(t), tm, 4096, 128)
}

func engineConfig() engine.Config {
	cfg := engine.DefaultConfig()
	cfg.Predictor.AttentionDecodeBatchingOverhead, cfg.Predictor.AttentionPrefillBatchingOverhead = 0, 0
	return cfg
}

const ms = int64(1e6)

func tokenTimes(res *engine.Result, i int) []int64 { return res.TokenTimes(i) }

func wantTimes(t *testing.T, what string, got []int64, want ...float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d token times %v, want %d", what, len(got), got, len(want))
	}
	for k := range want {
		if w := int64(want[k]*1e6 + 0.5); got[k] != w {
			t.Fatalf("%s: token %d at %d ns, want %d (all: %v)", what, k, got[k], w, got)
		}
	}
}

// TestEngineTiming_Async: one request, 100-token prompt, 4 output tokens;
// host 2 ms + 1 per prefill + 0.01 per prefill token, sync 0.5 ms. By hand:
// step 0 (prefill, from idle): launch 4, end 4 + 6 + 0.5 = 10.5.
// The host schedules step 1 at 4: launch 6, end max(10.5, 6) + 6.5 = 17;
// waits for step 0 (10.5), schedules step 2: launch 12.5, end 23.5; waits
// for step 1 (17), step 3: launch 19, end 30.
func TestEngineTiming_Async(t *testing.T) {
	cfg := engineConfig()
	set := engineSet(t, "async", 0.5, 2, 1, 0.01)
	res := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,4\n", cfg), set)
	if res.TimingModel != engine.TimingEngine {
		t.Fatalf("timing model %q: a set with engine.json uses engine timing by default", res.TimingModel)
	}
	wantTimes(t, "async", tokenTimes(res, 0), 10.5, 17, 23.5, 30)
	b := res.Batches
	if b[0].ScheduledAt != 0 || b[0].LaunchedAt() != 4*ms || b[0].ModeName() != "graph_mixed" || b[0].Padded != 128 || b[0].HostNs != 4*ms || b[0].ModelNs != 6*ms {
		t.Errorf("step 0: %+v", b[0])
	}
	if b[1].ScheduledAt != 4*ms || b[1].ModeName() != "graph" || b[1].Padded != 1 || b[2].ScheduledAt != 10500000 || b[3].ScheduledAt != 17*ms {
		t.Errorf("steps 1-3: %+v", b[1:])
	}
	if res.EndNs != 30*ms {
		t.Errorf("run ends at %d", res.EndNs)
	}
}

// TestEngineTiming_Sync: the same with overlap sync: each step costs host +
// GPU after the previous: 0+4+6 = 10, +2+6 = 18, 26, 34 (no sync_ms).
func TestEngineTiming_Sync(t *testing.T) {
	cfg := engineConfig()
	set := engineSet(t, "sync", 0.5, 2, 1, 0.01)
	res := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,4\n", cfg), set)
	wantTimes(t, "sync", tokenTimes(res, 0), 10, 18, 26, 34)
}

// TestEngineTiming_HostBound: host 10 ms + 1 + 0.01/token, GPU 6 ms. The
// host is the bottleneck: it cannot schedule step n+1 before it has
// launched step n. Step 0: launch 12, end 18.5. At 12 it schedules step 1:
// launch 22, end 28.5; at max(22, 18.5) = 22 step 2: launch 32, end 38.5;
// at 32 step 3: launch 42, end 48.5. The host sees each step complete only
// once it has launched the next: tokens at 22, 32, 42, and the last, with
// nothing after it, at its end, 48.5.
func TestEngineTiming_HostBound(t *testing.T) {
	cfg := engineConfig()
	set := engineSet(t, "async", 0.5, 10, 1, 0.01)
	res := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,4\n", cfg), set)
	wantTimes(t, "host-bound", tokenTimes(res, 0), 22, 32, 42, 48.5)
	if b := res.Batches; len(b) != 4 || b[0].EndAt != 18500000 || b[1].EndAt != 28500000 {
		t.Errorf("steps end on the GPU as before: %+v", b)
	}
}

// TestEngineTiming_ArrivalMidStep: as in TestEngineTiming_Async, plus B (50
// prompt tokens, 2 outputs) arriving at 13 ms, while step 1 runs (10.5-17)
// and step 2 is already launched (12.5). B is first scheduled at end_1 = 17,
// in step 3, with A's last decode: mixed, host 2 + 1 + 0.5 = 3.5 (launch
// 20.5), GPU 8.8 + 0.5 after step 2: ends 23.5 + 9.3 = 32.8. At 23.5 the
// host schedules step 4 (B's decode): launch 25.5, ends 32.8 + 6.5 = 39.3.
func TestEngineTiming_ArrivalMidStep(t *testing.T) {
	cfg := engineConfig()
	set := engineSet(t, "async", 0.5, 2, 1, 0.01)
	res := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,4\n0.013,50,2\n", cfg), set)
	wantTimes(t, "A", tokenTimes(res, 0), 10.5, 17, 23.5, 32.8)
	wantTimes(t, "B", tokenTimes(res, 1), 32.8, 39.3)
	if s := res.Requests[1].ScheduledNs; s != 17*ms {
		t.Errorf("B first scheduled at %d, want 17 ms (end of step 1)", s)
	}
	b3 := res.Batches[3]
	if b3.Size() != 2 || b3.ModeName() != "graph_mixed" || b3.Padded != 64 || b3.HostNs != 3500000 || b3.ModelNs != 8800000 {
		t.Errorf("step 3: %+v", b3)
	}
}

// TestEngineTiming_BlocksFreedWhenProcessed: a request finishing in step n
// keeps its KV blocks while step n+1 is scheduled; they are free for step
// n+2. With room for exactly one request (plus watermark), B cannot be
// admitted in the step scheduled while A's last step runs.
func TestEngineTiming_BlocksFreedWhenProcessed(t *testing.T) {
	cfg := engineConfig()
	cfg.Scheduler.NumBlocks = 10 // A and B need 7 blocks each (100 + 4 tokens / 16)
	cfg.Scheduler.WatermarkBlocksFraction = 0
	set := engineSet(t, "async", 0.5, 2, 1, 0.01)
	res := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,4\n0.001,100,1\n", cfg), set)
	wantTimes(t, "A", tokenTimes(res, 0), 10.5, 17, 23.5, 30)
	// A finishes in step 3 (planned at 23.5, nothing else to schedule then:
	// B does not fit while A holds its blocks); at 30 A's outputs are
	// processed and B runs from idle: host 2 + 1 + 1 = 4, GPU 6.5: 40.5.
	if s := res.Requests[1].ScheduledNs; s != 30*ms {
		t.Errorf("B scheduled at %d, want 30 ms", s)
	}
	wantTimes(t, "B", tokenTimes(res, 1), 40.5)
}

// TestEngineTiming_SyncEqualsVidur: with padding that changes nothing
// (constant times), sync overlap and a host table equal to the CPU terms,
// engine timing reproduces Vidur's composition token for token.
func TestEngineTiming_SyncEqualsVidur(t *testing.T) {
	tm := enginetest.Uniform(0.01, 0.02, 0.1, 0.1)
	tm.MLP["emb"], tm.MLP["lm_head"] = 0.2, 0.2
	tm.CPU = 0.4 // five terms: 2 ms per iteration
	tm.Engine = `{"engine":"test","overlap":"sync","cuda_graph_batch_sizes":[1,2,4,8],"mixed_graph_token_sizes":[8,16,512],"sync_ms":0.3}`
	tm.Host = []enginetest.HostRow{{Batch: 1, Base: 2}, {Batch: 128, Base: 2}}
	set := enginetest.Set(qwen3(t), tm, 4096, 128)
	cfg := engine.DefaultConfig()
	cfg.Workload.NumRequests, cfg.Workload.QPS = 60, 30
	w, err := workload.Generate(cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	eng := run(t, cfg, w, set)
	vcfg := cfg
	vcfg.Predictor.TimingModel = engine.TimingVidur
	vcfg.Predictor.SkipCPUOverheadModeling = false
	vcfg.Predictor.LMHead, vcfg.Predictor.Embedding = true, true
	vid := run(t, vcfg, w, set)
	if eng.TimingModel != engine.TimingEngine || vid.TimingModel != engine.TimingVidur || len(eng.Batches) != len(vid.Batches) {
		t.Fatalf("timing %s/%s, %d vs %d batches", eng.TimingModel, vid.TimingModel, len(eng.Batches), len(vid.Batches))
	}
	for i := range eng.Requests {
		a, b := tokenTimes(eng, i), tokenTimes(vid, i)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("request %d: engine sync %v, vidur %v", i, a, b)
		}
	}
}

// TestEngineTiming_Invariants: random workloads, schedulers and times; the
// recurrence holds for every step (checked from the records alone).
func TestEngineTiming_Invariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 30 {
		overlap := []string{"async", "sync"}[trial%2]
		base, perPrefill, perToken, syncMs := rng.Float64()*10, rng.Float64()*2, rng.Float64()*0.02, rng.Float64()
		set := engineSet(t, overlap, syncMs, base, perPrefill, perToken)
		cfg := engineConfig()
		cfg.Seed = uint64(trial)
		cfg.Scheduler.Type = []string{"sarathi", "vllm", "orca", "lightllm", "faster_transformer"}[trial%5]
		if cfg.Scheduler.Type == "lightllm" {
			cfg.Scheduler.BlockSize = 1
		}
		cfg.Scheduler.ChunkSize = 64 + rng.IntN(512)
		cfg.Predictor.Extrapolate = true // orca and lightllm batch whole prompts
		cfg.Cluster.NumReplicas = 1 + rng.IntN(2)
		cfg.Workload.NumRequests = 20 + rng.IntN(60)
		cfg.Workload.QPS = 1 + rng.Float64()*200
		cfg.Workload.LengthGenerator = "uniform"
		cfg.Workload.MinTokens, cfg.Workload.MaxTokens = 8, 1024
		w, err := workload.Generate(cfg.WorkloadOptions())
		if err != nil {
			t.Fatal(err)
		}
		res := run(t, cfg, w, set)
		syncNs := int64(0)
		if overlap == "async" {
			syncNs = predict.Nanos(syncMs)
		}
		var last, prev [2]*engine.BatchRecord
		for i := range res.Batches {
			b := &res.Batches[i]
			r := b.Replica
			// Host serial: a step is scheduled after the previous one was launched;
			// sync: after it ended; async: after the one before it ended.
			if p := last[r]; p != nil {
				if b.ScheduledAt < p.LaunchedAt() || overlap == "sync" && b.ScheduledAt < p.EndAt {
					t.Fatalf("trial %d step %d: scheduled at %d, previous launched %d ended %d", trial, i, b.ScheduledAt, p.LaunchedAt(), p.EndAt)
				}
				start := max(b.LaunchedAt(), p.EndAt)
				if b.EndAt != start+b.ModelNs+syncNs {
					t.Fatalf("trial %d step %d: ends %d, want max(launch %d, previous end %d) + %d + %d", trial, i, b.EndAt, b.LaunchedAt(), p.EndAt, b.ModelNs, syncNs)
				}
			} else if b.EndAt != b.LaunchedAt()+b.ModelNs+syncNs {
				t.Fatalf("trial %d step %d (first): ends %d", trial, i, b.EndAt)
			}
			if pp := prev[r]; pp != nil && b.ScheduledAt < pp.EndAt {
				t.Fatalf("trial %d step %d: scheduled at %d before step n-2 ended (%d)", trial, i, b.ScheduledAt, pp.EndAt)
			}
			mode, padded := res.Engine.Pad(b.Tokens(), b.DecodeTokens(), int(b.Key.NumPrefills))
			if b.ModeName() != mode || int(b.Padded) != padded || padded < b.Tokens() {
				t.Fatalf("trial %d step %d: %s at %d, want %s at %d", trial, i, b.ModeName(), b.Padded, mode, padded)
			}
			prev[r], last[r] = last[r], b
		}
		for i, r := range res.Requests {
			if r.Status == engine.StatusOK && r.ScheduledNs < r.ArrivalNs {
				t.Fatalf("trial %d request %d scheduled before it arrived", trial, i)
			}
		}
	}
}

func TestEngineTiming_ConfigErrors(t *testing.T) {
	cfg := engineConfig()
	w := trace(t, seedTrace, cfg)
	plain := enginetest.Set(qwen3(t), enginetest.Uniform(0.01, 0.02, 0.1, 0.1), 4096, 128)
	withEngine := engineSet(t, "async", 0.5, 2, 1, 0.01)
	for _, tc := range []struct {
		name string
		edit func(*engine.Config)
		set  *predict.Set
		want string
	}{
		{"no engine.json", func(c *engine.Config) { c.Predictor.TimingModel = "engine" }, plain, "needs a profile set with engine.json"},
		{"unknown model", func(c *engine.Config) { c.Predictor.TimingModel = "fast" }, withEngine, `unknown "fast"`},
		{"cpu overhead too", func(c *engine.Config) { c.Predictor.SkipCPUOverheadModeling = false }, withEngine, "cannot add cpu_overheads.csv"},
		{"pipeline", func(c *engine.Config) { c.Replica.NumPipelineStages = 2 }, withEngine, "one pipeline stage"},
	} {
		c := cfg
		tc.edit(&c)
		_, err := engine.Run(context.Background(), c, engine.Inputs{Workload: w, Profile: tc.set, Network: enginetest.Network(1024, 0.01, 0.01)}, engine.Options{})
		var ce *engine.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a ConfigError with %q", tc.name, err, tc.want)
		}
	}
	// Vidur timing on a set with engine.json stays available.
	c := cfg
	c.Predictor.TimingModel = "vidur"
	if res := run(t, c, w, withEngine); res.TimingModel != "vidur" || res.Batches[0].HostNs != 0 {
		t.Errorf("vidur timing on an engine set: %s", res.TimingModel)
	}
}

// TestEngineTiming_ClosedLoop: a closed-loop turn is released by its
// parent's completion, which engine timing knows when the parent's last
// step is planned: A completes at 30 ms (TestEngineTiming_Async); B, 1 ms
// later, arrives at 31 to an idle host: 31 + 4 host + 6.5 = 41.5.
func TestEngineTiming_ClosedLoop(t *testing.T) {
	cfg := engineConfig()
	set := engineSet(t, "async", 0.5, 2, 1, 0.01)
	w := &workload.Workload{Format: workload.FormatMooncake, Requests: []workload.Request{
		{ID: 0, Prefill: 100, Decode: 4, Session: 1, Turn: 1},
		{ID: 1, Prefill: 100, Decode: 1, Session: 1, Turn: 2, Parent: 1, ClosedLoop: true, DelayNs: 1 * ms},
	}}
	res := run(t, cfg, w, set)
	wantTimes(t, "A", tokenTimes(res, 0), 10.5, 17, 23.5, 30)
	if r := res.Requests[1]; r.ArrivalNs != 31*ms || r.ScheduledNs != 31*ms {
		t.Errorf("B arrived %d, scheduled %d; want 31 ms", r.ArrivalNs, r.ScheduledNs)
	}
	wantTimes(t, "B", tokenTimes(res, 1), 41.5)
}

// TestEngineTiming_IdleHost: engine.json's idle_host (after 1 ms without
// work: 3 ms + 0.5 per prefill + 0.01 per prefill token) replaces the busy
// table (2 + 1 + 0.01) for the first step after the host loop idled longer
// than after_ms. By hand, 100-token prompts of one output token each:
// A at 0 (the loop has just started, not idled): host 4, token at 4 + 6 +
// 0.5 = 10.5; B at 100 (idle since 10.5): host 4.5, token at 111; C at
// 111.5 (idle 0.5 ms only): host 4, token at 122.
func TestEngineTiming_IdleHost(t *testing.T) {
	cfg := engineConfig()
	tm := enginetest.Uniform(0.01, 0.02, 0.1, 0.1)
	tm.MLP["add"] = 0
	tm.MLP["emb"], tm.MLP["lm_head"] = 0.2, 0.2
	tm.Engine = `{"engine":"test","overlap":"async","cuda_graph_batch_sizes":[1,2,4,8],"mixed_graph_token_sizes":[8,16,32,64,128],"sync_ms":0.5,"fused_ops":["add"],
 "idle_host":{"after_ms":1,"base_ms":3,"per_prefill_ms":0.5,"per_prefill_token_ms":0.01,"source":"hand-chosen"}}`
	tm.Host = []enginetest.HostRow{{Batch: 1, Base: 2, PerPrefill: 1, PerToken: 0.01}, {Batch: 128, Base: 2, PerPrefill: 1, PerToken: 0.01}}
	set := enginetest.Set(qwen3(t), tm, 4096, 128)
	res := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,1\n0.1,100,1\n0.1115,100,1\n", cfg), set)
	wantTimes(t, "A", tokenTimes(res, 0), 10.5)
	wantTimes(t, "B (after idling)", tokenTimes(res, 1), 111)
	wantTimes(t, "C (idle under after_ms)", tokenTimes(res, 2), 122)
	if h := res.Batches[1].HostNs; h != 4500000 {
		t.Errorf("B's step host %d ns, want 4.5 ms", h)
	}
}

// TestEngineTiming_IdleGPU: idle_host's GPU terms (E = 1 ms, tau = 10 ms)
// add E * (1 - exp(-idle / tau)) to the GPU time of a step launched from
// idle, idle being the time from the previous step's end (the start, for
// the first) to the launch. Hosts and GPU times as TestEngineTiming_IdleHost:
// A launches at 4 ms (idle 4 ms), B wakes at 100 ms and launches at 104.5 ms,
// C arrives at 150 ms (after B ended) and launches at 154.5 ms; each step's
// GPU time plus sync is 6 ms + 0.5 ms without the extra.
func TestEngineTiming_IdleGPU(t *testing.T) {
	cfg := engineConfig()
	tm := enginetest.Uniform(0.01, 0.02, 0.1, 0.1)
	tm.MLP["add"] = 0
	tm.MLP["emb"], tm.MLP["lm_head"] = 0.2, 0.2
	tm.Engine = `{"engine":"test","overlap":"async","cuda_graph_batch_sizes":[1,2,4,8],"mixed_graph_token_sizes":[8,16,32,64,128],"sync_ms":0.5,"fused_ops":["add"],
 "idle_host":{"after_ms":1,"base_ms":3,"per_prefill_ms":0.5,"per_prefill_token_ms":0.01,"source":"hand-chosen","gpu_extra_ms":1,"gpu_tau_ms":10,"gpu_source":"hand-chosen"}}`
	tm.Host = []enginetest.HostRow{{Batch: 1, Base: 2, PerPrefill: 1, PerToken: 0.01}, {Batch: 128, Base: 2, PerPrefill: 1, PerToken: 0.01}}
	set := enginetest.Set(qwen3(t), tm, 4096, 128)
	res := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,1\n0.1,100,1\n0.15,100,1\n", cfg), set)
	extra := func(idleNs int64) int64 { return int64(math.Round(-math.Expm1(-float64(idleNs)/1e7) * 1e6)) }
	endA := int64(10_500_000) + extra(4_000_000)
	endB := int64(111_000_000) + extra(104_500_000-endA)
	endC := int64(161_000_000) + extra(154_500_000-endB)
	for i, want := range []int64{endA, endB, endC} {
		if got := tokenTimes(res, i); len(got) != 1 || got[0] != want {
			t.Errorf("request %d: token times %v ns, want [%d]", i, got, want)
		}
	}
	if d := endA - 10_500_000; d != 329680 {
		t.Errorf("A's extra %d ns, want 1 ms * (1 - e^-0.4) = 329680 ns", d)
	}
}

// TestEngineTiming_EagerLaunch: a 200-token prompt is above the largest
// mixed graph (128 tokens), so its step runs eagerly, launched over
// eager_launch's 9 ms (no decodes). Step 0 (from idle): host 2 + 1 + 0.01 x
// 200 = 5, launch 5; its kernels take 6 ms but the launch ends at 14, so it
// ends at 14 + 0.5 = 14.5 and its GPU span is 9 ms; the host loop goes on
// at 14 (not at 5): step 1 (a decode graph) launches at 16, runs after step
// 0 from 16 to 22.5; at max(16, 14.5) step 2 launches at 18 and runs from
// 22.5 to 29. Step 0's token is stamped when the host sees it complete,
// once it has launched step 1: at 16 (not 14.5). Without eager_launch: step
// 0 ends at 5 + 6 + 0.5 = 11.5, step 1 launches at 7 and runs from 11.5 to
// 18, step 2 launches at 13.5 and runs from 18 to 24.5.
func TestEngineTiming_EagerLaunch(t *testing.T) {
	cfg := engineConfig()
	in := trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,200,3\n", cfg)
	plain := engineSet(t, "async", 0.5, 2, 1, 0.01)
	wantTimes(t, "no eager_launch", tokenTimes(run(t, cfg, in, plain), 0), 11.5, 18, 24.5)

	set := engineSet(t, "async", 0.5, 2, 1, 0.01)
	set.Engine.EagerLaunch = &predict.EagerLaunch{BaseMs: 9, DecodesMs: 1, PerDecodeMs: 0.5, Source: "test"}
	res := run(t, cfg, in, set)
	wantTimes(t, "eager launch", tokenTimes(res, 0), 16, 22.5, 29)
	b := res.Batches
	if b[0].ModeName() != "eager" || b[0].HostNs != 5*ms || b[0].ModelNs != 9*ms || b[0].LaunchedAt() != 5*ms {
		t.Errorf("step 0: %+v", b[0])
	}
	if b[1].ModeName() != "graph" || b[1].ScheduledAt != 14*ms || b[1].ModelNs != 6*ms {
		t.Errorf("step 1: %+v", b[1])
	}
}

// TestEngineTiming_StampAtNextEagerLaunch: the reference engine launches
// step n+1 before it waits for step n, so step n's tokens are stamped at
// max(step n's end, the end of step n+1's launch); an eager launch (9 ms +
// 1 + 0.5 per decode) can end well after the step before it. A (100-token
// prompt, 3 outputs) as in TestEngineTiming_Async: step 0 ends at 10.5,
// step 1 (A's decode) launches at 6 and ends at 17. B (200-token prompt, 2
// outputs) arrives at 8 and is scheduled at 10.5 beside A's decode: 201
// tokens, above the largest mixed graph, so step 2 runs eagerly: host 2 + 1
// + 0.01 x 200 = 5, launched at 15.5 over 10.5 ms, to 26. The host sees
// step 1 complete at 26 (A's second token, not at 17); step 2's kernels
// (8.8 ms from 17) wait on the launch: it ends at 26.5. At 26 the host
// schedules step 3 (B's decode, A finished in step 2): launch 28, end 28 + 6
// + 0.5 = 34.5; it sees step 2 complete at 28 (A's last token and B's
// first), and step 3, with nothing after it, at 34.5.
func TestEngineTiming_StampAtNextEagerLaunch(t *testing.T) {
	cfg := engineConfig()
	set := engineSet(t, "async", 0.5, 2, 1, 0.01)
	set.Engine.EagerLaunch = &predict.EagerLaunch{BaseMs: 9, DecodesMs: 1, PerDecodeMs: 0.5, Source: "test"}
	// C (10-token prompt, 1 output) follows A in a closed loop 1 ms after A
	// completes: it arrives at 29 (not 27.5), while step 3 runs, and is
	// scheduled when the host sees step 3 complete (34.5), from no step in
	// flight: host 2 + 1 + 0.1 = 3.1, GPU 6 + 0.5: done at 44.1.
	w := &workload.Workload{Format: workload.FormatMooncake, Requests: []workload.Request{
		{ID: 0, ArrivalNs: 0, Prefill: 100, Decode: 3, Session: 1, Turn: 1},
		{ID: 1, ArrivalNs: 8 * ms, Prefill: 200, Decode: 2, Session: 2, Turn: 1},
		{ID: 2, Prefill: 10, Decode: 1, Session: 1, Turn: 2, Parent: 1, ClosedLoop: true, DelayNs: 1 * ms},
	}}
	res := run(t, cfg, w, set)
	wantTimes(t, "A", tokenTimes(res, 0), 10.5, 26, 28)
	wantTimes(t, "B", tokenTimes(res, 1), 28, 34.5)
	wantTimes(t, "C", tokenTimes(res, 2), 44.1)
	if a, c := res.Requests[0], res.Requests[2]; a.CompletionNs != 28*ms || c.ArrivalNs != 29*ms {
		t.Errorf("A completed at %d ns, want 28 ms (when the host sees step 2 complete); C arrived at %d, want 29 ms", a.CompletionNs, c.ArrivalNs)
	}
	b := res.Batches
	if len(b) != 5 || b[1].EndAt != 17*ms || b[2].ModeName() != "eager" || b[2].LaunchedAt() != 15500000 || b[2].EndAt != 26500000 || b[3].ScheduledAt != 26*ms || b[4].ScheduledAt != 34500000 {
		t.Errorf("steps: %+v", b)
	}
}

// TestEngineTiming_HandoffAtStamp: a prefill replica hands a request's KV
// over when its host sees the prefill step complete. A and B (200-token
// prompts, 2 outputs) on 1 prefill + 1 decode replica over PCIe: A's step
// runs eagerly from idle (host 5, launch to 14, end 14.5); B, arrived at 1,
// is launched at 14 + 5 = 19 over 9 ms, so the host sees A's step complete
// at 28 and A's transfer (200 x 114688 bytes at 64 GB/s: 358400 ns) ends at
// 28.3584, when the decode replica takes A (at 14.8584 if the hand-off
// started at the GPU's end). B's step, with nothing after it, hands B over at
// its end, 28.5.
func TestEngineTiming_HandoffAtStamp(t *testing.T) {
	cfg := engineConfig()
	cfg.Cluster.NumReplicas, cfg.Cluster.PrefillReplicas, cfg.Cluster.KVTransferLink = 2, 1, "pcie"
	set := engineSet(t, "async", 0.5, 2, 1, 0.01)
	set.Engine.EagerLaunch = &predict.EagerLaunch{BaseMs: 9, DecodesMs: 1, PerDecodeMs: 0.5, Source: "test"}
	res := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,200,2\n0.001,200,2\n", cfg), set)
	var dec []engine.BatchRecord
	for _, b := range res.Batches {
		if b.Replica == 1 {
			dec = append(dec, b)
		}
	}
	if b := res.Batches; b[0].Replica != 0 || b[0].EndAt != 14500000 || b[1].Replica != 0 || b[1].EndAt != 28500000 {
		t.Fatalf("prefill steps: %+v", b[:2])
	}
	if a := res.Requests[0]; a.TransferNs != 358400 || len(dec) == 0 || dec[0].ScheduledAt != 28358400 {
		t.Errorf("A's transfer %d ns; the decode replica's first step %+v, want at 28358400 ns", a.TransferNs, dec)
	}
}

// TestEngineTiming_EagerStart: an eager step's GPU work begins start_frac
// of its launch into the launch. TestEngineTiming_EagerLaunch's trace with a
// 4 ms launch (under the step's 6 ms of kernels) and start_frac 0.25: step 0
// launches at 5, its work begins at 6 and ends at 12, + 0.5 sync: 12.5 (a
// 7 ms span; without start_frac 11.5). The host loop goes on at the
// launch's end, 9: step 1 launches at 11, runs after step 0 from 12.5 to 19;
// step 2 launches at 14.5 and runs from 19 to 25.5.
// Behind a busy GPU the wait is hidden: in
// TestEngineTiming_StampAtNextEagerLaunch step 2 launches at 15.5 over 10.5
// ms while step 1 runs to 17; with start_frac 0.1 its work could begin at
// 16.55, so it still begins at 17 and the step ends at 26.5 as without; with
// 0.2 it begins at 17.6 and ends at 17.6 + 8.8 + 0.5 = 26.9.
func TestEngineTiming_EagerStart(t *testing.T) {
	cfg := engineConfig()
	in := trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,200,3\n", cfg)
	for _, c := range []struct {
		frac float64
		want []float64
		span int64
	}{{0, []float64{11.5, 18, 24.5}, 6 * ms}, {0.25, []float64{12.5, 19, 25.5}, 7 * ms}} {
		set := engineSet(t, "async", 0.5, 2, 1, 0.01)
		set.Engine.EagerLaunch = &predict.EagerLaunch{BaseMs: 4, Source: "test", StartFrac: c.frac, StartSource: "test"}
		res := run(t, cfg, in, set)
		wantTimes(t, fmt.Sprintf("start_frac %v", c.frac), tokenTimes(res, 0), c.want...)
		if b := res.Batches[0]; b.ModeName() != "eager" || b.ModelNs != c.span {
			t.Errorf("start_frac %v: step 0 %+v, want an eager step of %d ns", c.frac, b, c.span)
		}
	}
	w := &workload.Workload{Format: workload.FormatMooncake, Requests: []workload.Request{
		{ID: 0, ArrivalNs: 0, Prefill: 100, Decode: 3, Session: 1, Turn: 1},
		{ID: 1, ArrivalNs: 8 * ms, Prefill: 200, Decode: 2, Session: 2, Turn: 1},
	}}
	for _, c := range []struct {
		frac float64
		end  int64
	}{{0.1, 26500000}, {0.2, 26900000}} {
		set := engineSet(t, "async", 0.5, 2, 1, 0.01)
		set.Engine.EagerLaunch = &predict.EagerLaunch{BaseMs: 9, DecodesMs: 1, PerDecodeMs: 0.5, Source: "test", StartFrac: c.frac, StartSource: "test"}
		b := run(t, cfg, w, set).Batches
		if len(b) < 3 || b[2].ModeName() != "eager" || b[2].LaunchedAt() != 15500000 || b[2].EndAt != c.end {
			t.Errorf("start_frac %v: steps %+v, want step 2 eager, launched at 15.5 ms, ending at %d ns", c.frac, b, c.end)
		}
	}
}

// TestEagerLaunch_Ms: base alone without decodes; base + decodes_ms + per
// decode with any; nothing for a graph step or without eager_launch.
func TestEagerLaunch_Ms(t *testing.T) {
	spec := &predict.EngineSpec{EagerLaunch: &predict.EagerLaunch{BaseMs: 6.8, DecodesMs: 1.2, PerDecodeMs: 0.01, Source: "test"}}
	for _, c := range []struct {
		mode    string
		decodes int
		want    float64
	}{{predict.ModeEager, 0, 6.8}, {predict.ModeEager, 1, 8.01}, {predict.ModeEager, 64, 8.64}, {predict.ModeGraph, 4, 0}, {predict.ModeGraphMixed, 0, 0}} {
		if got := spec.EagerLaunchMs(c.mode, c.decodes); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s with %d decodes: %v ms, want %v", c.mode, c.decodes, got, c.want)
		}
	}
	if got := (&predict.EngineSpec{}).EagerLaunchMs(predict.ModeEager, 3); got != 0 {
		t.Errorf("without eager_launch: %v ms", got)
	}
	spec.EagerLaunch.InRunMs = 3.5 // the in-run term adds to every eager launch, none other
	for _, c := range []struct {
		mode    string
		decodes int
		want    float64
	}{{predict.ModeEager, 0, 10.3}, {predict.ModeEager, 64, 12.14}, {predict.ModeGraph, 4, 0}} {
		if got := spec.EagerLaunchMs(c.mode, c.decodes); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("in_run_ms 3.5, %s with %d decodes: %v ms, want %v", c.mode, c.decodes, got, c.want)
		}
	}
}

// TestEngineTiming_EagerFirstLaunch: an eager step of a token count the
// replica has not launched before adds first_ms to its launch. A (200-token
// prompt, 1 output) at 0: host 2 + 1 + 0.01 x 200 = 5, launch 9 + 2 (a new
// count) = 11 over 6 ms of kernels: ends at 5 + 11 + 0.5 = 16.5. B, the same
// shape at 100 ms, launches a count seen: 100 + 5 + 9 + 0.5 = 114.5. C (300
// tokens) at 200 ms is new again: host 6, launch 11, ends at 217.5. Without
// first_ms: 14.5, 114.5, 215.5.
func TestEngineTiming_EagerFirstLaunch(t *testing.T) {
	cfg := engineConfig()
	in := trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,200,1\n0.1,200,1\n0.2,300,1\n", cfg)
	for _, c := range []struct {
		first float64
		want  []float64
	}{{0, []float64{14.5, 114.5, 215.5}}, {2, []float64{16.5, 114.5, 217.5}}} {
		set := engineSet(t, "async", 0.5, 2, 1, 0.01)
		set.Engine.EagerLaunch = &predict.EagerLaunch{BaseMs: 9, Source: "test", FirstMs: c.first, FirstSource: "test"}
		res := run(t, cfg, in, set)
		for i, w := range c.want {
			wantTimes(t, fmt.Sprintf("first_ms %v, request %d", c.first, i), tokenTimes(res, i), w)
		}
	}
}

// TestEagerLaunch_Span: from idle, the launch bounds a small step and the
// work's start (start_frac of the launch) delays a GPU-bound one.
func TestEagerLaunch_Span(t *testing.T) {
	l := &predict.EagerLaunch{BaseMs: 10, StartFrac: 0.1, StartSource: "test", Source: "test"}
	for _, c := range []struct{ gpu, launch, want float64 }{
		{5, 10, 10}, {9, 10, 10}, {9.5, 10, 10.5}, {12, 10, 13}, {40, 10, 41}, {12, 0, 12},
	} {
		if got := l.Span(c.gpu, c.launch); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("GPU %v ms, launch %v ms: span %v, want %v", c.gpu, c.launch, got, c.want)
		}
	}
}

// TestEngineTiming_FinishedLeavesTheCap: under a cap of 2 sequences, A
// finishes in step 1 (its second token); step 2 is scheduled while step 1
// is in flight, treating it as done, so A no longer counts against the cap
// and C is admitted in step 2 (the reference engine removes a finishing
// sequence from its running set when it schedules its last step), though
// A's blocks are freed only once step 1's outputs are processed.
func TestEngineTiming_FinishedLeavesTheCap(t *testing.T) {
	for _, sched := range []string{"sarathi", "vllm", "vllm_v1"} {
		t.Run(sched, func(t *testing.T) {
			cfg := engineConfig()
			cfg.Scheduler.Type, cfg.Scheduler.BatchSizeCap = sched, 2
			set := engineSet(t, "async", 0.5, 2, 1, 0.01)
			res := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,2\n0,10,5\n0,10,2\n", cfg), set)
			b := res.Batches
			if len(b) < 3 || b[0].Size() != 2 || b[1].Size() != 2 {
				t.Fatalf("steps 0-1: %+v", b)
			}
			want := 2 // C's prefill beside B's decode; vLLM v0 runs a step of prefills alone
			if sched == "vllm" {
				want = 1
			}
			if s := res.Requests[2].ScheduledNs; s != b[2].ScheduledAt || b[2].Size() != want || b[2].Key.NumPrefills != 1 {
				t.Errorf("C first scheduled at %d ns, want in step 2 (at %d ns) of %d sequences: step 2 %+v", s, b[2].ScheduledAt, want, b[2])
			}
		})
	}
}
