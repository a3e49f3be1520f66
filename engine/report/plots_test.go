package report_test

import (
	"context"
	"math"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/internal/runner"
)

// TestPlots_IterationBuckets: on a run with far more iterations than chart
// pixels, the per-bucket aggregates lose no iteration and no spike: the
// counts add up to every iteration, each bucket has min <= mean <= max, the
// extremes over buckets are the run's, and mean*count adds up to the totals.
func TestPlots_IterationBuckets(t *testing.T) {
	out, err := runner.Run(context.Background(), runner.Job{Preset: "splitwise-conv-8qps", Config: mustConfig(t, "splitwise-conv-8qps")})
	if err != nil {
		t.Fatal(err)
	}
	res := out.Result
	_, p := report.Analyze(res)
	it := p.Iterations
	if it.Total != len(res.Batches) || it.Total <= 1000 || len(it.T) > 1000 {
		t.Fatalf("total %d of %d iterations in %d points; want > 1000 iterations in <= 1000 points", it.Total, len(res.Batches), len(it.T))
	}
	n, tokens, maxTok, minTok, maxPrefill := 0, 0.0, 0, math.MaxInt, 0
	for _, b := range res.Batches {
		tokens += float64(b.Tokens())
		maxTok, minTok, maxPrefill = max(maxTok, b.Tokens()), min(minTok, b.Tokens()), max(maxPrefill, b.PrefillTokens())
	}
	gotMax, gotMin, gotPrefill, gotTokens := 0.0, math.Inf(1), 0.0, 0.0
	for i := range it.T {
		n += it.N[i]
		a := it.Tokens
		if !(a.Min[i] <= a.Mean[i] && a.Mean[i] <= a.Max[i]) {
			t.Fatalf("bucket %d: min %v mean %v max %v", i, a.Min[i], a.Mean[i], a.Max[i])
		}
		if i > 0 && it.T[i] <= it.T[i-1] {
			t.Fatalf("bucket %d starts at %v, not after %v", i, it.T[i], it.T[i-1])
		}
		gotMax, gotMin, gotPrefill = max(gotMax, a.Max[i]), min(gotMin, a.Min[i]), max(gotPrefill, it.Prefill.Max[i])
		gotTokens += a.Mean[i] * float64(it.N[i])
	}
	if n != it.Total || gotMax != float64(maxTok) || gotMin != float64(minTok) || gotPrefill != float64(maxPrefill) || math.Abs(gotTokens-tokens) > 1e-6*tokens {
		t.Errorf("buckets hold %d iterations (want %d), tokens min/max %v/%v (want %d/%d), prefill max %v (want %d), tokens %v (want %v)",
			n, it.Total, gotMin, gotMax, minTok, maxTok, gotPrefill, maxPrefill, gotTokens, tokens)
	}
}

// TestPlots_SeedPoints: with few iterations every one is its own point,
// and the scatter has each request's lengths and latencies.
func TestPlots_SeedPoints(t *testing.T) {
	res := seedRun(t)
	_, p := report.Analyze(res)
	it := p.Iterations
	if len(it.T) != len(res.Batches) {
		t.Fatalf("%d points for %d iterations", len(it.T), len(res.Batches))
	}
	for i, b := range res.Batches {
		if it.N[i] != 1 || it.T[i] != float64(b.ScheduledAt)/1e9 || it.Tokens.Mean[i] != float64(b.Tokens()) || it.Size.Max[i] != float64(b.Size()) {
			t.Fatalf("point %d: %v %v %v %v, batch %+v", i, it.N[i], it.T[i], it.Tokens.Mean[i], it.Size.Max[i], b)
		}
	}
	r := p.Requests
	if r.Total != 4 || r.Stride != 1 || len(r.Prompt) != 4 {
		t.Fatalf("scatter: %+v", r)
	}
	for i, q := range res.Requests {
		if r.Prompt[i] != q.Prefill || r.Output[i] != q.DecodeActual || r.TTFT[i] != float64(q.FirstTokenNs-q.ArrivalNs)/1e6 {
			t.Errorf("request %d: %d %d %v, want %d %d %v", i, r.Prompt[i], r.Output[i], r.TTFT[i], q.Prefill, q.DecodeActual, float64(q.FirstTokenNs-q.ArrivalNs)/1e6)
		}
	}
}

func mustConfig(t *testing.T, preset string) engine.Config {
	t.Helper()
	cfg, err := runner.Config(preset)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
