package engine_test

import (
	"github.com/servesim/servesim/internal/cputime"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/profiles"
)

// BenchmarkPrepareDefault is the page worker's start-up work before its
// first run (api.Options.Preload): the default profile set opened and its
// tables parsed for the default configuration. Run under GOOS=js (Node) it
// is the wasm side. cpu_ms/op is the process's CPU time per start-up (on a
// shared machine its wall time says more about the other processes).
func BenchmarkPrepareDefault(b *testing.B) {
	cfg := engine.DefaultConfig()
	cpu := cputime.Seconds()
	for b.Loop() {
		set, err := profiles.Embedded().Open(cfg.Predictor.Profile)
		if err != nil {
			b.Fatal(err)
		}
		if err := engine.Prepare(cfg, engine.Inputs{Profile: set}); err != nil {
			b.Fatal(err)
		}
	}
	if c := cputime.Seconds(); c > 0 {
		b.ReportMetric((c-cpu)*1000/float64(b.N), "cpu_ms/op")
	}
}
