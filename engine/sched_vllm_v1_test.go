package engine_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
)

// vllmV1Case is one case of testdata/vllm_v1_steps.json, written by the
// reference engine's scheduler (profiles/tools/gpu/refengine/steps_fixture.py;
// its test_sched.py checks the file is what sched.py does).
type vllmV1Case struct {
	Name                      string   `json:"name"`
	UsableBlocks              int      `json:"usable_blocks"`
	MaxNumSeqs                int      `json:"max_num_seqs"`
	MaxNumBatchedTokens       int      `json:"max_num_batched_tokens"`
	LongPrefillTokenThreshold int      `json:"long_prefill_token_threshold"`
	Requests                  [][]int  `json:"requests"`
	Preemptions               int      `json:"preemptions"`
	Steps                     []string `json:"steps"`
}

// TestVllmV1_SameStepsAsReferenceEngine feeds the simulator the arrivals the
// reference engine's scheduler was given and compares every step's members.
func TestVllmV1_SameStepsAsReferenceEngine(t *testing.T) {
	b, err := os.ReadFile("testdata/vllm_v1_steps.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []vllmV1Case
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			s := &cfg.Scheduler
			s.Type = "vllm_v1"
			s.BatchSizeCap = c.MaxNumSeqs
			s.NumBlocks = c.UsableBlocks
			s.MaxNumBatchedTokens = c.MaxNumBatchedTokens
			s.LongPrefillTokenThreshold = c.LongPrefillTokenThreshold
			var tr strings.Builder
			tr.WriteString("arrived_at,num_prefill_tokens,num_decode_tokens\n")
			for _, r := range c.Requests {
				fmt.Fprintf(&tr, "0,%d,%d\n", r[0], r[1])
			}
			set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
			res := run(t, cfg, trace(t, tr.String(), cfg), set)
			got := compositions(res)
			if len(got) != len(c.Steps) {
				t.Errorf("%d steps, the reference engine's scheduler %d", len(got), len(c.Steps))
			}
			for i := range min(len(got), len(c.Steps)) {
				if got[i] != c.Steps[i] {
					t.Fatalf("step %d: %s, the reference engine's scheduler %s (steps before agree)", i, got[i], c.Steps[i])
				}
			}
			restarts := 0
			for _, r := range res.Requests {
				restarts += r.Restarts
			}
			if restarts != c.Preemptions {
				t.Errorf("%d preemptions, the reference engine's scheduler %d", restarts, c.Preemptions)
			}
		})
	}
}
