package searchrun

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

// TestCheckTrace: the request count is checked against the trace a
// search's trials draw from, once and before any trial: a preset's trace
// and dropped files alike, refused with the trace's file, its rows and the
// count asked; a malformed file is refused there too. A synthetic preset
// (no trace) and a search within the rows pass, and a point whose own
// configuration cannot load is left to its trials (the next point's load
// counts the rows).
func TestCheckTrace(t *testing.T) {
	const preset = "splitwise-conv-2qps"
	base, err := runner.Config(preset)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0 // the preset trace's rows, as a trial of every row loads them
	{
		c := search.TrialConfig(base, search.Point{Replicas: 1, TP: 1, PP: 1, Scheduler: base.Scheduler.Type, ChunkSize: base.Scheduler.ChunkSize, BatchCap: base.Scheduler.BatchSizeCap}, 100, 0, true)
		w, err := runner.LoadWorkload(context.Background(), runner.Job{Preset: preset, Config: c})
		if err != nil {
			t.Fatal(err)
		}
		rows = len(w.Requests)
		c.Replica.TensorParallelSize = 3
		var ce *engine.ConfigError
		if _, err := runner.LoadWorkload(context.Background(), runner.Job{Preset: preset, Config: c}); !errors.As(err, &ce) {
			t.Fatalf("tp 3 loads (%v): the case of a point that cannot load needs another", err)
		}
	}
	lengths := []File{{Name: "mine.csv", Content: "num_prefill_tokens,num_decode_tokens\n120,30\n300,12\n80,5\n"}}
	synth, err := runner.Config("seed")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		preset  string
		files   []File
		base    engine.Config
		spec    search.Spec
		lengths bool
		want    string // "" passes
	}{
		{"preset over", preset, nil, base, search.Spec{Requests: rows + 1}, true,
			fmt.Sprintf("%d requests per trial, but the workload trace splitwise_conv.csv (preset %s) has %d rows", rows+1, preset, rows)},
		{"preset at", preset, nil, base, search.Spec{Requests: rows}, true, ""},
		{"files over", "", lengths, base, search.Spec{Requests: 4}, true, "the workload trace mine.csv has 3 rows, one per request (a trial takes each request's lengths from a row of its own): expected requests <= 3"},
		{"files at", "", lengths, base, search.Spec{Requests: 3}, true, ""},
		{"files, the default count", "", lengths, base, search.Spec{}, true, fmt.Sprintf("%d requests per trial", search.DefaultRequests)},
		{"malformed", "", []File{{Name: "bad.csv", Content: "num_prefill_tokens,num_decode_tokens\n120,ten\n"}}, base, search.Spec{Requests: 1}, true, "bad.csv"},
		{"synthetic", "seed", nil, synth, search.Spec{Requests: 1_000_000}, false, ""},
		// tp 3 does not divide the model's heads: that point's trials say
		// so; tp 1 loads and counts
		{"a point that cannot load", preset, nil, base, search.Spec{Requests: rows + 1, Axes: search.Axes{TP: []int{3, 1}}}, true, fmt.Sprintf("has %d rows", rows)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTrace(context.Background(), tc.spec, tc.base, tc.preset, tc.files, tc.lengths, nil)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("%v, want %q", err, tc.want)
			}
			var ce *engine.ConfigError
			if tc.want != "" && tc.name != "malformed" && !errors.As(err, &ce) {
				t.Errorf("%T: the count is a configuration error (400, exit 2)", err)
			}
		})
	}
}
