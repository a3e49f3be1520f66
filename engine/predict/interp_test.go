package predict

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/internal/sharedtest"
)

func TestCurve(t *testing.T) {
	// Points (1,10), (3,30) twice averaged with (3,50) -> 40, (5,20).
	c := newCurve([]float64{3, 1, 5, 3}, []float64{30, 10, 20, 50})
	tests := []struct {
		x, want float64
		ok      bool
		extrap  bool
	}{
		{1, 10, true, false}, {3, 40, true, false}, {2, 25, true, false}, {4, 30, true, false}, {5, 20, true, false},
		{0, 0, false, false}, {6, 0, false, false},
		{0, 10, true, true}, // flat below the first point
		{7, 0, true, true},  // linear beyond the last two: 20 + (20-40)/2*2 = 0
	}
	for _, tc := range tests {
		got, ok := c.at(tc.x, tc.extrap)
		if ok != tc.ok || (ok && math.Abs(got-tc.want) > 1e-12) {
			t.Errorf("at(%v, %v) = %v, %v; want %v, %v", tc.x, tc.extrap, got, ok, tc.want, tc.ok)
		}
	}
}

func TestGrid(t *testing.T) {
	// outer 1: y = kv; outer 3: y = 10 + kv but only kv 0..10.
	g := newGrid([]float64{1, 1, 3, 3}, []float64{0, 100, 0, 10}, []float64{0, 100, 10, 20})
	if v, ok := g.at(1, 50, false); !ok || v != 50 {
		t.Errorf("exact outer: %v %v", v, ok)
	}
	// outer 2 is halfway: (kv + (10+kv))/2 at kv 5 = 10.
	if v, ok := g.at(2, 5, false); !ok || v != 10 {
		t.Errorf("between outers: %v %v", v, ok)
	}
	// kv 50 is covered by outer 1 only: outer 3 extrapolates along its line (60): (50+60)/2.
	if v, ok := g.at(2, 50, false); !ok || v != 55 {
		t.Errorf("one-sided coverage: %v %v", v, ok)
	}
	if _, ok := g.at(4, 5, false); ok {
		t.Error("outer beyond the grid must miss")
	}
	if _, ok := g.at(2, 200, false); ok {
		t.Error("inner beyond both curves must miss")
	}
	// On outer 3 itself, kv 50 is covered by its neighbour (outer 1): the
	// row is read extrapolated (60), the limit of the values between the
	// rows as the outer key approaches 3.
	if v, ok := g.at(3, 50, false); !ok || v != 60 {
		t.Errorf("exact outer beyond its own row, neighbour covers: %v %v; want 60", v, ok)
	}
	if v, ok := g.at(3-1e-9, 50, false); !ok || math.Abs(v-60) > 1e-6 {
		t.Errorf("just under outer 3: %v %v; want ~60 (continuous with outer 3)", v, ok)
	}
	if _, ok := g.at(3, 200, false); ok {
		t.Error("exact outer beyond every row's inner range must miss")
	}
}

func TestGrid_RangeString(t *testing.T) {
	id := func(x float64) float64 { return x }
	ragged := newGrid([]float64{1, 1, 3, 3, 5, 5}, []float64{0, 100, 0, 10, 0, 5}, []float64{0, 1, 2, 3, 4, 5})
	square := newGrid([]float64{1, 1, 3, 3}, []float64{0, 10, 0, 10}, []float64{0, 1, 2, 3})
	tests := []struct {
		name string
		g    grid
		o    float64
		want string
	}{
		{"square grid: the extremes only", square, 3, "b 1..3, c 0..10"},
		{"ragged, on a row", ragged, 5, "b 1..5, c 0..100; at b=5: c 0..5"},
		{"ragged, between rows", ragged, 4, "b 1..5, c 0..100; at b=3: c 0..10 and at b=5: c 0..5"},
		{"ragged, above the last row", ragged, 9, "b 1..5, c 0..100; at b=5: c 0..5"},
		{"ragged, below the first row", ragged, 0, "b 1..5, c 0..100; at b=1: c 0..100"},
	}
	for _, tc := range tests {
		if got := tc.g.rangeString("b", "c", id, tc.o); got != tc.want {
			t.Errorf("%s: rangeString = %q; want %q", tc.name, got, tc.want)
		}
	}
}

// TestInterpolation_LeaveOneOut measures the interpolator's error on Vidur's
// real A100 MLP profile of Llama-2-7B (TP1): each interior profiled point is
// dropped and predicted from its neighbours.
func TestInterpolation_LeaveOneOut(t *testing.T) {
	f := sharedtest.Open(t, "vidur-data/profiling/compute/a100/meta-llama/Llama-2-7b-hf/mlp.csv")
	tb, err := csvin.ReadHeader(f, "mlp.csv")
	if err != nil {
		t.Fatal(err)
	}
	ops := []string{"attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj", "mlp_act", "input_layernorm", "attn_rope", "add"}
	xs := map[string][]float64{}
	ys := map[string][]float64{}
	for tb.Next() == nil {
		if s, _ := tb.Field("num_tensor_parallel_workers"); s != "1" {
			continue
		}
		n, _ := tb.Field("num_tokens")
		x, _ := strconv.ParseFloat(n, 64)
		for _, op := range ops {
			v, err := tb.PositiveFloat(median(op))
			if err != nil {
				t.Fatal(err)
			}
			xs[op], ys[op] = append(xs[op], x), append(ys[op], v)
		}
	}
	var all []float64
	for _, op := range ops {
		c := newCurve(xs[op], ys[op])
		var errs []float64
		for i := 1; i < len(c.xs)-1; i++ {
			loo := curve{xs: append(append([]float64{}, c.xs[:i]...), c.xs[i+1:]...), ys: append(append([]float64{}, c.ys[:i]...), c.ys[i+1:]...)}
			v, _ := loo.at(c.xs[i], false)
			errs = append(errs, math.Abs(v/c.ys[i]-1)*100)
		}
		sort.Float64s(errs)
		med, p90 := errs[len(errs)/2], errs[len(errs)*9/10]
		t.Logf("%-16s leave-one-out |error| median %.2f%%  P90 %.2f%%  (%d points)", op, med, p90, len(errs))
		all = append(all, errs...)
	}
	sort.Float64s(all)
	med, p90 := all[len(all)/2], all[len(all)*9/10]
	t.Logf("all ops: median %.2f%%, P90 %.2f%%", med, p90)
	// Profiled points are dense (step 8-32 tokens), so linear interpolation
	// should stay within measurement noise: bounds set from this data.
	if med > 2 || p90 > 8 {
		t.Errorf("leave-one-out error median %.2f%% P90 %.2f%%; want <= 2%% and <= 8%%", med, p90)
	}
}

func TestSearchFloats_SameAsSort(t *testing.T) {
	for _, a := range [][]float64{nil, {1}, {1, 2, 3}, {1, 1, 2, 2, 3}, {-5, 0, 0.5, 8, 1e9}} {
		for _, x := range []float64{-10, -5, 0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 8, 1e9, 2e9, math.NaN(), math.Inf(1), math.Inf(-1)} {
			if got, want := searchFloats(a, x), sort.SearchFloat64s(a, x); got != want {
				t.Errorf("searchFloats(%v, %g) = %d, sort.SearchFloat64s = %d", a, x, got, want)
			}
		}
	}
}

func TestAtBudgetCut(t *testing.T) {
	// Rows 1 and 2 reach kv 100 (the grid's longest); row 4 was cut at 10
	// by a budget: y = kv + 2*outer on every row.
	g := newGrid([]float64{1, 1, 1, 2, 2, 2, 4, 4, 4}, []float64{0, 50, 100, 0, 50, 100, 0, 5, 10},
		[]float64{2, 52, 102, 4, 54, 104, 8, 13, 18})
	tests := []struct {
		o, i, want float64
		ok         bool
	}{
		{4, 10, 18, true},  // on the row
		{4, 40, 48, true},  // 4x its last context, along its line
		{4, 41, 0, false},  // past maxCutExtent
		{3, 30, 36, true},  // between rows 2 (covers) and 4 (cut): 34 and 38
		{2, 150, 0, false}, // row 2 ends at the grid's longest: a length, not a budget
		{5, 20, 0, false},  // outside the outer keys
		{0.5, 1, 0, false}, // outside the outer keys
	}
	for _, tc := range tests {
		got, ok := g.atBudgetCut(tc.o, tc.i)
		if ok != tc.ok || ok && math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("atBudgetCut(%g, %g) = %g, %v; want %g, %v", tc.o, tc.i, got, ok, tc.want, tc.ok)
		}
	}
}

// TestAtPast_AnyRow: without the budget-cut rule a row that ends at the
// grid's longest key is read past its end too (an aggregate key), up to
// maxCutExtent times its end.
func TestAtPast_AnyRow(t *testing.T) {
	// y = kv + 2*outer; row 1 ends at 100 (the longest), row 4 at 10.
	g := newGrid([]float64{1, 1, 1, 4, 4, 4}, []float64{0, 50, 100, 0, 5, 10}, []float64{2, 52, 102, 8, 13, 18})
	tests := []struct {
		o, i, want float64
		budgetCut  bool
		ok         bool
	}{
		{1, 150, 0, true, false},   // budget-cut only: row 1 is the longest
		{1, 150, 152, false, true}, // any row
		{1, 400, 402, false, true}, // 4x its end
		{1, 401, 0, false, false},  // past 4x
		{4, 40, 48, false, true},   // row 4 either way
	}
	for _, tc := range tests {
		got, ok := g.atPast(tc.o, tc.i, tc.budgetCut)
		if ok != tc.ok || ok && math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("atPast(%g, %g, %v) = %g, %v; want %g, %v", tc.o, tc.i, tc.budgetCut, got, ok, tc.want, tc.ok)
		}
	}
}

// h200Attention reads the H200 set's attention.csv rows of one kind
// (is_prefill "True" or "False"): outer key, kv_cache_size and op's median.
func h200Attention(t *testing.T, prefill, outer, op string) (o, kv, ms []float64) {
	t.Helper()
	f, err := os.Open("../../profiles/h200/qwen3-0.6b/attention.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tb, err := csvin.ReadHeader(f, "attention.csv")
	if err != nil {
		t.Fatal(err)
	}
	for tb.Next() == nil {
		if s, _ := tb.Field("is_prefill"); s != prefill {
			continue
		}
		var row [3]float64
		for j, col := range []string{outer, "kv_cache_size", median(op)} {
			s, _ := tb.Field(col)
			if row[j], err = strconv.ParseFloat(s, 64); err != nil {
				t.Fatalf("%s %q: %v", col, s, err)
			}
		}
		o, kv, ms = append(o, row[0]), append(kv, row[1]), append(ms, row[2])
	}
	return o, kv, ms
}

// TestAtPast_H200Prefill validates reading prefill rows past their end (an
// aggregated prefill key, pastAny) on the H200 set's measured attention.csv
// prefill rows: each row cut at its first point at or past a quarter of
// its last kv and read at its last.
func TestAtPast_H200Prefill(t *testing.T) {
	c, kv, ms := h200Attention(t, "True", "prefill_chunk_size", "attn_prefill")
	c2 := make([]float64, len(c))
	for i, x := range c {
		c2[i] = x * x
	}
	g := newGrid(c2, kv, ms)
	var errs []float64
	for r, cv := range g.inner {
		end := cv.xs[len(cv.xs)-1]
		k := searchFloats(cv.xs, end/maxCutExtent)
		if k < 1 || k >= len(cv.xs)-1 {
			continue
		}
		cut := grid{outer: g.outer, inner: slices.Clone(g.inner)}
		cut.inner[r] = curve{xs: cv.xs[:k+1], ys: cv.ys[:k+1]}
		v, ok := cut.atPast(g.outer[r], end, false)
		if !ok {
			t.Fatalf("chunk %g: atPast refused", math.Sqrt(g.outer[r]))
		}
		errs = append(errs, math.Abs(v/cv.ys[len(cv.ys)-1]-1)*100)
	}
	sort.Float64s(errs)
	if len(errs) < 8 {
		t.Fatalf("%d rows scored; want >= 8", len(errs))
	}
	med, worst := errs[len(errs)/2], errs[len(errs)-1]
	t.Logf("%d prefill rows read up to %dx past their cut: |error| median %.2f%%, max %.2f%%", len(errs), maxCutExtent, med, worst)
	if med > 1.5 || worst > 5 {
		t.Errorf("|error| median %.2f%% max %.2f%%; want <= 1.5%% and <= 5%%", med, worst)
	}
}

// TestAtBudgetCut_H200 validates maxCutExtent on the H200 set: each
// budget-cut row of its decode grids is cut at its first point at or past
// a quarter of its last context and read at its last (up to 4x out); the
// read is scored against the measured point.
func TestAtBudgetCut_H200(t *testing.T) {
	dir := "../../profiles/h200/qwen3-0.6b/"
	b, c, ms := h200Attention(t, "False", "batch_size", "attn_decode")
	grids := map[string]grid{"attention.csv attn_decode": newGrid(b, c, ms)}
	raw, err := os.ReadFile(dir + "engine.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		MixedDecode MixedDecode `json:"mixed_decode"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	for gi, m := range spec.MixedDecode.Graphs {
		b, c, ms = nil, nil, nil
		for _, r := range m.Rows {
			b, c, ms = append(b, r[0]), append(c, r[1]), append(ms, r[2])
		}
		grids[fmt.Sprintf("engine.json mixed_decode graph %d", gi)] = newGrid(b, c, ms)
	}
	score := func(names ...string) (med, worst float64, n int) {
		var errs []float64
		for _, name := range names {
			g := grids[name]
			longest := g.longestInner()
			for r, cv := range g.inner {
				end := cv.xs[len(cv.xs)-1]
				if end >= longest {
					continue
				}
				cut := grid{outer: g.outer, inner: slices.Clone(g.inner)}
				// The first point at or past a quarter of the last (a
				// quarter exactly on power-of-two contexts).
				k := searchFloats(cv.xs, end/maxCutExtent)
				if k < 1 || k >= len(cv.xs)-1 {
					t.Fatalf("%s row %g: no points to cut at %g", name, g.outer[r], end/maxCutExtent)
				}
				cut.inner[r] = curve{xs: cv.xs[:k+1], ys: cv.ys[:k+1]}
				v, ok := cut.atBudgetCut(g.outer[r], end)
				if !ok {
					t.Fatalf("%s row %g: atBudgetCut refused %gx out", name, g.outer[r], float64(maxCutExtent))
				}
				errs = append(errs, math.Abs(v/cv.ys[len(cv.ys)-1]-1)*100)
			}
		}
		sort.Float64s(errs)
		return errs[len(errs)/2], errs[len(errs)-1], len(errs)
	}
	var mixed []string
	for name := range grids {
		if strings.HasPrefix(name, "engine.json") {
			mixed = append(mixed, name)
		}
	}
	for _, tc := range []struct {
		name       string
		grids      []string
		med, bound float64
	}{
		{"decode", []string{"attention.csv attn_decode"}, 1, 5},
		{"mixed", mixed, 1, 5},
	} {
		med, worst, n := score(tc.grids...)
		t.Logf("%s: %d budget-cut rows read %dx out: |error| median %.2f%%, max %.2f%%", tc.name, n, maxCutExtent, med, worst)
		if n < 10 || med > tc.med || worst > tc.bound {
			t.Errorf("%s: %d rows, |error| median %.2f%% max %.2f%%; want >= 10 rows, median <= %g%%, max <= %g%%", tc.name, n, med, worst, tc.med, tc.bound)
		}
	}
}
