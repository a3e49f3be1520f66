package model

import (
	"errors"
	"fmt"
	"math"
)

// Validate checks a model's shape before anything divides by it (a shape
// given in a configuration, not read from the catalogue): sizes within the
// bounds ParseHFConfig enforces, query heads a multiple of KV heads, a
// known activation and norm.
func (m Model) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if m.Name == "" || len(m.Name) > 200 {
		bad("name: 1 to 200 characters, got %d", len(m.Name))
	}
	for _, f := range []struct {
		n      string
		v, max int
	}{{"num_layers", m.NumLayers, 1024}, {"num_q_heads", m.NumQHeads, 1024}, {"num_kv_heads", m.NumKVHeads, 1024},
		{"embedding_dim", m.EmbeddingDim, 1 << 17}, {"mlp_hidden_dim", m.MLPHiddenDim, 1 << 19}, {"vocab_size", m.VocabSize, 1 << 22},
		{"max_position_embeddings", m.MaxPositionEmbeddings, 1 << 24}, {"head_dim", m.HeadDim, 1024}} {
		if f.v < 1 || f.v > f.max {
			bad("%s: must be in [1, %d], got %d", f.n, f.max, f.v)
		}
	}
	// Products bounded so that no size the planner and the estimate
	// derive (KV bytes per request up to 2^31 tokens, weights) overflows.
	if kv := int64(m.NumKVHeads) * int64(m.HeadDim) * int64(m.NumLayers); kv > 1<<22 {
		bad("num_kv_heads x head_dim x num_layers = %d: more than %d (KV values per token)", kv, 1<<22)
	}
	if w := int64(m.EmbeddingDim) * int64(max(m.MLPHiddenDim, m.VocabSize, m.NumQHeads*m.HeadDim)); w > 1<<36 {
		bad("a weight matrix of %d values: more than %d", w, int64(1)<<36)
	}
	if m.NumKVHeads >= 1 && m.NumQHeads%m.NumKVHeads != 0 {
		bad("num_kv_heads %d must divide num_q_heads %d", m.NumKVHeads, m.NumQHeads)
	}
	if m.Activation != "silu" && m.Activation != "gelu" {
		bad("activation: silu or gelu, got %q", clipS(m.Activation))
	}
	if m.Norm != "rms_norm" && m.Norm != "layer_norm" {
		bad("norm: rms_norm or layer_norm, got %q", clipS(m.Norm))
	}
	if !(m.RopeTheta > 0) || math.IsInf(m.RopeTheta, 0) {
		bad("rope_theta: must be a finite number > 0, got %v", m.RopeTheta)
	}
	if !(m.PartialRotaryFactor > 0 && m.PartialRotaryFactor <= 1) {
		bad("partial_rotary_factor: must be in (0, 1], got %v", m.PartialRotaryFactor)
	}
	return errors.Join(errs...)
}
