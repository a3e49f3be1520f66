package engine

import (
	"math/rand/v2"
	"testing"
)

// TestAllowOut_SameAsLost: check's integer test (out > allowOut(n, pc)) is
// lost(out, n, pc) for every count out, on small and large samples and
// percentiles on, near and between ranks' edges.
func TestAllowOut_SameAsLost(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for c := range 3000 {
		n := int64([]int{0, 1, 2, 10, 1000, 2_000_000}[c%6]) + rng.Int64N(3)
		pc := []float64{0, 50, 90, 95, 99, 99.9, 100, 100 * rng.Float64()}[c%8]
		if c%5 == 0 && n > 0 { // a percentile at a count's edge
			pc = 100 * float64(n-rng.Int64N(n)) / float64(n)
		}
		allow := allowOut(n, pc)
		for _, out := range []int64{0, 1, allow - 1, allow, allow + 1, n, n + 1, rng.Int64N(n + 2)} {
			if out < 0 {
				continue
			}
			if got, want := out > allow, lost(out, n, pc); got != want {
				t.Fatalf("n %d, pc %v, out %d: out > allowOut (%d) is %v, lost %v", n, pc, out, allow, got, want)
			}
		}
	}
}

// TestTBTCut_SameAsGap: advanceWatched's integer test (gap > tbtCut) counts
// the gaps under gapEscape that the watch's gap counts, for thresholds on,
// near and between integers, none, and past gapEscape.
func TestTBTCut_SameAsGap(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for c := range 2000 {
		thr := []float64{0, 1, 25e6, 25e6 + 0.5, gapEscape - 0.5, gapEscape, 1e12, float64(rng.Int64N(gapEscape)) + rng.Float64()}[c%8]
		w := &sloWatch{tbtNs: thr}
		cut := tbtCut(w)
		f := int64(thr)
		for _, g := range []int64{0, 1, f - 1, f, f + 1, f + 2, gapEscape - 1, rng.Int64N(gapEscape)} {
			if g < 0 || g >= gapEscape {
				continue
			}
			before := w.tbtOut
			w.gap(g)
			if got, want := g > cut, w.tbtOut > before; got != want {
				t.Fatalf("threshold %v ns, gap %d: gap > tbtCut (%d) is %v, the watch counts %v", thr, g, cut, got, want)
			}
		}
	}
}
