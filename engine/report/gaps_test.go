package report

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/servesim/servesim/engine/slo"
)

// TestGapSample_SameAsSorted: every number gapSample gives (the Stats, the
// CDF, the SLO's count and rank) must be bit-identical to what the sorted
// slice of every gap gives, on samples that put the sought ranks in exact
// buckets, in wide ranges needing several passes, on ties, on values past
// 32 bits (handed over one by one, as a request with an escaped gap is),
// and past the sum at which the fallback takes over.
func TestGapSample_SameAsSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	gens := map[string]func() uint64{
		"latency-like":    func() uint64 { return 1_000_000 + rng.Uint64N(50_000_000) },
		"small, exact":    func() uint64 { return rng.Uint64N(8192) },
		"few distinct":    func() uint64 { return uint64(rng.IntN(7)) * 1_234_567 },
		"one value":       func() uint64 { return 42_424_242 },
		"full 32 bits":    func() uint64 { return uint64(rng.Uint32()) },
		"past 32 bits":    func() uint64 { return rng.Uint64N(1 << 40) },
		"sum past 2^53":   func() uint64 { return 1<<50 + rng.Uint64N(1<<50) },
		"clustered, ties": func() uint64 { return 20_000_000 + uint64(rng.IntN(40))*4099 },
		"mixed scales": func() uint64 {
			return uint64(rng.IntN(3)) << (10 * rng.IntN(5))
		},
	}
	for name, gen := range gens {
		for _, n := range []int{0, 1, 2, 3, 7, 400, 401, 1000, 30_000} {
			v := make([]uint64, n)
			for i := range v {
				v[i] = gen()
			}
			// Requests of 1-300 gaps; those with a gap past 32 bits go one
			// gap at a time, as resultGaps does.
			var chunks [][]uint64
			for i := 0; i < n; {
				k := min(n-i, 1+rng.IntN(300))
				chunks = append(chunks, v[i:i+k])
				i += k
			}
			src := func(f32 func([]uint32), f64 func(uint64)) {
				for _, c := range chunks {
					if slices.Max(c) <= math.MaxUint32-1 {
						c32 := make([]uint32, len(c))
						for i, x := range c {
							c32[i] = uint32(x)
						}
						f32(c32)
						continue
					}
					for _, x := range c {
						f64(x)
					}
				}
			}
			spec := slo.Spec{TBTMs: 25, TBTPercentile: 99}
			for _, cdf := range []bool{false, true} {
				g := newGapSample(src, slo.TBTThresholdNs(spec), func(n int) []int {
					r := append(statsRanks(n), slo.TBTRank(spec, n))
					if cdf {
						r = append(r, cdfRanks(n)...)
					}
					return r
				})
				sorted := make([]int64, n)
				for i, x := range v {
					sorted[i] = int64(x)
				}
				slices.Sort(sorted)
				if got, want := g.stats(), statsSorted(sorted); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s n=%d: stats %+v, sorted %+v", name, n, got, want)
				}
				if cdf {
					if got, want := g.cdf(), cdfSorted(sorted); !reflect.DeepEqual(got, want) {
						t.Fatalf("%s n=%d: CDF differs", name, n)
					}
				}
				reqs := []slo.Request{{ArrivalNs: 0, FirstTokenNs: 1, CompletionNs: 2, OK: true, OutputTokens: n + 1, TBTNs: -1}}
				if got, want := slo.EvaluateSample(spec, reqs, g), slo.Evaluate(spec, reqs, sorted); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s n=%d: SLO %+v, sorted %+v", name, n, got.TBT, want.TBT)
				}
				if name == "sum past 2^53" && n > 10 && g.sorted == nil {
					t.Fatalf("%s n=%d: the fallback did not take over", name, n)
				}
			}
		}
	}
}

// TestBucket: buckets are contiguous, ascending in value, and
// bucketRange inverts bucket.
func TestBucket(t *testing.T) {
	prev := -1
	for _, x := range []uint64{0, 1, 8191, 8192, 8193, 12287, 12288, 1 << 20, 1<<32 - 1, 1 << 32, 1<<63 - 1, math.MaxUint64} {
		b := bucket(x)
		if b < prev || b >= hdrBuckets {
			t.Fatalf("bucket(%d) = %d after %d (of %d)", x, b, prev, hdrBuckets)
		}
		prev = b
		base, shift := bucketRange(b)
		if x < base || x-base >= 1<<shift || bucket(base) != b || bucket(base+(1<<shift-1)) != b {
			t.Fatalf("bucket(%d) = %d: range [%d, +2^%d)", x, b, base, shift)
		}
		if b > 0 {
			pb, ps := bucketRange(b - 1)
			if pb+1<<ps != base {
				t.Fatalf("bucket %d ends at %d, bucket %d starts at %d", b-1, pb+1<<ps, b, base)
			}
		}
	}
}
