package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/workload"
)

func qwen3(t testing.TB) model.Model {
	m, err := model.Lookup("Qwen/Qwen3-0.6B")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// trace builds a workload from a Vidur trace CSV.
func trace(t testing.TB, csv string, cfg engine.Config) *workload.Workload {
	t.Helper()
	w, err := workload.Load([]workload.File{{Name: "trace.csv", R: strings.NewReader(csv)}}, cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func run(t testing.TB, cfg engine.Config, w *workload.Workload, set *predict.Set) *engine.Result {
	t.Helper()
	res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{KeepMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, res)
	return res
}

// checkInvariants asserts what must hold for any run.
func checkInvariants(t testing.TB, res *engine.Result) {
	t.Helper()
	for i, r := range res.Requests {
		if r.ID != i {
			t.Fatalf("request %d has id %d", i, r.ID)
		}
		if r.Status != engine.StatusOK {
			continue
		}
		if r.DecodeActual != r.Decode {
			t.Errorf("request %d: produced %d tokens, want %d", i, r.DecodeActual, r.Decode)
		}
		if !(r.ArrivalNs <= r.ScheduledNs && r.ScheduledNs < r.FirstTokenNs && r.FirstTokenNs <= r.CompletionNs) {
			t.Errorf("request %d: times out of order: arrival %d scheduled %d first %d done %d", i, r.ArrivalNs, r.ScheduledNs, r.FirstTokenNs, r.CompletionNs)
		}
		times := res.TokenTimes(i)
		if len(times) != r.Decode || times[0] != r.FirstTokenNs || times[len(times)-1] != r.CompletionNs {
			t.Errorf("request %d: token times do not match first/completion", i)
		}
		for k := 1; k < len(times); k++ {
			if times[k] <= times[k-1] {
				t.Fatalf("request %d: token %d at %d not after %d", i, k, times[k], times[k-1])
			}
		}
	}
	var prevEnd = map[int32]int64{}
	for id, b := range res.Batches {
		if b.EndAt < b.ScheduledAt || b.EndAt-b.ScheduledAt < b.TotalNs/int64(res.Config.Replica.NumPipelineStages) {
			t.Fatalf("batch %d: ends %d before it could (scheduled %d, %d ns)", id, b.EndAt, b.ScheduledAt, b.TotalNs)
		}
		if res.Engine != nil {
			// Engine timing: the GPU runs one step at a time, each after its launch.
			var syncNs int64
			if res.Engine.Overlap == "async" {
				syncNs = predict.Nanos(res.Engine.SyncMs)
			}
			gpuStart := b.EndAt - b.ModelNs - syncNs
			if gpuStart < prevEnd[b.Replica] || gpuStart < b.LaunchedAt() {
				t.Fatalf("batch %d on replica %d: GPU starts at %d, before the previous step ended (%d) or before its launch (%d)", id, b.Replica, gpuStart, prevEnd[b.Replica], b.LaunchedAt())
			}
		} else if res.Config.Replica.NumPipelineStages == 1 && b.ScheduledAt < prevEnd[b.Replica] {
			t.Fatalf("batch %d on replica %d starts at %d before the previous ended at %d", id, b.Replica, b.ScheduledAt, prevEnd[b.Replica])
		}
		prevEnd[b.Replica] = b.EndAt
		if int(b.KVBlocksInUse) > res.Resolved.NumBlocks {
			t.Fatalf("batch %d: %d KV blocks in use of %d", id, b.KVBlocksInUse, res.Resolved.NumBlocks)
		}
	}
}

const seedTrace = "arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,12,64\n0.0,10,64\n0.0,15,64\n0.0,16,64\n"

// TestSeed_OnePrefillThen63Decodes: the seed's 4 requests arrive together;
// Sarathi puts all 53 prompt tokens in one iteration, then 63 decodes of
// batch 4 follow.
func TestSeed_OnePrefillThen63Decodes(t *testing.T) {
	cfg := engine.DefaultConfig()
	tm := enginetest.Uniform(0.002, 0.001, 0.003, 0.005)
	set := enginetest.Set(qwen3(t), tm, 4096, 128)
	res := run(t, cfg, trace(t, seedTrace, cfg), set)
	// Per layer, prefill: 9 ops x 0.002 + kv save 0.001 + prefill 0.005 x 1.1
	// (GQA, 4 prefills) = 0.0245 ms; x 28 layers = 0.686 ms.
	// Decode: 0.018 + 0.001 + 0.003 x 1.1 (GQA, batch 4) = 0.0223 ms; x 28 = 0.6244 ms.
	const prefillNs, decodeNs = 686000, 624400
	if got := len(res.Batches); got != 64 {
		t.Fatalf("got %d iterations, want 64", got)
	}
	b0 := res.Batches[0]
	if b0.Size() != 4 || b0.Tokens() != 53 || b0.PrefillTokens() != 53 || b0.TotalNs != prefillNs {
		t.Errorf("first batch: size %d tokens %d prefill %d time %d; want 4, 53, 53, %d", b0.Size(), b0.Tokens(), b0.PrefillTokens(), b0.TotalNs, prefillNs)
	}
	for id, b := range res.Batches[1:] {
		if b.Size() != 4 || b.Tokens() != 4 || b.DecodeTokens() != 4 || b.TotalNs != decodeNs {
			t.Fatalf("batch %d: size %d tokens %d decode %d time %d; want 4, 4, 4, %d", id+1, b.Size(), b.Tokens(), b.DecodeTokens(), b.TotalNs, decodeNs)
		}
	}
	for _, r := range res.Requests {
		if r.FirstTokenNs != prefillNs || r.CompletionNs != prefillNs+63*decodeNs {
			t.Errorf("request %d: TTFT %d E2E %d, want %d and %d", r.ID, r.FirstTokenNs, r.CompletionNs, prefillNs, prefillNs+63*decodeNs)
		}
	}
	// Keys: T8 = 56, one equivalent chunk round(sqrt(144+100+225+256)) = 27.
	if k := b0.Key; k.T8 != 56 || k.Cp != 27 || k.Kp != 0 || k.NumPrefills != 4 {
		t.Errorf("prefill key %+v", k)
	}
	// First decode: contexts 13, 11, 16, 17 -> mean 14.25 -> 14 -> 64.
	if k := res.Batches[1].Key; k.Bd != 4 || k.Kd != 64 || k.T8 != 8 {
		t.Errorf("decode key %+v", k)
	}
}

func TestDeterministic(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Workload.NumRequests = 200
	cfg.Workload.QPS = 20
	cfg.Workload.LengthGenerator = "uniform"
	cfg.Workload.MinTokens = 64
	cfg.Workload.MaxTokens = 2048
	set := enginetest.Set(qwen3(t), enginetest.Uniform(0.002, 0.001, 0.003, 0.005), 4096, 128)
	w1, err := workload.Generate(cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	w2, _ := workload.Generate(cfg.WorkloadOptions())
	a, b := run(t, cfg, w1, set), run(t, cfg, w2, set)
	for i := range a.Requests {
		ra, rb := a.Requests[i], b.Requests[i]
		ra2, rb2 := a.TokenTimes(i), b.TokenTimes(i)
		if ra.CompletionNs != rb.CompletionNs || len(ra2) != len(rb2) {
			t.Fatalf("request %d differs between runs", i)
		}
	}
}

// TestRun_PanicBecomesInternalError: a panic inside a run (here from a
// progress hook) is recovered at Run's boundary and reported, so a host
// (the browser worker above all) keeps running; the next run works.
func TestRun_PanicBecomesInternalError(t *testing.T) {
	cfg := engine.DefaultConfig()
	set := enginetest.Set(qwen3(t), enginetest.Uniform(0.002, 0.001, 0.003, 0.005), 4096, 128)
	w := trace(t, seedTrace, cfg)
	_, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set},
		engine.Options{ProgressEvery: 1, OnProgress: func(engine.Progress) { panic("boom") }})
	var ie *engine.InternalError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v, want an InternalError carrying the panic", err)
	}
	run(t, cfg, w, set)
}

// TestRun_ProfileMustMatchDevice: a profile set holds one device's times,
// and the memory planner sizes the KV cache from replica.device; a run that
// mixes them is refused as a configuration error, not silently computed.
func TestRun_ProfileMustMatchDevice(t *testing.T) {
	cfg := engine.DefaultConfig()
	set := enginetest.Set(qwen3(t), enginetest.Uniform(0.002, 0.001, 0.003, 0.005), 4096, 128) // made for a100
	w := trace(t, seedTrace, cfg)
	cfg.Replica.Device = "h100"
	_, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{})
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "made for device a100, but replica_config_device is h100") {
		t.Fatalf("got %v, want a ConfigError naming both devices", err)
	}
}
