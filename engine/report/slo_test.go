package report_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/runner"
)

// TestCompute_SLOAsFromQuantiles: the key results' SLO verdict, which judges
// each request's own P_pc gap in one pass (slo.RequestOver), is the one
// slo.Evaluate gives from every request's gap quantile
// (slo.RequestQuantileOf) and every gap: on a run under load, the
// splitwise preset overloaded, and runs whose gaps pass 2^32 ns, at TBT
// thresholds from the pooled gaps' P10 to P99.9 and percentiles from 50 to
// 100.
func TestCompute_SLOAsFromQuantiles(t *testing.T) {
	var runs []*engine.Result
	for _, c := range []struct {
		preset string
		qps    float64
	}{{"splitwise-conv-2qps", 2}, {"splitwise-conv-2qps", 60}} {
		cfg, err := runner.Config(c.preset)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Workload.NumRequests, cfg.Workload.QPS, cfg.Workload.IntervalGenerator, cfg.Workload.TraceLengthsOnly = 400, c.qps, "poisson", true
		out, err := runner.Run(context.Background(), runner.Job{Preset: c.preset, Config: cfg, Options: engine.Options{SkipBatches: true}})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, out.Result)
	}
	for _, opMs := range []float64{0.01, 20} { // ~6 s per step at 20 ms: gaps past 32 bits
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
		runs = append(runs, res)
	}
	checked, differ := 0, 0
	for ri, res := range runs {
		var all []int64
		own := make([][]int64, len(res.Requests))
		for i, r := range res.Requests {
			if r.Status != engine.StatusOK {
				continue
			}
			ts := res.TokenTimes(i)
			for k := 1; k < len(ts); k++ {
				own[i] = append(own[i], ts[k]-ts[k-1])
			}
			all = append(all, own[i]...)
		}
		slices.Sort(all)
		for _, at := range []float64{0.1, 0.5, 0.9, 0.99, 0.999} {
			for _, pc := range []float64{50, 90, 99, 100} {
				spec := slo.Spec{TTFTMs: 1e9, TTFTPercentile: 90, TBTMs: float64(all[int(at*float64(len(all)-1))]) / 1e6, TBTPercentile: pc}
				res.Config.SLO = &spec
				reqs := make([]slo.Request, len(res.Requests))
				for i, r := range res.Requests {
					reqs[i] = slo.Request{ArrivalNs: r.ArrivalNs, FirstTokenNs: r.FirstTokenNs, CompletionNs: r.CompletionNs,
						OK: r.Status == engine.StatusOK, OutputTokens: r.DecodeActual, TBTNs: slo.RequestQuantileOf(slices.Clone(own[i]), pc)}
				}
				want := slo.Evaluate(spec, reqs, all)
				got := report.Compute(res).SLO
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				if string(g) != string(w) {
					t.Errorf("run %d, TBT threshold at the gaps' P%v, request P%v:\n%s\nwant\n%s", ri, 100*at, pc, g, w)
				}
				checked++
				if want.GoodRequests < len(reqs) {
					differ++
				}
			}
		}
	}
	if differ < checked/4 {
		t.Errorf("only %d of %d objectives fail some request on its gaps: the test does not judge both sides", differ, checked)
	}
}
