package predict

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestU64Memo_SameAsMap puts and gets random keys (small ones that
// collide in the table, repeats, overwrites, 0 and 2^64-1) in u64Memo and
// in a Go map: every answer and the count must be the map's.
func TestU64Memo_SameAsMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var m u64Memo
	ref := map[uint64]float64{}
	key := func() uint64 {
		switch rng.IntN(8) {
		case 0:
			return 0
		case 1:
			return math.MaxUint64
		case 2:
			return rng.Uint64()
		case 3:
			return uint64(rng.IntN(64))<<33 | uint64(rng.IntN(64))<<1 | uint64(rng.IntN(2))
		}
		return uint64(rng.IntN(20_000))
	}
	for n := 0; n < 300_000; n++ {
		k := key()
		got, ok := m.get(k)
		want, wok := ref[k]
		if ok != wok || got != want {
			t.Fatalf("key %d: u64Memo says %g, %t; the map %g, %t", k, got, ok, want, wok)
		}
		if !ok || rng.IntN(4) == 0 {
			v := rng.Float64()
			m.put(k, v)
			ref[k] = v
		}
		if m.len() != len(ref) {
			t.Fatalf("after key %d: len %d, the map's %d", k, m.len(), len(ref))
		}
	}
	if m.len() < 10_000 {
		t.Fatalf("only %d keys: the test does not grow the table", m.len())
	}
}
