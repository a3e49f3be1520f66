package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/workload"
)

// TestRun_MemoryBudgetDuringTheRun: one request of 3000 output tokens
// costs ~73 KB of records up front (request plus tokens) and ~160 B per
// iteration as it runs (3000 iterations: ~480 KB); a 200 KB budget passes
// the up-front check and stops the run as it grows.
func TestRun_MemoryBudgetDuringTheRun(t *testing.T) {
	cfg := engine.DefaultConfig()
	w := trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,3000\n", cfg)
	set := enginetest.Set(qwen3(t), enginetest.Uniform(0.002, 0.001, 0.003, 0.005), 4096, 128)
	in := engine.Inputs{Workload: w, Profile: set}
	if _, err := engine.Run(context.Background(), cfg, in, engine.Options{MemoryBudget: 1 << 20}); err != nil {
		t.Fatalf("1 MiB: %v", err)
	}
	_, err := engine.Run(context.Background(), cfg, in, engine.Options{MemoryBudget: 200 << 10})
	var le *workload.LimitError
	if !errors.As(err, &le) || !strings.Contains(le.Msg, "iterations so far") || strings.Contains(le.Msg, "0 iterations so far") {
		t.Fatalf("200 KiB: %v", err)
	}
	_, err = engine.Run(context.Background(), cfg, in, engine.Options{MemoryBudget: 50 << 10})
	if !errors.As(err, &le) || !strings.Contains(le.Msg, "0 iterations so far") {
		t.Fatalf("50 KiB, refused before the run: %v", err)
	}
}
