package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestDerivation_Reproducible re-derives the embedded set from the public
// data and checks that every committed file is byte-identical, so the data
// in the repository is exactly what the documented method produces.
func TestDerivation_Reproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("the derivation takes about two minutes")
	}
	quiet = true
	out := t.TempDir()
	if err := run("../../../../shared", out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mlp.csv", "attention.csv", "cpu_overheads.csv", "profile.json", "PROVENANCE.md"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("../../a100/qwen3-0.6b", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the committed file; re-run go run ./profiles/tools/derive-a100", name)
		}
	}
}

func TestNelderMead_Quadratic(t *testing.T) {
	x := nelderMead(func(v []float64) float64 { return (v[0]-3)*(v[0]-3) + 10*(v[1]+1)*(v[1]+1) }, []float64{0, 0}, 1, 2000)
	if d := (x[0]-3)*(x[0]-3) + (x[1]+1)*(x[1]+1); d > 1e-8 {
		t.Errorf("minimum at %v, want (3, -1)", x)
	}
}
