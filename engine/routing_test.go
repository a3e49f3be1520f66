package engine_test

import (
	"fmt"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/workload"
)

func replicasOf(res *engine.Result) []int {
	out := make([]int, len(res.Requests))
	for i, r := range res.Requests {
		out[i] = r.Replica
	}
	return out
}

// Three requests at t=0 on 2 replicas: the 1000+10-token one goes to replica
// 0 (a tie goes to the lowest index), then both small ones (10+10) to
// replica 1, whose 20 queued tokens stay below 1010. round_robin would put
// the third on replica 0.
func TestRouting_LeastLoadedByQueuedTokens(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Cluster.NumReplicas, cfg.Cluster.GlobalScheduler = 2, "least_loaded"
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
	tr := "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1000,10\n0,10,10\n0,10,10\n"
	res := run(t, cfg, trace(t, tr, cfg), set)
	if got := fmt.Sprint(replicasOf(res)); got != "[0 1 1]" {
		t.Errorf("least_loaded replicas %s, want [0 1 1]", got)
	}
	if b := res.Batches[0]; b.Replica != 0 || b.QueuedTokens != 1010 {
		t.Errorf("first batch on replica %d with %d queued tokens, want 0 and 1010", b.Replica, b.QueuedTokens)
	}
	cfg.Cluster.GlobalScheduler = "round_robin"
	if got := fmt.Sprint(replicasOf(run(t, cfg, trace(t, tr, cfg), set))); got != "[0 1 0]" {
		t.Errorf("round_robin replicas %s", got)
	}
}

// With 2 replicas both are drawn, so power_of_two is least_loaded; with 4
// it is deterministic for a seed and depends on it.
func TestRouting_PowerOfTwoSeeded(t *testing.T) {
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
	gen := func(cfg engine.Config) *workload.Workload {
		cfg.Workload.NumRequests, cfg.Workload.QPS, cfg.Workload.LengthGenerator = 200, 400, "uniform"
		cfg.Workload.MinTokens, cfg.Workload.PrefillToDecodeRatio = 16, 3
		w, err := workload.Generate(cfg.WorkloadOptions())
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	cfg := engine.DefaultConfig()
	cfg.Cluster.NumReplicas, cfg.Cluster.GlobalScheduler = 2, "power_of_two"
	w := gen(cfg)
	p2 := replicasOf(run(t, cfg, w, set))
	cfg.Cluster.GlobalScheduler = "least_loaded"
	if ll := replicasOf(run(t, cfg, w, set)); fmt.Sprint(ll) != fmt.Sprint(p2) {
		t.Errorf("2 replicas: power_of_two differs from least_loaded")
	}
	cfg.Cluster.NumReplicas, cfg.Cluster.GlobalScheduler = 4, "power_of_two"
	a, b := replicasOf(run(t, cfg, w, set)), replicasOf(run(t, cfg, w, set))
	cfg.Seed++
	c := replicasOf(run(t, cfg, w, set))
	if fmt.Sprint(a) != fmt.Sprint(b) || fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("power_of_two should be deterministic for a seed and depend on it")
	}
	used := map[int]bool{}
	for _, k := range a {
		used[k] = true
	}
	if len(used) != 4 {
		t.Errorf("power_of_two used replicas %v", used)
	}
}

// Sessions A (hash_ids [1,2]) and B ([3,4]) start on replicas 0 and 1. B's
// follow-up turn ([3,4,5]) arrives after both finished: least_loaded sends it
// to replica 0 (a tie), prefix_affinity to replica 1, which holds its first
// 1024 tokens (and so it hits them). A's follow-up arrives just after a long
// request L landed on replica 0: with the default cap it still goes to
// replica 0; with a cap of 100 queued tokens, replica 0 is too loaded and it
// goes to replica 1.
func TestRouting_PrefixAffinityFollowsTheSession(t *testing.T) {
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
	cfg := engine.DefaultConfig()
	cfg.Cluster.NumReplicas, cfg.Scheduler.EnablePrefixCaching = 2, true
	lines := []string{mcLine(0, 1024, 4, 1, 2), mcLine(0, 1024, 4, 3, 4), mcLine(1000, 1536, 4, 3, 4, 5),
		mcLine(2000, 3000, 500, 9, 10, 11, 12, 13, 14), mcLine(2000, 1536, 4, 1, 2, 6)}
	w := mooncake(t, cfg, lines...)
	for _, tc := range []struct {
		gs   string
		cap  int
		want string
	}{{"least_loaded", 0, "[0 1 0 0 1]"}, {"prefix_affinity", 0, "[0 1 1 0 0]"}, {"prefix_affinity", 100, "[0 1 1 0 1]"}} {
		cfg.Cluster.GlobalScheduler, cfg.Cluster.PrefixAffinityLoadCap = tc.gs, tc.cap
		res := run(t, cfg, w, set)
		if got := fmt.Sprint(replicasOf(res)); got != tc.want {
			t.Errorf("%s cap %d: replicas %s, want %s", tc.gs, tc.cap, got, tc.want)
		}
		if tc.gs == "prefix_affinity" && res.Requests[2].CachedPrefill != 1024 {
			t.Errorf("%s: the follow-up hit %d tokens on its replica, want 1024", tc.gs, res.Requests[2].CachedPrefill)
		}
	}
	cfg.Scheduler.EnablePrefixCaching = false
	if err := cfg.Validate(); err == nil {
		t.Error("prefix_affinity without prefix caching accepted")
	}
}
