package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/servesim/servesim/engine/strictjson"
)

// MaxHFConfigBytes bounds a config.json (real ones are a few KB).
const MaxHFConfigBytes = 1 << 20

// HFArchitectures maps the model_type values ParseHFConfig reads (dense
// decoder-only transformers) to their Hugging Face architecture class.
var HFArchitectures = map[string]string{
	"llama":   "LlamaForCausalLM",
	"mistral": "MistralForCausalLM",
	"qwen2":   "Qwen2ForCausalLM",
	"qwen3":   "Qwen3ForCausalLM",
	"phi":     "PhiForCausalLM",
	"phi3":    "Phi3ForCausalLM",
	"gemma":   "GemmaForCausalLM",
}

// refusedKeys are config.json keys of architectures servesim's cost model
// does not describe; a config carrying one is refused by name, never
// simulated as if the key were absent.
var refusedKeys = map[string]string{
	"num_experts":                     "mixture-of-experts models are not supported (dense decoders only)",
	"num_local_experts":               "mixture-of-experts models are not supported (dense decoders only)",
	"num_experts_per_tok":             "mixture-of-experts models are not supported (dense decoders only)",
	"n_routed_experts":                "mixture-of-experts models are not supported (dense decoders only)",
	"n_shared_experts":                "mixture-of-experts models are not supported (dense decoders only)",
	"moe_intermediate_size":           "mixture-of-experts models are not supported (dense decoders only)",
	"shared_expert_intermediate_size": "mixture-of-experts models are not supported (dense decoders only)",
	"decoder_sparse_step":             "mixture-of-experts models are not supported (dense decoders only)",
	"router_aux_loss_coef":            "mixture-of-experts models are not supported (dense decoders only)",
	"kv_lora_rank":                    "multi-head latent attention (MLA) is not supported",
	"q_lora_rank":                     "multi-head latent attention (MLA) is not supported",
	"qk_rope_head_dim":                "multi-head latent attention (MLA) is not supported",
	"qk_nope_head_dim":                "multi-head latent attention (MLA) is not supported",
	"v_head_dim":                      "multi-head latent attention (MLA) is not supported",
	"attn_logit_softcapping":          "attention logit soft-capping (Gemma 2 and later) is not supported",
	"final_logit_softcapping":         "logit soft-capping (Gemma 2 and later) is not supported",
	"layer_types":                     "per-layer attention types (sliding or linear attention layers) are not supported",
	"quantization_config":             "quantized weights are not supported (bfloat16/float16 weights only)",
	"auto_map":                        "models with custom code (auto_map) are not supported",
	"text_config":                     "multimodal models are not supported (text decoders only)",
	"vision_config":                   "multimodal models are not supported (text decoders only)",
}

// hfConfig holds the config.json keys of the supported architectures.
// Keys that do not change the cost model (dropout, token ids, init ranges)
// are accepted and unused; every other key is an error.
type hfConfig struct {
	Architectures         []string        `json:"architectures"`
	ModelType             *string         `json:"model_type"`
	NameOrPath            *string         `json:"_name_or_path"`
	HiddenSize            *int64          `json:"hidden_size"`
	NumHiddenLayers       *int64          `json:"num_hidden_layers"`
	NumAttentionHeads     *int64          `json:"num_attention_heads"`
	NumKeyValueHeads      *int64          `json:"num_key_value_heads"`
	HeadDim               *int64          `json:"head_dim"`
	IntermediateSize      *int64          `json:"intermediate_size"`
	VocabSize             *int64          `json:"vocab_size"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	TorchDType            *string         `json:"torch_dtype"`
	DType                 *string         `json:"dtype"`
	MaxPositionEmbeddings *int64          `json:"max_position_embeddings"`
	OrigMaxPosition       *int64          `json:"original_max_position_embeddings"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	LayerNormEps          *float64        `json:"layer_norm_eps"`
	HiddenAct             *string         `json:"hidden_act"`
	HiddenActivation      *string         `json:"hidden_activation"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	PartialRotaryFactor   *float64        `json:"partial_rotary_factor"`
	AttentionBias         *bool           `json:"attention_bias"`
	MLPBias               *bool           `json:"mlp_bias"`
	QKLayernorm           *bool           `json:"qk_layernorm"`
	SlidingWindow         json.RawMessage `json:"sliding_window"`
	UseSlidingWindow      *bool           `json:"use_sliding_window"`
	MaxWindowLayers       *int64          `json:"max_window_layers"`
	PretrainingTP         *int64          `json:"pretraining_tp"`
	// Accepted, no effect on cost.
	AttentionDropout    any `json:"attention_dropout"`
	ResidPdrop          any `json:"resid_pdrop"`
	EmbdPdrop           any `json:"embd_pdrop"`
	InitializerRange    any `json:"initializer_range"`
	BOSTokenID          any `json:"bos_token_id"`
	EOSTokenID          any `json:"eos_token_id"`
	PadTokenID          any `json:"pad_token_id"`
	UseCache            any `json:"use_cache"`
	TransformersVersion any `json:"transformers_version"`
}

// ParseHFConfig reads a Hugging Face config.json of a dense decoder
// (model_type llama, mistral, qwen2, qwen3, phi, phi3 or gemma) into a
// Model named name. Parsing is strict: an unknown key, a key of an
// unsupported architecture (mixture of experts, sliding-window attention in
// use, multi-head latent attention, soft-capping, quantization), a missing
// or out-of-range value is an error naming file, line and column.
func ParseHFConfig(file string, data []byte, name string) (m Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: internal error reading config.json: %v", file, r)
		}
	}()
	if len(data) > MaxHFConfigBytes {
		return Model{}, fmt.Errorf("%s: %d bytes, more than a config.json's limit of %d", file, len(data), MaxHFConfigBytes)
	}
	at := func(off int64, f string, a ...any) error {
		l, c := strictjson.Position(data, off)
		return &HFConfigError{File: file, Line: l, Column: c, Msg: fmt.Sprintf(f, a...)}
	}
	keys, err := topKeys(data)
	if err != nil {
		var se *strictjson.Error
		if errors.As(err, &se) {
			return Model{}, &HFConfigError{File: file, Line: se.Line, Column: se.Column, Msg: se.Msg}
		}
		return Model{}, at(0, "%v", err)
	}
	for _, k := range keys {
		if why, ok := refusedKeys[k.name]; ok {
			return Model{}, at(k.off, "%q: %s", k.name, why)
		}
	}
	var c hfConfig
	if err := strictjson.Decode(data, &c); err != nil {
		var se *strictjson.Error
		if errors.As(err, &se) {
			return Model{}, &HFConfigError{File: file, Line: se.Line, Column: se.Column, Msg: se.Msg + " (a dense decoder's config.json)"}
		}
		return Model{}, fmt.Errorf("%s: %w", file, err)
	}
	pos := func(key string) int64 {
		for _, k := range keys {
			if k.name == key {
				return k.off
			}
		}
		return 0
	}
	if c.ModelType == nil {
		return Model{}, at(0, "missing \"model_type\" (one of %s)", strings.Join(hfTypes(), ", "))
	}
	mt := *c.ModelType
	arch, ok := HFArchitectures[mt]
	if !ok {
		return Model{}, at(pos("model_type"), "model_type %q is not supported (dense decoders: %s)", clipS(mt), strings.Join(hfTypes(), ", "))
	}
	if len(c.Architectures) > 0 && (len(c.Architectures) != 1 || c.Architectures[0] != arch) {
		return Model{}, at(pos("architectures"), "architectures %q: expected [%q] for model_type %q", c.Architectures, arch, mt)
	}
	need := func(key string, v *int64, lo, hi int64) (int, error) {
		if v == nil {
			return 0, at(0, "missing %q", key)
		}
		if *v < lo || *v > hi {
			return 0, at(pos(key), "%q must be an integer in [%d, %d], got %d", key, lo, hi, *v)
		}
		return int(*v), nil
	}
	var errs []error
	get := func(key string, v *int64, lo, hi int64) int {
		n, err := need(key, v, lo, hi)
		errs = append(errs, err)
		return n
	}
	m.Name = name
	m.EmbeddingDim = get("hidden_size", c.HiddenSize, 1, 1<<17)
	m.NumLayers = get("num_hidden_layers", c.NumHiddenLayers, 1, 1024)
	m.NumQHeads = get("num_attention_heads", c.NumAttentionHeads, 1, 1024)
	m.MLPHiddenDim = get("intermediate_size", c.IntermediateSize, 1, 1<<19)
	m.VocabSize = get("vocab_size", c.VocabSize, 1, 1<<22)
	m.MaxPositionEmbeddings = get("max_position_embeddings", c.MaxPositionEmbeddings, 1, 1<<24)
	if err := errors.Join(errs...); err != nil {
		return Model{}, err
	}
	m.NumKVHeads = m.NumQHeads
	if c.NumKeyValueHeads != nil {
		if m.NumKVHeads, err = need("num_key_value_heads", c.NumKeyValueHeads, 1, int64(m.NumQHeads)); err != nil {
			return Model{}, err
		}
		if m.NumQHeads%m.NumKVHeads != 0 {
			return Model{}, at(pos("num_key_value_heads"), "num_key_value_heads %d must divide num_attention_heads %d", m.NumKVHeads, m.NumQHeads)
		}
	}
	m.HeadDim = m.EmbeddingDim / m.NumQHeads
	if c.HeadDim != nil {
		if m.HeadDim, err = need("head_dim", c.HeadDim, 1, 1024); err != nil {
			return Model{}, err
		}
	} else if m.EmbeddingDim%m.NumQHeads != 0 {
		return Model{}, at(pos("hidden_size"), "hidden_size %d is not a multiple of num_attention_heads %d and no head_dim is given", m.EmbeddingDim, m.NumQHeads)
	}
	dtype, dkey := c.TorchDType, "torch_dtype"
	if dtype == nil {
		dtype, dkey = c.DType, "dtype"
	}
	if dtype != nil && *dtype != "bfloat16" && *dtype != "float16" {
		return Model{}, at(pos(dkey), "%s %q: servesim's cost model reads 2-byte weights (bfloat16 or float16)", dkey, clipS(*dtype))
	}
	if len(c.SlidingWindow) > 0 && string(c.SlidingWindow) != "null" {
		inUse := c.UseSlidingWindow == nil || *c.UseSlidingWindow
		if inUse {
			return Model{}, at(pos("sliding_window"), "\"sliding_window\" %s is in use: sliding-window attention is not supported (null, or use_sliding_window false, is)", clipS(string(c.SlidingWindow)))
		}
	}
	if c.UseSlidingWindow != nil && *c.UseSlidingWindow && (len(c.SlidingWindow) == 0 || string(c.SlidingWindow) == "null") {
		return Model{}, at(pos("use_sliding_window"), "\"use_sliding_window\" true: sliding-window attention is not supported")
	}
	if c.PretrainingTP != nil && *c.PretrainingTP != 1 {
		return Model{}, at(pos("pretraining_tp"), "pretraining_tp %d: only 1 (the served layout) is supported", *c.PretrainingTP)
	}
	act := "silu"
	if c.HiddenAct != nil {
		act = *c.HiddenAct
	}
	if c.HiddenActivation != nil {
		act = *c.HiddenActivation
	}
	switch {
	case act == "silu" || act == "swish":
		m.Activation = "silu"
	case strings.HasPrefix(act, "gelu"):
		m.Activation = "gelu"
	default:
		k := "hidden_act"
		if c.HiddenActivation != nil {
			k = "hidden_activation"
		}
		return Model{}, at(pos(k), "activation %q is not supported (silu or a gelu variant)", clipS(act))
	}
	m.Norm, m.UseGatedMLP, m.PostAttnNorm, m.IsNeoxStyle = "rms_norm", true, true, true
	m.RopeTheta, m.PartialRotaryFactor = 10000, 1
	if c.RopeTheta != nil {
		if !(*c.RopeTheta > 0) || math.IsInf(*c.RopeTheta, 0) {
			return Model{}, at(pos("rope_theta"), "rope_theta must be a finite number > 0, got %v", *c.RopeTheta)
		}
		m.RopeTheta = *c.RopeTheta
	}
	if c.PartialRotaryFactor != nil {
		if !(*c.PartialRotaryFactor > 0 && *c.PartialRotaryFactor <= 1) {
			return Model{}, at(pos("partial_rotary_factor"), "partial_rotary_factor must be in (0, 1], got %v", *c.PartialRotaryFactor)
		}
		m.PartialRotaryFactor = *c.PartialRotaryFactor
	}
	m.TieWordEmbeddings = c.TieWordEmbeddings != nil && *c.TieWordEmbeddings
	if c.AttentionBias != nil {
		m.UseQKVBias = *c.AttentionBias
	}
	if c.MLPBias != nil {
		m.UseBias = *c.MLPBias
	}
	switch mt {
	case "qwen2":
		m.UseQKVBias = true // Qwen2 always has q/k/v biases
	case "qwen3":
		m.QKNorm = true
	case "phi":
		// Phi-1/2: parallel attention and MLP after one LayerNorm, biases
		// everywhere, an ungated GELU MLP; Vidur runs it without TP.
		m.Norm, m.UseGatedMLP, m.PostAttnNorm, m.UseBias, m.UseQKVBias, m.NoTensorParallel = "layer_norm", false, false, true, true, true
		if c.QKLayernorm != nil && *c.QKLayernorm {
			return Model{}, at(pos("qk_layernorm"), "qk_layernorm true is not supported")
		}
	case "gemma":
		if c.TieWordEmbeddings == nil {
			m.TieWordEmbeddings = true // Gemma's default
		}
	}
	if c.QKLayernorm != nil && mt != "phi" {
		return Model{}, at(pos("qk_layernorm"), "\"qk_layernorm\" is a phi key, not %s's", mt)
	}
	if m.Name == "" {
		if c.NameOrPath != nil && *c.NameOrPath != "" {
			m.Name = *c.NameOrPath
		} else {
			m.Name = "custom/" + mt
		}
	}
	if err := m.Validate(); err != nil {
		return Model{}, at(pos("hidden_size"), "%v", err)
	}
	return m, nil
}

// HFConfigError is a problem at a position of a config.json.
type HFConfigError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *HFConfigError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

type keyAt struct {
	name string
	off  int64
}

// topKeys lists the top-level object's keys with the byte offset of each
// (its opening quote); a duplicate key is an error.
func topKeys(data []byte) ([]keyAt, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	at := func(off int64, f string, a ...any) error {
		l, c := strictjson.Position(data, off)
		return &strictjson.Error{Line: l, Column: c, Msg: fmt.Sprintf(f, a...)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, at(dec.InputOffset(), "not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, at(0, "expected a JSON object (a config.json)")
	}
	var keys []keyAt
	for dec.More() {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, at(dec.InputOffset(), "%v", err)
		}
		k, _ := tok.(string)
		off := before + int64(bytes.IndexByte(data[before:], '"'))
		if slices.ContainsFunc(keys, func(x keyAt) bool { return x.name == k }) {
			return nil, at(off, "key %q given twice", clipS(k))
		}
		keys = append(keys, keyAt{k, off})
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, at(int64(len(data)), "the JSON text ends early")
			}
			return nil, at(dec.InputOffset(), "%v", err)
		}
	}
	return keys, nil
}

func hfTypes() []string {
	var t []string
	for k := range HFArchitectures {
		t = append(t, k)
	}
	slices.Sort(t)
	return t
}

func clipS(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
