package main

import (
	"math"
	"testing"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/internal/compare"
)

// TestEagerHostOf: the launch model of each eager step, by hand, with
// base 8, decodes 1 (any decode), 0.5 per decode, in-run 1 and first 2 ms:
// a count new to the process 11 ms without decodes, a seen one 9; with 2
// decodes and seen, 8 + 1 + 1 + 1 = 11. Graph steps do not count.
func TestEagerHostOf(t *testing.T) {
	l := &predict.EagerLaunch{BaseMs: 8, DecodesMs: 1, PerDecodeMs: 0.5, InRunMs: 1, FirstMs: 2}
	eager := func(tokens, decodes int, host float64) compare.RealStep {
		return compare.RealStep{Mode: predict.ModeEager, Tokens: tokens, Decodes: decodes, HostMs: host}
	}
	steps := []compare.RealStep{
		eager(3000, 0, 11), // new: 11, ratio 1
		{Mode: "graph", Tokens: 3000, HostMs: 100},
		eager(3000, 2, 12),  // seen, 2 decodes: 11, ratio 12/11
		eager(4000, 0, 22),  // new: 11, ratio 2
		eager(3000, 0, 9),   // seen: 9, ratio 1
		eager(5000, 0, 6.5), // new: 11, ratio 6.5/11
	}
	seen := map[int]bool{}
	h, ok := eagerHostOf(steps, l, seen)
	want := eagerHost{Steps: 5, HostMs: 11, ModelMs: 11, Ratio: 1}
	if !ok || !near(h, want) {
		t.Errorf("first run: %+v, %v; want %+v", h, ok, want)
	}
	// the repeat has launched every count: models 9, 11, 9, 9, 9; ratios
	// 11/9, 12/11, 22/9, 1, 6.5/9
	h, ok = eagerHostOf(steps, l, seen)
	want = eagerHost{Steps: 5, HostMs: 11, ModelMs: 9, Ratio: 12.0 / 11}
	if !ok || !near(h, want) {
		t.Errorf("repeat: %+v, %v; want %+v", h, ok, want)
	}
	if h, ok := eagerHostOf(steps[:4], l, nil); ok || h.Steps != 3 {
		t.Errorf("3 eager steps: %+v, %v; want no row (3 steps)", h, ok)
	}
}

func near(a, b eagerHost) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) < 1e-12 }
	return a.Steps == b.Steps && eq(a.HostMs, b.HostMs) && eq(a.ModelMs, b.ModelMs) && eq(a.Ratio, b.Ratio)
}
