package roofline

import (
	"bytes"
	"io/fs"
	"math"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
)

func lookup(t *testing.T, name string) model.Model {
	t.Helper()
	m, err := model.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func gpu(t *testing.T, name string) model.GPU {
	t.Helper()
	g, err := model.LookupGPU(name)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Hand-computed work and roofline times, one case per operator kind.
func TestWork_HandComputed(t *testing.T) {
	llama := Shard{M: lookup(t, "meta-llama/Llama-2-7b-hf"), TP: 1}
	qwen := Shard{M: lookup(t, "Qwen/Qwen3-0.6B"), TP: 1}
	qwen2 := Shard{M: lookup(t, "Qwen/Qwen3-0.6B"), TP: 2}
	a100, h200 := gpu(t, "a100"), gpu(t, "h200")
	cases := []struct {
		name        string
		w           Work
		flops, byts float64
		g           model.GPU
		idealMs     float64 // the larger of FLOPs / peak and bytes / bandwidth
	}{
		// QKV of one token: 4096 x (32 + 2 x 32) x 128 = 4096 x 12288 weights.
		// FLOPs 2 x 4096 x 12288; bytes 2 x (4096 x 12288 + 4096 + 12288);
		// memory-bound: 100,696,064 B / 2,039 GB/s = 0.0493850 ms.
		{"pre_proj n=1", llama.MLPWork("attn_pre_proj", 1), 100663296, 100696064, a100, 100696064 / 2039e9 * 1e3},
		// The same at 4096 tokens: FLOPs 2 x 4096 x 4096 x 12288 = 412.3 G,
		// compute-bound: 412,316,860,416 / 312 T = 1.321528 ms.
		{"pre_proj n=4096", llama.MLPWork("attn_pre_proj", 4096), 412316860416, 2 * (4096*12288 + 4096*4096 + 4096*12288), a100, 412316860416 / 312e12 * 1e3},
		// Gated up projection of 8 tokens: 4096 x 2 x 11008 weights.
		{"up n=8", llama.MLPWork("mlp_up_proj", 8), 2 * 8 * 4096 * 22016, 2 * (4096*22016 + 8*4096 + 8*22016), a100, 2 * (4096*22016 + 8*4096 + 8*22016) / 2039e9 * 1e3},
		// SiLU*mul of 8 tokens reads 2 x 11008 and writes 11008 values each.
		{"act n=8", llama.MLPWork("mlp_act", 8), 4 * 8 * 11008, 2 * 3 * 8 * 11008, a100, 2 * 3 * 8 * 11008 / 2039e9 * 1e3},
		// Decode, Qwen3-0.6B, one sequence of 1024 keys: K and V of 8 heads
		// x 128 read (2 x 1024 x 8 x 128 x 2 B) plus q and out (2 x 16 x
		// 128 x 2 B) = 4,202,496 B; FLOPs 4 x 1024 x 16 x 128 = 8,388,608.
		{"decode 1x1024", qwen.DecodeWork(1, 1024), 8388608, 4202496, h200, 4202496 / 4800e9 * 1e3},
		// At TP 2: 8 query heads and 4 KV heads per rank, half of both.
		{"decode 1x1024 tp2", qwen2.DecodeWork(1, 1024), 4194304, 2101248, h200, 2101248 / 4800e9 * 1e3},
		// Causal prefill of 4 tokens, nothing cached: 4 x (0 + 5/2) = 10
		// query-key pairs x 16 heads x 128 x 4 FLOPs = 81,920; bytes: K, V
		// of 4 tokens (2 x 4 x 8 x 128) and q, out (2 x 4 x 16 x 128), x 2 B.
		{"prefill 4", qwen.PrefillWork(4, 0), 81920, 2 * (2*4*8*128 + 2*4*16*128), h200, 2 * (2*4*8*128 + 2*4*16*128) / 4800e9 * 1e3},
		// Prefill 2048 over 2048 cached keys: 2048 x (2048 + 1024.5) pairs.
		{"prefill 2048+2048", qwen.PrefillWork(2048, 2048), 4 * 2048 * 3072.5 * 16 * 128, 2 * (2*4096*8*128 + 2*2048*16*128), h200, 4 * 2048 * 3072.5 * 16 * 128 / 989e12 * 1e3},
		// KV write of 16 tokens: 2 x 16 x 8 x 128 values, read and written.
		{"kv save 16", qwen.KVSaveWork(16), 0, 2 * 2 * 2 * 16 * 8 * 128, h200, 2 * 2 * 2 * 16 * 8 * 128 / 4800e9 * 1e3},
		// Fused add + RMSNorm of one token reads x and the residual, writes
		// both: 4 x 1024 values + the weight.
		{"add+norm 1", qwen.FusedAddNorm(1), 5 * 1024, 2 * (4*1024 + 1024), h200, 2 * (4*1024 + 1024) / 4800e9 * 1e3},
	}
	for _, c := range cases {
		if c.w.FLOPs != c.flops || c.w.Bytes != c.byts {
			t.Errorf("%s: work %+v, want FLOPs %v bytes %v", c.name, c.w, c.flops, c.byts)
		}
		if got := Ideal(c.w, c.g); math.Abs(got/c.idealMs-1) > 1e-12 {
			t.Errorf("%s: ideal %v ms, want %v", c.name, got, c.idealMs)
		}
	}
	// Time = floor + the larger of the two corrected terms, by hand.
	k := Coeff{Compute: 0.5, Memory: 0.8, FloorUs: 4}
	w := Work{FLOPs: 312e9, Bytes: 2039e6} // 1 ms of compute, 1 ms of memory on the A100
	if got, want := k.Time(w, a100), 0.004+2.0; math.Abs(got-want) > 1e-12 {
		t.Errorf("Time: %v, want %v (floor + 1 ms / 0.5)", got, want)
	}
	w.FLOPs = 0
	if got, want := k.Time(w, a100), 0.004+1.25; math.Abs(got-want) > 1e-12 {
		t.Errorf("Time: %v, want %v (floor + 1 ms / 0.8)", got, want)
	}
}

// Fit recovers known coefficients from samples generated with them.
func TestFit_RecoversKnownCoefficients(t *testing.T) {
	want := Coeff{Compute: 0.6, Memory: 0.75, FloorUs: 4}
	g := gpu(t, "a100")
	sh := Shard{M: lookup(t, "meta-llama/Llama-2-7b-hf"), TP: 1}
	var samples []Sample
	for _, n := range []float64{1, 4, 16, 64, 256, 1024, 4096} {
		for _, op := range []string{"attn_pre_proj", "mlp_up_proj", "mlp_down_proj"} {
			w := sh.MLPWork(op, n)
			samples = append(samples, NewSample(GEMM, op, g, "m", w, want.Time(w, g)))
		}
	}
	got := Fit(samples, nil)[GEMM]
	for _, c := range [][2]float64{{got.Compute, want.Compute}, {got.Memory, want.Memory}, {got.FloorUs, want.FloorUs}} {
		if math.Abs(c[0]/c[1]-1) > 1e-3 {
			t.Errorf("fit %+v, want %+v", got, want)
		}
	}
}

// The generated set loads as any profile set at every TP degree, and its
// predictions are its roofline times; the same spec gives the same bytes.
func TestGenerate(t *testing.T) {
	m, g := lookup(t, "meta-llama/Llama-3.1-8B"), gpu(t, "l40s")
	spec := Spec{Model: m, GPU: g, MaxTokens: 4096, MaxBatch: 128}
	set, err := Generate(spec, "test")
	if err != nil {
		t.Fatal(err)
	}
	if set.Meta.Kind != KindEstimated || set.Meta.Device != "l40s" || set.Meta.NetworkDevice != model.RooflinePCIeNode {
		t.Errorf("meta %+v", set.Meta)
	}
	again, _ := Generate(spec, "test")
	for _, f := range []string{"mlp.csv", "attention.csv", model.RooflinePCIeNode + "/all_reduce.csv"} {
		a, _ := fs.ReadFile(set.FS, f)
		b, _ := fs.ReadFile(again.FS, f)
		if !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("%s differs between two generations (or is empty)", f)
		}
	}
	f, _ := Embedded()
	node := Node(g)
	for _, tp := range []int{1, 2, 4, 8} {
		p, err := predict.New(set, set.Network, predict.Options{Model: m, Node: node, TP: tp, PP: 2, HeadDim: m.HeadDim,
			KVCachePredictionGranularity: 64, AttentionDecodeBatchingOverhead: 0.1, LMHead: true, Embedding: true})
		if err != nil {
			t.Fatalf("tp %d: %v", tp, err)
		}
		b := predict.Batch{NumRequests: 16, Tokens: 16, NumDecodes: 16, DecodeContextSum: 16 * 1024, DecodeContextMax: 1024, LogitSeqs: 16}
		st, err := p.Stage(p.KeyOf(b), 0)
		if err != nil {
			t.Fatal(err)
		}
		sh := Shard{M: m, TP: tp}
		// 16 tokens and 1024 keys are grid points: the lookups are exact.
		if want := f.Coeffs[GEMM].Time(sh.MLPWork("attn_pre_proj", 16), g); math.Abs(st.PreProj/want-1) > 1e-6 {
			t.Errorf("tp %d: pre_proj %v, want %v", tp, st.PreProj, want)
		}
		if want := f.Coeffs[AttnDecode].Time(sh.DecodeWork(16, 1024), g) * 1.1; math.Abs(st.AttnDecode/want-1) > 1e-6 {
			t.Errorf("tp %d: decode %v, want %v (x 1.1 GQA batching overhead)", tp, st.AttnDecode, want)
		}
		if tp > 1 && !(st.TPComm > 0) || st.PPComm <= 0 {
			t.Errorf("tp %d: comm %v / %v", tp, st.TPComm, st.PPComm)
		}
	}
	if _, err := Generate(Spec{Model: m, GPU: model.GPU{Name: "x"}, MaxTokens: 1, MaxBatch: 1}, ""); err == nil {
		t.Error("a GPU without numbers was accepted")
	}
}

// FP8 by hand: a W8A8 GEMM reads one byte per weight and input and writes
// BF16, at the GPU's dense FP8 rate; an FP8 KV cache halves the KV bytes
// of attention and of the cache write. No FP8 measurement exists to
// validate these: the cases check the arithmetic only.
func TestWork_FP8HandComputed(t *testing.T) {
	m := lookup(t, "meta-llama/Llama-2-7b-hf")
	q := lookup(t, "Qwen/Qwen3-0.6B")
	w8 := Shard{M: m, TP: 1, FP8: true}
	kv8 := Shard{M: q, TP: 1, FP8KV: true}
	h100 := gpu(t, "h100") // 3,350 GB/s, 989 BF16 / 1,979 FP8 TFLOP/s dense
	cases := []struct {
		name        string
		w           Work
		flops, byts float64
		fp8         bool
		idealMs     float64
	}{
		// QKV of one token: 4096 x 12288 weights at 1 B, the input 4096 at
		// 1 B, the output 12288 at 2 B = 50,360,320 B; memory-bound:
		// 50,360,320 / 3,350 GB/s = 0.015032931 ms (BF16: 100,696,064 B).
		{"pre_proj n=1 fp8", w8.MLPWork("attn_pre_proj", 1), 100663296, 4096*12288 + 4096 + 2*12288, true, 50360320 / 3350e9 * 1e3},
		// At 4096 tokens: 412,316,860,416 FLOPs / 1,979 T = 0.208346 ms
		// (BF16 on this GPU: / 989 T = 0.416903 ms); bytes 4096 x 12288 +
		// 4096 x 4096 + 2 x 4096 x 12288 = 167,772,160 B, 0.050081 ms.
		{"pre_proj n=4096 fp8", w8.MLPWork("attn_pre_proj", 4096), 412316860416, 167772160, true, 412316860416 / 1979e12 * 1e3},
		// Down projection of 8 tokens: 11008 x 4096 weights at 1 B, 8 x
		// 11008 inputs at 1 B, 8 x 4096 outputs at 2 B.
		{"down n=8 fp8", w8.MLPWork("mlp_down_proj", 8), 2 * 8 * 11008 * 4096, 11008*4096 + 8*11008 + 2*8*4096, true, (11008*4096 + 8*11008 + 2*8*4096) / 3350e9 * 1e3},
		// The LM head stays BF16 (vLLM does not quantize it).
		{"lm_head n=1 fp8 model", w8.MLPWork("lm_head", 1), 2 * 4096 * 32768, 2 * (4096*32768 + 4096 + 32768), false, 2 * (4096*32768 + 4096 + 32768) / 3350e9 * 1e3},
		// Elementwise kernels are unchanged: SiLU*mul still BF16.
		{"act n=8 fp8 model", w8.MLPWork("mlp_act", 8), 4 * 8 * 11008, 2 * 3 * 8 * 11008, false, 2 * 3 * 8 * 11008 / 3350e9 * 1e3},
		// Decode over 1024 keys with an FP8 cache: K and V 2 x 1024 x 8 x
		// 128 at 1 B = 2,097,152 B, q and out 2 x 16 x 128 at 2 B = 8,192 B:
		// 2,105,344 B (BF16 cache: 4,202,496 B); FLOPs unchanged.
		{"decode 1x1024 kv fp8", kv8.DecodeWork(1, 1024), 8388608, 2105344, false, 2105344 / 3350e9 * 1e3},
		// Prefill 4 tokens, nothing cached: K, V 2 x 4 x 8 x 128 at 1 B, q,
		// out 2 x 4 x 16 x 128 at 2 B.
		{"prefill 4 kv fp8", kv8.PrefillWork(4, 0), 81920, 2*4*8*128 + 2*2*4*16*128, false, (2*4*8*128 + 2*2*4*16*128) / 3350e9 * 1e3},
		// KV write of 16 tokens: 2 x 16 x 8 x 128 values read at 2 B and
		// written at 1 B: 12,288 B (BF16: 16,384 B).
		{"kv save 16 kv fp8", kv8.KVSaveWork(16), 0, 3 * 2 * 16 * 8 * 128, false, 3 * 2 * 16 * 8 * 128 / 3350e9 * 1e3},
	}
	for _, c := range cases {
		if c.w.FLOPs != c.flops || c.w.Bytes != c.byts || c.w.FP8 != c.fp8 {
			t.Errorf("%s: work %+v, want FLOPs %v bytes %v fp8 %v", c.name, c.w, c.flops, c.byts, c.fp8)
		}
		if got := Ideal(c.w, h100); math.Abs(got/c.idealMs-1) > 1e-12 {
			t.Errorf("%s: ideal %v ms, want %v", c.name, got, c.idealMs)
		}
	}
	// A compute-bound FP8 GEMM takes half the BF16 one's corrected time on
	// a GPU whose FP8 rate is twice its BF16 rate (floor aside).
	k := Coeff{Compute: 0.5, Memory: 0.8, FloorUs: 0}
	g := model.GPU{Name: "x", MemoryGB: 80, HBMGBps: 1000, BF16TFLOPS: 500, FP8TFLOPS: 1000}
	bf := k.Time(Work{FLOPs: 1e12}, g)
	f8 := k.Time(Work{FLOPs: 1e12, FP8: true}, g)
	if math.Abs(bf-4) > 1e-12 || math.Abs(f8-2) > 1e-12 {
		t.Errorf("1 TFLOP at efficiency 0.5: BF16 %v ms (want 4), FP8 %v ms (want 2)", bf, f8)
	}
}

// FP8 weights are refused by name on a GPU without FP8 tensor cores; the
// generated set records its dtypes and says FP8 is not validated.
func TestGenerate_FP8(t *testing.T) {
	m := lookup(t, "meta-llama/Llama-3.1-8B")
	_, err := Generate(Spec{Model: m, GPU: gpu(t, "a100"), MaxTokens: 4096, MaxBatch: 128, FP8: true}, "test")
	if err == nil || !strings.Contains(err.Error(), "weight_dtype fp8 on a100") || !strings.Contains(err.Error(), "no FP8 tensor cores") {
		t.Errorf("fp8 on the A100: %v", err)
	}
	// An FP8 KV cache needs no FP8 tensor cores (it is storage).
	if _, err := Generate(Spec{Model: m, GPU: gpu(t, "a100"), MaxTokens: 4096, MaxBatch: 128, FP8KV: true}, "test"); err != nil {
		t.Errorf("fp8 KV on the A100: %v", err)
	}
	g := gpu(t, "h100")
	set, err := Generate(Spec{Model: m, GPU: g, MaxTokens: 4096, MaxBatch: 128, FP8: true, FP8KV: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if set.Meta.WeightDtype != "fp8" || set.Meta.KVCacheDtype != "fp8" || !strings.Contains(set.Meta.Summary, "no FP8 measurement to validate") ||
		!strings.Contains(set.Provenance, "**FP8 is not validated.**") {
		t.Errorf("meta %+v; provenance:\n%s", set.Meta, set.Provenance)
	}
	bf, err := Generate(Spec{Model: m, GPU: g, MaxTokens: 4096, MaxBatch: 128}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if bf.Meta.WeightDtype != "" || bf.Meta.Name == set.Meta.Name || strings.Contains(bf.Provenance, "FP8 is not validated") {
		t.Errorf("bf16 meta %+v", bf.Meta)
	}
	// The FP8 set's pre_proj at 4096 tokens is its FP8 roofline time.
	f, _ := Embedded()
	p, err := predict.New(set, set.Network, predict.Options{Model: m, Node: Node(g), TP: 1, PP: 1, HeadDim: m.HeadDim, KVCachePredictionGranularity: 64})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Stage(p.KeyOf(predict.Batch{NumRequests: 1, Tokens: 4096, Prefills: []predict.Prefill{{Chunk: 4096}}, NewRequests: 1, LogitSeqs: 1}), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := f.Coeffs[GEMM].Time(Shard{M: m, TP: 1, FP8: true}.MLPWork("attn_pre_proj", 4096), g)
	if math.Abs(st.PreProj/want-1) > 1e-6 {
		t.Errorf("fp8 pre_proj at 4096 tokens: %v ms, want %v", st.PreProj, want)
	}
}
