// Package model holds the static facts the simulator needs about models,
// devices and nodes (Vidur §7), in one read-only table per kind.
package model

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Model is a transformer's shape. Field names follow Vidur's model config;
// HeadDim, QKNorm and TieWordEmbeddings are servesim additions that Vidur's
// schema cannot express (Vidur derives head_dim as embedding_dim/num_q_heads).
type Model struct {
	Name                  string  `json:"name"`
	NumLayers             int     `json:"num_layers"`
	NumQHeads             int     `json:"num_q_heads"`
	NumKVHeads            int     `json:"num_kv_heads"`
	EmbeddingDim          int     `json:"embedding_dim"`
	MLPHiddenDim          int     `json:"mlp_hidden_dim"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	UseGatedMLP           bool    `json:"use_gated_mlp"`
	UseBias               bool    `json:"use_bias"`
	UseQKVBias            bool    `json:"use_qkv_bias"`
	Activation            string  `json:"activation"`
	Norm                  string  `json:"norm"`
	PostAttnNorm          bool    `json:"post_attn_norm"`
	VocabSize             int     `json:"vocab_size"`
	IsNeoxStyle           bool    `json:"is_neox_style"`
	RopeTheta             float64 `json:"rope_theta"`
	PartialRotaryFactor   float64 `json:"partial_rotary_factor"`
	NoTensorParallel      bool    `json:"no_tensor_parallel"`
	HeadDim               int     `json:"head_dim"`
	QKNorm                bool    `json:"qk_norm"`
	TieWordEmbeddings     bool    `json:"tie_word_embeddings"`
}

// GQA reports whether the model shares KV heads between query heads; Vidur
// applies its attention batching overheads only then.
func (m Model) GQA() bool { return m.NumQHeads > m.NumKVHeads }

// DerivedHeadDim is Vidur's head_dim: embedding_dim / num_q_heads.
func (m Model) DerivedHeadDim() int { return m.EmbeddingDim / m.NumQHeads }

func llama(name string, layers, q, kv, e, f, maxPos, vocab int, theta float64) Model {
	return Model{Name: name, NumLayers: layers, NumQHeads: q, NumKVHeads: kv, EmbeddingDim: e, MLPHiddenDim: f,
		MaxPositionEmbeddings: maxPos, UseGatedMLP: true, Activation: "silu", Norm: "rms_norm", PostAttnNorm: true,
		VocabSize: vocab, IsNeoxStyle: true, RopeTheta: theta, PartialRotaryFactor: 1, HeadDim: e / q}
}

// models is the table of known models: Qwen3-0.6B (the product's first
// model) and the models Vidur ships profiles for.
var models = func() []Model {
	qwen3 := llama("Qwen/Qwen3-0.6B", 28, 16, 8, 1024, 3072, 40960, 151936, 1e6)
	qwen3.HeadDim, qwen3.QKNorm, qwen3.TieWordEmbeddings = 128, true, true
	qwen72 := llama("Qwen/Qwen-72B", 80, 64, 64, 8192, 24576, 32768, 152064, 1e6)
	qwen72.UseQKVBias = true
	phi2 := Model{Name: "microsoft/phi-2", NumLayers: 32, NumQHeads: 32, NumKVHeads: 32, EmbeddingDim: 2560, MLPHiddenDim: 10240,
		MaxPositionEmbeddings: 2048, Activation: "gelu", Norm: "layer_norm", UseBias: true, UseQKVBias: true, VocabSize: 51200,
		IsNeoxStyle: true, RopeTheta: 10000, PartialRotaryFactor: 0.4, NoTensorParallel: true, HeadDim: 80}
	return []Model{
		qwen3,
		llama("meta-llama/Llama-2-7b-hf", 32, 32, 32, 4096, 11008, 4096, 32768, 10000),
		llama("meta-llama/Llama-2-70b-hf", 80, 64, 8, 8192, 28672, 4096, 32768, 10000),
		llama("meta-llama/Meta-Llama-3-8B", 32, 32, 8, 4096, 14336, 4096, 128256, 500000),
		llama("meta-llama/Meta-Llama-3-70B", 80, 64, 8, 8192, 28672, 8192, 128256, 500000),
		llama("codellama/CodeLlama-34b-Instruct-hf", 48, 64, 8, 8192, 22016, 16384, 32768, 1e6),
		llama("internlm/internlm-20b", 60, 40, 40, 5120, 13824, 4096, 103168, 10000),
		llama("internlm/internlm2-20b", 48, 48, 8, 6144, 16384, 32768, 92544, 1e6),
		phi2,
		qwen72,
	}
}()

// Lookup returns a catalogue model by its exact name.
func Lookup(name string) (Model, error) {
	for _, m := range models { // the catalogue's first part, no file to read
		if m.Name == name {
			return m, nil
		}
	}
	for _, e := range catalog() {
		if e.Model.Name == name {
			return e.Model, nil
		}
	}
	return Model{}, fmt.Errorf("unknown model %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// Names lists the catalogue's models.
func Names() []string {
	var n []string
	for _, e := range catalog() {
		n = append(n, e.Model.Name)
	}
	sort.Strings(n)
	return n
}

// Device is a GPU SKU (Vidur §7.3). Only the memory size (memory planner)
// and the fp16 rate (MFU) are used.
type Device struct {
	Name          string  `json:"name"`
	FP16TFLOPS    float64 `json:"fp16_tflops"`
	TotalMemoryGB float64 `json:"total_memory_gb"`
}

var devices = []Device{
	{"a100", 312, 80},
	{"h100", 1000, 80},
	{"h200", 989, 141},
	{"a40", 150, 45},
}

// LookupDevice returns a device SKU by name: Vidur's four devices as
// Vidur sizes them, then the GPU catalogue's (catalog.go).
func LookupDevice(name string) (Device, error) {
	var names []string
	for _, d := range devices {
		if d.Name == name {
			return d, nil
		}
		names = append(names, d.Name)
	}
	for _, g := range gpus() {
		if g.Name == name {
			return g.Device(), nil
		}
		if !slices.Contains(names, g.Name) {
			names = append(names, g.Name)
		}
	}
	return Device{}, fmt.Errorf("unknown device %q (valid: %s)", clipS(name), strings.Join(names, ", "))
}

// Node is a server SKU (Vidur §7.4): it picks the network profile folder
// and decides whether pipeline peers are on one node.
type Node struct {
	Name           string `json:"name"`
	DevicesPerNode int    `json:"num_devices_per_node"`
}

var nodes = []Node{
	{"a100_pairwise_nvlink", 4},
	{"a100_dgx", 8},
	{"h100_pairwise_nvlink", 4},
	{"h100_dgx", 8},
	{"a40_pairwise_nvlink", 8},
	{RooflineNVLinkNode, 8},
	{RooflinePCIeNode, 8},
}

// The nodes of roofline estimates (engine/roofline): 8 GPUs on NVLink or on
// PCIe, their collectives priced from the GPU's link bandwidth. Their
// network CSVs come with the estimate's profile set.
const (
	RooflineNVLinkNode = "roofline_nvlink"
	RooflinePCIeNode   = "roofline_pcie"
)

// LookupNode returns a node SKU by name.
func LookupNode(name string) (Node, error) {
	var names []string
	for _, n := range nodes {
		if n.Name == name {
			return n, nil
		}
		names = append(names, n.Name)
	}
	return Node{}, fmt.Errorf("unknown network_device %q (valid: %s)", name, strings.Join(names, ", "))
}
