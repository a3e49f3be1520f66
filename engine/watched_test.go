package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/profiles"
)

// TestWatched_SameAsLean: a run with the SLO watch (a capacity search's
// trial) that is not stopped is the lean run, bit for bit: its requests,
// token gaps, per-replica totals, plot buckets, term sums and key results, at light load (decode
// runs, taken in chunks) and near saturation.
func TestWatched_SameAsLean(t *testing.T) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, qps := range []float64{2, 4, 16, 32} {
		cfg, in := splitwiseRun(t, set, 2000, qps)
		lean, err := engine.Run(context.Background(), cfg, in, engine.Options{SkipBatches: true})
		if err != nil {
			t.Fatal(err)
		}
		watched, err := engine.Run(context.Background(), cfg, in, engine.Options{SkipBatches: true, StopOnSLOFail: true})
		if err != nil {
			t.Fatal(err)
		}
		if watched.Stopped != nil {
			t.Fatalf("%v QPS: stopped (%+v); the test needs a run that is not", qps, watched.Stopped)
		}
		if !reflect.DeepEqual(lean.Requests, watched.Requests) || !reflect.DeepEqual(lean.Replicas, watched.Replicas) ||
			!reflect.DeepEqual(lean.Iterations, watched.Iterations) || !reflect.DeepEqual(lean.TermMs, watched.TermMs) ||
			lean.NumBatches != watched.NumBatches || lean.EndNs != watched.EndNs {
			t.Fatalf("%v QPS: the watched run's requests, totals, plot buckets or term sums differ from the lean run's", qps)
		}
		for i := range lean.Requests {
			a, _ := lean.TokenGaps(i)
			b, _ := watched.TokenGaps(i)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("%v QPS: request %d's token gaps differ", qps, i)
			}
		}
		if k1, k2 := report.Compute(lean), report.Compute(watched); !reflect.DeepEqual(k1, k2) {
			t.Fatalf("%v QPS: key results differ:\n%+v\n%+v", qps, k1, k2)
		}
	}
}

// TestWatched_TBTStopsAtTheVerdict: with time between tokens the only
// objective, at thresholds whose count of gaps over them falls just below,
// at and just above what the percentile allows, a watched run stops exactly
// when the lean run's verdict is "not met", and a stop never counts more
// gaps over the threshold than the whole run has (the watch's TBT count,
// kept by advanceWatched, decodeRun and advanceSlow, is exact).
func TestWatched_TBTStopsAtTheVerdict(t *testing.T) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	cases, stops := 0, 0
	for _, qps := range []float64{4, 24, 40} {
		cfg, in := splitwiseRun(t, set, 600, qps)
		lean, err := engine.Run(context.Background(), cfg, in, engine.Options{SkipBatches: true})
		if err != nil {
			t.Fatal(err)
		}
		var gaps []int64
		for i := range lean.Requests {
			g, ok := lean.TokenGaps(i)
			if !ok {
				t.Fatal("a gap over 2^32 ns")
			}
			for _, x := range g {
				gaps = append(gaps, int64(x))
			}
		}
		slices.Sort(gaps)
		const pc = 90.0
		at := int(float64(len(gaps)) * pc / 100)
		for _, d := range []int{-40, -3, -1, 0, 1, 3, 40} {
			k := min(max(at+d, 0), len(gaps)-1)
			thrMs := float64(gaps[k]) / 1e6
			c := cfg
			c.SLO = &slo.Spec{TBTMs: thrMs, TBTPercentile: pc}
			full, err := engine.Run(context.Background(), c, in, engine.Options{SkipBatches: true})
			if err != nil {
				t.Fatal(err)
			}
			met := report.Compute(full).SLO.Met
			watched, err := engine.Run(context.Background(), c, in, engine.Options{SkipBatches: true, StopOnSLOFail: true})
			if err != nil {
				t.Fatal(err)
			}
			cases++
			if (watched.Stopped != nil) == met {
				t.Fatalf("%v QPS, P90 TBT within %v ms: stopped %v, the full run's verdict met %v", qps, thrMs, watched.Stopped != nil, met)
			}
			if st := watched.Stopped; st != nil {
				stops++
				over := int64(len(gaps) - sort.Search(len(gaps), func(i int) bool { return float64(gaps[i]) > thrMs*1e6 }))
				if st.Metric != "tbt" || st.Failing > over || st.Failing <= st.Allowed {
					t.Fatalf("%v QPS, P90 TBT within %v ms: stop %+v, the run has %d gaps over", qps, thrMs, *st, over)
				}
			}
		}
	}
	if stops == 0 || stops == cases {
		t.Errorf("%d of %d cases stopped: the thresholds do not test both sides", stops, cases)
	}
}

// TestWatched_GroupSameAsStepByStep: a watched run (a capacity search's
// trial) carries Sarathi's decode group, counting the watch's gaps and
// completions for the group at once; it gives the step-by-step run's
// verdict (stopped or not) and, when not stopped, its every output, and
// the watched run without the group (Options.KeepMembers turns the group
// off and keeps nothing more under SkipBatches: the watched path before
// the group took the watch) its every output, stop point and bounds too,
// and progress reports. Random configurations (every scheduler, randomRun)
// and Sarathi runs where the group lives long (most cases of
// TestFastPath_DecodeGroup) or takes decode runs in chunks (light load),
// each under random objectives around the run's own latencies (so that
// some stop and some do not).
func TestWatched_GroupSameAsStepByStep(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 20
	}
	rng := rand.New(rand.NewPCG(21, 22))
	var tally watchTally
	for i := range n {
		name, cfg, in := randomRun(t, rng)
		sp := rand.New(rand.NewPCG(uint64(i), 23))
		t.Run(fmt.Sprint(i, "-", name), func(t *testing.T) {
			for range 2 {
				sameWatched(t, cfg, in, sp, &tally)
			}
		})
	}
	a100, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	slow := enginetest.Set(qwen3(t), enginetest.Uniform(20, 10, 40, 60), 8192, 256)
	lengths := splitwiseLengths(t, 1200)
	cases := []struct {
		name            string
		n               int
		qps             float64
		blocks, bs, cap int
		limit           float64
		turns, reps     int
		slow            bool
	}{
		{name: "saturated", n: 1200, qps: 32},
		{name: "overloaded", n: 1000, qps: 80},
		{name: "small-kv", n: 800, qps: 32, blocks: 900},
		{name: "tiny-kv", n: 400, qps: 32, blocks: 300, bs: 4},
		{name: "time-limit", n: 1200, qps: 32, limit: 9.37},
		{name: "sessions", n: 800, qps: 40, turns: 3, reps: 2},
		{name: "replicas", n: 1200, qps: 64, reps: 3},
		{name: "cap", n: 600, qps: 32, cap: 9, bs: 1},
		{name: "escaped", n: 120, qps: 4, slow: true},
		{name: "light", n: 400, qps: 2}, // decode runs, taken in chunks
		{name: "light-6", n: 600, qps: 6},
	}
	for k, c := range cases {
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
			cfg.Scheduler.BatchSizeCap, cfg.Scheduler.ChunkSize = c.cap, 64
		}
		cfg.TimeLimitS = c.limit
		cfg.Workload.SessionTurns = c.turns
		if c.reps > 0 {
			cfg.Cluster.NumReplicas, cfg.Cluster.GlobalScheduler = c.reps, "least_loaded"
		}
		set := a100
		if c.slow {
			set = slow
			cfg.Predictor.Extrapolate = true
		}
		w, err := workload.Load([]workload.File{{Name: "lengths.csv", R: bytes.NewReader(lengths)}}, cfg.WorkloadOptions())
		if err != nil {
			t.Fatal(err)
		}
		sp := rand.New(rand.NewPCG(uint64(k), 24))
		t.Run(c.name, func(t *testing.T) {
			for range 4 {
				sameWatched(t, cfg, engine.Inputs{Workload: w, Profile: set}, sp, &tally)
			}
		})
	}
	t.Logf("%+v", tally)
	if tally.sarathiStopped < 10 || tally.sarathiKept < 10 || tally.otherStopped < 10 || tally.otherKept < 10 {
		t.Errorf("%+v: the trials miss a side", tally)
	}
}

type watchTally struct{ sarathiStopped, sarathiKept, otherStopped, otherKept int }

// sameWatched runs cfg on in watched under a random objective around the
// lean run's latencies (rng), step by step, without the decode group and
// with it, and compares them (TestWatched_GroupSameAsStepByStep).
func sameWatched(t *testing.T, cfg engine.Config, in engine.Inputs, rng *rand.Rand, tally *watchTally) {
	t.Helper()
	lean, err := engine.Run(context.Background(), cfg, in, engine.Options{SkipBatches: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SLO = randomSpec(rng, lean)
	full, err := engine.Run(context.Background(), cfg, in, engine.Options{SkipBatches: true})
	if err != nil {
		t.Fatal(err)
	}
	met := report.Compute(full).SLO.Met
	names := []string{"request_metrics.csv", "token_metrics.csv", "run_meta.json", "summary.md"}
	type out struct {
		res      *engine.Result
		files    map[string][]byte
		progress []engine.Progress
	}
	runs := map[string]engine.Options{"step": {StepByStep: true}, "nogroup": {KeepMembers: true}, "group": {}}
	got := map[string]*out{}
	for k, opt := range runs {
		o := &out{}
		opt.SkipBatches, opt.StopOnSLOFail = true, true
		opt.ProgressEvery = 1 + int(cfg.Seed%97)
		opt.OnProgress = func(p engine.Progress) { o.progress = append(o.progress, p) }
		if o.res, err = engine.Run(context.Background(), cfg, in, opt); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		o.files = files(t, o.res, names)
		pd, err := json.Marshal(report.PlotData(o.res))
		if err != nil {
			t.Fatal(err)
		}
		o.files["plots"] = pd
		r := o.res
		if o.files["counts"], err = json.Marshal([]any{r.NumBatches, r.Replicas, r.Iterations, r.EndNs, r.Restarts, r.TermMs, r.PrefixCache, r.BatchCapFreeFrom, r.Extrapolated}); err != nil {
			t.Fatal(err)
		}
		got[k] = o
	}
	spec := fmt.Sprintf("%+v", *cfg.SLO)
	g, ng, st := got["group"], got["nogroup"], got["step"]
	if (g.res.Stopped != nil) != (st.res.Stopped != nil) {
		t.Fatalf("%s: stopped %v with the group, %v step by step", spec, g.res.Stopped, st.res.Stopped)
	}
	if g.res.Stopped != nil && met {
		t.Fatalf("%s: stopped (%+v), the full run's verdict met", spec, *g.res.Stopped)
	}
	if g.res.Stopped == nil && !met && cfg.TimeLimitS == 0 {
		t.Fatalf("%s: not stopped, the full run's verdict not met", spec)
	}
	if !reflect.DeepEqual(g.res.Stopped, ng.res.Stopped) {
		t.Fatalf("%s: stop %+v with the group, %+v without", spec, g.res.Stopped, ng.res.Stopped)
	}
	if !slices.Equal(g.progress, ng.progress) || len(g.progress) == 0 {
		t.Errorf("%s: progress reports differ with the group and without (%d, %d)", spec, len(g.progress), len(ng.progress))
	}
	for f, b := range g.files {
		if !bytes.Equal(b, ng.files[f]) {
			t.Errorf("%s: %s differs with the group and without (stopped %v)", spec, f, g.res.Stopped != nil)
		}
		if g.res.Stopped == nil && !bytes.Equal(b, st.files[f]) {
			t.Errorf("%s: %s differs from the step-by-step run's", spec, f)
		}
	}
	if g.res.Stopped == nil && !slices.Equal(g.progress, st.progress) {
		t.Errorf("%s: progress reports differ from the step-by-step run's", spec)
	}
	switch s := g.res.Stopped != nil; {
	case cfg.Scheduler.Type == "sarathi" && s:
		tally.sarathiStopped++
	case cfg.Scheduler.Type == "sarathi":
		tally.sarathiKept++
	case s:
		tally.otherStopped++
	default:
		tally.otherKept++
	}
}

// randomSpec is a random objective on the lean run res's own latencies:
// each metric on (two in three, at least one) at a random percentile, its
// threshold at a rank of the run's sample near that percentile's (so that
// about half the objectives are met).
func randomSpec(rng *rand.Rand, res *engine.Result) *slo.Spec {
	var ttft, e2e, gaps []int64
	for i, r := range res.Requests {
		if r.FirstTokenNs >= 0 {
			ttft = append(ttft, r.FirstTokenNs-r.ArrivalNs)
		}
		if r.CompletionNs >= 0 {
			e2e = append(e2e, r.CompletionNs-r.ArrivalNs)
		}
		if g, ok := res.TokenGaps(i); ok {
			for _, x := range g {
				gaps = append(gaps, int64(x))
			}
		}
	}
	pick := func(xs []int64) (float64, float64) { // threshold (ms, above 0), percentile
		pc := []float64{50, 80, 90, 95, 99, 100}[rng.IntN(6)]
		if len(xs) == 0 {
			return 1, pc
		}
		slices.Sort(xs)
		q := min(max(pc/100+0.1*(rng.Float64()-0.5), 0), 1)
		return max(float64(xs[min(int(q*float64(len(xs))), len(xs)-1)])/1e6, 1e-3), pc
	}
	for {
		sp := slo.Spec{}
		if rng.IntN(3) > 0 {
			sp.TTFTMs, sp.TTFTPercentile = pick(ttft)
		}
		if rng.IntN(3) > 0 {
			sp.TBTMs, sp.TBTPercentile = pick(gaps)
		}
		if rng.IntN(3) > 0 {
			sp.E2EMs, sp.E2EPercentile = pick(e2e)
		}
		if sp != (slo.Spec{}) && sp.Validate("") == nil {
			return &sp
		}
	}
}

// TestWatched_EngineTimingStamps: under engine timing a step's tokens are
// stamped when the host has launched the next step (eager launches of 9 ms
// and more on the hand-timed set: most steps here are eager), and the SLO
// watch counts them at that stamp. For TTFT and E2E, at a threshold just
// under a request's own (each stamped after its step's end, and every
// eighth), with the percentile that allows one fewer request out than the
// full run has, the watched run stops; for time between tokens, at
// thresholds on both sides of what P90 allows, it stops exactly when the
// full run's verdict is "not met". A stop never counts more out than the
// full run has.
func TestWatched_EngineTimingStamps(t *testing.T) {
	cfg := engineConfig()
	set := engineSet(t, "async", 0.5, 2, 1, 0.01)
	set.Engine.EagerLaunch = &predict.EagerLaunch{BaseMs: 9, DecodesMs: 1, PerDecodeMs: 0.5, Source: "test"}
	csv := "arrived_at,num_prefill_tokens,num_decode_tokens\n"
	for i := range 120 {
		csv += fmt.Sprintf("%.3f,%d,%d\n", 0.02*float64(i), 20+(97*i)%300, 1+(7*i)%9)
	}
	in := engine.Inputs{Workload: trace(t, csv, cfg), Profile: set}
	lean := must(t, cfg, in, engine.Options{})
	eager := 0
	for _, b := range lean.Batches {
		if b.ModeName() == "eager" {
			eager++
		}
	}
	if eager < 50 {
		t.Fatalf("%d eager steps: the test needs many", eager)
	}
	var ttft, e2e, gaps []int64
	for i, r := range lean.Requests {
		ttft, e2e = append(ttft, r.FirstTokenNs-r.ArrivalNs), append(e2e, r.CompletionNs-r.ArrivalNs)
		g, ok := lean.TokenGaps(i)
		if !ok {
			t.Fatal("a gap over 2^32 ns")
		}
		for _, x := range g {
			gaps = append(gaps, int64(x))
		}
	}
	check := func(metric string, v []int64, thrNs, pc float64, spec *slo.Spec, mustStop bool) {
		t.Helper()
		c := cfg
		c.SLO = spec
		met := report.Compute(must(t, c, in, engine.Options{SkipBatches: true})).SLO.Met
		watched := must(t, c, in, engine.Options{SkipBatches: true, StopOnSLOFail: true})
		if (watched.Stopped != nil) == met || mustStop && met {
			t.Fatalf("%s within %v ns at P%v: stopped %v, the full run's verdict met %v", metric, thrNs, pc, watched.Stopped != nil, met)
		}
		if st := watched.Stopped; st != nil {
			over := int64(0)
			for _, x := range v {
				if float64(x) > thrNs {
					over++
				}
			}
			if st.Metric != metric || st.Failing > over || st.Failing <= st.Allowed {
				t.Fatalf("%s within %v ns at P%v: stop %+v, the run has %d over", metric, thrNs, pc, *st, over)
			}
		} else if !reflect.DeepEqual(watched.Requests, lean.Requests) {
			t.Fatalf("%s within %v ns: not stopped, but the requests differ from the lean run's", metric, thrNs)
		}
	}
	ends := map[int64]bool{}
	for _, b := range lean.Batches {
		ends[b.EndAt] = true
	}
	n := float64(len(lean.Requests))
	for _, m := range []struct {
		metric string
		v      []int64
		spec   func(ms, pc float64) *slo.Spec
	}{
		{"ttft", ttft, func(ms, pc float64) *slo.Spec { return &slo.Spec{TTFTMs: ms, TTFTPercentile: pc} }},
		{"e2e", e2e, func(ms, pc float64) *slo.Spec { return &slo.Spec{E2EMs: ms, E2EPercentile: pc} }},
	} {
		late := 0 // requests whose token (first, last) came after its step's end: the next launch ended later
		for i, r := range lean.Requests {
			if at := r.ArrivalNs + m.v[i]; !ends[at] {
				late++
			} else if i%8 != 0 {
				continue
			}
			thr := float64(m.v[i]) - 0.5
			k := 0.0 // requests out: at least as late as request i
			for _, x := range m.v {
				if x >= m.v[i] {
					k++
				}
			}
			pc := (n - k + 0.5) / n * 100 // k out loses, k - 1 would not
			check(m.metric, m.v, thr, pc, m.spec(thr/1e6, pc), true)
		}
		if late < 3 {
			t.Errorf("%s: %d requests stamped after their step's end: the test needs more", m.metric, late)
		}
	}
	const pc = 90.0
	v := slices.Sorted(slices.Values(gaps))
	u := slices.Compact(slices.Clone(v)) // thresholds between distinct values (step times repeat)
	at := sort.Search(len(u), func(i int) bool {
		return float64(len(v)-sort.Search(len(v), func(j int) bool { return v[j] > u[i] })) <= float64(len(v))*(100-pc)/100
	})
	for _, d := range []int{-3, -2, -1, 0, 1, 2} {
		thr := float64(u[min(max(at+d, 0), len(u)-1)])
		check("tbt", v, thr, pc, &slo.Spec{TBTMs: thr / 1e6, TBTPercentile: pc}, false)
	}
}

func must(t *testing.T, cfg engine.Config, in engine.Inputs, opt engine.Options) *engine.Result {
	t.Helper()
	res, err := engine.Run(context.Background(), cfg, in, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// splitwiseRun is the default config with n requests of Splitwise
// conversation lengths at qps, and its inputs on set.
func splitwiseRun(t *testing.T, set *predict.Set, n int, qps float64) (engine.Config, engine.Inputs) {
	t.Helper()
	cfg := engine.DefaultConfig()
	cfg.Workload.NumRequests = n
	cfg.Workload.QPS = qps
	w, err := workload.Load([]workload.File{{Name: "lengths.csv", R: bytes.NewReader(splitwiseLengths(t, n))}}, cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	return cfg, engine.Inputs{Workload: w, Profile: set}
}
