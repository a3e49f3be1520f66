package engine_test

import (
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/profiles"
)

// BenchmarkPrepareDefault is the page worker's start-up work before its
// first run (api.Options.Preload): the default profile set opened and its
// tables parsed for the default configuration. Run under GOOS=js (Node) it
// is the wasm side.
func BenchmarkPrepareDefault(b *testing.B) {
	cfg := engine.DefaultConfig()
	for b.Loop() {
		set, err := profiles.Embedded().Open(cfg.Predictor.Profile)
		if err != nil {
			b.Fatal(err)
		}
		if err := engine.Prepare(cfg, engine.Inputs{Profile: set}); err != nil {
			b.Fatal(err)
		}
	}
}
