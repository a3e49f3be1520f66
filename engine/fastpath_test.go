package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/profiles"
)

// files renders every output file of res, and the page's plot data.
func files(t *testing.T, res *engine.Result, names []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range names {
		var b bytes.Buffer
		if err := report.Write(n, &b, res, report.Meta{EngineVersion: "test", WorkloadName: "random"}); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out[n] = b.Bytes()
	}
	return out
}

// randomRun is a random configuration over what the engine models: every
// replica scheduler, 1-4 replicas, every router, TP and PP, small KV caches
// (preemption), prefix caching with shared prompts and closed-loop
// sessions, disaggregation, a time limit, and four timing sources: a
// hand-timed set, a hand-timed set slow enough that every token gap is over
// 2^32 ns, the embedded A100 set (vidur timing) and the measured H200 set
// (engine timing: CUDA-graph padding, host table, async overlap).
func randomRun(t *testing.T, rng *rand.Rand) (string, engine.Config, engine.Inputs) {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.Seed = rng.Uint64()
	var net fs.FS = enginetest.Network(1024, 0.01, 0.02)
	var set *predict.Set
	src := rng.IntN(8)
	switch src {
	case 6, 7: // every step ~1 ms and arrivals on a ms grid: many events at the same instant
		u := 1.0 / 28 / 11
		set = enginetest.Set(qwen3(t), enginetest.Uniform(u, u, u, u), 8192, 256)
	case 0, 1:
		set = enginetest.Set(qwen3(t), enginetest.Uniform(0.01, 0.005, 0.02, 0.03), 8192, 256)
	case 2: // ~6 s per step: every gap between tokens needs more than 32 bits
		set = enginetest.Set(qwen3(t), enginetest.Uniform(20, 10, 40, 60), 8192, 256)
	case 3, 4:
		s, err := profiles.Embedded().Open(engine.DefaultProfile)
		if err != nil {
			t.Fatal(err)
		}
		set, net = s, profiles.Embedded().Network()
	case 5:
		s, err := profiles.Embedded().Open("h200/qwen3-0.6b")
		if err != nil {
			t.Fatal(err)
		}
		set, net = s, profiles.Embedded().Network()
		cfg.Replica.Device, cfg.Replica.NetworkDevice = s.Meta.Device, s.Meta.NetworkDevice
	}
	cfg.Predictor.Extrapolate = true
	cfg.Scheduler.Type = engine.SchedulerNames[rng.IntN(len(engine.SchedulerNames))]
	cfg.Cluster.GlobalScheduler = engine.GlobalSchedulerNames[rng.IntN(len(engine.GlobalSchedulerNames))]
	cfg.Cluster.NumReplicas = 1 + rng.IntN(4)
	cfg.Scheduler.BatchSizeCap = 2 + rng.IntN(30)
	cfg.Scheduler.ChunkSize = 16 + rng.IntN(600)
	cfg.Scheduler.MaxNumBatchedTokens = 16 + rng.IntN(1000)
	cfg.Workload.MaxTokens = 1024
	engineTiming := src == 5
	switch {
	case cfg.Scheduler.Type == "lightllm":
		cfg.Scheduler.BlockSize = 1
		cfg.Scheduler.NumBlocks = 1500 + rng.IntN(3000)
	default:
		if !engineTiming && rng.IntN(3) == 0 {
			cfg.Replica.NumPipelineStages = []int{2, 4}[rng.IntN(2)]
			cfg.Scheduler.BatchSizeCap = max(cfg.Scheduler.BatchSizeCap, cfg.Replica.NumPipelineStages)
		}
		if src <= 2 && rng.IntN(3) == 0 { // the embedded sets are profiled at TP 1
			cfg.Replica.TensorParallelSize = 2
		}
		cfg.Scheduler.NumBlocks = 70 + rng.IntN(200)
		if cfg.Scheduler.Type == "orca" || cfg.Scheduler.Type == "faster_transformer" {
			cfg.Scheduler.NumBlocks = 64 * (1 + rng.IntN(4))
		}
	}
	prefix := (cfg.Scheduler.Type == "sarathi" || cfg.Scheduler.Type == "vllm_v1") && rng.IntN(2) == 0
	if prefix {
		cfg.Scheduler.EnablePrefixCaching = true
		cfg.Workload.SystemPromptTokens, cfg.Workload.SystemPromptShare, cfg.Workload.SessionTurns = rng.IntN(400), rng.Float64(), rng.IntN(4)
	}
	if (cfg.Scheduler.Type == "sarathi" || cfg.Scheduler.Type == "vllm_v1") && cfg.Replica.NumPipelineStages == 1 && cfg.Cluster.NumReplicas >= 2 && rng.IntN(3) == 0 {
		cfg.Cluster.PrefillReplicas = 1 + rng.IntN(cfg.Cluster.NumReplicas-1)
	}
	if cfg.Cluster.GlobalScheduler == "prefix_affinity" && !prefix {
		cfg.Cluster.GlobalScheduler = "least_loaded"
	}
	cfg.Workload.NumRequests = 20 + rng.IntN(80)
	cfg.Workload.QPS = []float64{0.5, 2, 20, 200}[rng.IntN(4)] * (0.5 + rng.Float64())
	cfg.Workload.IntervalGenerator = []string{"poisson", "gamma", "static"}[rng.IntN(3)]
	cfg.Workload.LengthGenerator = []string{"uniform", "zipf", "fixed"}[rng.IntN(3)]
	cfg.Workload.MinTokens = 16
	cfg.Workload.PrefillToDecodeRatio = 0.5 + rng.Float64()*5
	cfg.Workload.PrefillTokens, cfg.Workload.DecodeTokens = 1+rng.IntN(500), 1+rng.IntN(300)
	if src >= 6 {
		cfg.Workload.IntervalGenerator = "static"
		cfg.Workload.QPS = []float64{100, 250, 500, 1000}[rng.IntN(4)]
	}
	if rng.IntN(6) == 0 {
		cfg.TimeLimitS = rng.Float64() * 5
	}
	w, err := workload.Generate(cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s-%s-src%d-r%d-p%d-pp%d-tp%d-pc%v", cfg.Scheduler.Type, cfg.Cluster.GlobalScheduler, src, cfg.Cluster.NumReplicas,
		cfg.Cluster.PrefillReplicas, cfg.Replica.NumPipelineStages, cfg.Replica.TensorParallelSize, prefix)
	return name, cfg, engine.Inputs{Workload: w, Profile: set, Network: net}
}

// The chained path (an iteration's events run without the queue when
// nothing else is due) and runs that keep no per-iteration records write
// the same bytes as the step-by-step path, in every output file and the
// page's plot data; so do request_metrics.csv and token_metrics.csv
// streamed as the run goes (report.Stream).
func TestFastPath_ByteIdenticalToStepByStep(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 15
	}
	rng := rand.New(rand.NewPCG(18, 18))
	var escaped, limited int
	for i := range n {
		name, cfg, in := randomRun(t, rng)
		t.Run(fmt.Sprint(i, "-", name), func(t *testing.T) {
			escaped += sameAsStepByStep(t, cfg, in)
			if cfg.TimeLimitS > 0 {
				limited++
			}
		})
	}
	if escaped == 0 || limited == 0 {
		t.Errorf("%d token gaps over 2^32 ns and %d time-limited runs: the trials miss a case", escaped, limited)
	}
}

// sameAsStepByStep runs cfg on in step by step (Options.StepByStep) and
// the fast ways (chained events, decode runs, lean records, streamed
// files), and checks that every output file, the plot data and the
// progress reports are the same, and the step-by-step run's invariants. It
// returns how many token gaps were 2^32 ns or more.
func sameAsStepByStep(t *testing.T, cfg engine.Config, in engine.Inputs) (escaped int) {
	t.Helper()
	all := report.Files
	noBatch := []string{"request_metrics.csv", "token_metrics.csv", "run_meta.json", "summary.md"}
	// rec keeps every record but not the members (Sarathi's decode group
	// is carried only then), compared with step-rec (whose chrome trace
	// has no members either).
	runs := map[string]engine.Options{"step": {StepByStep: true, KeepMembers: true}, "fast": {KeepMembers: true},
		"skip": {SkipBatches: true}, "step-skip": {StepByStep: true, SkipBatches: true}, "rec": {}, "step-rec": {StepByStep: true}}
	out := map[string]map[string][]byte{}
	var ref *engine.Result
	progress := map[string][]engine.Progress{}
	for k, opt := range runs {
		if opt.SkipBatches { // progress reports come at the same batches and times
			opt.ProgressEvery = 1 + int(cfg.Seed%97)
			opt.OnProgress = func(p engine.Progress) { progress[k] = append(progress[k], p) }
		}
		// The skip run streams its request and token files too.
		var reqs, toks bytes.Buffer
		stream := report.NewStream(&reqs, &toks)
		if k == "skip" {
			opt.Sink = stream
		}
		res, err := engine.Run(context.Background(), cfg, in, opt)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if k == "skip" {
			if err := stream.Close(); err != nil {
				t.Fatal(err)
			}
			out["stream"] = map[string][]byte{"request_metrics.csv": reqs.Bytes(), "token_metrics.csv": toks.Bytes()}
		}
		names := all
		if opt.SkipBatches {
			names = noBatch
			if res.Batches != nil {
				t.Fatalf("%s: kept %d batch records", k, len(res.Batches))
			}
		} else if res.NumBatches != len(res.Batches) {
			t.Fatalf("%s: %d batches built, %d kept", k, res.NumBatches, len(res.Batches))
		}
		out[k] = files(t, res, names)
		pd, err := json.Marshal(report.PlotData(res))
		if err != nil {
			t.Fatal(err)
		}
		out[k]["plots"] = pd
		out[k]["cap"] = []byte(fmt.Sprint(res.BatchCapFreeFrom))
		if k == "step" {
			ref = res
		}
	}
	if cfg.TimeLimitS == 0 { // a time limit leaves batches unfinished
		checkInvariants(t, ref)
	}
	if !slices.Equal(progress["skip"], progress["step-skip"]) || len(progress["skip"]) == 0 {
		t.Errorf("progress reports differ: %d fast, %d step by step", len(progress["skip"]), len(progress["step-skip"]))
	}
	for _, k := range []string{"fast", "skip", "step-skip", "stream", "rec", "step-rec"} {
		ref := "step"
		if k == "rec" {
			ref = "step-rec"
		}
		for f, got := range out[k] {
			if k == "step-rec" && f == "chrome_trace.json" {
				continue // no members
			}
			if !bytes.Equal(got, out[ref][f]) {
				t.Errorf("%s: %s differs from the step-by-step run's (%d vs %d bytes)", k, f, len(got), len(out[ref][f]))
			}
		}
	}
	// Every token time is the end of a batch of its request's replica, or
	// under engine timing the end of a batch's launch (the host sees the
	// step before complete once it has launched the next).
	ends := map[[2]int64]bool{}
	for _, b := range ref.Batches {
		ends[[2]int64{int64(b.Replica), b.EndAt}] = true
		if spec := in.Profile.Engine; spec != nil && b.Mode != 0 {
			launch := spec.EagerLaunchMs(b.ModeName(), int(b.Key.Bd))
			ends[[2]int64{int64(b.Replica), b.LaunchedAt() + predict.Nanos(launch)}] = true
			if l := spec.EagerLaunch; l != nil && l.FirstMs > 0 && launch > 0 { // a token count's first launch
				ends[[2]int64{int64(b.Replica), b.LaunchedAt() + predict.Nanos(launch+l.FirstMs)}] = true
			}
		}
	}
	for i, r := range ref.Requests {
		prev := int64(-1)
		for _, at := range ref.TokenTimes(i) {
			if !ends[[2]int64{int64(r.Replica), at}] {
				t.Fatalf("request %d: token at %d is no batch end of replica %d", i, at, r.Replica)
			}
			if prev >= 0 && at-prev >= 1<<32-1 {
				escaped++
			}
			prev = at
		}
	}
	return escaped
}

// Engine timing's steady decode runs (engineDecodeRun: host-loop
// iterations without the queue) give the step-by-step path's outputs, on
// random configurations of the measured H200 set (randomRun's engine-timing
// source: every scheduler, 1-4 replicas, every router, small KV caches,
// prefix caching, closed-loop sessions, disaggregation, time limits), and
// on long decodes at light load, where most iterations are in such runs.
func TestFastPath_EngineTiming(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 10
	}
	rng := rand.New(rand.NewPCG(18, 19))
	limited := 0
	for i := 0; i < n; {
		name, cfg, in := randomRun(t, rng)
		if !strings.Contains(name, "-src5-") {
			continue
		}
		i++
		t.Run(fmt.Sprint(i, "-", name), func(t *testing.T) {
			sameAsStepByStep(t, cfg, in)
			if cfg.TimeLimitS > 0 {
				limited++
			}
		})
	}
	if limited == 0 {
		t.Error("no time-limited run: the trials miss a case")
	}
	set, err := profiles.Embedded().Open("h200/qwen3-0.6b")
	if err != nil {
		t.Fatal(err)
	}
	for _, sched := range []string{"sarathi", "vllm", "vllm_v1"} {
		for _, blocks := range []int{0, 120} { // 120: preemption
			cfg := engine.DefaultConfig()
			cfg.Replica.Device, cfg.Replica.NetworkDevice = set.Meta.Device, set.Meta.NetworkDevice
			cfg.Scheduler.Type, cfg.Scheduler.NumBlocks = sched, blocks
			cfg.Cluster.NumReplicas, cfg.Cluster.GlobalScheduler = 2, "round_robin"
			csv := "arrived_at,num_prefill_tokens,num_decode_tokens\n"
			for i := 0; i < 12; i++ {
				csv += fmt.Sprintf("%.3f,%d,%d\n", 0.45*float64(i)+float64(211*i%97)/1000, 30+37*i, 700-41*i)
			}
			t.Run(fmt.Sprintf("light-%s-%d", sched, blocks), func(t *testing.T) {
				sameAsStepByStep(t, cfg, engine.Inputs{Workload: trace(t, csv, cfg), Profile: set, Network: profiles.Embedded().Network()})
			})
		}
		// decode runs of more sequences than the largest decode graph (256): eager steps, each bound by
		// engine.json's eager_launch, taken by engineDecodeRun as by the host loop
		cfg := engine.DefaultConfig()
		cfg.Replica.Device, cfg.Replica.NetworkDevice = set.Meta.Device, set.Meta.NetworkDevice
		cfg.Scheduler.Type, cfg.Scheduler.BatchSizeCap, cfg.Scheduler.MaxTokensInBatch = sched, 320, 8192
		cfg.Predictor.Extrapolate = true // the host table ends at 256 sequences
		csv := "arrived_at,num_prefill_tokens,num_decode_tokens\n"
		for i := 0; i < 300; i++ {
			csv += fmt.Sprintf("%.5f,%d,%d\n", 0.00001*float64(i), 16+i%5, 40+i%9)
		}
		t.Run("wide-eager-"+sched, func(t *testing.T) {
			in := engine.Inputs{Workload: trace(t, csv, cfg), Profile: set, Network: profiles.Embedded().Network()}
			sameAsStepByStep(t, cfg, in)
			res, err := engine.Run(context.Background(), cfg, in, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			eager := 0
			for _, b := range res.Batches {
				if b.ModeName() == "eager" && b.Size() > 256 {
					eager++
					// it ends no sooner than its launch does (sync_ms after)
					if lo := predict.Nanos(set.Engine.EagerLaunchMs(predict.ModeEager, int(b.Key.Bd))); b.EndAt-b.LaunchedAt() < lo {
						t.Fatalf("an eager step of %d sequences ended %d ns after its launch began, before the launch ended (%d ns): %+v", b.Size(), b.EndAt-b.LaunchedAt(), lo, b)
					}
				}
			}
			if eager < 10 {
				t.Fatalf("%d eager steps of more than 256 sequences: the case misses what it is for", eager)
			}
		})
	}
}

// Steady decode runs (decodeRun) end exactly where the queue would have
// run another event first: each request arrives on the very nanosecond an
// iteration of the run without it ends (taken from that run), so a step
// end and an arrival tie, with decode runs going on around them.
func TestFastPath_DecodeRunsAtTies(t *testing.T) {
	set := enginetest.Set(qwen3(t), enginetest.Uniform(0.01, 0.005, 0.02, 0.03), 8192, 256)
	names := []string{"request_metrics.csv", "token_metrics.csv", "run_meta.json", "summary.md"}
	for _, c := range []struct {
		sched string
		reps  int
	}{{"sarathi", 1}, {"sarathi", 2}, {"vllm", 1}, {"vllm", 2}, {"vllm_v1", 1}, {"vllm_v1", 2}} {
		reps := c.reps
		cfg := engine.DefaultConfig()
		cfg.Scheduler.Type = c.sched
		cfg.Cluster.NumReplicas, cfg.Cluster.GlobalScheduler = reps, "least_loaded"
		csv := "arrived_at,num_prefill_tokens,num_decode_tokens\n0.000000000,300,400\n"
		last := int64(0)
		for i := 1; i <= 12; i++ {
			res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: trace(t, csv, cfg), Profile: set}, engine.Options{StepByStep: true})
			if err != nil {
				t.Fatal(err)
			}
			var ends []int64
			for _, b := range res.Batches {
				if b.EndAt > last {
					ends = append(ends, b.EndAt)
				}
			}
			slices.Sort(ends)
			if len(ends) < 8 {
				break
			}
			last = ends[7] // a few steps into a decode run
			csv += fmt.Sprintf("%d.%09d,%d,%d\n", last/1e9, last%1e9, 50+17*i, 300-11*i)
		}
		w := trace(t, csv, cfg)
		in := engine.Inputs{Workload: w, Profile: set}
		var out [2]map[string][]byte
		for k, opt := range []engine.Options{{SkipBatches: true, StepByStep: true}, {SkipBatches: true}} {
			res, err := engine.Run(context.Background(), cfg, in, opt)
			if err != nil {
				t.Fatal(err)
			}
			out[k] = files(t, res, names)
		}
		if len(w.Requests) < 10 {
			t.Fatalf("%d requests", len(w.Requests))
		}
		for _, n := range names {
			if !bytes.Equal(out[0][n], out[1][n]) {
				t.Errorf("%s, %d replicas: %s differs", c.sched, reps, n)
			}
		}
	}
}

// A decode run's steps taken several at once (lean runs, between KV-block
// boundaries, plot buckets, progress reports and tick checks) give the same
// files, plot data and progress reports as step by step: long decodes at
// light load, under each scheduler that has decode runs, with progress
// every few batches (so that some report falls at a chunk's last step).
func TestFastPath_DecodeChunks(t *testing.T) {
	set := enginetest.Set(qwen3(t), enginetest.Uniform(0.01, 0.005, 0.02, 0.03), 8192, 256)
	names := []string{"request_metrics.csv", "token_metrics.csv", "run_meta.json", "summary.md"}
	for _, sched := range []string{"sarathi", "vllm", "vllm_v1"} {
		for _, every := range []int{1, 3, 16, 61, 1024} {
			cfg := engine.DefaultConfig()
			cfg.Scheduler.Type = sched
			cfg.Scheduler.BlockSize = 64
			csv := "arrived_at,num_prefill_tokens,num_decode_tokens\n"
			for i := 0; i < 6; i++ {
				csv += fmt.Sprintf("%d.%03d,%d,%d\n", i/2, 137*i%1000, 40+23*i, 900-70*i)
			}
			in := engine.Inputs{Workload: trace(t, csv, cfg), Profile: set}
			var out [2]map[string][]byte
			var progress [2][]engine.Progress
			for k, opt := range []engine.Options{{SkipBatches: true, StepByStep: true}, {SkipBatches: true}} {
				opt.ProgressEvery = every
				opt.OnProgress = func(p engine.Progress) { progress[k] = append(progress[k], p) }
				res, err := engine.Run(context.Background(), cfg, in, opt)
				if err != nil {
					t.Fatal(err)
				}
				out[k] = files(t, res, names)
				pd, err := json.Marshal(report.PlotData(res))
				if err != nil {
					t.Fatal(err)
				}
				out[k]["plots"] = pd
			}
			for n := range out[0] {
				if !bytes.Equal(out[0][n], out[1][n]) {
					t.Errorf("%s, progress every %d: %s differs", sched, every, n)
				}
			}
			if !slices.Equal(progress[0], progress[1]) {
				t.Errorf("%s, progress every %d: %d progress reports step by step, %d otherwise", sched, every, len(progress[0]), len(progress[1]))
			}
		}
	}
}

// Sarathi's decode group (a mixed batch's decodes carried from step to
// step, engine/decodegroup.go) gives the step-by-step path's outputs where
// it is carried most: Splitwise conversation lengths near an A100's
// saturation (long-lived groups, the log of step times restarted several
// times), a KV cache small enough to preempt (the group dissolved when its
// blocks are short), a time limit (a step in flight at the end),
// closed-loop sessions, several replicas under a load-aware router, steps
// slow enough that every gap escapes 32 bits, progress reports every few
// batches, and tiny block sizes and caps.
func TestFastPath_DecodeGroup(t *testing.T) {
	a100, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	slow := enginetest.Set(qwen3(t), enginetest.Uniform(20, 10, 40, 60), 8192, 256)
	lengths := splitwiseLengths(t, 1500)
	cases := []struct {
		name                   string
		n                      int
		qps                    float64
		blocks, bs, cap, chunk int
		limit                  float64
		turns, reps            int
		slow                   bool
		gen                    string // a synthetic workload, lengths by this generator, static arrivals (ties)
	}{
		{name: "saturated", n: 1500, qps: 32},
		{name: "overloaded", n: 1200, qps: 80},
		{name: "small-kv", n: 800, qps: 32, blocks: 900},
		{name: "tiny-kv", n: 400, qps: 32, blocks: 300, bs: 4},
		{name: "short-kv-light", n: 400, qps: 2, blocks: 120}, // a lean decode run's chunk cut where the cache runs short
		{name: "time-limit", n: 1500, qps: 32, limit: 9.37},
		{name: "sessions", n: 900, qps: 40, turns: 3, reps: 2, gen: "fixed"},
		{name: "sessions-uniform", n: 900, qps: 40, turns: 4, reps: 2, gen: "uniform"},
		{name: "sessions-light", n: 30, qps: 1, turns: 3, gen: "fixed"}, // members finishing in a decode run release their next turns at once
		{name: "replicas", n: 1500, qps: 64, reps: 3},
		{name: "cap", n: 600, qps: 32, cap: 9, chunk: 64, bs: 1},
		{name: "cap-light", n: 400, qps: 6, cap: 4, chunk: 128, bs: 2},
		{name: "escaped", n: 120, qps: 4, slow: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			cfg.Workload.NumRequests, cfg.Workload.QPS = c.n, c.qps
			cfg.Seed = uint64(len(c.name))
			if c.blocks > 0 {
				cfg.Scheduler.NumBlocks = c.blocks
			}
			if c.bs > 0 {
				cfg.Scheduler.BlockSize = c.bs
			}
			if c.cap > 0 {
				cfg.Scheduler.BatchSizeCap, cfg.Scheduler.ChunkSize = c.cap, c.chunk
			}
			cfg.TimeLimitS = c.limit
			cfg.Workload.SessionTurns = c.turns
			if c.reps > 0 {
				cfg.Cluster.NumReplicas, cfg.Cluster.GlobalScheduler = c.reps, "least_loaded"
				if c.gen != "" {
					cfg.Cluster.GlobalScheduler = "round_robin"
				}
			}
			set := a100
			if c.slow {
				set = slow
				cfg.Predictor.Extrapolate = true
			}
			var w *workload.Workload
			if c.gen != "" {
				cfg.Workload.IntervalGenerator, cfg.Workload.LengthGenerator = "static", c.gen
				cfg.Workload.PrefillTokens, cfg.Workload.DecodeTokens, cfg.Workload.MinTokens, cfg.Workload.MaxTokens = 300, 120, 16, 2048
				cfg.Workload.PrefillToDecodeRatio = 2.5
				w, err = workload.Generate(cfg.WorkloadOptions())
			} else {
				w, err = workload.Load([]workload.File{{Name: "lengths.csv", R: bytes.NewReader(lengths)}}, cfg.WorkloadOptions())
			}
			if err != nil {
				t.Fatal(err)
			}
			escaped := sameAsStepByStep(t, cfg, engine.Inputs{Workload: w, Profile: set})
			if c.slow && escaped == 0 {
				t.Error("no gap over 2^32 ns")
			}
		})
	}
}
