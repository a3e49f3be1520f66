package main

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/servesim/servesim/internal/sharedtest"
)

// TestDerivation_Reproducible re-derives the embedded set from the public
// data and checks that every committed file is byte-identical, so the data
// in the repository is exactly what the documented method produces.
func TestDerivation_Reproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("the derivation takes tens of seconds")
	}
	quiet = true
	out := t.TempDir()
	if err := run(sharedtest.Dir(t), out); err != nil {
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

// TestFitSetLoss_BitIdentical: sharing one prediction between points of the
// same shape and num_tokens gives exactly the loss of predicting every point,
// for GEMM and elementwise ops, with repeated and distinct points mixed.
func TestFitSetLoss_BitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, gemm := range []bool{true, false} {
		shapes := []shape{{gemm: true, n: 4096, k: 1024}, {gemm: true, n: 1024, k: 3072}, {gemm: true, n: 12288, k: 1024}}
		if !gemm {
			shapes = []shape{{width: 2048, wout: 1024}, {width: 6144, wout: 2048}}
		}
		var pts []point
		for i := 0; i < 2000; i++ {
			m := float64(1 + rng.IntN(64)*8)
			pts = append(pts, point{m: m, sh: shapes[rng.IntN(len(shapes))], us: 2 + 100*rng.Float64()})
		}
		set := newFitSet(pts)
		if len(set.keys) >= len(pts) {
			t.Fatalf("no repeated points to share (%d keys, %d points)", len(set.keys), len(pts))
		}
		for i := 0; i < 200; i++ {
			p := startParams(gemm)
			for j := range p {
				p[j] *= math.Exp(rng.NormFloat64())
			}
			if a, b := set.loss(p), loss(p, pts); math.Float64bits(a) != math.Float64bits(b) {
				t.Fatalf("gemm=%v params %v: shared loss %v, per-point loss %v", gemm, p, a, b)
			}
		}
	}
}

// TestFitAll_MatchesSequential: fitting sets concurrently gives each set the
// parameters fitting it alone gives, bit for bit.
func TestFitAll_MatchesSequential(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var sets [][]point
	for s := 0; s < 5; s++ {
		sh := shape{width: float64(1024 * (s + 1)), wout: 1024}
		var pts []point
		for m := 1.0; m <= 4096; m *= 2 {
			us := 3 + m*sh.width/1e6*(1+0.05*rng.NormFloat64())
			pts = append(pts, point{m: m, sh: sh, us: us})
		}
		sets = append(sets, pts)
	}
	got := fitAll(sets)
	for i, pts := range sets {
		if want := fitOp(pts); !sameBits(got[i], want) {
			t.Errorf("set %d: fitAll %v, fitOp %v", i, got[i], want)
		}
	}
}
