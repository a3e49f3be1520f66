package engine

import (
	"math/rand/v2"
	"reflect"
	"slices"
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

// TestCheck_QuietSameAsCheckAll: check, which skips checkAll while quiet,
// leaves the watch as checkAll called at every step would, and says the
// same, for thresholds on, near and between integers, none, and past
// 2^52 ns, with times that land on each arrival's cutoff and one either
// side of it, and counts out that grow between the steps.
func TestCheck_QuietSameAsCheckAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	ths := []float64{0, 1, 2.5, 5e6, 5e6 + 0.5, 1 << 52, 1<<53 + 2, 1e300}
	for c := range 400 {
		n := 1 + rng.IntN(40)
		s := &sim{reqs: make([]request, n)}
		var at int64
		for i := range s.reqs {
			at += rng.Int64N(3) * rng.Int64N(4e6) // some at the same time
			s.reqs[i] = request{id: i, arrival: at, firstToken: -1}
			s.arrivals = append(s.arrivals, int32(i))
		}
		th := func() float64 {
			if c%3 == 0 {
				return float64(rng.Int64N(8e6)) + []float64{0, 0.5, rng.Float64()}[rng.IntN(3)]
			}
			return ths[rng.IntN(len(ths))]
		}
		mk := func() *sloWatch {
			return &sloWatch{ttftNs: th(), e2eNs: th(), tbtNs: th(), n: int64(n), gaps: int64(4 * n), mark: make([]uint8, n)}
		}
		a := mk()
		a.ttftAllow, a.e2eAllow, a.tbtAllow = rng.Int64N(int64(n)), rng.Int64N(int64(n)), rng.Int64N(int64(4*n))
		b := *a
		b.mark = make([]uint8, n)
		a.setQuiet()
		// The times: every arrival's cutoffs and one either side, in order.
		var times []int64
		for _, r := range s.reqs {
			for _, x := range []float64{a.ttftNs, a.e2eNs} {
				if x < 1<<62 {
					f := r.arrival + int64(x)
					times = append(times, f-1, f, f+1, f+2)
				}
			}
			times = append(times, r.arrival+rng.Int64N(1e7))
		}
		slices.Sort(times)
		for k, now := range times {
			if now < s.now {
				continue
			}
			s.now = now
			if i := rng.IntN(n); rng.IntN(3) == 0 && s.reqs[i].arrival <= now { // a first token, a completion, gaps out
				r := &s.reqs[i]
				if r.firstToken < 0 {
					r.firstToken = now
				} else {
					r.done = true
				}
				a.tbtOut++
				b.tbtOut++
			}
			ga, gb := a.check(s), b.checkAll(s)
			if !reflect.DeepEqual(ga, gb) || a.pT != b.pT || a.pE != b.pE || a.ttftOut != b.ttftOut || a.e2eOut != b.e2eOut ||
				a.notGood != b.notGood || !slices.Equal(a.mark, b.mark) {
				t.Fatalf("case %d, step %d at %d ns (ttft %v, e2e %v ns): check %+v (cutoffs at %d, %d), checkAll %+v (%d, %d)",
					c, k, now, a.ttftNs, a.e2eNs, ga, a.pT, a.pE, gb, b.pT, b.pE)
			}
		}
	}
}
