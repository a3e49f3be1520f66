package workload_test

import (
	"testing"

	"github.com/servesim/servesim/engine/workload"
)

// Fixed lengths 100 + 10, a system prompt of 200 tokens on every session,
// sessions of 3 turns: prompts 300, 300+10+100 = 410, 410+10+100 = 520; the
// first 3 blocks of 64 (192 tokens, inside the system prompt) are the same
// for every session, turn 2 repeats turn 1's 4 full blocks (256 of its 300
// tokens) and turn 3 repeats turn 2's 6 (384 of 410).
func TestPrefixes_SystemPromptAndSessions(t *testing.T) {
	opt := workload.Options{MaxTokens: 4096, PrefillScale: 1, DecodeScale: 1, TimeScale: 1, Synthetic: workload.Synthetic{
		Seed: 1, NumRequests: 6, Intervals: workload.Intervals{Type: "poisson", QPS: 1},
		Lengths:  workload.Lengths{Type: "fixed", PrefillTokens: 100, DecodeTokens: 10},
		Prefixes: workload.Prefixes{SystemPromptTokens: 200, SystemPromptShare: 1, SessionTurns: 3}}}
	w, err := workload.Generate(opt)
	if err != nil {
		t.Fatal(err)
	}
	if w.BlockTokens != workload.SyntheticBlockTokens || len(w.Sessions) != 2 {
		t.Fatalf("block tokens %d, sessions %v", w.BlockTokens, w.Sessions)
	}
	for i, want := range []int{300, 410, 520, 300, 410, 520} {
		r := w.Requests[i]
		if r.Prefill != want || len(w.HashIDs(i)) != (want+63)/64 {
			t.Errorf("request %d: prompt %d with %d ids, want %d", i, r.Prefill, len(w.HashIDs(i)), want)
		}
		if turn := i%3 + 1; r.Turn != turn || r.Session != i/3+1 || r.ClosedLoop != (turn > 1) || (turn > 1 && r.Parent != i) {
			t.Errorf("request %d: session %d turn %d closed %v parent %d", i, r.Session, r.Turn, r.ClosedLoop, r.Parent)
		}
	}
	same := func(a, b, n int) bool {
		x, y := w.HashIDs(a), w.HashIDs(b)
		for k := 0; k < n; k++ {
			if x[k] != y[k] {
				return false
			}
		}
		return true
	}
	if !same(0, 3, 3) || same(0, 3, 4) {
		t.Errorf("sessions should share exactly the system prompt's 3 full blocks: %v %v", w.HashIDs(0), w.HashIDs(3))
	}
	if !same(0, 1, 4) || same(0, 1, 5) || !same(1, 2, 6) || same(1, 2, 7) {
		t.Errorf("turns should repeat the previous prompt's full blocks: %v %v %v", w.HashIDs(0), w.HashIDs(1), w.HashIDs(2))
	}
	// Off, the same seed gives the same arrivals and lengths as before.
	opt.Synthetic.Prefixes = workload.Prefixes{}
	plain, err := workload.Generate(opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range plain.Requests {
		if r.ArrivalNs != w.Requests[i].ArrivalNs || r.Prefill != 100 || plain.HashIDs(i) != nil {
			t.Errorf("request %d changed without prefixes: %+v", i, r)
		}
	}
}

// A share of 0 gives no system prompt; history clipped at max_tokens keeps
// its prefix.
func TestPrefixes_ShareAndClip(t *testing.T) {
	opt := workload.Options{MaxTokens: 300, PrefillScale: 1, DecodeScale: 1, TimeScale: 1, Synthetic: workload.Synthetic{
		Seed: 1, NumRequests: 3, Intervals: workload.Intervals{Type: "poisson", QPS: 1},
		Lengths:  workload.Lengths{Type: "fixed", PrefillTokens: 100, DecodeTokens: 10},
		Prefixes: workload.Prefixes{SystemPromptTokens: 200, SystemPromptShare: 0, SessionTurns: 3}}}
	w, err := workload.Generate(opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{100, 210, 290} {
		if w.Requests[i].Prefill != want || len(w.HashIDs(i)) != (want+63)/64 {
			t.Errorf("request %d: prompt %d, %d ids, want %d", i, w.Requests[i].Prefill, len(w.HashIDs(i)), want)
		}
	}
	opt.Synthetic.Prefixes.SystemPromptShare = 2
	if _, err := workload.Generate(opt); err == nil {
		t.Error("share 2 accepted")
	}
}
