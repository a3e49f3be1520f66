package runner_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/roofline"
	"github.com/servesim/servesim/internal/runner"
)

func seedJob(cfg engine.Config) runner.Job {
	return runner.Job{Preset: "seed", Config: cfg}
}

// A 70B model on one 80 GB GPU is refused by the memory planner, saying
// that the weights alone exceed the memory and which TP fits; at TP 4 it
// runs on the roofline estimate, labelled as such.
func TestEstimate_70BNeedsTP(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Replica.Model, cfg.Replica.Device = "meta-llama/Llama-3.1-70B", "h100"
	_, err := runner.Run(context.Background(), seedJob(cfg))
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "memory planner: meta-llama/Llama-3.1-70B does not fit on h100") ||
		!strings.Contains(err.Error(), "the weights alone take 127.5 GiB per GPU of the 72.0 GiB available") ||
		!strings.Contains(err.Error(), "it fits at tensor_parallel_size 2") {
		t.Fatalf("got %v", err)
	}
	cfg.Replica.TensorParallelSize = 4
	out, err := runner.Run(context.Background(), seedJob(cfg))
	if err != nil {
		t.Fatal(err)
	}
	r := out.Result
	if r.Profile.Kind != roofline.KindEstimated || !strings.HasPrefix(r.Profile.Summary, "ESTIMATED, not measured") ||
		!strings.Contains(r.Profile.Choice, "no measured profile set for meta-llama/Llama-3.1-70B on h100") {
		t.Errorf("profile %+v", r.Profile)
	}
	if r.Config.Predictor.Profile != runner.ProfileEstimate || r.Config.Replica.NetworkDevice != model.RooflineNVLinkNode {
		t.Errorf("config not pointed at the estimate: %+v %+v", r.Config.Predictor, r.Config.Replica)
	}
	// Weights per GPU at TP 4: a quarter of the layers' 127.5 GiB.
	if gib := float64(r.Resolved.ParamBytes) / (1 << 30); gib < 31.8 || gib > 31.9 || r.Resolved.NumBlocks < 1 {
		t.Errorf("param GiB per GPU %.2f, blocks %d", gib, r.Resolved.NumBlocks)
	}
	for _, q := range r.Requests {
		if q.Status != engine.StatusOK {
			t.Errorf("request %+v", q)
		}
	}
	// Its run_meta config reproduces the run: "estimate" named.
	again, err := runner.Run(context.Background(), runner.Job{Preset: "seed", Config: r.Config, ProfileNamed: true})
	if err != nil || again.Result.EndNs != r.EndNs || again.Result.Profile.Choice != "" {
		t.Errorf("rerun: %v, end %d vs %d, choice %q", err, again.Result.EndNs, r.EndNs, again.Result.Profile.Choice)
	}
}

// Choosing a model and device without naming a set: the measured set
// where the pair has one (with a note), the estimate where asked; a named
// set that contradicts the device stays an error.
func TestChooseProfile(t *testing.T) {
	var c runner.Cache
	cfg := engine.DefaultConfig()
	cfg.Replica.Device = "h200"
	set, note, err := c.ChooseProfile(&cfg, false)
	if err != nil || set.Meta.Name != "h200/qwen3-0.6b" || !strings.Contains(note, "profile set h200/qwen3-0.6b (MEASURED) chosen for Qwen/Qwen3-0.6B on h200") ||
		cfg.Predictor.Profile != "h200/qwen3-0.6b" || set.Meta.Choice != note {
		t.Errorf("auto: %v %q %q", err, note, cfg.Predictor.Profile)
	}
	if s2, _ := c.ProfileSet("h200/qwen3-0.6b"); s2.Meta.Choice != "" {
		t.Error("the note went on the cached set")
	}
	cfg = engine.DefaultConfig()
	cfg.Replica.Device = "h200"
	if _, err := runner.Run(context.Background(), runner.Job{Preset: "seed", Config: cfg, ProfileNamed: true}); err == nil ||
		!strings.Contains(err.Error(), "was made for device a100, but replica_config_device is h200") {
		t.Errorf("named default set on h200: %v", err)
	}
	cfg.Predictor.Profile = runner.ProfileEstimate
	set, note, err = c.ChooseProfile(&cfg, true)
	if err != nil || set.Meta.Kind != roofline.KindEstimated || note != "" || !strings.Contains(set.Provenance, "**Status: ESTIMATED.**") {
		t.Errorf("estimate: %v %+v %q", err, set.Meta, note)
	}
	// Two sets for the H100: the engine's own steps (derived, with
	// engine.json) are chosen over the eager loop's measured ops, which only
	// a name picks.
	cfg = engine.DefaultConfig()
	cfg.Replica.Device = "h100"
	set, note, err = c.ChooseProfile(&cfg, false)
	if err != nil || set.Meta.Name != "h100/qwen3-0.6b" || set.Engine == nil || !strings.Contains(note, "h100/qwen3-0.6b (SYNTHESIZED) chosen") {
		t.Errorf("auto on h100: %v %q", err, note)
	}
	cfg.Predictor.Profile = "h100/qwen3-0.6b-eager-loop"
	if set, _, err := c.ChooseProfile(&cfg, true); err != nil || set.Meta.Name != "h100/qwen3-0.6b-eager-loop" {
		t.Errorf("named eager loop on h100: %v", err)
	}
	// The default pair keeps the default set, no note (the seed's files
	// are unchanged).
	cfg = engine.DefaultConfig()
	if set, note, err := c.ChooseProfile(&cfg, false); err != nil || set.Meta.Name != engine.DefaultProfile || note != "" {
		t.Errorf("default: %v %v %q", err, set.Meta.Name, note)
	}
}

// A model given by its shape (a config.json) on a GPU given by its numbers
// runs on the estimate; a bad shape is a configuration error naming it.
func TestEstimate_CustomModelAndGPU(t *testing.T) {
	m, err := model.ParseHFConfig("config.json", []byte(`{"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 8,
		"num_attention_heads": 16, "num_key_value_heads": 4, "intermediate_size": 5632, "vocab_size": 32000, "max_position_embeddings": 4096}`), "my/tiny-llama")
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.DefaultConfig()
	cfg.Replica.Model, cfg.Replica.ModelSpec = m.Name, &m
	cfg.Replica.Device = "my-gpu"
	cfg.Replica.GPU = &model.GPU{Name: "my-gpu", MemoryGB: 32, HBMGBps: 1000, BF16TFLOPS: 200, PCIeGBps: 64}
	out, err := runner.Run(context.Background(), seedJob(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if p := out.Result.Profile; p.Kind != roofline.KindEstimated || p.Device != "my-gpu" || p.NetworkDevice != model.RooflinePCIeNode {
		t.Errorf("profile %+v", p)
	}
	if out.Result.Resolved.Device.TotalMemoryGB != 32 {
		t.Errorf("device %+v", out.Result.Resolved.Device)
	}
	bad := m
	bad.NumKVHeads = 0
	cfg.Replica.ModelSpec = &bad
	if _, err := runner.Run(context.Background(), seedJob(cfg)); err == nil || !strings.Contains(err.Error(), "num_kv_heads: must be in [1, 1024], got 0") {
		t.Errorf("bad shape: %v", err)
	}
	cfg.Replica.ModelSpec = &m
	cfg.Replica.GPU = &model.GPU{Name: "other", MemoryGB: 32, HBMGBps: 1000, BF16TFLOPS: 200}
	if _, err := runner.Run(context.Background(), seedJob(cfg)); err == nil || !strings.Contains(err.Error(), `gpu is named "other" but device is "my-gpu"`) {
		t.Errorf("gpu name: %v", err)
	}
}

// FP8 through a run: Llama 3.1 70B on one H100 is refused at BF16 but fits
// with FP8 weights (its layers' 127.5 GiB halved to 63.75 GiB of the 72.0);
// an FP8 KV cache doubles the KV blocks; FP8 weights on the A100 are
// refused by name; a measured set is never used for an FP8 run, and a set
// named for one is refused.
func TestEstimate_FP8(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Replica.Model, cfg.Replica.Device = "meta-llama/Llama-3.1-70B", "h100"
	// At BF16 the refusal names the FP8 way too on a GPU with FP8, not on the A100.
	for dev, want := range map[string]bool{"h100": true, "a100": false} {
		cfg.Replica.Device = dev
		_, err := runner.Run(context.Background(), seedJob(cfg))
		if err == nil || strings.Contains(err.Error(), "with weight_dtype fp8 (the roofline estimate, not validated) it fits at tensor_parallel_size 1") != want {
			t.Errorf("%s at bf16: %v", dev, err)
		}
	}
	cfg.Replica.Device, cfg.Replica.WeightDtype = "h100", engine.DtypeFP8
	out, err := runner.Run(context.Background(), seedJob(cfg))
	if err != nil {
		t.Fatal(err)
	}
	r := out.Result.Resolved
	// Layers' weights 136,902,082,560 B at BF16 (TestEstimate_70BNeedsTP's
	// 127.5 GiB): half at FP8. KV per request 2 x 2 B x 128 x 8 heads x
	// 4096 tokens x 80 layers = 1,342,177,280 B; (77,309,411,328 -
	// 68,451,041,280) / that = 6 requests x 256 blocks = 1536 blocks.
	if r.ParamBytes != 136902082560/2 || r.KVBytesPerRequest != 1342177280 || r.NumBlocks != 1536 {
		t.Errorf("fp8 weights: params %d, KV per request %d, blocks %d", r.ParamBytes, r.KVBytesPerRequest, r.NumBlocks)
	}
	if p := out.Result.Profile; p.WeightDtype != "fp8" || !strings.Contains(p.Choice, "at fp8 weights and activations") || !strings.Contains(p.Summary, "no FP8 measurement to validate") {
		t.Errorf("profile %+v", p)
	}
	cfg.Replica.KVCacheDtype = engine.DtypeFP8
	out, err = runner.Run(context.Background(), seedJob(cfg))
	if err != nil {
		t.Fatal(err)
	}
	// KV per request halves: 671,088,640 B, 13 requests x 256 = 3328 blocks.
	if r := out.Result.Resolved; r.KVBytesPerRequest != 1342177280/2 || r.NumBlocks != 3328 {
		t.Errorf("fp8 KV: KV per request %d, blocks %d", r.KVBytesPerRequest, r.NumBlocks)
	}
	cfg.Replica.Device = "a100"
	if _, err := runner.Run(context.Background(), seedJob(cfg)); err == nil || !strings.Contains(err.Error(), "weight_dtype fp8 on a100") {
		t.Errorf("fp8 on the A100: %v", err)
	}
	// Qwen3-0.6B on the H200 has a measured (BF16) set: an FP8 run does
	// not use it but the estimate, and naming it is refused.
	var c runner.Cache
	cfg = engine.DefaultConfig()
	cfg.Replica.Device, cfg.Replica.WeightDtype = "h200", engine.DtypeFP8
	set, note, err := c.ChooseProfile(&cfg, false)
	if err != nil || set.Meta.Kind != roofline.KindEstimated || !strings.Contains(note, "no measured profile set for Qwen/Qwen3-0.6B on h200 at fp8 weights") {
		t.Errorf("fp8 on h200: %v %+v %q", err, set.Meta, note)
	}
	cfg = engine.DefaultConfig()
	cfg.Replica.Device, cfg.Replica.KVCacheDtype, cfg.Predictor.Profile = "h200", engine.DtypeFP8, "h200/qwen3-0.6b"
	if _, err := runner.Run(context.Background(), runner.Job{Preset: "seed", Config: cfg, ProfileNamed: true}); err == nil ||
		!strings.Contains(err.Error(), "holds bf16 times (kv_cache_dtype), but replica.kv_cache_dtype is fp8") {
		t.Errorf("named measured set at fp8 KV: %v", err)
	}
	cfg.Replica.KVCacheDtype = "fp16"
	if _, err := runner.Run(context.Background(), runner.Job{Preset: "seed", Config: cfg, ProfileNamed: true}); err == nil ||
		!strings.Contains(err.Error(), `replica.kv_cache_dtype: unknown "fp16" (valid: bf16, fp8)`) {
		t.Errorf("fp16: %v", err)
	}
}
