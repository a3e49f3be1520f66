package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/slo"
)

// fake meets the SLO below a capacity set by the point: capacity =
// 7.3 x replicas x tp / pp (QPS), goodput = min(qps, capacity), P90 E2E
// = 100 ms x pp / tp. Points with batch cap 13 fail to run.
type fake struct{ calls atomic.Int64 }

func capOf(c engine.Config) float64 {
	return 7.3 * float64(c.Cluster.NumReplicas*c.Replica.TensorParallelSize) / float64(c.Replica.NumPipelineStages)
}

func (f *fake) Eval(_ context.Context, t Trial) (Outcome, error) {
	f.calls.Add(1)
	c := t.Config
	if c.Scheduler.BatchSizeCap == 13 {
		return Outcome{}, errors.New("a lookup outside the profiled grid")
	}
	q, k := c.Workload.QPS, capOf(c)
	met := q <= k
	att := math.Min(1, k/q)
	// The trial's requests of 100 output tokens each, the share att of them good.
	n := c.Workload.NumRequests
	good := int64(math.Round(float64(n) * att))
	return Outcome{Requests: n, SLO: slo.Report{Met: met, Attainment: float64(good) / float64(n), GoodTokens: 100 * good},
		E2EP90Ms: 100 * float64(c.Replica.NumPipelineStages) / float64(c.Replica.TensorParallelSize)}, nil
}

func TestMaxQPS_WithinPrecision(t *testing.T) {
	base := engine.DefaultConfig()
	for _, prec := range []float64{0.1, 0.02, 0.001} {
		for _, start := range []float64{0.05, 1, 300} {
			for _, probes := range []int{1, 3, 8} {
				spec := Spec{Precision: prec, StartQPS: start, MinQPS: 0.01, MaxQPS: 1000, Probes: probes, MaxTrials: 200, Axes: Axes{Replicas: []int{1, 3}}}
				res, err := Run(context.Background(), spec, base, false, &fake{}, 2)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range res.Points {
					k := 7.3 * float64(p.Point.Replicas)
					if !p.Found || p.MaxQPS > k || k-p.MaxQPS > prec*p.MaxQPS || p.FailQPS <= k || p.FailQPS-p.MaxQPS > prec*p.MaxQPS {
						t.Errorf("precision %v start %v: %+v, capacity %v", prec, start, p, k)
					}
					for i := 1; i < len(p.Curve); i++ {
						if p.Curve[i].QPS <= p.Curve[i-1].QPS {
							t.Errorf("curve not by rate: %+v", p.Curve)
						}
					}
				}
			}
		}
	}
}

func TestSweep(t *testing.T) {
	base := engine.DefaultConfig()
	spec := Spec{Axes: Axes{Replicas: []int{1, 2}, TP: []int{1, 2}, PP: []int{1, 2}, BatchCap: []int{64, 13}}, TargetQPS: 10, GPUHourUSD: 3}
	var results []*Result
	for _, par := range []int{1, 3, 16} {
		res, err := Run(context.Background(), spec, base, false, &fake{}, par)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	for _, r := range results[1:] {
		if !reflect.DeepEqual(r, results[0]) {
			t.Fatal("results differ with the parallelism")
		}
	}
	// Probes change the rates tried, never with the parallelism either.
	s4 := spec
	s4.Probes = 4
	var r4 []*Result
	for _, par := range []int{1, 5} {
		res, err := Run(context.Background(), s4, base, false, &fake{}, par)
		if err != nil {
			t.Fatal(err)
		}
		r4 = append(r4, res)
	}
	if !reflect.DeepEqual(r4[0], r4[1]) {
		t.Fatal("results with 4 probes differ with the parallelism")
	}
	res := results[0]
	if len(res.Points) != 16 {
		t.Fatalf("%d points", len(res.Points))
	}
	for _, p := range res.Points {
		if p.Point.BatchCap == 13 {
			if p.Error == "" || p.Found {
				t.Errorf("failing point %+v", p)
			}
			continue
		}
		g := float64(p.GPUs)
		k := capOf(cfgOf(base, p.Point))
		// Goodput per GPU = min(maxqps, k)/gpus; cost = $3 x gpus / 3600 / tokens/s x 1e6.
		if !near(p.GoodputRPSPerGPU, p.MaxQPS/g) || !near(p.CostPer1MTokensUSD, 3*g/3600/(100*p.MaxQPS)*1e6) || k-p.MaxQPS > 0.02*p.MaxQPS {
			t.Errorf("point %+v (capacity %v)", p, k)
		}
	}
	// Goodput per GPU ~ 7.3 x tp x replicas / pp / (replicas x tp x pp) = 7.3/pp^2, E2E 100 pp/tp:
	// pp 1 beats pp 2 on both; among pp 1, tp 2 has lower E2E at equal goodput per GPU.
	for _, i := range res.Pareto {
		p := res.Points[i].Point
		if p.PP != 1 || p.TP != 2 {
			t.Errorf("pareto point %d %+v", i, p)
		}
	}
	if len(res.Pareto) == 0 {
		t.Error("no pareto point")
	}
	// Target 10 QPS: capacity 7.3 x r x tp / pp >= 10 needs r x tp >= 2 (pp 1): 2 GPUs, the first in sweep order is replicas 1 tp 2.
	if c := res.Cheapest; c == nil || c.GPUs != 2 || c.Point.Replicas != 1 || c.Point.TP != 2 || c.Point.PP != 1 || c.CostPerHUS != 6 || !c.Probe.Met {
		t.Errorf("cheapest %+v", res.Cheapest)
	}
}

func cfgOf(base engine.Config, p Point) engine.Config { c := base; p.Apply(&c); return c }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestPlan_Errors(t *testing.T) {
	base := engine.DefaultConfig()
	f := &fake{}
	_, err := Run(context.Background(), Spec{MaxPoints: 10, Axes: Axes{Replicas: []int{1, 2, 3}, TP: []int{1, 2}, ChunkSize: []int{128, 256}}}, base, false, f, 2)
	if err == nil || !strings.Contains(err.Error(), "12 points (replicas 3 x tp 2 x pp 1 x scheduler 1 x chunk size 2 x batch cap 1), over the cap of 10") {
		t.Errorf("cap: %v", err)
	}
	if f.calls.Load() != 0 {
		t.Error("work before the cap was checked")
	}
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Precision: 2}, "search.precision"},
		{Spec{MinQPS: 5, MaxQPS: 1}, "min_qps"},
		{Spec{StartQPS: 1e6}, "start_qps"},
		{Spec{Axes: Axes{TP: []int{0}}}, "axes.tp"},
		{Spec{GPUHourUSD: -1}, "gpu_hour_usd"},
	} {
		if _, err := Run(context.Background(), tc.spec, base, false, f, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.spec, err, tc.want)
		}
	}
	bad := base
	bad.SLO = &slo.Spec{TTFTMs: 10, TTFTPercentile: 90, E2EMs: 5, E2EPercentile: 90}
	if _, err := Run(context.Background(), Spec{}, bad, false, f, 1); err == nil || !strings.Contains(err.Error(), "contradict") {
		t.Errorf("contradictory slo: %v", err)
	}
}

func TestNoPointPasses(t *testing.T) {
	base := engine.DefaultConfig()
	// A capacity below min_qps: nothing passes.
	spec := Spec{MinQPS: 100, StartQPS: 100, MaxQPS: 200, Axes: Axes{TP: []int{1, 3}}}
	res, err := Run(context.Background(), spec, base, false, &fake{}, 2)
	var ne *NoneError
	if !errors.As(err, &ne) || res == nil {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"no point meets the SLO at any rate down to 100 QPS (2 points)", "point 0 (replicas 1, tp 1", "attainment 7.3%", "point 1", "invalid configuration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

type cancelling struct{ n atomic.Int64 }

func (c *cancelling) Eval(ctx context.Context, t Trial) (Outcome, error) {
	if c.n.Add(1) > 3 {
		return Outcome{}, ctx.Err()
	}
	return (&fake{}).Eval(ctx, t)
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, Spec{Axes: Axes{Replicas: []int{1, 2, 3, 4}}}, engine.DefaultConfig(), false, &cancelling{}, 2)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
}

// biased is fake whose capacity depends on the trial's size, as a real
// short trial tolerates more transient overload: 20% higher at 100
// requests, 2% at 1000. With sat > 0 a run of n requests takes 0.7 s +
// n / (sat x the full trials' capacity) (a burst's duration: saturated
// throughput sat times the capacity under the SLO); 0: no duration.
type biased struct {
	fake
	sat float64
}

func (b *biased) Eval(ctx context.Context, t Trial) (Outcome, error) {
	c := t.Config
	k := capOf(c) * (1 + 20/float64(c.Workload.NumRequests))
	full := capOf(c) * 1.02 // the full (1000-request) trials' capacity
	c.Replica.TensorParallelSize = 1
	c.Cluster.NumReplicas = 1
	c.Replica.NumPipelineStages = 1
	o, err := b.fake.Eval(ctx, Trial{Config: c})
	o.SLO.Met = c.Workload.QPS <= k
	if b.sat > 0 {
		o.SLO.Load.DurationS = 0.7 + float64(c.Workload.NumRequests)/(b.sat*full)
	}
	return o, err
}

// TestMaxQPS_Pilot: with a pilot (whose short trials see a higher capacity
// than the full ones), every answer is still within the precision of the
// full trials' capacity and bracketed by full trials, and the saturation
// estimate is the bursts' throughput, whether it is below the capacity
// under the SLO, at it or far above it (sat: their ratio; 0: bursts that
// show none, and the pilot starts from start_qps); where saturation
// bounds the capacity (sat >= 0.97: a server cannot serve much more than
// it completes when saturated) in fewer full trials than without a pilot;
// pilot trials are kept apart and counted.
func TestMaxQPS_Pilot(t *testing.T) {
	base := engine.DefaultConfig()
	for _, sat := range []float64{0, 0.5, 0.97, 1, 1.05, 1.3, 3} {
		for _, prec := range []float64{0.1, 0.02, 0.001} {
			for _, start := range []float64{0.05, 1, 300} {
				for _, probes := range []int{1, 3, 8} {
					full, with := 0, 0
					for _, pilot := range []int{-1, 0} {
						spec := Spec{Requests: 1000, PilotRequests: pilot, Precision: prec, StartQPS: start, MinQPS: 0.01, MaxQPS: 1000, Probes: probes, MaxTrials: 200, Axes: Axes{Replicas: []int{1, 3}}}
						res, err := Run(context.Background(), spec, base, false, &biased{sat: sat}, 2)
						if err != nil {
							t.Fatal(err)
						}
						n, trials := 0, 0
						for _, p := range res.Points {
							k := 7.3 * float64(p.Point.Replicas) * 1.02
							if !p.Found || p.MaxQPS > k || k-p.MaxQPS > prec*p.MaxQPS || p.FailQPS <= k || p.FailQPS-p.MaxQPS > prec*p.MaxQPS {
								t.Errorf("sat %v pilot %d precision %v start %v probes %d: %+v, capacity %v", sat, pilot, prec, start, probes, p, k)
							}
							if (len(p.Pilot) > 0) != (pilot == 0) || pilot == 0 && p.PilotQPS == 0 || (len(p.Saturation) == 2) != (pilot == 0) {
								t.Errorf("pilot %d: %d pilot trials, pilot answer %v, %d bursts", pilot, len(p.Pilot), p.PilotQPS, len(p.Saturation))
							}
							if want := sat * k; pilot == 0 && math.Abs(p.SaturationQPS-want) > 1e-9*want {
								t.Errorf("sat %v: saturation estimate %v, want %v", sat, p.SaturationQPS, want)
							}
							for _, b := range p.Saturation {
								if b.QPS != spec.MaxQPS {
									t.Errorf("a burst at %v QPS, not max_qps", b.QPS)
								}
							}
							n += len(p.Curve)
							trials += len(p.Curve) + len(p.Pilot) + len(p.Saturation)
						}
						if res.Trials != trials {
							t.Errorf("trials %d, the points' %d", res.Trials, trials)
						}
						if pilot == 0 {
							with = n
						} else {
							full = n
						}
					}
					if with > full && sat >= 0.97 {
						t.Errorf("sat %v precision %v start %v probes %d: %d full trials with the pilot, more than %d without", sat, prec, start, probes, with, full)
					}
				}
			}
		}
	}
}

// burstFails is biased whose bursts (every request at max_qps, 1000) fail,
// as a batch outside the profiled grid does.
type burstFails struct{ biased }

func (b *burstFails) Eval(ctx context.Context, t Trial) (Outcome, error) {
	if t.Config.Workload.QPS == 1000 {
		return Outcome{}, errors.New("a lookup outside the profiled grid")
	}
	return b.biased.Eval(ctx, t)
}

// TestMaxQPS_BurstsFail: bursts that cannot run leave the point searched
// as without them (the pilot from start_qps), saying why.
func TestMaxQPS_BurstsFail(t *testing.T) {
	spec := Spec{Requests: 1000, Precision: 0.02, StartQPS: 1, MaxQPS: 1000, MaxTrials: 200, Axes: Axes{Replicas: []int{1, 3}}}
	res, err := Run(context.Background(), spec, engine.DefaultConfig(), false, &burstFails{biased{sat: 1}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Points {
		k := 7.3 * float64(p.Point.Replicas) * 1.02
		if !p.Found || p.Error != "" || p.MaxQPS > k || p.FailQPS-p.MaxQPS > spec.Precision*p.MaxQPS {
			t.Errorf("%+v, capacity %v", p, k)
		}
		if !strings.Contains(p.SaturationError, "outside the profiled grid") || p.SaturationQPS != 0 || len(p.Saturation) != 2 || len(p.Pilot) == 0 {
			t.Errorf("saturation error %q, estimate %v, %d bursts, %d pilot trials", p.SaturationError, p.SaturationQPS, len(p.Saturation), len(p.Pilot))
		}
	}
}

// TestCheckTrace: a search asking more requests per trial than its trace
// has rows is refused, naming the trace, its rows and the count asked
// (the default count when none is); as many as the rows, or fewer, pass.
func TestCheckTrace(t *testing.T) {
	for _, tc := range []struct {
		requests, rows int
		want           string // "" passes
	}{
		{20000, 19366, "search.requests: 20000 requests per trial, but the workload trace t.csv has 19366 rows, one per request (a trial takes each request's lengths from a row of its own): expected requests <= 19366"},
		{0, DefaultRequests - 1, fmt.Sprintf("%d requests per trial, but the workload trace t.csv has %d rows", DefaultRequests, DefaultRequests-1)},
		{5, 4, "expected requests <= 4"},
		{19366, 19366, ""},
		{0, DefaultRequests, ""},
		{1, 1, ""},
	} {
		err := CheckTrace(Spec{Requests: tc.requests}, "t.csv", tc.rows)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%d requests, %d rows: %v, want %q", tc.requests, tc.rows, err, tc.want)
		}
	}
}
