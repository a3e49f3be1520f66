package main

import (
	"maps"
	"slices"
	"testing"
)

// TestFitDecodeInRun: per size with enough steps, and per run of
// consecutive sizes short of them, summed measured over summed predicted
// GPU time, by hand; a last run short of the minimum joins the one before.
func TestFitDecodeInRun(t *testing.T) {
	obs := []decodeObs{
		{8, 1.0, 1.0}, {8, 1.2, 1.0}, {8, 1.1, 1.0}, // 3.3 / 3 = 1.1
		{16, 2.0, 2.1}, {16, 2.2, 2.1}, {16, 1.8, 2.0}, {16, 2.3, 2.2}, // 8.3 / 8.4 = 0.988095...
		{24, 3.0, 2.0}, {24, 3.0, 2.0}, {32, 2.0, 2.0}, // 24-32: 8 / 6 = 1.3333
		{40, 2.0, 2.0}, {40, 2.0, 2.0}, {48, 4.0, 5.0}, // 40-48: 8 / 9 = 0.8889
		{56, 1.0, 0.5}, // 56 alone is short: joins 40-48, 9 / 9.5 = 0.9474
	}
	got, groups := fitDecodeInRun(obs, 3)
	want := map[int]float64{8: 1.1, 16: 0.9881, 24: 1.3333, 32: 1.3333, 40: 0.9474, 48: 0.9474, 56: 0.9474}
	if !maps.Equal(got, want) {
		t.Errorf("factors %v, want %v", got, want)
	}
	wantG := []decodeGroup{{8, 8, 3, 1.1}, {16, 16, 4, 0.9881}, {24, 32, 3, 1.3333}, {40, 56, 4, 0.9474}}
	if !slices.Equal(groups, wantG) {
		t.Errorf("groups %v, want %v", groups, wantG)
	}
	if got, groups := fitDecodeInRun(obs[:2], 3); len(got) != 0 || groups != nil {
		t.Errorf("2 steps: %v, %v; want nothing", got, groups)
	}
}
