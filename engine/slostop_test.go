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
