package cputime

import "testing"

// TestSeconds_GrowsWithWork: a busy loop's CPU time shows in Seconds (where it
// is measured: it is 0 on platforms without a reading).
func TestSeconds_GrowsWithWork(t *testing.T) {
	before := Seconds()
	if before == 0 {
		t.Skip("no CPU time reading on this platform")
	}
	x := uint64(1)
	for round := 0; round < 5000 && Seconds()-before < 0.02; round++ {
		for i := 0; i < 1_000_000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if after := Seconds(); after <= before || x == 0 {
		t.Fatalf("CPU time did not grow: %v -> %v", before, after)
	}
}
