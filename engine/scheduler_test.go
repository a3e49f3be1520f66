package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/workload"
)

// Every batch below costs the same: 9 ops x 0.01 ms + kv save, so times are
// easy to follow; what the tests check is batch composition.
func constSet(t testing.TB) *enginetest.Timings {
	tm := enginetest.Uniform(0.01, 0.01, 0.01, 0.01)
	return &tm
}

func members(res *engine.Result, b int) string {
	s := ""
	for _, m := range res.Members(b) {
		s += fmt.Sprintf("[%d:%d]", m.Request, m.Tokens)
	}
	return s
}

func compositions(res *engine.Result) []string {
	var out []string
	for b := range res.Batches {
		out = append(out, members(res, b))
	}
	return out
}

func wantBatches(t *testing.T, res *engine.Result, want ...string) {
	t.Helper()
	got := compositions(res)
	for i, w := range want {
		if i >= len(got) || got[i] != w {
			t.Fatalf("batch compositions:\n got %v\nwant prefix %v", got, want)
		}
	}
}

// wantRejected checks that exactly request id is rejected_too_long, and
// that the run's notes say why.
func wantRejected(id int) func(t *testing.T, res *engine.Result) {
	return func(t *testing.T, res *engine.Result) {
		t.Helper()
		for i, r := range res.Requests {
			if rej := r.Status == engine.StatusRejectedTooLong; rej != (i == id) {
				t.Errorf("request %d: status %s", i, r.Status)
			}
		}
		if !slices.ContainsFunc(res.Workload.Notes, func(n string) bool { return strings.Contains(n, "longer than max_tokens_in_batch (500)") }) {
			t.Errorf("notes %q: want one naming max_tokens_in_batch", res.Workload.Notes)
		}
	}
}

func TestSchedulers_HandComputed(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*engine.Config)
		trace string
		want  []string // the first batches, as [request:tokens]…
		check func(t *testing.T, res *engine.Result)
	}{{
		// 1200-token prompt with chunk 512: 512 + 512 + 176, then one decode.
		name:  "sarathi splits a long prefill",
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1200,2\n",
		want:  []string{"[0:512]", "[0:512]", "[0:176]", "[0:1]"},
		check: func(t *testing.T, res *engine.Result) {
			if len(res.Batches) != 4 || res.Requests[0].FirstTokenNs != res.Batches[2].EndAt {
				t.Errorf("TTFT should be the end of the third chunk")
			}
			// Second chunk sees 512 cached tokens: K_p = 512, C_p = 512.
			if k := res.Batches[1].Key; k.Kp != 512 || k.Cp != 512 {
				t.Errorf("chunk 2 key %+v", k)
			}
		},
	}, {
		// Request 1 arrives while request 0's prefill runs; next iteration the
		// decode goes first and the new prompt takes the rest of the budget.
		name:  "sarathi puts decodes first and fills the chunk",
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,5\n0.0000001,1000,2\n",
		want:  []string{"[0:10]", "[0:1][1:511]", "[0:1][1:489]", "[0:1][1:1]"},
	}, {
		name:  "sarathi batch cap limits admitted requests",
		setup: func(c *engine.Config) { c.Scheduler.BatchSizeCap = 2 },
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,2\n0,10,2\n0,10,2\n",
		want:  []string{"[0:10][1:10]", "[0:1][1:1]", "[2:10]", "[2:1]"},
	}, {
		// vLLM v0: a new prompt gets a prefill-only batch; decodes stall.
		name:  "vllm runs prefills first",
		setup: func(c *engine.Config) { c.Scheduler.Type = "vllm" },
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,3\n0.0000001,20,3\n",
		want:  []string{"[0:10]", "[1:20]", "[0:1][1:1]", "[0:1][1:1]"},
	}, {
		// Padded budget 500: 1x100, 2x200 = 400 fit; 3x300 = 900 does not.
		name:  "vllm pads the batch to its longest prompt",
		setup: func(c *engine.Config) { c.Scheduler.Type = "vllm"; c.Scheduler.MaxTokensInBatch = 500 },
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,2\n0,200,2\n0,300,2\n",
		want:  []string{"[0:100][1:200]", "[2:300]", "[0:1][1:1][2:1]"},
	}, {
		// 10 blocks of 16, no watermark. Each request holds 4 prompt blocks,
		// then 1 more at decode token 1 (context 65) -> 10 in use; at context
		// 81 request 0 needs an 11th: the latest arrival (1) is restarted and
		// re-prefills 64 + 16 generated tokens.
		name: "preemption restarts the latest arrival when KV is full",
		setup: func(c *engine.Config) {
			c.Scheduler.NumBlocks, c.Scheduler.WatermarkBlocksFraction = 10, 0
		},
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,64,40\n0,64,40\n",
		want:  []string{"[0:64][1:64]"},
		check: func(t *testing.T, res *engine.Result) {
			if res.Restarts == 0 || res.Requests[1].Restarts == 0 {
				t.Fatalf("expected request 1 to be restarted; restarts %d", res.Restarts)
			}
			found := false
			for b := range res.Batches {
				if members(res, b) == "[0:1]" && !found {
					found = true
				}
				for _, m := range res.Members(b) {
					if m.Request == 1 && m.Tokens == 80 {
						return // re-prefill of prompt (64) + 16 generated tokens
					}
				}
			}
			t.Errorf("no re-prefill of 80 tokens for request 1: %v", compositions(res))
		},
	}, {
		// Orca reserves max_tokens/block_size = 256 blocks per request.
		name:  "orca reserves a full sequence per request",
		setup: func(c *engine.Config) { c.Scheduler.Type = "orca"; c.Scheduler.NumBlocks = 512 },
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,2\n0,10,2\n0,10,2\n",
		want:  []string{"[0:10][1:10]", "[0:1][1:1]", "[2:10]"},
	}, {
		// A static batch runs until all members finish; request 0 leaves
		// early, and request 2 waits for request 1.
		name:  "faster_transformer keeps a batch until every member ends",
		setup: func(c *engine.Config) { c.Scheduler.Type = "faster_transformer" },
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,2\n0,10,4\n0.0000001,10,2\n",
		want:  []string{"[0:10][1:10]", "[0:1][1:1]", "[1:1]", "[1:1]", "[2:10]", "[2:1]"},
	}, {
		// A prompt over the padded budget can never be admitted: it is
		// rejected before the run (vLLM v0 ignores it), the others run.
		name:  "vllm rejects a prompt longer than max_tokens_in_batch",
		setup: func(c *engine.Config) { c.Scheduler.Type = "vllm"; c.Scheduler.MaxTokensInBatch = 500 },
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,2\n0,501,2\n0,500,2\n",
		want:  []string{"[0:100]", "[2:500]", "[0:1][2:1]"},
		check: wantRejected(1),
	}, {
		name: "lightllm rejects a prompt longer than max_tokens_in_batch",
		setup: func(c *engine.Config) {
			c.Scheduler.Type = "lightllm"
			c.Scheduler.BlockSize = 1
			c.Scheduler.MaxTokensInBatch = 500
		},
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,2\n0,501,2\n0,400,2\n",
		want:  []string{"[0:100][2:400]", "[0:1][2:1]"},
		check: wantRejected(1),
	}, {
		name:  "lightllm prefills then decodes all running requests",
		setup: func(c *engine.Config) { c.Scheduler.Type = "lightllm"; c.Scheduler.BlockSize = 1 },
		trace: "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,3\n0,20,3\n",
		want:  []string{"[0:10][1:20]", "[0:1][1:1]", "[0:1][1:1]"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			if tc.setup != nil {
				tc.setup(&cfg)
			}
			set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
			res := run(t, cfg, trace(t, tc.trace, cfg), set)
			wantBatches(t, res, tc.want...)
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

// TestVLLM_RecomputeOverBudgetStalls: a vLLM v0 request preempted after
// its prompt fit the padded budget restarts with its outputs to recompute;
// past the budget it can never be admitted, and the stall error says so
// and what to raise.
func TestVLLM_RecomputeOverBudgetStalls(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Scheduler.Type = "vllm"
	cfg.Scheduler.NumBlocks, cfg.Scheduler.WatermarkBlocksFraction = 10, 0
	cfg.Scheduler.MaxTokensInBatch = 70
	// As "preemption restarts the latest arrival": request 1 restarts
	// with its prompt and what it generated, over 70.
	w := trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,64,40\n0,64,40\n", cfg)
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
	_, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{})
	m := regexp.MustCompile(`its first waiting request \(1\) restarts after a preemption with (\d+) tokens to recompute, more than max_tokens_in_batch \(70\) admits: raise max_tokens_in_batch`).FindStringSubmatch(fmt.Sprint(err))
	if m == nil {
		t.Fatalf("err %v; want the stall explained", err)
	}
	if n, _ := strconv.Atoi(m[1]); n <= 70 || n >= 64+40 {
		t.Errorf("%d tokens to recompute; want 71-103", n)
	}
}

// runOrErr runs csv under cfg on set: with wantErr set, it checks that the
// run fails with an error containing it and returns nil; else it returns
// the result of a run that must succeed.
func runOrErr(t *testing.T, cfg engine.Config, csv string, set *predict.Set, wantErr string) *engine.Result {
	t.Helper()
	res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: trace(t, csv, cfg), Profile: set}, engine.Options{})
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err %v; want one containing %q", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestBatchCapOverProfile: a batch cap above the profile's largest decode
// batch (8 here) is noted up front when enough requests could share a
// step, and a step past it stops the run with the cap to lower.
func TestBatchCapOverProfile(t *testing.T) {
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 8)
	rows := func(n, gapS int) string {
		csv := "arrived_at,num_prefill_tokens,num_decode_tokens\n"
		for i := range n {
			csv += fmt.Sprintf("%d,10,3\n", i*gapS)
		}
		return csv
	}
	const note = "attention.csv (decode rows) covers (1..8): a step of more stops the run with an error; lower the batch cap to 8"
	tests := []struct {
		name, trace string
		wantNote    bool
		wantErr     string
	}{
		{"fewer requests than the profile's batches", rows(8, 0), false, ""},
		{"many requests, one at a time", rows(20, 1), true, ""}, // 1 s apart: a step holds one
		{"many requests at once", rows(20, 0), false, "the step holds 20 sequences, which the batch cap (64) allows and the profile does not cover: lower the batch cap to 8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			cfg.Scheduler.BatchSizeCap = 64
			res := runOrErr(t, cfg, tc.trace, set, tc.wantErr)
			if res == nil {
				return
			}
			got := slices.ContainsFunc(res.Workload.Notes, func(n string) bool { return strings.Contains(n, note) })
			if got != tc.wantNote {
				t.Errorf("notes %q: want the batch-cap note: %v", res.Workload.Notes, tc.wantNote)
			}
		})
	}
}

// TestRequestLongerThanProfile: the test set's decode rows end at context
// 4096. A request whose last decode reads past it (prompt + output - 1 >
// 4096) is rejected up front, with a note; one ending exactly there runs,
// as does a one-token request (no decode step).
func TestRequestLongerThanProfile(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Workload.MaxTokens = 8192
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 8)
	w := trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,4000,97\n0,4000,98\n0,4095,1\n", cfg)
	res := run(t, cfg, w, set)
	want := []string{engine.StatusOK, engine.StatusRejectedTooLong, engine.StatusOK}
	for i, r := range res.Requests {
		if r.Status != want[i] {
			t.Errorf("request %d (%d+%d): status %s; want %s", i, r.Prefill, r.Decode, r.Status, want[i])
		}
	}
	note := "1 of 3 requests reach a context (prompt + output - 1) longer than the 4096 tokens test/const/attention.csv covers"
	if !slices.ContainsFunc(res.Workload.Notes, func(n string) bool { return strings.HasPrefix(n, note) }) {
		t.Errorf("notes %q: want one starting %q", res.Workload.Notes, note)
	}
}

// TestTokenBudgetOverProfile: a vllm_v1 budget above the profile's
// largest step (the test set: 4096 tokens) is noted up front, and a step
// past it stops the run with the setting to lower.
func TestTokenBudgetOverProfile(t *testing.T) {
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
	tests := []struct {
		name, trace, wantErr string
	}{
		{"short prompts: the note only", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,2\n1,100,2\n", ""},
		{"a long prompt: the step past 4096", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,3000,2\n0,3000,2\n",
			"the step holds 6000 tokens, which max_num_batched_tokens (8192) allows and the profile does not cover: lower max_num_batched_tokens to 4096"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			cfg.Scheduler.Type, cfg.Scheduler.MaxNumBatchedTokens = "vllm_v1", 8192
			res := runOrErr(t, cfg, tc.trace, set, tc.wantErr)
			if res == nil {
				return
			}
			note := "a step may hold up to 8192 tokens (max_num_batched_tokens), more than"
			if !slices.ContainsFunc(res.Workload.Notes, func(n string) bool { return strings.HasPrefix(n, note) }) {
				t.Errorf("notes %q: want one starting %q", res.Workload.Notes, note)
			}
		})
	}
}

// TestOrcaTokensOverProfile: orca batches whole prompts with no token
// budget, so a burst's prefill step can hold more tokens than mlp.csv
// covers (the test set: 4096); the error names the op once and says why.
func TestOrcaTokensOverProfile(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Scheduler.Type, cfg.Scheduler.NumBlocks = "orca", 1024
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
	w := trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,3000,2\n0,3000,2\n", cfg)
	_, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{})
	msg := fmt.Sprint(err)
	want := "the step holds 6000 tokens: orca batches whole prompts with no token budget, so a step's tokens grow with its batch (cap 128): lower the batch cap"
	if err == nil || !strings.Contains(msg, want) {
		t.Fatalf("err %v; want one containing %q", err, want)
	}
	if n := strings.Count(msg, "is not profiled at"); n != 1 {
		t.Errorf("%d grid errors in %q; want one", n, msg)
	}
}

// TestInvariants_RandomConfigs runs random workloads through every
// scheduler and global scheduler with tight KV caches, several replicas and
// pipeline stages, and checks the invariants of checkInvariants.
func TestInvariants_RandomConfigs(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 15
	}
	rng := rand.New(rand.NewPCG(7, 7))
	set := enginetest.Set(qwen3(t), enginetest.Uniform(0.01, 0.005, 0.02, 0.03), 8192, 256)
	net := enginetest.Network(1024, 0.01, 0.02)
	for i := 0; i < n; i++ {
		cfg := engine.DefaultConfig()
		cfg.Seed = rng.Uint64()
		cfg.Scheduler.Type = engine.SchedulerNames[rng.IntN(len(engine.SchedulerNames))]
		cfg.Cluster.GlobalScheduler = engine.GlobalSchedulerNames[rng.IntN(5)] // all but prefix_affinity (prefix_test.go)
		cfg.Cluster.NumReplicas = 1 + rng.IntN(3)
		cfg.Scheduler.BatchSizeCap = 2 + rng.IntN(30)
		cfg.Scheduler.ChunkSize = 16 + rng.IntN(600)
		cfg.Workload.MaxTokens = 1024
		if cfg.Scheduler.Type == "lightllm" {
			cfg.Scheduler.BlockSize = 1
			cfg.Scheduler.NumBlocks = 1500 + rng.IntN(3000)
		} else {
			if rng.IntN(2) == 0 {
				cfg.Replica.NumPipelineStages = []int{2, 4}[rng.IntN(2)]
				cfg.Scheduler.BatchSizeCap = max(cfg.Scheduler.BatchSizeCap, cfg.Replica.NumPipelineStages)
			}
			if rng.IntN(3) == 0 {
				cfg.Replica.TensorParallelSize = 2
			}
			cfg.Scheduler.NumBlocks = 70 + rng.IntN(200)
			if cfg.Scheduler.Type == "orca" || cfg.Scheduler.Type == "faster_transformer" {
				cfg.Scheduler.NumBlocks = 64 * (1 + rng.IntN(4))
			}
		}
		cfg.Workload.NumRequests = 20 + rng.IntN(80)
		cfg.Workload.QPS = 5 + rng.Float64()*200
		cfg.Workload.IntervalGenerator = []string{"poisson", "gamma", "static"}[rng.IntN(3)]
		cfg.Workload.LengthGenerator = []string{"uniform", "zipf", "fixed"}[rng.IntN(3)]
		cfg.Workload.MinTokens = 16
		cfg.Workload.PrefillToDecodeRatio = 0.5 + rng.Float64()*5
		cfg.Workload.PrefillTokens, cfg.Workload.DecodeTokens = 1+rng.IntN(500), 1+rng.IntN(300)
		name := fmt.Sprintf("%d-%s-%s-r%d-pp%d", i, cfg.Scheduler.Type, cfg.Cluster.GlobalScheduler, cfg.Cluster.NumReplicas, cfg.Replica.NumPipelineStages)
		t.Run(name, func(t *testing.T) {
			w, err := workload.Generate(cfg.WorkloadOptions())
			if err != nil {
				t.Fatal(err)
			}
			res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set, Network: net}, engine.Options{KeepMembers: true})
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, res)
			for _, r := range res.Requests {
				if r.Status != engine.StatusOK && r.Status != engine.StatusRejectedTooLong {
					t.Errorf("request %d: status %s", r.ID, r.Status)
				}
			}
		})
	}
}
