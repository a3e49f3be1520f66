package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/servesim/servesim/engine/roofline"
	"github.com/servesim/servesim/internal/sharedtest"
)

// The embedded coefficients are byte for byte what the fit gives on the
// measured data (they come from the fit, not from a hand), and the
// held-out errors stay within the bounds the README's table shows.
func TestFit_EmbeddedCoefficients(t *testing.T) {
	if testing.Short() {
		t.Skip("fits 15 folds")
	}
	root := "../.."
	rep, err := report(root, sharedtest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rep.CoeffsJSON()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, "engine/roofline/coeffs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("engine/roofline/coeffs.json is not the fit's: run go run ./bench/roofline -write\n%s", got)
	}
	for _, c := range []struct {
		name string
		s    stat
		max  float64
	}{
		{"layer, leave one model out", errs(layerSums(rep.LOMO)), 0.06},
		{"layer, leave one GPU out", errs(layerSums(rep.LOGO)), 0.06},
		{"GEMMs, leave one GPU out", errs(filter(rep.LOGO, func(s roofline.Sample) bool { return s.Class == roofline.GEMM })), 0.08},
	} {
		if !(c.s.med <= c.max) || c.s.n == 0 {
			t.Errorf("%s: median |error| %.3f over %d, want <= %.2f", c.name, c.s.med, c.s.n, c.max)
		}
	}
	// The estimate of Qwen3-0.6B on the H200 against the measured set.
	rows, err := compareSteps(root, rep.H200HeldOut)
	if err != nil {
		t.Fatal(err)
	}
	var abs []float64
	for _, r := range rows {
		abs = append(abs, math.Abs(r.heldOut/r.measured-1))
	}
	if m := medianOf(abs); !(m < 0.25) {
		t.Errorf("H200 step estimate: median |error| %.3f, want < 0.25", m)
	}
}
