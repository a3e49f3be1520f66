package report

import (
	"math/bits"
	"slices"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report/plots"
	"github.com/servesim/servesim/engine/slo"
)

// latencies are the latency samples (ns) of a run's ok requests, each sorted
// ascending: collected and sorted once, shared by KeyResults and Plots.
type latencies struct {
	ttft, e2e []int64
	tok       *gapSample    // the gaps between tokens
	reqs      []slo.Request // every request, for the SLO
}

// collect gathers and sorts a run's latency samples, and selects of the
// gaps between tokens (over token_index > 0) what KeyResults read, and the
// CDF's points too if cdf.
func collect(res *engine.Result, cdf bool) latencies {
	var l latencies
	var times, own []int64
	spec := res.Config.SLOSpec()
	l.reqs = make([]slo.Request, len(res.Requests))
	for i, r := range res.Requests {
		q := &l.reqs[i]
		*q = slo.Request{ArrivalNs: r.ArrivalNs, FirstTokenNs: r.FirstTokenNs, CompletionNs: r.CompletionNs,
			OK: r.Status == engine.StatusOK, Rejected: r.Status == engine.StatusRejectedTooLong, OutputTokens: r.DecodeActual, TBTNs: -1}
		if r.Status != engine.StatusOK {
			continue
		}
		l.ttft = append(l.ttft, r.FirstTokenNs-r.ArrivalNs)
		l.e2e = append(l.e2e, r.CompletionNs-r.ArrivalNs)
		if spec.TBTMs == 0 {
			continue // no request is judged on its gaps
		}
		// Whether this request's own P_pc gap is over the threshold, in one
		// pass over its gaps (selecting the value, each gap copied and
		// reordered, cost 8% of a 10k-request trial; a sort a quarter).
		if g, ok := res.TokenGaps(i); ok {
			q.TBTOver = slo.RequestOver(g, spec.TBTPercentile, spec.TBTMs)
			continue
		}
		times = res.AppendTokenTimes(times[:0], i) // a plain loop: a callback per token costs in wasm
		own = own[:0]
		for k := 1; k < len(times); k++ {
			own = append(own, times[k]-times[k-1])
		}
		q.TBTOver = slo.RequestOver(own, spec.TBTPercentile, spec.TBTMs)
	}
	sortInt64(l.ttft)
	sortInt64(l.e2e)
	l.tok = newGapSample(resultGaps(res), slo.TBTThresholdNs(spec), func(n int) []int {
		r := append(statsRanks(n), slo.TBTRank(spec, n))
		if cdf {
			r = append(r, cdfRanks(n)...)
		}
		return r
	})
	return l
}

// cdfSorted thins an ascending sample (ns) to at most ~maxCDFPoints points
// of an empirical CDF in ms, always ending at the maximum with P = 1.
func cdfSorted[T int64 | uint32](s []T) plots.CDF {
	return cdfAt(len(s), func(k int) float64 { return float64(s[k]) })
}

// cdfRanks are the ranks cdfAt reads.
func cdfRanks(n int) []int {
	if n == 0 {
		return nil
	}
	var r []int
	for i := 0; i < n; i += max(1, n/maxCDFPoints) {
		r = append(r, i)
	}
	return append(r, n-1)
}

// cdfAt is cdfSorted of the ascending sample of n values whose k-th
// smallest is at(k).
func cdfAt(n int, at func(int) float64) plots.CDF {
	var c plots.CDF
	if n == 0 {
		return c
	}
	step := max(1, n/maxCDFPoints)
	for i := 0; i < n; i += step {
		c.X = append(c.X, at(i)/1e6)
		c.P = append(c.P, float64(i+1)/float64(n))
	}
	if last := at(n-1) / 1e6; c.X[len(c.X)-1] != last || c.P[len(c.P)-1] != 1 {
		c.X, c.P = append(c.X, last), append(c.P, 1)
	}
	return c
}

// radixMin is the sample size from which sortInt64 uses radix sort; below
// it pdqsort is as fast.
const radixMin = 1 << 12

// maxRadixBits bounds the digit width: 2^12 counters stay in L1 cache.
const maxRadixBits = 12

// sortInt64 sorts v ascending: an LSD radix sort over the bits that vary
// (at most 12 per pass), O(n). A comparison sort of the ~2M time-between-
// token samples of a 10k-request run dominated the whole API request,
// most of all in wasm.
func sortInt64(v []int64) {
	if len(v) < radixMin {
		slices.Sort(v)
		return
	}
	const signBit = 1 << 63
	key := func(x int64) uint64 { return uint64(x) ^ signBit } // order-preserving for negatives too
	var or, and uint64 = 0, ^uint64(0)
	for _, x := range v {
		or |= key(x)
		and &= key(x)
	}
	varying := or ^ and // bits that differ somewhere; the others need no pass
	if varying == 0 {
		return
	}
	lo := uint(bits.TrailingZeros64(varying))
	width := uint(bits.Len64(varying)) - lo
	passes := (width + maxRadixBits - 1) / maxRadixBits
	digit := (width + passes - 1) / passes // equal digits: 23 varying bits sort in 2 passes of 12
	mask := uint64(1)<<digit - 1
	src, dst := v, make([]int64, len(v))
	count := make([]int, 1<<digit)
	for p := range passes {
		shift := lo + p*digit
		clear(count)
		for _, x := range src {
			count[(key(x)>>shift)&mask]++
		}
		pos := 0
		for d, c := range count {
			count[d] = pos
			pos += c
		}
		for _, x := range src {
			d := (key(x) >> shift) & mask
			dst[count[d]] = x
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &v[0] {
		copy(v, src)
	}
}
