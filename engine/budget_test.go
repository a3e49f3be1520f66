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

// TestRun_MemoryBudgetDuringTheRun: two requests of 1500 output tokens,
// 1000 s apart, cost ~13 KB of records up front (2 x 512 B per request plus
// 3000 x 4 B per token) and at least 1500 iterations of 160 B (240 KB)
// known before the run, 253 KB (247 KiB); the run takes 3000 (they never
// share one), 493 KB (481 KiB) in all. A 400 KiB budget passes the
// up-front check and stops the run as it grows; 240 KiB is refused up
// front.
func TestRun_MemoryBudgetDuringTheRun(t *testing.T) {
	cfg := engine.DefaultConfig()
	w := trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,1500\n1000,10,1500\n", cfg)
	set := enginetest.Set(qwen3(t), enginetest.Uniform(0.002, 0.001, 0.003, 0.005), 4096, 128)
	in := engine.Inputs{Workload: w, Profile: set}
	if _, err := engine.Run(context.Background(), cfg, in, engine.Options{MemoryBudget: 1 << 20}); err != nil {
		t.Fatalf("1 MiB: %v", err)
	}
	_, err := engine.Run(context.Background(), cfg, in, engine.Options{MemoryBudget: 400 << 10})
	var le *workload.LimitError
	if !errors.As(err, &le) || !strings.Contains(le.Msg, "memory budget of 400 KiB") || strings.Contains(le.Msg, " 0 iterations so far") {
		t.Fatalf("400 KiB: %v", err)
	}
	// The decode runs stop the run at the same iteration as the queue does.
	for _, kb := range []int64{300, 340, 380, 420} {
		_, fast := engine.Run(context.Background(), cfg, in, engine.Options{MemoryBudget: kb << 10})
		_, step := engine.Run(context.Background(), cfg, in, engine.Options{MemoryBudget: kb << 10, StepByStep: true})
		if fast == nil || step == nil || fast.Error() != step.Error() {
			t.Errorf("%d KiB: %v, step by step %v", kb, fast, step)
		}
	}
	_, err = engine.Run(context.Background(), cfg, in, engine.Options{MemoryBudget: 240 << 10})
	if !errors.As(err, &le) || !strings.Contains(le.Msg, " 0 iterations so far") {
		t.Fatalf("240 KiB, refused before the run: %v", err)
	}
}
