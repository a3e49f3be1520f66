package report

import (
	"math"
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
	// The gaps between tokens: tok32 while every gap fits in 32 bits (half
	// the memory of 21M samples for 100k requests), else tok (tok32 nil).
	tok   []int64
	tok32 []uint32
	reqs  []slo.Request // every request, for the SLO
}

// collect gathers and sorts a run's latency samples. Time between tokens
// is over token_index > 0.
func collect(res *engine.Result) latencies {
	var l latencies
	ntok := 0
	for _, r := range res.Requests {
		if r.Status == engine.StatusOK && r.DecodeActual > 1 {
			ntok += r.DecodeActual - 1
		}
	}
	l.tok32 = make([]uint32, 0, ntok)
	var times, own []int64
	pc := res.Config.SLOSpec().TBTPercentile
	l.reqs = make([]slo.Request, len(res.Requests))
	for i, r := range res.Requests {
		q := &l.reqs[i]
		*q = slo.Request{ArrivalNs: r.ArrivalNs, FirstTokenNs: r.FirstTokenNs, CompletionNs: r.CompletionNs,
			OK: r.Status == engine.StatusOK, OutputTokens: r.DecodeActual, TBTNs: -1}
		if r.Status != engine.StatusOK {
			continue
		}
		l.ttft = append(l.ttft, r.FirstTokenNs-r.ArrivalNs)
		l.e2e = append(l.e2e, r.CompletionNs-r.ArrivalNs)
		times = res.AppendTokenTimes(times[:0], i) // a plain loop: a callback per token costs in wasm
		own = own[:0]
		for k := 1; k < len(times); k++ {
			g := times[k] - times[k-1]
			own = append(own, g)
			if l.tok32 != nil && g > math.MaxUint32 { // from here on, 64-bit samples
				l.tok = make([]int64, len(l.tok32), ntok)
				for j, v := range l.tok32 {
					l.tok[j] = int64(v)
				}
				l.tok32 = nil
			}
			if l.tok32 != nil {
				l.tok32 = append(l.tok32, uint32(g))
			} else {
				l.tok = append(l.tok, g)
			}
		}
		if len(own) > 0 { // this request's own P_pc gap
			slices.Sort(own)
			q.TBTNs = slo.RequestQuantile(own, pc)
		}
	}
	sortInt64(l.ttft)
	sortInt64(l.e2e)
	if l.tok32 != nil {
		sortUint32(l.tok32)
	} else {
		sortInt64(l.tok)
	}
	return l
}

// tokStats are the gaps' statistics.
func (l *latencies) tokStats() Stats {
	if l.tok32 != nil {
		return statsSorted(l.tok32)
	}
	return statsSorted(l.tok)
}

// sortUint32 sorts v ascending: sortInt64's radix sort on 32-bit keys.
func sortUint32(v []uint32) {
	if len(v) < radixMin {
		slices.Sort(v)
		return
	}
	var or, and uint32 = 0, ^uint32(0)
	for _, x := range v {
		or |= x
		and &= x
	}
	varying := or ^ and
	if varying == 0 {
		return
	}
	lo := uint(bits.TrailingZeros32(varying))
	width := uint(bits.Len32(varying)) - lo
	passes := (width + maxRadixBits - 1) / maxRadixBits
	digit := (width + passes - 1) / passes
	mask := uint32(1)<<digit - 1
	src, dst := v, make([]uint32, len(v))
	count := make([]int, 1<<digit)
	for p := range passes {
		shift := lo + p*digit
		clear(count)
		for _, x := range src {
			count[(x>>shift)&mask]++
		}
		pos := 0
		for d, c := range count {
			count[d] = pos
			pos += c
		}
		for _, x := range src {
			d := (x >> shift) & mask
			dst[count[d]] = x
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &v[0] {
		copy(v, src)
	}
}

// cdfSorted thins an ascending sample (ns) to at most ~maxCDFPoints points
// of an empirical CDF in ms, always ending at the maximum with P = 1.
func cdfSorted[T int64 | uint32](s []T) plots.CDF {
	n := len(s)
	var c plots.CDF
	if n == 0 {
		return c
	}
	step := max(1, n/maxCDFPoints)
	for i := 0; i < n; i += step {
		c.X = append(c.X, float64(s[i])/1e6)
		c.P = append(c.P, float64(i+1)/float64(n))
	}
	if last := float64(s[n-1]) / 1e6; c.X[len(c.X)-1] != last || c.P[len(c.P)-1] != 1 {
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
