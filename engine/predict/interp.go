package predict

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// curve is a piecewise-linear function through profiled points. Duplicate
// x values (Vidur's files repeat some rows) are averaged.
type curve struct {
	xs, ys []float64
}

// newCurve builds a curve from unsorted points.
func newCurve(xs, ys []float64) curve {
	idx := make([]int, len(xs))
	sorted := true
	for i := range idx {
		idx[i] = i
		if i > 0 && xs[i] < xs[i-1] {
			sorted = false
		}
	}
	// Points in order (a profile's rows usually are) are their own
	// stable sort.
	if !sorted {
		// A stable sort's order is unique: slices' (no reflection, which
		// the page's wasm pays for) gives sort.SliceStable's.
		slices.SortStableFunc(idx, func(a, b int) int {
			switch {
			case xs[a] < xs[b]:
				return -1
			case xs[b] < xs[a]:
				return 1
			}
			return 0
		})
	}
	var c curve
	for k := 0; k < len(idx); {
		x := xs[idx[k]]
		sum, n := 0.0, 0
		for ; k < len(idx) && xs[idx[k]] == x; k++ {
			sum += ys[idx[k]]
			n++
		}
		c.xs = append(c.xs, x)
		c.ys = append(c.ys, sum/float64(n))
	}
	return c
}

// covers reports whether x lies within the profiled range.
func (c curve) covers(x float64) bool {
	return len(c.xs) > 0 && x >= c.xs[0] && x <= c.xs[len(c.xs)-1]
}

// at interpolates at x. Outside the range it extrapolates when allowed:
// flat below the first point (never below a measured floor), linear beyond
// the last two points above. ok is false when x is outside and extrapolation
// is not allowed.
func (c curve) at(x float64, extrapolate bool) (float64, bool) {
	n := len(c.xs)
	if n == 0 {
		return 0, false
	}
	if x < c.xs[0] {
		return c.ys[0], extrapolate
	}
	if x > c.xs[n-1] {
		if !extrapolate {
			return 0, false
		}
		if n == 1 {
			return c.ys[0], true
		}
		x0, x1, y0, y1 := c.xs[n-2], c.xs[n-1], c.ys[n-2], c.ys[n-1]
		return y1 + (y1-y0)*(x-x1)/(x1-x0), true
	}
	i := searchFloats(c.xs, x) // first xs[i] >= x
	if c.xs[i] == x {
		return c.ys[i], true
	}
	x0, x1, y0, y1 := c.xs[i-1], c.xs[i], c.ys[i-1], c.ys[i]
	return y0 + (y1-y0)*(x-x0)/(x1-x0), true
}

// searchFloats is sort.SearchFloat64s (the first index whose value is >= x,
// len(a) if none) without its closure call per step, which Go's wasm
// backend makes expensive: every new batch shape looks up the grids.
func searchFloats(a []float64, x float64) int {
	i, j := 0, len(a)
	for i < j {
		h := int(uint(i+j) >> 1)
		if !(a[h] >= x) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

func (c curve) rangeString() string {
	if len(c.xs) == 0 {
		return "no points"
	}
	return fmt.Sprintf("%g..%g", c.xs[0], c.xs[len(c.xs)-1])
}

// grid is a function of two keys profiled on scattered points: for each
// value of the outer key, a curve along the inner key. Between outer values
// it interpolates linearly; the inner curves need not share points.
type grid struct {
	outer []float64
	inner []curve
}

// newGrid groups points by outer key.
func newGrid(outer, inner, ys []float64) grid {
	type pts struct{ x, y []float64 }
	by := map[float64]*pts{}
	for i, o := range outer {
		p := by[o]
		if p == nil {
			p = &pts{}
			by[o] = p
		}
		p.x = append(p.x, inner[i])
		p.y = append(p.y, ys[i])
	}
	var g grid
	for o := range by {
		g.outer = append(g.outer, o)
	}
	sort.Float64s(g.outer)
	for _, o := range g.outer {
		g.inner = append(g.inner, newCurve(by[o].x, by[o].y))
	}
	return g
}

// innerMin is the smallest inner key every outer row is profiled at (0 for
// an empty grid).
func (g grid) innerMin() int {
	m := 0.0
	for _, c := range g.inner {
		if len(c.xs) > 0 {
			m = max(m, c.xs[0])
		}
	}
	return int(math.Ceil(m))
}

// at interpolates at (o, i). Between two outer values, an inner key that one
// neighbour covers and the other does not (grids measured under a token
// budget end at chunk + kv <= max_seq_len, or at decodes x context <= the
// measuring pool) is extrapolated along that neighbour's curve. On an outer
// value itself the same holds, so that the value is the limit of its
// neighbourhood's: a row that does not cover i is read extrapolated when a
// row beside it covers i.
func (g grid) at(o, i float64, extrapolate bool) (float64, bool) {
	n := len(g.outer)
	if n == 0 {
		return 0, false
	}
	k := searchFloats(g.outer, o)
	if k < n && g.outer[k] == o {
		c := g.inner[k]
		if !extrapolate && !c.covers(i) {
			extrapolate = k > 0 && g.inner[k-1].covers(i) || k+1 < n && g.inner[k+1].covers(i)
		}
		return c.at(i, extrapolate)
	}
	if k == 0 || k == n {
		if !extrapolate {
			return 0, false
		}
		if n == 1 {
			return g.inner[0].at(i, true)
		}
		a, b := 0, 1
		if k == n {
			a, b = n-2, n-1
		}
		ya, _ := g.inner[a].at(i, true)
		yb, _ := g.inner[b].at(i, true)
		y := ya + (yb-ya)*(o-g.outer[a])/(g.outer[b]-g.outer[a])
		if k == 0 { // below the first outer value: flat
			y = ya
		}
		return y, true
	}
	c0, c1 := g.inner[k-1], g.inner[k]
	in0, in1 := c0.covers(i), c1.covers(i)
	if !extrapolate && !in0 && !in1 {
		return 0, false
	}
	y0, _ := c0.at(i, true)
	y1, _ := c1.at(i, true)
	return y0 + (y1-y0)*(o-g.outer[k-1])/(g.outer[k]-g.outer[k-1]), true
}

// maxCutExtent is how far past its last context a budget-cut row is read
// (atBudgetCut): four times its last context, which covers a pool of up to
// twice the measuring budget on a grid of power-of-two contexts. Each
// budget-cut row of the H200 set, cut at a quarter of its last context and
// read there at its last, is within median 0.7% / max 4.1% of the measured
// (24 attention.csv decode rows) and 0.6% / 4.0% (114 engine.json
// mixed_decode rows): TestAtBudgetCut_H200; its 12 measured prefill rows,
// read so along their cached tokens, median 1.1% / max 3.7%
// (TestAtPast_H200Prefill).
const maxCutExtent = 4

// atBudgetCut reads g at (o, i) past the end of the rows around o when those
// rows were cut short by a token budget: a row that ends before the grid's
// longest row does (decode attention measured within a pool of decodes x
// context tokens stops each batch at the last context that fit, though a
// simulated pool may hold more) is extrapolated linearly from its last two
// points, up to maxCutExtent times its last context. ok is false outside
// the outer keys, past that extent, before a row's first point, or where a
// row ends at the grid's longest context (a length, not a budget, ends it).
func (g grid) atBudgetCut(o, i float64) (float64, bool) { return g.atPast(o, i, true) }

// atPast reads g at (o, i) past the end of the rows around o, each row that
// does not cover i extrapolated linearly from its last two points up to
// maxCutExtent times its last key; with budgetCut only rows that end before
// the grid's longest row does (atBudgetCut). Without it any row may be read
// past its end: for keys that are no one sequence's, such as Vidur's
// aggregate of several prefills (their cached tokens summed), which pass the
// rows' length limit though each prefill is within it.
func (g grid) atPast(o, i float64, budgetCut bool) (float64, bool) {
	n := len(g.outer)
	if n == 0 {
		return 0, false
	}
	k := searchFloats(g.outer, o)
	var rows []int
	switch {
	case k < n && g.outer[k] == o:
		rows = []int{k}
	case k == 0 || k == n:
		return 0, false
	default:
		rows = []int{k - 1, k}
	}
	longest := g.longestInner()
	for _, r := range rows {
		c := g.inner[r]
		end := c.xs[len(c.xs)-1]
		if c.covers(i) {
			continue
		}
		if len(c.xs) < 2 || i < c.xs[0] || budgetCut && end >= longest || i > maxCutExtent*end {
			return 0, false
		}
	}
	return g.at(o, i, true)
}

// longestInner is the largest inner key any row reaches (0 for an empty
// grid).
func (g grid) longestInner() float64 {
	longest := 0.0
	for _, c := range g.inner {
		longest = max(longest, c.xs[len(c.xs)-1])
	}
	return longest
}

// rangeString describes g's profiled range: its outer and inner keys'
// extremes and, where the rows do not all share the inner range, the
// range of the rows at or around the outer value o that was asked for.
func (g grid) rangeString(outerName, innerName string, outerFn func(float64) float64, o float64) string {
	if len(g.outer) == 0 {
		return "no points"
	}
	lo, hi := g.inner[0].xs[0], g.inner[0].xs[len(g.inner[0].xs)-1]
	ragged := false
	for _, c := range g.inner {
		ragged = ragged || c.xs[0] != lo || c.xs[len(c.xs)-1] != hi
		lo = min(lo, c.xs[0])
		hi = max(hi, c.xs[len(c.xs)-1])
	}
	s := fmt.Sprintf("%s %g..%g, %s %g..%g", outerName, outerFn(g.outer[0]), outerFn(g.outer[len(g.outer)-1]), innerName, lo, hi)
	if !ragged {
		return s
	}
	n := len(g.outer)
	k := searchFloats(g.outer, o)
	rows := []int{k}
	switch {
	case k == n:
		rows = []int{n - 1}
	case g.outer[k] != o && k > 0:
		rows = []int{k - 1, k}
	}
	for j, r := range rows {
		sep := "; at"
		if j > 0 {
			sep = " and at"
		}
		s += fmt.Sprintf("%s %s=%g: %s %s", sep, outerName, outerFn(g.outer[r]), innerName, g.inner[r].rangeString())
	}
	return s
}
