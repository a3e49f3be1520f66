// Package roofline estimates per-operator GPU times of a dense decoder on
// any GPU from the model's shape and the GPU's datasheet numbers: each
// kernel's time is a per-class floor plus its roofline time (FLOPs over the
// dense BF16 rate or bytes over the memory bandwidth, whichever is larger)
// divided by an efficiency, both fitted on measured per-operator timings
// (fit.go; the fitted numbers are coeffs.json, with their held-out errors).
// Generate writes the estimate as a profile set in Vidur's schemas, so the
// predictor, the memory planner and TP/PP use it as any other set.
//
// Read first: Work (what each operator reads and computes), then Coeffs.
package roofline

import (
	"fmt"
	"math"

	"github.com/servesim/servesim/engine/model"
)

// Class groups operators whose kernels share an efficiency and a floor.
type Class string

// The operator classes: the GEMMs share one (they are all cuBLAS matrix
// products of the same kind); every other kernel is a class of its own,
// since a norm, a gather and a scattered cache write reach different
// fractions of the bandwidth and have different fixed costs.
const (
	GEMM        Class = "gemm"         // the projections and the LM head
	Norm        Class = "norm"         // RMSNorm / LayerNorm (with the residual add where fused)
	Rope        Class = "rope"         // rotary embedding of queries and keys
	Act         Class = "act"          // the MLP activation (SiLU*mul)
	Add         Class = "add"          // the residual add
	Emb         Class = "emb"          // the embedding gather
	KVSave      Class = "kv_save"      // the KV-cache write
	AttnPrefill Class = "attn_prefill" // attention of a prefill chunk over its cached and own keys
	AttnDecode  Class = "attn_decode"  // attention of one query per sequence over its keys
)

// Classes lists the classes in a fixed order.
var Classes = []Class{GEMM, Norm, Rope, Act, Add, Emb, KVSave, AttnPrefill, AttnDecode}

// Work is what one kernel call does: floating-point operations and bytes
// moved to or from device memory (each tensor read or written once). FP8
// says the FLOPs run on the FP8 tensor cores (an FP8 GEMM), at the GPU's
// dense FP8 rate instead of its BF16 rate.
type Work struct {
	FLOPs, Bytes float64
	FP8          bool
}

// peak is the dense tensor rate w's FLOPs run at, in FLOP/s.
func (w Work) peak(g model.GPU) float64 {
	if w.FP8 {
		return g.FP8TFLOPS * 1e12
	}
	return g.BF16TFLOPS * 1e12
}

// Coeff is a class's fitted correction: time = FloorUs + max(FLOPs /
// (peak x Compute), Bytes / (bandwidth x Memory)).
type Coeff struct {
	Compute float64 `json:"compute_efficiency"`
	Memory  float64 `json:"memory_efficiency"`
	FloorUs float64 `json:"floor_us"`
}

// Coeffs holds one Coeff per class.
type Coeffs map[Class]Coeff

// Validate checks that every class has efficiencies in (0, 1.5] and a
// floor in [0, 1000] µs.
func (c Coeffs) Validate() error {
	for _, cl := range Classes {
		k, ok := c[cl]
		if !ok {
			return fmt.Errorf("roofline: no coefficients for class %s", cl)
		}
		if !(k.Compute > 0 && k.Compute <= 1.5 && k.Memory > 0 && k.Memory <= 1.5 && k.FloorUs >= 0 && k.FloorUs <= 1000) {
			return fmt.Errorf("roofline: class %s: efficiencies must be in (0, 1.5] and the floor in [0, 1000] us, got %+v", cl, k)
		}
	}
	return nil
}

// Ideal is the roofline time in ms of w on g: the larger of compute and
// memory time at the datasheet rates.
func Ideal(w Work, g model.GPU) float64 {
	return math.Max(w.FLOPs/w.peak(g), w.Bytes/(g.HBMGBps*1e9)) * 1e3
}

// Time is the estimated time in ms of w on g.
func (k Coeff) Time(w Work, g model.GPU) float64 {
	c := w.FLOPs / (w.peak(g) * k.Compute)
	m := w.Bytes / (g.HBMGBps * 1e9 * k.Memory)
	return k.FloorUs*1e-3 + math.Max(c, m)*1e3
}

// Op is one operator of a layer (or of the model, for emb and lm_head) as
// Vidur's profiles name it, with its class.
type Op struct {
	Name  string
	Class Class
}

// MLPOps are the mlp.csv operators (Vidur's names; emb and lm_head once per
// step, the others per layer).
var MLPOps = []Op{{"input_layernorm", Norm}, {"attn_pre_proj", GEMM}, {"attn_rope", Rope},
	{"attn_post_proj", GEMM}, {"post_attention_layernorm", Norm}, {"mlp_up_proj", GEMM}, {"mlp_act", Act},
	{"mlp_down_proj", GEMM}, {"add", Add}, {"emb", Emb}, {"lm_head", GEMM}}

const (
	bf16 = 2 // bytes per BF16 weight, activation or KV element
	fp8  = 1 // bytes per FP8 one
)

// Shard is a model as one tensor-parallel rank holds it. FP8 makes the
// layers' GEMMs W8A8 FP8 (vLLM's fp8 quantization: weights and input
// activations one byte, the output BF16, the FLOPs at the FP8 rate; the LM
// head stays BF16, as vLLM leaves it unquantized); FP8KV stores the KV
// cache at one byte per element (attention reads it so; its FLOPs stay
// BF16, the kernel dequantizes). Everything else is BF16.
type Shard struct {
	M     model.Model
	TP    int
	FP8   bool
	FP8KV bool
}

// kvBytes is the bytes per KV-cache element.
func (s Shard) kvBytes() float64 {
	if s.FP8KV {
		return fp8
	}
	return bf16
}

func (s Shard) qHeads() float64 { return float64(s.M.NumQHeads / s.TP) }

// kvHeads: KV heads are replicated when TP exceeds them (Vidur, vLLM).
func (s Shard) kvHeads() float64 { return float64((s.M.NumKVHeads + s.TP - 1) / s.TP) }

func gemm(n, k, nOut float64) Work {
	return Work{FLOPs: 2 * n * k * nOut, Bytes: bf16 * (k*nOut + n*k + n*nOut)}
}

// layerGEMM is a layer's projection: gemm, or its FP8 form when the shard
// is FP8 (weights k x nOut and inputs n x k one byte each, the output BF16).
func (s Shard) layerGEMM(n, k, nOut float64) Work {
	if !s.FP8 {
		return gemm(n, k, nOut)
	}
	return Work{FLOPs: 2 * n * k * nOut, Bytes: fp8*(k*nOut+n*k) + bf16*n*nOut, FP8: true}
}

// MLPWork is the work of operator op on n tokens. Variants of what the
// kernel does (a residual add fused into the norm, QK-norm fused into RoPE)
// are Fused's business: FusedAddNorm and FusedQKNormRope.
func (s Shard) MLPWork(op string, n float64) Work {
	m := s.M
	e, hd, f, tp := float64(m.EmbeddingDim), float64(m.HeadDim), float64(m.MLPHiddenDim), float64(s.TP)
	q, kv := s.qHeads(), s.kvHeads()
	gated := 1.0
	if m.UseGatedMLP {
		gated = 2
	}
	switch op {
	case "input_layernorm", "post_attention_layernorm":
		return Work{FLOPs: 4 * n * e, Bytes: bf16 * (2*n*e + e)}
	case "attn_pre_proj":
		return s.layerGEMM(n, e, (q+2*kv)*hd)
	case "attn_rope":
		rot := (q + kv) * hd * m.PartialRotaryFactor
		return Work{FLOPs: 3 * n * rot, Bytes: bf16 * 2 * n * rot}
	case "attn_post_proj":
		return s.layerGEMM(n, q*hd, e)
	case "mlp_up_proj":
		return s.layerGEMM(n, e, gated*f/tp)
	case "mlp_act":
		return Work{FLOPs: 4 * n * f / tp, Bytes: bf16 * (gated + 1) * n * f / tp}
	case "mlp_down_proj":
		return s.layerGEMM(n, f/tp, e)
	case "add":
		return Work{FLOPs: n * e, Bytes: bf16 * 3 * n * e}
	case "emb":
		return Work{Bytes: bf16 * 2 * n * e}
	case "lm_head":
		return gemm(n, e, float64(m.VocabSize)/tp)
	}
	panic("roofline: unknown op " + op)
}

// FusedAddNorm is the work of a residual add fused into an RMSNorm (the
// reference engine's kernel): it reads and writes the residual too.
func (s Shard) FusedAddNorm(n float64) Work {
	e := float64(s.M.EmbeddingDim)
	return Work{FLOPs: 5 * n * e, Bytes: bf16 * (4*n*e + e)}
}

// KVSaveWork is the work of writing n tokens' keys and values into the
// cache (read once as BF16, written once at the cache's dtype).
func (s Shard) KVSaveWork(n float64) Work {
	elems := 2 * n * s.kvHeads() * float64(s.M.HeadDim)
	return Work{Bytes: (bf16 + s.kvBytes()) * elems}
}

// DecodeWork is the attention of b sequences of one query token each over
// k keys each: the keys and values are read once, Q·K and P·V cost 2 FLOPs
// per multiply-add.
func (s Shard) DecodeWork(b, k float64) Work {
	hd := float64(s.M.HeadDim)
	q, kv := s.qHeads(), s.kvHeads()
	return Work{FLOPs: 4 * b * k * q * hd, Bytes: s.kvBytes()*2*b*k*kv*hd + bf16*2*b*q*hd}
}

// PrefillWork is the causal attention of a chunk of c tokens over k cached
// keys and its own: query i attends to k + i + 1 keys.
func (s Shard) PrefillWork(c, k float64) Work {
	hd := float64(s.M.HeadDim)
	q, kv := s.qHeads(), s.kvHeads()
	pairs := c * (k + (c+1)/2)
	return Work{FLOPs: 4 * pairs * q * hd, Bytes: s.kvBytes()*2*(k+c)*kv*hd + bf16*2*c*q*hd}
}
