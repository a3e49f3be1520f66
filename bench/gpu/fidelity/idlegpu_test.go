package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/servesim/servesim/profiles"
)

// TestIdleGPU_EngineJSONIsTheFit: the H200 set's idle_host GPU terms are
// what -idle_gpu fits on the committed designed probes with the set itself
// (re-run it and build_set.py when the set's GPU terms change).
func TestIdleGPU_EngineJSONIsTheFit(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "profiles", "h200", "qwen3-0.6b")
	set, err := profiles.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	probes := idleProbes("..", "h200")
	if len(probes) != 2 {
		t.Fatalf("probes %v, want idleprobe and idleprobe-gaps", probes)
	}
	f, err := idleGPUFit(set, probes)
	if err != nil {
		t.Fatal(err)
	}
	ih := set.Engine.IdleHost
	if ih == nil || ih.GPUExtraMs != f.ExtraMs || ih.GPUTauMs != f.TauMs {
		t.Fatalf("engine.json idle_host %+v, a re-fit gives gpu_extra_ms %v, gpu_tau_ms %v", ih, f.ExtraMs, f.TauMs)
	}
	var file idleGPU
	b, err := os.ReadFile(filepath.Join("..", "h200", "engine", "idle_gpu.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &file); err != nil || file.ExtraMs != f.ExtraMs || file.TauMs != f.TauMs {
		t.Fatalf("idle_gpu.json %+v (%v), a re-fit gives %v, %v", file, err, f.ExtraMs, f.TauMs)
	}
}

// TestFitIdleGPU_Recovers: observations made from a known curve give it back.
func TestFitIdleGPU_Recovers(t *testing.T) {
	var obs []idleObs
	for _, g := range []float64{0.5, 1, 2, 3, 5, 8, 13, 20, 40, 80, 200} {
		obs = append(obs, idleObs{idleMs: g, extraMs: 0.15 * -math.Expm1(-g/7)})
	}
	e, tau, med := fitIdleGPU(obs)
	if math.Abs(e-0.15) > 1e-6 || math.Abs(tau-7) > 1e-4 || med > 1e-8 {
		t.Fatalf("fit E %v tau %v median residual %v, want 0.15, 7, 0", e, tau, med)
	}
}
