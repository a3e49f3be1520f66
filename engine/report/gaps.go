package report

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report/plots"
)

// gapSample is the sample of every gap between consecutive output tokens
// of a run's ok requests (21M of them for 100k Splitwise requests), read
// where the run stored them: its size, mean, the count at most one
// threshold, and the order statistics asked for, selected exactly without
// copying or sorting the sample (see selectRanks). What it answers is what
// the ascending slice of every gap would (statsSorted, cdfSorted, the SLO),
// bit for bit. When the float sum of the gaps in ascending order might
// round (their exact sum reaches 2^53 ns, 104 days), it holds that sorted
// slice instead.
type gapSample struct {
	n      int
	mean   float64
	le     int     // gaps at most leX
	leX    float64 // slo.TBTThresholdNs
	at     map[int]uint64
	sorted []int64 // the fallback: every gap, ascending
}

// Len is the number of gaps.
func (g *gapSample) Len() int { return g.n }

// At is the k-th smallest gap (0-based); k must be among the ranks asked for.
func (g *gapSample) At(k int) float64 {
	if g.sorted != nil {
		return float64(g.sorted[k])
	}
	v, ok := g.at[k]
	if !ok {
		panic(fmt.Sprintf("report: gap rank %d of %d was not selected", k, g.n))
	}
	return float64(v)
}

// AtMost counts the gaps at most x; x must be the threshold asked for.
func (g *gapSample) AtMost(x float64) int {
	if g.sorted != nil {
		return sort.Search(len(g.sorted), func(i int) bool { return float64(g.sorted[i]) > x })
	}
	if x != g.leX {
		panic(fmt.Sprintf("report: gaps counted at most %g, not %g", g.leX, x))
	}
	return g.le
}

// stats is statsSorted of the ascending gaps.
func (g *gapSample) stats() Stats {
	if g.sorted != nil {
		return statsSorted(g.sorted)
	}
	if g.n == 0 {
		return Stats{}
	}
	return Stats{N: g.n, Min: g.At(0), Max: g.At(g.n - 1), Mean: g.mean,
		P50: quantileAt(g.n, g.At, 0.5), P90: quantileAt(g.n, g.At, 0.9), P95: quantileAt(g.n, g.At, 0.95), P99: quantileAt(g.n, g.At, 0.99)}
}

// cdf is cdfSorted of the ascending gaps.
func (g *gapSample) cdf() plots.CDF {
	if g.sorted != nil {
		return cdfSorted(g.sorted)
	}
	return cdfAt(g.n, g.At)
}

// quantileRanks are the ranks quantileAt reads.
func quantileRanks(n int, q float64) []int {
	pos := q * float64(n-1)
	lo := int(pos)
	if lo+1 >= n {
		return []int{n - 1}
	}
	return []int{lo, lo + 1}
}

// statsRanks are the ranks gapSample.stats reads.
func statsRanks(n int) []int {
	r := []int{0, n - 1}
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
		r = append(r, quantileRanks(n, q)...)
	}
	return r
}

// gapSource calls f32 with each ok request's stored gaps, or f64 with each
// gap of a request that has one too large for 32 bits; it can be called
// again for another pass.
type gapSource func(f32 func([]uint32), f64 func(uint64))

// resultGaps is the gapSource of a run.
func resultGaps(res *engine.Result) gapSource {
	var times []int64
	return func(f32 func([]uint32), f64 func(uint64)) {
		for i := range res.Requests {
			if res.Requests[i].Status != engine.StatusOK {
				continue
			}
			if g, ok := res.TokenGaps(i); ok {
				if len(g) > 0 {
					f32(g)
				}
				continue
			}
			times = res.AppendTokenTimes(times[:0], i)
			for k := 1; k < len(times); k++ {
				f64(uint64(times[k] - times[k-1])) // token times never decrease
			}
		}
	}
}

// Level-1 buckets of selectRanks: the values below 2^13 one by one, each
// larger value by its 13 leading bits (shift s drops the s low bits), in
// ascending order of value.
const (
	hdrBits    = 13
	hdrBuckets = (64 - hdrBits + 2) << (hdrBits - 1) // bucket(math.MaxUint64) + 1
	digitBits  = 12                                  // each later level splits a range by 12 more bits
)

func bucketShift(x uint64) uint { return uint(max(bits.Len64(x), hdrBits) - hdrBits) }

func bucket(x uint64) int { s := bucketShift(x); return int(s<<(hdrBits-1) + uint(x>>s)) }

// bucketRange is bucket b's first value and the log2 of its width.
func bucketRange(b int) (uint64, uint) {
	s := uint(max(0, b>>(hdrBits-1)-1))
	return uint64(b-int(s<<(hdrBits-1))) << s, s
}

// selNode is a range of values [base, base+2^shift) holding sought ranks,
// split by its next d bits: counts per digit in the pass that refines it,
// then child per digit (the node of a digit still holding a sought rank
// whose value is not yet known, else -1).
type selNode struct {
	base   uint64
	shift  uint
	d      uint
	counts []uint32
	child  []int32
}

func (nd *selNode) digit(x uint64) uint64 { return (x - nd.base) >> (nd.shift - nd.d) }

// target is a sought rank: its offset within its node's values, until its
// value is known.
type target struct {
	rank int
	off  uint64
	node int32
	val  uint64
	done bool
}

// newGapSample reads the gaps of src: one pass for their count, sum,
// count at most leX and level-1 histogram, then selectRanks for the ranks
// that ranks(n) asks for.
func newGapSample(src gapSource, leX float64, ranks func(n int) []int) *gapSample {
	g := &gapSample{leX: leX}
	hist := make([]uint32, hdrBuckets)
	var sum, carry uint64
	n := 0
	src(func(v []uint32) {
		n += len(v)
		le := 0
		var s uint64
		for _, x := range v {
			sh := uint(max(bits.Len32(x), hdrBits) - hdrBits)
			hist[sh<<(hdrBits-1)+uint(x>>sh)]++
			s += uint64(x)
			if float64(x) <= leX {
				le++
			}
		}
		g.le += le
		var c uint64
		sum, c = bits.Add64(sum, s, 0)
		carry += c
	}, func(x uint64) {
		n++
		hist[bucket(x)]++
		var c uint64
		sum, c = bits.Add64(sum, x, 0)
		carry += c
		if float64(x) <= leX {
			g.le++
		}
	})
	g.n = n
	if carry != 0 || sum >= 1<<53 || uint64(n) >= math.MaxUint32 {
		// Partial sums past 2^53 may round, and the float sum depends on
		// the order: sum in ascending order as statsSorted does.
		return sortedGaps(src, leX)
	}
	if n == 0 {
		return g
	}
	g.mean = float64(sum) / float64(n)
	g.at = selectRanks(src, hist, n, ranks(n))
	return g
}

// sortedGaps is the gapSample holding every gap, sorted.
func sortedGaps(src gapSource, leX float64) *gapSample {
	var all []int64
	src(func(v []uint32) {
		for _, x := range v {
			all = append(all, int64(x))
		}
	}, func(x uint64) { all = append(all, int64(x)) })
	sortInt64(all)
	return &gapSample{n: len(all), sorted: all, leX: leX}
}

// selectRanks returns the values of the sample at the given ranks (0-based,
// each < n): an exact radix selection. hist counts the values by bucket;
// each further pass over the sample counts, within the ranges still holding
// a sought rank of unknown value, the values by their next 12 bits, until
// every range is one value wide (at most 5 more passes; 1 or 2 for gaps
// under 2^37 ns). Memory: a table of hdrBuckets entries and 2^12 counters
// per open range, whatever n.
func selectRanks(src gapSource, hist []uint32, n int, ranks []int) map[int]uint64 {
	ranks = slices.Clone(ranks)
	slices.Sort(ranks)
	ranks = slices.Compact(ranks)
	ts := make([]target, len(ranks))
	root := make([]int32, len(hist))
	for i := range root {
		root[i] = -1
	}
	var nodes []selNode
	open := func(base uint64, shift uint) int32 {
		d := min(shift, digitBits)
		nodes = append(nodes, selNode{base: base, shift: shift, d: d, counts: make([]uint32, 1<<d)})
		return int32(len(nodes) - 1)
	}
	// Level 1: walk the histogram's cumulative counts.
	cum, b := 0, 0
	for i, r := range ranks {
		for cum+int(hist[b]) <= r {
			cum += int(hist[b])
			b++
		}
		base, shift := bucketRange(b)
		t := &ts[i]
		t.rank, t.off = r, uint64(r-cum)
		if shift == 0 {
			t.val, t.done = base, true
			continue
		}
		if root[b] < 0 {
			root[b] = open(base, shift)
		}
		t.node = root[b]
	}
	for pending := len(nodes) > 0; pending; {
		add := func(x uint64) {
			i := root[bucket(x)]
			if i < 0 {
				return
			}
			nd := &nodes[i]
			for nd.child != nil {
				c := nd.child[nd.digit(x)]
				if c < 0 {
					return
				}
				nd = &nodes[c]
			}
			nd.counts[nd.digit(x)]++
		}
		src(func(v []uint32) {
			for _, x := range v {
				sh := uint(max(bits.Len32(x), hdrBits) - hdrBits)
				if root[sh<<(hdrBits-1)+uint(x>>sh)] >= 0 {
					add(uint64(x))
				}
			}
		}, add)
		// Split every counted node; targets sharing a node are adjacent
		// and in rank order.
		pending = false
		for i := 0; i < len(ts); {
			t := &ts[i]
			if t.done {
				i++
				continue
			}
			ni := t.node
			nd := &nodes[ni]
			if nd.child != nil { // split in an earlier pass: cannot hold an unknown target
				panic("report: selectRanks lost a target")
			}
			child := make([]int32, 1<<nd.d)
			for k := range child {
				child[k] = -1
			}
			var cum uint64
			dg := 0
			for ; i < len(ts) && !ts[i].done && ts[i].node == ni; i++ {
				t := &ts[i]
				for cum+uint64(nodes[ni].counts[dg]) <= t.off {
					cum += uint64(nodes[ni].counts[dg])
					dg++
				}
				t.off -= cum
				nd := &nodes[ni]
				shift := nd.shift - nd.d
				base := nd.base + uint64(dg)<<shift
				if shift == 0 {
					t.val, t.done = base, true
					continue
				}
				if child[dg] < 0 {
					child[dg] = open(base, shift) // may move nodes
					pending = true
				}
				t.node = child[dg]
			}
			nodes[ni].child, nodes[ni].counts = child, nil
		}
	}
	out := make(map[int]uint64, len(ts))
	for _, t := range ts {
		out[t.rank] = t.val
	}
	return out
}
