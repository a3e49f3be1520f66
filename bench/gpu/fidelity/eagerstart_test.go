package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/servesim/servesim/profiles"
)

// TestFitEagerStart_Recovers: spans made from a known start_frac give it
// back, launch-bound steps (which it cannot move) among them.
func TestFitEagerStart_Recovers(t *testing.T) {
	var obs []eagerObs
	for _, c := range []struct{ gpu, launch float64 }{{12, 10}, {15, 9}, {30, 11}, {8, 10}, {6, 12}, {10.5, 10}} {
		o := eagerObs{gpuMs: c.gpu, launchMs: c.launch}
		o.spanMs = o.spanAt(0.0731)
		obs = append(obs, o)
	}
	if f := fitEagerStart(obs); math.Abs(f-0.0731) > 1e-9 {
		t.Fatalf("fit %v, want 0.0731", f)
	}
	if a, m := eagerStartErrors(obs, 0.0731); a > 1e-12 || math.Abs(m) > 1e-12 {
		t.Fatalf("errors at the true value: %v, %v", a, m)
	}
	// without the term a GPU-bound step reads short: 12 ms of kernels, a 10
	// ms launch, span 12.731; predicted 12
	if a, _ := eagerStartErrors(obs[:1], 0); math.Abs(a-(1-12/12.731)) > 1e-12 {
		t.Fatalf("|error| without the term %v, want %v", a, 1-12/12.731)
	}
}

// TestEagerStart_EngineJSONIsTheFit: the H200 set's eager_launch start_frac
// is what -eager_start fits on the committed fit runs with the set itself
// (re-run it and build_set.py when the set's GPU terms change).
func TestEagerStart_EngineJSONIsTheFit(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	set, err := profiles.OpenDir(filepath.Join(root, "profiles", "h200", "qwen3-0.6b"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := readManifest(filepath.Join(root, "profiles", "tools", "gpu", "workloads", "MANIFEST.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := eagerStartFit(set, entries, []string{filepath.Join("..", "h200"), filepath.Join("..", "h200-repeat")}, eagerProbes("..", "h200"))
	if err != nil {
		t.Fatal(err)
	}
	if l := set.Engine.EagerLaunch; l == nil || l.StartFrac != f.StartFrac || f.StartFrac <= 0 {
		t.Fatalf("engine.json eager_launch %+v, a re-fit gives start_frac %v", l, f.StartFrac)
	}
	var file eagerStart
	b, err := os.ReadFile(filepath.Join("..", "h200", "engine", "eager_start.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &file); err != nil || file.StartFrac != f.StartFrac {
		t.Fatalf("eager_start.json %+v (%v), a re-fit gives %v", file, err, f.StartFrac)
	}
}
