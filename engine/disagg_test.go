package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/workload"
)

// One request of 1024 + 3 tokens on 1 prefill + 1 decode replica over PCIe
// (64 GB/s). Qwen3-0.6B's KV is 2 x 2 bytes x 8 kv heads x 128 x 28 layers =
// 114688 bytes per token, so 1024 tokens take 117440512 / 64 = 1835008 ns.
// The prefill step (replica 0) produces no token; the decode replica starts
// right when the transfer ends, and TTFT = prefill + transfer + first decode.
func TestDisaggregation_TTFTIsPrefillTransferFirstDecode(t *testing.T) {
	for _, sched := range []string{"sarathi", "vllm_v1"} {
		t.Run(sched, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			cfg.Scheduler.Type, cfg.Scheduler.ChunkSize = sched, 2048
			cfg.Cluster.NumReplicas, cfg.Cluster.PrefillReplicas, cfg.Cluster.KVTransferLink = 2, 1, "pcie"
			set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
			res := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1024,3\n", cfg), set)
			wantBatches(t, res, "[0:1024]", "[0:1]", "[0:1]", "[0:1]")
			const transfer = 1835008
			r, b := res.Requests[0], res.Batches
			if res.Disagg.KVBytesPerToken != 114688 || r.TransferNs != transfer || r.PrefillReplica != 0 || r.Replica != 1 {
				t.Fatalf("kv bytes/token %d, transfer %d ns, replicas %d -> %d", res.Disagg.KVBytesPerToken, r.TransferNs, r.PrefillReplica, r.Replica)
			}
			if b[0].Replica != 0 || b[1].Replica != 1 || b[1].ScheduledAt != b[0].EndAt+transfer {
				t.Errorf("decode step on replica %d at %d, want replica 1 at %d + %d", b[1].Replica, b[1].ScheduledAt, b[0].EndAt, transfer)
			}
			if want := b[0].TotalNs + transfer + b[1].TotalNs; r.FirstTokenNs-r.ArrivalNs != want {
				t.Errorf("TTFT %d, want prefill %d + transfer %d + first decode %d = %d", r.FirstTokenNs-r.ArrivalNs, b[0].TotalNs, transfer, b[1].TotalNs, want)
			}
			if len(res.TokenTimes(0)) != 3 || res.TokenTimes(0)[0] != b[1].EndAt {
				t.Errorf("tokens %v: all 3 come from the decode replica", res.TokenTimes(0))
			}
			// The same with a custom bandwidth: 10 GB/s -> 11744052 ns (ceil).
			cfg.Cluster.KVTransferGBps = 10
			if got := run(t, cfg, trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1024,3\n", cfg), set).Requests[0].TransferNs; got != 11744052 {
				t.Errorf("10 GB/s transfer %d ns, want 11744052", got)
			}
		})
	}
}

// The decode pool's own TP: its memory plan has more KV blocks at TP 2.
func TestDisaggregation_DecodePoolTP(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Cluster.NumReplicas, cfg.Cluster.PrefillReplicas, cfg.Cluster.DecodeTensorParallelSize = 3, 1, 2
	set := enginetest.Set(qwen3(t), *constSet(t), 4096, 128)
	w := trace(t, "arrived_at,num_prefill_tokens,num_decode_tokens\n0,100,3\n0,100,3\n0,100,3\n", cfg)
	res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set, Network: enginetest.Network(1024, 0.01, 0.02)}, engine.Options{KeepMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, res)
	if d := res.Disagg; d.DecodeNumBlocks <= d.PrefillNumBlocks {
		t.Errorf("decode pool at TP 2 has %d blocks, prefill pool at TP 1 %d", d.DecodeNumBlocks, d.PrefillNumBlocks)
	}
	for _, r := range res.Requests {
		if r.PrefillReplica != 0 || r.Replica < 1 {
			t.Errorf("request %d: prefill %d decode %d", r.ID, r.PrefillReplica, r.Replica)
		}
	}
	cfg.Cluster.PrefillReplicas = 3
	if err := cfg.Validate(); err == nil {
		t.Error("3 prefill replicas of 3 accepted")
	}
}

// Random disaggregated runs: every request ends once, prefills on a prefill
// replica and decodes on a decode replica, after its transfer; KV blocks are
// all returned (the engine panics otherwise).
func TestInvariants_Disaggregation(t *testing.T) {
	n := 30
	if testing.Short() {
		n = 8
	}
	rng := rand.New(rand.NewPCG(23, 23))
	set := enginetest.Set(qwen3(t), enginetest.Uniform(0.01, 0.005, 0.02, 0.03), 8192, 256)
	net := enginetest.Network(1024, 0.01, 0.02)
	for i := 0; i < n; i++ {
		cfg := engine.DefaultConfig()
		cfg.Seed = rng.Uint64()
		cfg.Scheduler.Type = []string{"sarathi", "vllm_v1"}[rng.IntN(2)]
		cfg.Cluster.NumReplicas = 2 + rng.IntN(3)
		cfg.Cluster.PrefillReplicas = 1 + rng.IntN(cfg.Cluster.NumReplicas-1)
		cfg.Cluster.GlobalScheduler = engine.GlobalSchedulerNames[rng.IntN(5)]
		cfg.Cluster.DecodeTensorParallelSize = []int{0, 1, 2}[rng.IntN(3)]
		cfg.Cluster.KVTransferLink = engine.KVLinkNames[rng.IntN(3)]
		cfg.Scheduler.BatchSizeCap = 2 + rng.IntN(30)
		cfg.Scheduler.ChunkSize = 16 + rng.IntN(600)
		cfg.Scheduler.MaxNumBatchedTokens = 16 + rng.IntN(1000)
		cfg.Scheduler.NumBlocks = 70 + rng.IntN(200)
		cfg.Scheduler.EnablePrefixCaching = rng.IntN(2) == 0
		cfg.Workload.MaxTokens = 1024
		cfg.Workload.NumRequests = 20 + rng.IntN(80)
		cfg.Workload.QPS = 5 + rng.Float64()*200
		cfg.Workload.LengthGenerator = []string{"uniform", "zipf", "fixed"}[rng.IntN(3)]
		cfg.Workload.MinTokens = 16
		cfg.Workload.PrefillToDecodeRatio = 0.5 + rng.Float64()*5
		cfg.Workload.PrefillTokens, cfg.Workload.DecodeTokens = 1+rng.IntN(500), 1+rng.IntN(300)
		if cfg.Scheduler.EnablePrefixCaching {
			cfg.Workload.SystemPromptTokens, cfg.Workload.SystemPromptShare, cfg.Workload.SessionTurns = rng.IntN(300), rng.Float64(), rng.IntN(4)
		}
		name := fmt.Sprintf("%d-%s-%s-%dP%dD-tp%d", i, cfg.Scheduler.Type, cfg.Cluster.GlobalScheduler, cfg.Cluster.PrefillReplicas,
			cfg.Cluster.NumReplicas-cfg.Cluster.PrefillReplicas, cfg.Cluster.DecodeTensorParallelSize)
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
			p := cfg.Cluster.PrefillReplicas
			for _, r := range res.Requests {
				if r.Status == engine.StatusRejectedTooLong {
					continue
				}
				if r.Status != engine.StatusOK {
					t.Errorf("request %d: status %s", r.ID, r.Status)
					continue
				}
				if r.PrefillReplica < 0 || r.PrefillReplica >= p || r.Replica < p || r.TransferNs <= 0 || r.FirstTokenNs < r.ScheduledNs+r.TransferNs {
					t.Errorf("request %d: prefill replica %d, decode replica %d, transfer %d ns, scheduled %d, first token %d", r.ID, r.PrefillReplica, r.Replica, r.TransferNs, r.ScheduledNs, r.FirstTokenNs)
				}
			}
		})
	}
}

// Under engine timing (async and sync host loops, blocks of finished
// requests freed when their step's outputs are processed), prefix caching,
// the new routers and disaggregation keep every invariant.
func TestEngineTiming_PrefixRoutingDisaggregation(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 29))
	var hits, transfers int64
	defer func() {
		if hits == 0 || transfers == 0 {
			t.Errorf("the trials had %d hit tokens and %d transfers: they test nothing", hits, transfers)
		}
	}()
	for trial := range 24 {
		overlap := []string{"async", "sync"}[trial%2]
		set := engineSet(t, overlap, rng.Float64(), rng.Float64()*10, rng.Float64()*2, rng.Float64()*0.02)
		cfg := engineConfig()
		cfg.Seed = uint64(trial)
		cfg.Scheduler.Type = []string{"sarathi", "vllm_v1"}[trial/2%2]
		cfg.Scheduler.ChunkSize = 64 + rng.IntN(512)
		cfg.Scheduler.EnablePrefixCaching = true
		cfg.Predictor.Extrapolate = true
		cfg.Cluster.NumReplicas = 2 + rng.IntN(2)
		cfg.Cluster.GlobalScheduler = engine.GlobalSchedulerNames[3+rng.IntN(3)]
		if trial%3 != 0 {
			cfg.Cluster.PrefillReplicas = 1
		}
		cfg.Workload.NumRequests, cfg.Workload.QPS = 20+rng.IntN(60), 1+rng.Float64()*200
		cfg.Workload.LengthGenerator, cfg.Workload.MinTokens, cfg.Workload.MaxTokens = "uniform", 8, 1024
		cfg.Workload.SystemPromptTokens, cfg.Workload.SystemPromptShare, cfg.Workload.SessionTurns = rng.IntN(400), rng.Float64(), rng.IntN(4)
		w, err := workload.Generate(cfg.WorkloadOptions())
		if err != nil {
			t.Fatal(err)
		}
		res := run(t, cfg, w, set)
		if res.Engine == nil {
			t.Fatal("not engine timing")
		}
		hits += res.PrefixCache.HitTokens
		if res.Disagg != nil {
			transfers += res.Disagg.Transfers
		}
		for _, r := range res.Requests {
			if r.Status != engine.StatusOK && r.Status != engine.StatusRejectedTooLong {
				t.Errorf("trial %d request %d: %s", trial, r.ID, r.Status)
			}
		}
	}
}
