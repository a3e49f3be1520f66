package engine_test

import (
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/workload"
)

// TestClosedLoop_HandComputed: AIPerf-style dependent arrivals. With the
// constant profile every iteration of Qwen3-0.6B (28 layers) costs 28 x
// (9 MLP ops x 0.01 + attention 0.01 + KV save 0.01) = 3.08 ms, so:
//
//	request 0: arrives 0, prefill 10 -> first token at 3.08 ms, second
//	           (last) token at 6.16 ms;
//	request 1: closed loop, 1 ms after request 0 completes -> arrives
//	           7.16 ms, one token at 10.24 ms;
//	request 2: closed loop after request 1, delay 0 but not before 12 ms
//	           (its own timestamp) -> arrives 12 ms, done 15.08 ms;
//	request 3: open loop at 20 ms, rejected (output > max_tokens);
//	request 4: closed loop 2 ms after request 3 -> its rejection releases
//	           it at 22 ms, done 25.08 ms.
func TestClosedLoop_HandComputed(t *testing.T) {
	cfg := engine.DefaultConfig()
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
	const ms = 1_000_000
	w := &workload.Workload{Format: workload.FormatMooncake, Requests: []workload.Request{
		{ID: 0, ArrivalNs: 0, Prefill: 10, Decode: 2, Session: 1, Turn: 1},
		{ID: 1, Prefill: 10, Decode: 1, Session: 1, Turn: 2, Parent: 1, ClosedLoop: true, DelayNs: 1 * ms},
		{ID: 2, ArrivalNs: 12 * ms, Prefill: 10, Decode: 1, Session: 1, Turn: 3, Parent: 2, ClosedLoop: true},
		{ID: 3, ArrivalNs: 20 * ms, Prefill: 10, Decode: 5000, Session: 2, Turn: 1, Rejected: workload.RejectedTooLong},
		{ID: 4, Prefill: 10, Decode: 1, Session: 2, Turn: 2, Parent: 4, ClosedLoop: true, DelayNs: 2 * ms},
	}}
	res := run(t, cfg, w, set)
	if d := res.Batches[0].EndAt - res.Batches[0].ScheduledAt; d != 3080*1000 {
		t.Fatalf("one iteration takes %d ns, the hand computation assumes 3.08 ms", d)
	}
	want := []struct {
		arrival, completion int64
		status              string
	}{
		{0, 6160 * 1000, engine.StatusOK},
		{7160 * 1000, 10240 * 1000, engine.StatusOK},
		{12 * ms, 15080 * 1000, engine.StatusOK},
		{20 * ms, -1, workload.RejectedTooLong},
		{22 * ms, 25080 * 1000, engine.StatusOK},
	}
	for i, wt := range want {
		r := res.Requests[i]
		if r.ArrivalNs != wt.arrival || r.CompletionNs != wt.completion || r.Status != wt.status {
			t.Errorf("request %d: arrival %d completion %d status %s; want %d %d %s", i, r.ArrivalNs, r.CompletionNs, r.Status, wt.arrival, wt.completion, wt.status)
		}
	}
	// Same input, same output.
	again := run(t, cfg, w, set)
	for i := range res.Requests {
		if a, b := res.Requests[i], again.Requests[i]; a.ArrivalNs != b.ArrivalNs || a.CompletionNs != b.CompletionNs {
			t.Fatalf("request %d differs between two runs", i)
		}
	}
}

// TestClosedLoop_BadParent: a closed-loop request must follow an earlier one.
func TestClosedLoop_BadParent(t *testing.T) {
	cfg := engine.DefaultConfig()
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
	w := &workload.Workload{Requests: []workload.Request{
		{ID: 0, Prefill: 10, Decode: 1, Parent: 2, ClosedLoop: true},
		{ID: 1, Prefill: 10, Decode: 1},
	}}
	if _, err := engine.Run(t.Context(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{}); err == nil {
		t.Fatal("want an error for a parent that comes later")
	}
}
