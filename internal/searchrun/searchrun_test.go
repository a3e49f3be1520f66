package searchrun

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/internal/search"
)

// TestMaxQPS_BruteForce: the bisection's max QPS of a real simulation is
// within the stated precision of the largest passing rate of a fine grid
// around it (every grid rate simulated): without a pilot (200-request
// trials) and with one (2000-request trials after saturation bursts and
// 200-request pilots), at the preset's Sarathi replica and at two vLLM ones.
func TestMaxQPS_BruteForce(t *testing.T) {
	const preset = "splitwise-conv-2qps"
	base, err := runner.Config(preset)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(preset, nil, nil, runner.Limits{}, true)
	if err != nil {
		t.Fatal(err)
	}
	vllm2 := base
	vllm2.Scheduler.Type, vllm2.Cluster.NumReplicas = "vllm", 2
	for _, c := range []struct {
		spec search.Spec
		base engine.Config
	}{{search.Spec{Requests: 200, Precision: 0.02}, base}, {search.Spec{Requests: 2000, Precision: 0.02}, base}, {search.Spec{Requests: 2000, Precision: 0.02}, vllm2}} {
		spec, base := c.spec, c.base
		res, err := search.Run(context.Background(), spec, base, true, l, 2)
		if err != nil {
			t.Fatal(err)
		}
		p := res.Points[0]
		pilot := spec.Requests == 2000
		if !p.Found || p.Error != "" || (len(p.Pilot) > 0) != pilot || pilot && (len(p.Saturation) != 2 || p.SaturationQPS <= 0 || p.SaturationError != "") {
			t.Fatalf("%+v", p)
		}
		step := p.MaxQPS * 0.004
		best := 0.0
		for q := 0.9 * p.MaxQPS; q <= 1.15*p.MaxQPS; q += step {
			o, err := l.Eval(context.Background(), search.Trial{Config: search.TrialConfig(base, p.Point, q, spec.Requests, true)})
			if err != nil {
				t.Fatal(err)
			}
			if o.SLO.Met {
				best = q
			}
		}
		t.Logf("%s x%d, %d requests: bisection %.4f QPS (fails at %.4f, %d trials, %d pilot trials from %.4f, saturation %.4f), grid %.4f QPS (step %.4f)",
			base.Scheduler.Type, base.Cluster.NumReplicas, spec.Requests, p.MaxQPS, p.FailQPS, len(p.Curve), len(p.Pilot), p.PilotQPS, p.SaturationQPS, best, step)
		if math.Abs(best-p.MaxQPS) > 0.02*p.MaxQPS+step {
			t.Errorf("%d requests: bisection %v, grid %v: more than 2%% apart", spec.Requests, p.MaxQPS, best)
		}
	}
}

// TestSearch_OwnArrivals: a workload whose format keeps its own arrival
// times (the seed-pair format ignores trace_lengths_only) cannot be
// searched over a rate: a clear error, not the trace's latency at every rate.
func TestSearch_OwnArrivals(t *testing.T) {
	const preset = "spaced-2s"
	base, err := runner.Config(preset)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(preset, nil, nil, runner.Limits{}, LengthsOnly(preset, 0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = search.Run(context.Background(), search.Spec{Requests: 50}, base, true, l, 1)
	var none *search.NoneError
	if !errors.As(err, &none) || !strings.Contains(err.Error(), "no point could be searched") || !strings.Contains(err.Error(), "keeps its own arrivals") {
		t.Errorf("got %v", err)
	}
}

// unshared hides BatchCapFreeFrom: a search through it shares no trial.
type unshared struct {
	search.Evaluator
	n atomic.Int64
}

func (u *unshared) Eval(ctx context.Context, t search.Trial) (search.Outcome, error) {
	u.n.Add(1)
	o, err := u.Evaluator.Eval(ctx, t)
	o.BatchCapFreeFrom = 0
	return o, err
}

// TestSearch_SharedTrialsSameAnswers: a sweep over batch caps of real
// simulations gives the same result (every point, curve, pilot, the Pareto
// front and the cheapest point) when trials are shared between points whose
// cap never bound as when every trial is simulated, in fewer simulations.
func TestSearch_SharedTrialsSameAnswers(t *testing.T) {
	const preset = "splitwise-conv-2qps"
	base, err := runner.Config(preset)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(preset, nil, nil, runner.Limits{}, true)
	if err != nil {
		t.Fatal(err)
	}
	spec := search.Spec{Requests: 1000, PilotRequests: 200, Precision: 0.02, StartQPS: 16, TargetQPS: 20,
		Axes: search.Axes{ChunkSize: []int{256, 512}, BatchCap: []int{16, 32, 64, 256}}}
	all := &unshared{Evaluator: l}
	want, err := search.Run(context.Background(), spec, base, true, all, 2)
	if err != nil {
		t.Fatal(err)
	}
	some := &counted{Evaluator: l}
	got, err := search.Run(context.Background(), spec, base, true, some, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("the search with shared trials differs from the one simulating every trial")
	}
	t.Logf("%d trials, %d simulated with sharing, %d without", got.Trials, some.n.Load(), all.n.Load())
	if some.n.Load() >= all.n.Load() {
		t.Errorf("no trial shared: %d simulated, %d without sharing", some.n.Load(), all.n.Load())
	}
}
