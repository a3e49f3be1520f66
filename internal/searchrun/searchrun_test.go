package searchrun

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/internal/search"
)

// TestMaxQPS_BruteForce: the bisection's max QPS of a real simulation is
// within the stated precision of the largest passing rate of a fine grid
// around it (every grid rate simulated).
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
	spec := search.Spec{Requests: 200, Precision: 0.02}
	res, err := search.Run(context.Background(), spec, base, true, l, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := res.Points[0]
	if !p.Found || p.Error != "" {
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
	t.Logf("bisection %.4f QPS (fails at %.4f, %d trials), grid %.4f QPS (step %.4f)", p.MaxQPS, p.FailQPS, len(p.Curve), best, step)
	if math.Abs(best-p.MaxQPS) > 0.02*p.MaxQPS+step {
		t.Errorf("bisection %v, grid %v: more than 2%% apart", p.MaxQPS, best)
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
