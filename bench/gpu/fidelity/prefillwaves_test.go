package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/servesim/servesim/profiles"
)

// TestPrefillWaves_EngineJSONIsTheFit: the H200 set's prefill_launch wave
// model is what -prefill_waves fits on the committed set and wave probe,
// and it predicts the probe's launches (never fitted) better than the
// set's grid does without it.
func TestPrefillWaves_EngineJSONIsTheFit(t *testing.T) {
	if testing.Short() {
		t.Skip("fits the wave model (seconds)")
	}
	root := filepath.Join("..", "..", "..")
	w, err := prefillWavesFit(root, "profiles/h200/qwen3-0.6b", "bench/gpu/h200/engine/waveprobe.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("..", "h200", "engine", "prefill_waves.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file prefillWaves
	if err := json.Unmarshal(b, &file); err != nil || !reflect.DeepEqual(file, w) {
		t.Fatalf("prefill_waves.json %+v (%v), a re-fit gives %+v", file, err, w)
	}
	set, err := profiles.OpenDir(filepath.Join(root, "profiles", "h200", "qwen3-0.6b"))
	if err != nil {
		t.Fatal(err)
	}
	l := set.Engine.LaunchOrNil()
	if l == nil || l.BlocksPerSM != w.BlocksPerSM || l.FloorMs != w.FloorMs || l.BlockMs != w.BlockMs || l.KeyMs != w.KeyMs ||
		l.SharedRate != w.SharedRate || l.WavesSource != w.Source {
		t.Fatalf("engine.json prefill_launch %+v, the fit %+v", l, w)
	}
	var probe waveProbe
	pb, err := os.ReadFile(filepath.Join("..", "h200", "engine", "waveprobe.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(pb, &probe); err != nil {
		t.Fatal(err)
	}
	single, multi, err := scoreOnProbe(set, &probe)
	if err != nil {
		t.Fatal(err)
	}
	if m, p := median(single), p90(single); m > 0.03 || p > 0.08 {
		t.Errorf("single-prefill launches: median / P90 |error| %.1f%% / %.1f%%, want <= 3%% / 8%%", 100*m, 100*p)
	}
	if m := median(multi); m > 0.15 {
		t.Errorf("multi-prefill launches: median |error| %.1f%%, want <= 15%%", 100*m)
	}
}
