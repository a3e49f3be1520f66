package main

import (
	"maps"
	"testing"
)

// TestFitDecodeInRun: per size, summed measured over summed predicted GPU
// time, by hand; a size under the minimum gets no factor.
func TestFitDecodeInRun(t *testing.T) {
	obs := []decodeObs{
		{8, 1.0, 1.0}, {8, 1.2, 1.0}, {8, 1.1, 1.0}, // 3.3 / 3 = 1.1
		{16, 2.0, 2.1}, {16, 2.2, 2.1}, {16, 1.8, 2.0}, {16, 2.3, 2.2}, // 8.3 / 8.4 = 0.988095...
		{24, 3.0, 2.0}, {24, 3.0, 2.0}, // 2 steps: under the minimum
	}
	got, n := fitDecodeInRun(obs, 3)
	want := map[int]float64{8: 1.1, 16: 0.9881}
	if !maps.Equal(got, want) {
		t.Errorf("factors %v, want %v", got, want)
	}
	if wantN := map[int]int{8: 3, 16: 4, 24: 2}; !maps.Equal(n, wantN) {
		t.Errorf("counts %v, want %v", n, wantN)
	}
}
