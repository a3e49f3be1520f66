package engine_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/workload"
)

func replayConfig(blocks int) engine.Config {
	cfg := engine.DefaultConfig()
	s := &cfg.Scheduler
	s.Type, s.NumBlocks, s.BatchSizeCap, s.MaxNumBatchedTokens = "vllm_v1", blocks, 256, 2048
	return cfg
}

// replayedString is a step as "[request:tokens@start]..." plus " preempt
// [ids]" when it preempted.
func replayedString(st engine.ReplayedStep) string {
	var b strings.Builder
	for _, m := range st.Members {
		fmt.Fprintf(&b, "[%d:%d@%d]", m.Request, m.Tokens, m.Start)
	}
	if len(st.Preempted) > 0 {
		fmt.Fprintf(&b, " preempt %v", st.Preempted)
	}
	return b.String()
}

// TestReplay_ReferenceEngineDecisions replays tiny runs at the reference
// engine's step times (step k from 100k+10 to 100k+150 ns: step k's outputs
// are processed before step k+2 is scheduled, not before k+1, as in its
// asynchronous loop). The wanted steps are what refengine/sched.py decides
// under the same times (in "preempt" nothing is runnable at 510 and 1010,
// so the engine logged no step there).
func TestReplay_ReferenceEngineDecisions(t *testing.T) {
	type req struct {
		at             int64
		prompt, decode int
	}
	cases := []struct {
		name   string
		blocks int
		reqs   []req
		starts []int64 // default 100k+10
		want   []string
		kv     []int // blocks held after scheduling
	}{
		{
			// A finishes in step 0; its 3 blocks are free only once step 0
			// is processed (end 150 <= start of step 2), so B (2 blocks)
			// waits through step 1, where C's decode takes the last block
			// (token 17: a decode needs the blocks of the token it computes).
			name: "free", blocks: 5,
			reqs: []req{{0, 16, 10}, {0, 40, 1}, {0, 20, 2}},
			want: []string{"[0:16@0][1:40@0]", "[0:1@16]", "[0:1@17][2:20@0]", "[0:1@18][2:1@20]", "[0:1@19]"},
			kv:   []int{4, 5, 4, 4, 4},
		},
		{
			// Both decodes need a second block and none is free: the first
			// admitted, scheduled first, preempts the most recently
			// admitted (request 1), which goes to the front of waiting,
			// ahead of request 2 (arrived at 150); once request 0's blocks
			// are free it is re-prefilled with its generated token (17
			// tokens, both blocks), and request 2 waits behind it.
			name: "preempt", blocks: 2,
			reqs:   []req{{0, 16, 5}, {0, 16, 5}, {150, 1, 1}},
			starts: []int64{10, 110, 210, 310, 410, 610, 710, 810, 910, 1110},
			want: []string{"[0:16@0][1:16@0]", "[0:1@16] preempt [1]", "[0:1@17]", "[0:1@18]", "[0:1@19]",
				"[1:17@0]", "[1:1@17]", "[1:1@18]", "[1:1@19]", "[2:1@0]"},
			kv: []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wl := &workload.Workload{}
			for i, r := range c.reqs {
				wl.Requests = append(wl.Requests, workload.Request{ID: i, ArrivalNs: r.at, Prefill: r.prompt, Decode: r.decode})
			}
			rp, err := engine.NewReplayer(replayConfig(c.blocks), wl)
			if err != nil {
				t.Fatal(err)
			}
			for k, w := range c.want {
				start := int64(100*k + 10)
				if c.starts != nil {
					start = c.starts[k]
				}
				st, err := rp.Step(start, start+140, nil)
				if err != nil {
					t.Fatalf("step %d: %v", k, err)
				}
				if got := replayedString(st); got != w {
					t.Fatalf("step %d: %s, the reference engine's scheduler %s", k, got, w)
				}
				if st.KVBlocks != c.kv[k] {
					t.Errorf("step %d: %d blocks held, want %d", k, st.KVBlocks, c.kv[k])
				}
			}
		})
	}
}

// TestReplay_ArrivalWindow: an arrival just before a step's start may not
// have been seen by it; Step keeps the cut that accept takes.
func TestReplay_ArrivalWindow(t *testing.T) {
	wl := &workload.Workload{Requests: []workload.Request{{ID: 0, ArrivalNs: 0, Prefill: 100, Decode: 3}, {ID: 1, ArrivalNs: 99_000, Prefill: 50, Decode: 2}}}
	for _, seen := range []bool{true, false} {
		rp, err := engine.NewReplayer(replayConfig(100), wl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rp.Step(10, 150, nil); err != nil {
			t.Fatal(err)
		}
		want := "[0:1@100]"
		if seen {
			want += "[1:50@0]"
		}
		st, err := rp.Step(100_000, 100_200, func(st engine.ReplayedStep) bool { return replayedString(st) == want })
		if err != nil {
			t.Fatal(err)
		}
		if got := replayedString(st); got != want || st.Window != 1 || st.Unseen != map[bool]int{true: 0, false: 1}[seen] {
			t.Fatalf("seen %v: %s (window %d, unseen %d), want %s", seen, got, st.Window, st.Unseen, want)
		}
		// unseen, it is admitted in the next step
		st, _ = rp.Step(100_100, 100_300, nil)
		if got := slices.ContainsFunc(st.Members, func(m engine.ReplayMember) bool { return m.Request == 1 && m.Start == 0 }); got == seen {
			t.Fatalf("seen %v: step 2 %s", seen, replayedString(st))
		}
	}
	// Far enough before the start, an arrival is seen whatever accept says.
	rp, _ := engine.NewReplayer(replayConfig(100), wl)
	rp.Step(10, 150, nil)
	st, _ := rp.Step(99_000+engine.ArrivalWindowNs+1, 200_000, func(engine.ReplayedStep) bool { return false })
	if got := replayedString(st); got != "[0:1@100][1:50@0]" || st.Window != 0 {
		t.Fatalf("%s (window %d)", got, st.Window)
	}
}

// TestReplay_KVBlocked: the waiting requests kept out by blocks (request 2
// behind request 1, which does not fit), not by the budget, are reported.
func TestReplay_KVBlocked(t *testing.T) {
	wl := &workload.Workload{Requests: []workload.Request{{ID: 0, ArrivalNs: 0, Prefill: 64, Decode: 4}, {ID: 1, ArrivalNs: 0, Prefill: 64, Decode: 4},
		{ID: 2, ArrivalNs: 0, Prefill: 1, Decode: 4}}}
	for _, c := range []struct {
		blocks, budget int
		want           []int
	}{{5, 2048, []int{1, 2}}, {100, 64, nil}, {100, 128, nil}} {
		cfg := replayConfig(c.blocks)
		cfg.Scheduler.MaxNumBatchedTokens = c.budget
		rp, err := engine.NewReplayer(cfg, wl)
		if err != nil {
			t.Fatal(err)
		}
		st, err := rp.Step(10, 150, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(st.KVBlocked, c.want) || st.Waiting != 3-len(st.Members) {
			t.Errorf("blocks %d, budget %d: %v kept out for blocks (%d waiting), want %v", c.blocks, c.budget, st.KVBlocked, st.Waiting, c.want)
		}
	}
}
