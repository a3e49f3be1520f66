package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/profiles"
)

// mooncake builds a workload from Mooncake trace lines (512-token hash_ids).
func mooncake(t testing.TB, cfg engine.Config, lines ...string) *workload.Workload {
	t.Helper()
	w, err := workload.Load([]workload.File{{Name: "trace.jsonl", R: strings.NewReader(strings.Join(lines, "\n") + "\n")}}, cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	if w.BlockTokens != 512 {
		t.Fatalf("block tokens %d", w.BlockTokens)
	}
	return w
}

func mcLine(ms, in, out int, ids ...int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return fmt.Sprintf(`{"timestamp":%d,"input_length":%d,"output_length":%d,"hash_ids":[%s]}`, ms, in, out, strings.Join(s, ","))
}

// A second request sharing the first 512 of its 1024 prompt tokens (hash_ids
// [1,2] then [1,3]) arrives after the first finished: its prefill is 512
// tokens, not 1024, and attends to the 512 cached ones (K_p = 512). With the
// whole prompt shared, vLLM still computes the last token: 1024 - 1 = 1023
// tokens round down to 63 blocks of 16, so 1008 hit and 16 are prefilled.
func TestPrefixCaching_HitHalvesPrefill(t *testing.T) {
	for _, sched := range []string{"sarathi", "vllm_v1"} {
		t.Run(sched, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			cfg.Scheduler.Type, cfg.Scheduler.ChunkSize, cfg.Scheduler.EnablePrefixCaching = sched, 2048, true
			cfg.Predictor.KVCachePredictionGranularity = 16 // K_p exact
			set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
			w := mooncake(t, cfg, mcLine(0, 1024, 2, 1, 2), mcLine(1000, 1024, 2, 1, 3), mcLine(2000, 1024, 2, 1, 2))
			res := run(t, cfg, w, set)
			wantBatches(t, res, "[0:1024]", "[0:1]", "[1:512]", "[1:1]", "[2:16]", "[2:1]")
			if k := res.Batches[2].Key; k.Kp != 512 || k.Cp != 512 {
				t.Errorf("hit prefill key %+v: want K_p 512 (the cached tokens), C_p 512", k)
			}
			if k := res.Batches[4].Key; k.Kp != 1008 || k.Cp != 16 {
				t.Errorf("full-hit prefill key %+v: want K_p 1008, C_p 16", k)
			}
			if got := []int{res.Requests[0].CachedPrefill, res.Requests[1].CachedPrefill, res.Requests[2].CachedPrefill}; got[0] != 0 || got[1] != 512 || got[2] != 1008 {
				t.Errorf("cached prefill tokens %v, want [0 512 1008]", got)
			}
			if b := res.Batches[2]; b.PrefixHitTokens != 512 {
				t.Errorf("batch 2 hit tokens %d", b.PrefixHitTokens)
			}
			st := res.PrefixCache
			if st == nil || st.HitTokens != 1520 || st.PrefillTokensSaved != 1520 || st.PromptTokens != 3072 {
				t.Errorf("stats %+v", st)
			}
			// Off, the same workload prefills every prompt in full.
			cfg.Scheduler.EnablePrefixCaching = false
			off := run(t, cfg, w, set)
			wantBatches(t, off, "[0:1024]", "[0:1]", "[1:1024]", "[1:1]", "[2:1024]")
			if off.PrefixCache != nil || off.Requests[1].CachedPrefill != 0 {
				t.Errorf("prefix caching off reported a hit")
			}
			if k := res.Batches[2].Key; k.NewRequests != 1 {
				t.Errorf("a request admitted with a hit is still new in its first chunk: %+v", k)
			}
		})
	}
}

// 100 blocks, no watermark; requests of 512 tokens (32 blocks) and one
// output token, one after another. A, B and C leave 96 cached blocks; D
// needs 32 with 4 free, so 28 are evicted: the oldest unreferenced ones, A's
// (freed first). Then B's prefix still hits (31 blocks: the last token is
// computed), and A's does not (its first block is gone).
func TestPrefixCaching_LRUEvictsOldestUnreferenced(t *testing.T) {
	for _, sched := range []string{"sarathi", "vllm_v1"} {
		t.Run(sched, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			cfg.Scheduler.Type, cfg.Scheduler.EnablePrefixCaching = sched, true
			cfg.Scheduler.NumBlocks, cfg.Scheduler.WatermarkBlocksFraction = 100, 0
			set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
			w := mooncake(t, cfg, mcLine(0, 512, 1, 1), mcLine(1000, 512, 1, 2), mcLine(2000, 512, 1, 3),
				mcLine(3000, 512, 1, 4), mcLine(4000, 512, 1, 2), mcLine(5000, 512, 1, 1))
			res := run(t, cfg, w, set)
			want := []int{0, 0, 0, 0, 496, 0}
			for i, r := range res.Requests {
				if r.CachedPrefill != want[i] {
					t.Errorf("request %d: %d cached tokens, want %d", i, r.CachedPrefill, want[i])
				}
			}
			// D evicts 28 of A's blocks; E takes 31 of B's and needs 1 more
			// (its last block equals B's cached one and stays private),
			// evicting A's block 28; F needs 32 with 99 unreferenced: 31 more.
			if ev := res.PrefixCache.EvictedBlocks; ev != 28+1+31 {
				t.Errorf("evicted %d blocks, want 60", ev)
			}
		})
	}
}

// Blocks in use by a running request are never evicted: two requests with
// the same 512-token prefix run together on a cache that holds little else.
func TestPrefixCaching_SharedWhileRunning(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Scheduler.Type, cfg.Scheduler.EnablePrefixCaching = "vllm_v1", true
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
	// Request 1 arrives while request 0 decodes (its prompt blocks cached
	// after its prefill step): it hits 512 tokens.
	w := mooncake(t, cfg, mcLine(0, 1024, 200, 1, 2), mcLine(50, 1024, 2, 1, 3))
	res := run(t, cfg, w, set)
	if got := res.Requests[1].CachedPrefill; got != 512 {
		t.Errorf("request 1 hit %d tokens while request 0 holds the prefix, want 512", got)
	}
}

// Prefix caching on a workload without hash_ids changes nothing.
func TestPrefixCaching_NoHashIDsIsOff(t *testing.T) {
	for _, sched := range []string{"sarathi", "vllm_v1"} {
		cfg := engine.DefaultConfig()
		cfg.Scheduler.Type = sched
		cfg.Workload.NumRequests, cfg.Workload.QPS, cfg.Workload.LengthGenerator = 60, 50, "uniform"
		cfg.Workload.MinTokens, cfg.Workload.PrefillToDecodeRatio = 16, 3
		w, err := workload.Generate(cfg.WorkloadOptions())
		if err != nil {
			t.Fatal(err)
		}
		set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
		off := run(t, cfg, w, set)
		cfg.Scheduler.EnablePrefixCaching = true
		on := run(t, cfg, w, set)
		if fmt.Sprint(compositions(off)) != fmt.Sprint(compositions(on)) {
			t.Errorf("%s: batches differ with prefix caching on and no hash_ids", sched)
		}
	}
}

func TestPrefixCaching_ConfigOnlyWhereSupported(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Scheduler.Type, cfg.Scheduler.EnablePrefixCaching = "vllm", true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "scheduler.enable_prefix_caching") {
		t.Errorf("vllm with prefix caching: %v", err)
	}
}

// randomPrefixTrace is a Mooncake trace whose requests share prefixes: each
// starts with 0..3 blocks of one of a few system prompts, then blocks of its
// own; some are follow-up turns that repeat an earlier request's blocks.
func randomPrefixTrace(rng *rand.Rand, n int) []string {
	var lines []string
	var prev [][]int
	next := 1000
	ms := 0
	for i := 0; i < n; i++ {
		var ids []int
		if len(prev) > 0 && rng.IntN(3) == 0 {
			ids = append(ids, prev[rng.IntN(len(prev))]...)
		} else {
			sys := rng.IntN(4)
			for k := 0; k < rng.IntN(4); k++ {
				ids = append(ids, 10*sys+k)
			}
		}
		for k := rng.IntN(3); k >= 0; k-- {
			ids = append(ids, next)
			next++
		}
		ids = ids[:min(len(ids), 4)]
		prev = append(prev, ids)
		in := (len(ids)-1)*512 + 1 + rng.IntN(512)
		ms += rng.IntN(40)
		lines = append(lines, mcLine(ms, in, 1+rng.IntN(200), ids...))
	}
	return lines
}

// TestInvariants_PrefixCaching runs random shared-prefix traces through
// sarathi and vllm_v1 with tight KV caches and several replicas: no block is
// freed twice or leaked (the engine panics, and Run turns it into an error),
// hit tokens are whole blocks below the prompt, every request ends once,
// and the tokens prefilled plus the tokens hit make up every prompt.
func TestInvariants_PrefixCaching(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 10
	}
	rng := rand.New(rand.NewPCG(17, 17))
	set := enginetest.Set(qwen3(t), enginetest.Uniform(0.01, 0.005, 0.02, 0.03), 8192, 256)
	hits := map[bool]int64{} // by synthetic: the tests exercise hits
	defer func() {
		if hits[false] == 0 || hits[true] == 0 {
			t.Errorf("no prefix hit in the random runs (trace %d, synthetic %d tokens)", hits[false], hits[true])
		}
	}()
	for i := 0; i < n; i++ {
		cfg := engine.DefaultConfig()
		cfg.Seed = rng.Uint64()
		cfg.Scheduler.Type = []string{"sarathi", "vllm_v1"}[rng.IntN(2)]
		cfg.Scheduler.EnablePrefixCaching = true
		cfg.Cluster.GlobalScheduler = engine.GlobalSchedulerNames[rng.IntN(len(engine.GlobalSchedulerNames))]
		cfg.Cluster.NumReplicas = 1 + rng.IntN(3)
		cfg.Scheduler.BatchSizeCap = 2 + rng.IntN(30)
		cfg.Scheduler.ChunkSize = 16 + rng.IntN(600)
		cfg.Scheduler.MaxNumBatchedTokens = 16 + rng.IntN(1000)
		cfg.Scheduler.BlockSize = []int{16, 32, 64, 100}[rng.IntN(4)]
		cfg.Scheduler.NumBlocks = 2600/cfg.Scheduler.BlockSize + rng.IntN(4000/cfg.Scheduler.BlockSize)
		cfg.Workload.MaxTokens = 2600
		lines := randomPrefixTrace(rng, 20+rng.IntN(80))
		name := fmt.Sprintf("%d-%s-%s-r%d-bs%d", i, cfg.Scheduler.Type, cfg.Cluster.GlobalScheduler, cfg.Cluster.NumReplicas, cfg.Scheduler.BlockSize)
		synthetic := rng.IntN(2) == 0
		if synthetic { // shared system prompts and multi-turn sessions
			cfg.Workload.NumRequests, cfg.Workload.QPS, cfg.Workload.LengthGenerator = 20+rng.IntN(80), 5+rng.Float64()*100, "uniform"
			cfg.Workload.MinTokens, cfg.Workload.MaxTokens, cfg.Workload.PrefillToDecodeRatio = 16, 1500, 0.5+rng.Float64()*5
			cfg.Workload.SystemPromptTokens, cfg.Workload.SystemPromptShare = rng.IntN(600), rng.Float64()
			cfg.Workload.NumSystemPrompts, cfg.Workload.SessionTurns = rng.IntN(4), rng.IntN(5)
			name += "-synthetic"
		}
		t.Run(name, func(t *testing.T) {
			var w *workload.Workload
			if synthetic {
				var err error
				if w, err = workload.Generate(cfg.WorkloadOptions()); err != nil {
					t.Fatal(err)
				}
			} else {
				w = mooncake(t, cfg, lines...)
			}
			res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{KeepMembers: true})
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, res)
			var prefilled, hitBatches int64
			for _, b := range res.Batches {
				prefilled += int64(b.PrefillTokens())
				hitBatches += int64(b.PrefixHitTokens)
			}
			var prompts int64
			for _, r := range res.Requests {
				if r.Status != engine.StatusOK {
					if r.Status != engine.StatusRejectedTooLong {
						t.Errorf("request %d: status %s", r.ID, r.Status)
					}
					continue
				}
				if r.CachedPrefill < 0 || r.CachedPrefill >= r.Prefill || r.CachedPrefill%cfg.Scheduler.BlockSize != 0 {
					t.Errorf("request %d: %d cached tokens of a %d-token prompt", r.ID, r.CachedPrefill, r.Prefill)
				}
				prompts += int64(r.Prefill)
			}
			st := res.PrefixCache
			hits[synthetic] += st.HitTokens
			if hitBatches != st.PrefillTokensSaved || st.HitTokens > st.PrefillTokensSaved || st.PromptTokens != prompts {
				t.Errorf("stats %+v, batches' hit tokens %d, prompts %d", st, hitBatches, prompts)
			}
			if res.Restarts == 0 && (prefilled+st.PrefillTokensSaved != prompts || st.HitTokens != st.PrefillTokensSaved) {
				t.Errorf("no restarts: %d prefilled + %d saved != %d prompt tokens", prefilled, st.PrefillTokensSaved, prompts)
			}
		})
	}
}

// On the embedded A100 profile, the hit request's TTFT is shorter than
// without prefix caching (its prefill computes 512 tokens, not 1024).
func TestPrefixCaching_ShortensTTFT(t *testing.T) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.DefaultConfig()
	cfg.Scheduler.ChunkSize = 2048
	w := mooncake(t, cfg, mcLine(0, 1024, 2, 1, 2), mcLine(1000, 1024, 2, 1, 3))
	off := run(t, cfg, w, set)
	cfg.Scheduler.EnablePrefixCaching = true
	on := run(t, cfg, w, set)
	ttft := func(r engine.RequestResult) int64 { return r.FirstTokenNs - r.ArrivalNs }
	if !(ttft(on.Requests[1]) < ttft(off.Requests[1])) || ttft(on.Requests[0]) != ttft(off.Requests[0]) {
		t.Errorf("TTFT with a 512-token hit %d ns, without %d ns (first request %d vs %d)", ttft(on.Requests[1]), ttft(off.Requests[1]), ttft(on.Requests[0]), ttft(off.Requests[0]))
	}
	t.Logf("TTFT of the follow-up: %d ns without prefix caching, %d ns with a 512-token hit", ttft(off.Requests[1]), ttft(on.Requests[1]))
}

// A synthetic workload with a 200-token system prompt on every session and
// sessions of 2 turns, at a low rate: each session's first turn hits the
// system prompt's 3 full 64-token blocks (192 tokens) once the first session
// computed them, and its second turn hits its first turn's full blocks
// (300 tokens: 4 blocks, 256).
func TestPrefixCaching_SyntheticSessions(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Scheduler.Type, cfg.Scheduler.EnablePrefixCaching = "vllm_v1", true
	cfg.Workload.NumRequests, cfg.Workload.QPS = 8, 0.5
	cfg.Workload.PrefillTokens, cfg.Workload.DecodeTokens = 100, 10
	cfg.Workload.SystemPromptTokens, cfg.Workload.SystemPromptShare, cfg.Workload.SessionTurns = 200, 1, 2
	w, err := workload.Generate(cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, cfg, w, enginetest.Set(qwen3(t), *constSet(t), 4096, 128))
	for i, r := range res.Requests {
		want := 256
		if i%2 == 0 {
			want = 192
			if i == 0 {
				want = 0
			}
		}
		if r.CachedPrefill != want {
			t.Errorf("request %d (session %d turn %d): %d cached tokens, want %d", i, i/2+1, i%2+1, r.CachedPrefill, want)
		}
	}
}
