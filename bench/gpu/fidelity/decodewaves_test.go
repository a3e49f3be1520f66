package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/servesim/servesim/profiles"
)

// TestDecodeWaves_EngineJSONIsTheFit: the H200 set's decode_launch is what
// -decode_waves fits on the committed decode probe, and decode_waves.json
// (which build_set.py reads) holds the same model.
func TestDecodeWaves_EngineJSONIsTheFit(t *testing.T) {
	if testing.Short() {
		t.Skip("fits the decode launch model (seconds)")
	}
	root := filepath.Join("..", "..", "..")
	d, err := decodeWavesFit(root, "bench/gpu/h200/engine/decodeprobe.json", 132)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("..", "h200", "engine", "decode_waves.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file decodeWaves
	if err := json.Unmarshal(b, &file); err != nil || !reflect.DeepEqual(file.DecodeLaunch, d) || len(file.InsituDecodeShapeMs) != len(decodeGraphSizes) {
		t.Fatalf("decode_waves.json %+v (%v), a re-fit gives %+v", file, err, d)
	}
	set, err := profiles.OpenDir(filepath.Join(root, "profiles", "h200", "qwen3-0.6b"))
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Engine.DecodeLaunchOrNil(); got == nil || !reflect.DeepEqual(*got, d) {
		t.Fatalf("engine.json decode_launch %+v, a re-fit gives %+v", got, d)
	}
}

// TestValidated_SummaryIsTheReport: the H200 set's profile.json summary
// (what summary.md and the page show) states the held-out report's own
// summary line, so a re-run of --heldout that moves it cannot be missed.
func TestValidated_SummaryIsTheReport(t *testing.T) {
	md, err := os.ReadFile(filepath.Join("..", "h200", "HELDOUT.md"))
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(l, "median |error| over ") {
			line = strings.TrimSuffix(l, ".")
		}
	}
	if line == "" {
		t.Fatal("HELDOUT.md has no summary line")
	}
	set, err := profiles.OpenDir(filepath.Join("..", "..", "..", "profiles", "h200", "qwen3-0.6b"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(set.Meta.Summary, validatedClause+line) {
		t.Fatalf("profile.json summary %q\ndoes not end with HELDOUT.md's %q", set.Meta.Summary, line)
	}
}
