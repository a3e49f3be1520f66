package searchrun

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/internal/search"
)

// BenchmarkSearch16 is a 16-point max-QPS search (chunk size 256/512/1024/2048
// x batch cap 32/64/128/256, Sarathi, A100 Qwen3-0.6B) of 10k requests with
// Splitwise conversation lengths per trial, precision 2%, from 16 QPS, on
// GOMAXPROCS goroutines (go test -bench Search16 -benchtime 1x ./internal/searchrun):
// two saturation bursts (300 and 1000 requests at once) and 1000-request
// pilot trials, then 10k-request ones, each stopped once its SLO is lost. Trials shared between points (a batch cap that never bound:
// search's shared) are run once; simulated counts those run.
func BenchmarkSearch16(b *testing.B) {
	const preset = "splitwise-conv-2qps"
	base, err := runner.Config(preset)
	if err != nil {
		b.Fatal(err)
	}
	spec := search.Spec{Requests: 10_000, Precision: 0.02, StartQPS: 16,
		Axes: search.Axes{ChunkSize: []int{256, 512, 1024, 2048}, BatchCap: []int{32, 64, 128, 256}}}
	for b.Loop() {
		l, err := NewLocal(preset, nil, nil, runner.Limits{}, true)
		if err != nil {
			b.Fatal(err)
		}
		ce := &counted{Evaluator: l}
		res, err := search.Run(context.Background(), spec, base, true, ce, runtime.GOMAXPROCS(0))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.Trials), "trials")
		b.ReportMetric(float64(ce.n.Load()), "simulated") // the others shared a run (a batch cap that never bound)
		full, pilot, bursts, stopped := 0, 0, 0, 0
		for _, p := range res.Points {
			full, pilot, bursts = full+len(p.Curve), pilot+len(p.Pilot), bursts+len(p.Saturation)
			for _, c := range append(p.Curve, p.Pilot...) {
				if c.StoppedEarly {
					stopped++
				}
			}
		}
		b.ReportMetric(float64(full), "full_trials")
		b.ReportMetric(float64(pilot), "pilot_trials")
		b.ReportMetric(float64(bursts), "bursts")
		b.ReportMetric(float64(stopped), "stopped_early")
		lo, hi := res.Points[0].MaxQPS, res.Points[0].MaxQPS
		for _, p := range res.Points {
			lo, hi = min(lo, p.MaxQPS), max(hi, p.MaxQPS)
		}
		b.ReportMetric(lo, "min_maxqps")
		b.ReportMetric(hi, "max_maxqps")
	}
}

// counted counts the trials its Evaluator runs.
type counted struct {
	search.Evaluator
	n atomic.Int64
}

func (c *counted) Eval(ctx context.Context, t search.Trial) (search.Outcome, error) {
	c.n.Add(1)
	return c.Evaluator.Eval(ctx, t)
}
