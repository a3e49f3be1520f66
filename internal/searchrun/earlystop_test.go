package searchrun

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/internal/search"
)

// TestEarlyStop_MatchesFullRuns: on random trials (rates from far below to
// far above capacity, random objectives, schedulers, chunk sizes, batch
// caps, time limits), a run with StopOnSLOFail stops exactly when the full
// run's verdict is "not met" (the watch's counts reach the final ones at
// the last event at the latest), its attainment bound is at least the full
// run's attainment, and a run it does not stop has the full run's key
// results, bit for bit.
func TestEarlyStop_MatchesFullRuns(t *testing.T) {
	const preset = "splitwise-conv-2qps"
	base, err := runner.Config(preset)
	if err != nil {
		t.Fatal(err)
	}
	cache := &runner.Cache{}
	rng := rand.New(rand.NewPCG(15, 16))
	cases := 48
	if testing.Short() {
		cases = 16
	}
	stopped, kept := 0, 0
	for c := range cases {
		sp := slo.Spec{}
		pick := func() float64 { return []float64{50, 75, 90, 95, 99, 100}[rng.IntN(6)] }
		for sp == (slo.Spec{}) || sp.Validate("") != nil {
			sp = slo.Spec{}
			if rng.IntN(4) > 0 {
				sp.TTFTMs, sp.TTFTPercentile = []float64{100, 300, 1000, 3000}[rng.IntN(4)], pick()
			}
			if rng.IntN(4) > 0 {
				sp.TBTMs, sp.TBTPercentile = []float64{15, 25, 40, 100}[rng.IntN(4)], pick()
			}
			if rng.IntN(3) > 0 {
				sp.E2EMs, sp.E2EPercentile = []float64{2000, 10000, 60000}[rng.IntN(3)], pick()
			}
		}
		p := search.Point{Replicas: 1 + rng.IntN(2), TP: 1, PP: 1, Scheduler: []string{"sarathi", "vllm", "orca", "vllm_v1"}[rng.IntN(4)],
			ChunkSize: []int{256, 512, 1024}[rng.IntN(3)], BatchCap: []int{16, 64, 256}[rng.IntN(3)]}
		qps := 2 * float64(p.Replicas) * (1 + 60*rng.Float64()) // ~ 2 to 120 QPS per replica
		cfg := search.TrialConfig(base, p, qps, 300+rng.IntN(700), true)
		cfg.SLO = &sp
		cfg.Predictor.Extrapolate = true // vllm's and orca's unchunked prefills go past the profiled grid
		if rng.IntN(6) == 0 {
			cfg.TimeLimitS = 5 + 30*rng.Float64()
		}
		run := func(stop bool) (report.KeyResults, error) {
			out, err := runner.Run(context.Background(), runner.Job{Preset: preset, Config: cfg, Cache: cache,
				Options: engine.Options{SkipBatches: true, StopOnSLOFail: stop}})
			if err != nil {
				return report.KeyResults{}, err
			}
			return report.Compute(out.Result), nil
		}
		full, err := run(false)
		if err != nil { // a batch outside the profile (vllm's chunks): not a case
			t.Logf("case %d skipped: %v", c, err)
			continue
		}
		early, err := run(true)
		if err != nil {
			t.Fatalf("case %d: the full run ran, the watched one: %v", c, err)
		}
		switch {
		case early.Stopped != nil:
			stopped++
			if full.SLO.Met {
				t.Errorf("case %d (%s, %.1f QPS, %+v): stopped (%+v) but the full run meets the SLO", c, p, qps, sp, *early.Stopped)
			}
			if early.SLO.Met || early.SLO.Attainment < full.SLO.Attainment || early.Requests != full.Requests {
				t.Errorf("case %d: stopped outcome %+v vs full attainment %v", c, early.SLO, full.SLO.Attainment)
			}
			if early.Stopped.Failing <= early.Stopped.Allowed {
				t.Errorf("case %d: stopped with %d failing, %d allowed", c, early.Stopped.Failing, early.Stopped.Allowed)
			}
		default:
			kept++
			// With a time limit, requests still running at the end fail
			// (unfinished) without ever being seen late: not stopping is
			// then allowed.
			if !full.SLO.Met && cfg.TimeLimitS == 0 {
				t.Errorf("case %d (%s, %.1f QPS, %+v): the full run misses the SLO (%+v) but the watched run was not stopped", c, p, qps, sp, full.SLO)
			}
			if !reflect.DeepEqual(early, full) {
				t.Errorf("case %d: not stopped, key results differ:\n%+v\n%+v", c, early, full)
			}
		}
	}
	t.Logf("%d cases: %d stopped early, %d ran to the end", cases, stopped, kept)
	if stopped == 0 || kept == 0 {
		t.Errorf("the cases should both stop and pass: %d stopped, %d kept", stopped, kept)
	}
}

// TestSearch_EarlyStopSameAnswers: a search whose trials stop early tries
// the same rates and finds the same answer, point for point, as one that
// runs every trial to the end (its verdicts are the same); the curve
// differs only in the stopped trials, which all failed.
func TestSearch_EarlyStopSameAnswers(t *testing.T) {
	const preset = "splitwise-conv-2qps"
	base, err := runner.Config(preset)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(preset, nil, nil, runner.Limits{}, true)
	if err != nil {
		t.Fatal(err)
	}
	spec := search.Spec{Requests: 300, Precision: 0.05, StartQPS: 8, TargetQPS: 20,
		Axes: search.Axes{ChunkSize: []int{256, 1024}, BatchCap: []int{16, 128}}}
	early, err := search.Run(context.Background(), spec, base, true, l, 2)
	if err != nil {
		t.Fatal(err)
	}
	spec.FullTrials = true
	full, err := search.Run(context.Background(), spec, base, true, l, 2)
	if err != nil {
		t.Fatal(err)
	}
	stopped := 0
	for i := range full.Points {
		f, e := full.Points[i], early.Points[i]
		fc, ec := f.Curve, e.Curve
		f.Curve, e.Curve = nil, nil
		if !reflect.DeepEqual(f, e) || len(fc) != len(ec) {
			t.Fatalf("point %d: early %+v (%d trials), full %+v (%d trials)", i, e, len(ec), f, len(fc))
		}
		for k := range fc {
			switch {
			case ec[k].StoppedEarly:
				stopped++
				if fc[k].Met || ec[k].QPS != fc[k].QPS || ec[k].Attainment < fc[k].Attainment {
					t.Errorf("point %d trial %d: stopped %+v, full %+v", i, k, ec[k], fc[k])
				}
			case ec[k] != fc[k]:
				t.Errorf("point %d trial %d: %+v, full %+v", i, k, ec[k], fc[k])
			}
		}
	}
	if !reflect.DeepEqual(early.Cheapest, full.Cheapest) || !reflect.DeepEqual(early.Pareto, full.Pareto) || early.Trials != full.Trials {
		t.Errorf("cheapest %+v vs %+v, pareto %v vs %v, trials %d vs %d", early.Cheapest, full.Cheapest, early.Pareto, full.Pareto, early.Trials, full.Trials)
	}
	if stopped == 0 {
		t.Error("no trial stopped early")
	}
	t.Logf("%d trials, %d stopped early", early.Trials, stopped)
}
