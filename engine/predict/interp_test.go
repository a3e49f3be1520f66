package predict

import (
	"math"
	"sort"
	"strconv"
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
