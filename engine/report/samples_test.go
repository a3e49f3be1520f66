package report

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestSortInt64 checks the radix sort against slices.Sort on samples that
// exercise skipped digits, negatives, duplicates and both code paths.
func TestSortInt64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gens := map[string]func() int64{
		"latency-like": func() int64 { return 1_000_000 + rng.Int64N(50_000_000) },
		"full range":   func() int64 { return int64(rng.Uint64()) },
		"negatives":    func() int64 { return rng.Int64N(1<<40) - 1<<39 },
		"few distinct": func() int64 { return int64(rng.IntN(7)) * 1_234_567 },
		"one value":    func() int64 { return 42 },
		"high digit":   func() int64 { return int64(rng.IntN(3)) << 50 },
	}
	for name, gen := range gens {
		for _, n := range []int{0, 1, 5, radixMin - 1, radixMin, radixMin + 1, 50_000} {
			v := make([]int64, n)
			for i := range v {
				v[i] = gen()
			}
			want := slices.Clone(v)
			slices.Sort(want)
			sortInt64(v)
			if !slices.Equal(v, want) {
				t.Fatalf("%s n=%d: radix sort differs from slices.Sort", name, n)
			}
		}
	}
}

// TestStatsSorted_SameAsStatsOf: the int64 path must give bit-identical
// statistics to StatsOf on the same values, or outputs would change.
func TestStatsSorted_SameAsStatsOf(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 10, 101, 10_000} {
		v := make([]int64, n)
		f := make([]float64, n)
		for i := range v {
			v[i] = rng.Int64N(1 << 42)
			f[i] = float64(v[i])
		}
		sortInt64(v)
		if got, want := statsSorted(v), StatsOf(f); !reflect.DeepEqual(got, want) {
			t.Fatalf("n=%d: statsSorted %+v, StatsOf %+v", n, got, want)
		}
	}
}

func BenchmarkSortInt64(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	src := make([]int64, 2_000_000)
	for i := range src {
		src[i] = 1_000_000 + rng.Int64N(10_000_000)
	}
	v := make([]int64, len(src))
	for b.Loop() {
		copy(v, src)
		sortInt64(v)
	}
}
