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

// at interpolates at (o, i). Between two outer values, an inner key that one
// neighbour covers and the other does not (prefill grids end at
// chunk + kv <= max_seq_len) is extrapolated along that neighbour's curve.
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

func (g grid) at(o, i float64, extrapolate bool) (float64, bool) {
	n := len(g.outer)
	if n == 0 {
		return 0, false
	}
	k := searchFloats(g.outer, o)
	if k < n && g.outer[k] == o {
		return g.inner[k].at(i, extrapolate)
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

func (g grid) rangeString(outerName, innerName string, outerFn func(float64) float64) string {
	if len(g.outer) == 0 {
		return "no points"
	}
	lo, hi := g.inner[0].xs[0], g.inner[0].xs[len(g.inner[0].xs)-1]
	for _, c := range g.inner {
		lo = min(lo, c.xs[0])
		hi = max(hi, c.xs[len(c.xs)-1])
	}
	return fmt.Sprintf("%s %g..%g, %s %g..%g", outerName, outerFn(g.outer[0]), outerFn(g.outer[len(g.outer)-1]), innerName, lo, hi)
}
