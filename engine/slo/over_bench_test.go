package slo

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkRequestOver is the TBT verdict of a 10k-request trial's
// requests: 2M uint32 gaps of 20-40 ms in requests of 200, at P90 of 30 ms.
func BenchmarkRequestOver(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	gaps := make([]uint32, 2_000_000)
	for i := range gaps {
		gaps[i] = uint32(20e6 + rng.IntN(20e6))
	}
	for b.Loop() {
		n := 0
		for k := 0; k < len(gaps); k += 200 {
			if RequestOver(gaps[k:k+200], 90, 30) {
				n++
			}
		}
		if n == 0 {
			b.Fatal("none over")
		}
	}
}
