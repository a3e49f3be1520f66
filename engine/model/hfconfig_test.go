package model

import (
	"errors"
	"strings"
	"testing"
)

// qwen3Config is Qwen/Qwen3-0.6B's config.json as published on
// huggingface.co (key order and values as there).
const qwen3Config = `{
  "architectures": [
    "Qwen3ForCausalLM"
  ],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "max_position_embeddings": 40960,
  "max_window_layers": 28,
  "model_type": "qwen3",
  "num_attention_heads": 16,
  "num_hidden_layers": 28,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000,
  "sliding_window": null,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
}`

// phi2Config is microsoft/phi-2's config.json (huggingface.co).
const phi2Config = `{
  "_name_or_path": "microsoft/phi-2",
  "architectures": ["PhiForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 50256,
  "embd_pdrop": 0.0,
  "eos_token_id": 50256,
  "hidden_act": "gelu_new",
  "hidden_size": 2560,
  "initializer_range": 0.02,
  "intermediate_size": 10240,
  "layer_norm_eps": 1e-05,
  "max_position_embeddings": 2048,
  "model_type": "phi",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 32,
  "partial_rotary_factor": 0.4,
  "qk_layernorm": false,
  "resid_pdrop": 0.1,
  "rope_scaling": null,
  "rope_theta": 10000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "float16",
  "transformers_version": "4.37.0",
  "use_cache": true,
  "vocab_size": 51200
}`

// The published configs of two table models parse to the table's shapes.
func TestParseHFConfig_MatchesTable(t *testing.T) {
	for _, c := range []struct{ name, text string }{{"Qwen/Qwen3-0.6B", qwen3Config}, {"microsoft/phi-2", phi2Config}} {
		got, err := ParseHFConfig("config.json", []byte(c.text), c.name)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Lookup(c.name)
		if got != want {
			t.Errorf("%s:\n got  %+v\n want %+v", c.name, got, want)
		}
	}
	m, err := ParseHFConfig("config.json", []byte(phi2Config), "")
	if err != nil || m.Name != "microsoft/phi-2" {
		t.Errorf("name from _name_or_path: %q, %v", m.Name, err)
	}
}

// Every catalogue entry parses (at init) and has a source; the Qwen3
// family and Llama 3.x are there with their published shapes.
func TestCatalog(t *testing.T) {
	want := map[string][5]int{ // layers, hidden, heads, kv heads, intermediate
		"Qwen/Qwen3-0.6B": {28, 1024, 16, 8, 3072}, "Qwen/Qwen3-1.7B": {28, 2048, 16, 8, 6144}, "Qwen/Qwen3-4B": {36, 2560, 32, 8, 9728},
		"Qwen/Qwen3-8B": {36, 4096, 32, 8, 12288}, "Qwen/Qwen3-14B": {40, 5120, 40, 8, 17408}, "Qwen/Qwen3-32B": {64, 5120, 64, 8, 25600},
		"meta-llama/Llama-3.1-8B": {32, 4096, 32, 8, 14336}, "meta-llama/Llama-3.1-70B": {80, 8192, 64, 8, 28672},
	}
	for _, e := range Catalog() {
		if e.Source == "" {
			t.Errorf("%s has no source", e.Model.Name)
		}
		if w, ok := want[e.Model.Name]; ok {
			m := e.Model
			if got := [5]int{m.NumLayers, m.EmbeddingDim, m.NumQHeads, m.NumKVHeads, m.MLPHiddenDim}; got != w {
				t.Errorf("%s: %v, want %v", m.Name, got, w)
			}
			delete(want, e.Model.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing from the catalogue: %v", want)
	}
	for _, g := range GPUs() {
		if g.Source == "" {
			t.Errorf("%s has no source", g.Name)
		}
		if _, err := LookupDevice(g.Name); err != nil {
			t.Error(err)
		}
	}
	for _, n := range []string{"a100-40gb", "a100", "h100", "h100-pcie", "h200", "b200", "l40s", "l4", "a10g", "rtx4090"} {
		if _, err := LookupGPU(n); err != nil {
			t.Error(err)
		}
	}
	// Vidur's devices keep Vidur's memory planner values.
	if d, _ := LookupDevice("a40"); d.TotalMemoryGB != 45 {
		t.Errorf("a40: %v GB, want Vidur's 45", d.TotalMemoryGB)
	}
}

// Refused and malformed configs: each error names the position and what
// is wrong.
func TestParseHFConfig_Errors(t *testing.T) {
	base := strings.Replace(qwen3Config, `"vocab_size": 151936`, `"vocab_size": 151936`, 1)
	set := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("no %q", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	cases := []struct {
		name, text, want string
	}{
		{"moe", set(`"use_cache": true,`, `"use_cache": true, "num_experts": 128,`), `config.json:27:22: "num_experts": mixture-of-experts`},
		{"mixtral", set(`"use_cache": true,`, `"num_local_experts": 8,`), `config.json:27:3: "num_local_experts": mixture-of-experts`},
		{"mla", set(`"use_cache": true,`, `"kv_lora_rank": 512,`), `config.json:27:3: "kv_lora_rank": multi-head latent attention`},
		{"sliding in use", strings.Replace(set(`"sliding_window": null`, `"sliding_window": 4096`), `"use_sliding_window": false`, `"use_sliding_window": true`, 1), `config.json:23:3: "sliding_window" 4096 is in use`},
		{"sliding unsaid", strings.Replace(set(`"sliding_window": null`, `"sliding_window": 4096`), `"use_sliding_window": false,`, ``, 1), `"sliding_window" 4096 is in use`},
		{"sliding on", set(`"use_sliding_window": false`, `"use_sliding_window": true`), `config.json:28:3: "use_sliding_window" true`},
		{"unknown key", set(`"use_cache": true,`, `"use_cahce": true,`), `config.json:27:3: unknown key "use_cahce"`},
		{"model type", set(`"model_type": "qwen3"`, `"model_type": "gpt2"`), `config.json:16:3: model_type "gpt2" is not supported`},
		{"arch", set(`"Qwen3ForCausalLM"`, `"LlamaForCausalLM"`), `config.json:2:3: architectures`},
		{"kv heads", set(`"num_key_value_heads": 8`, `"num_key_value_heads": 3`), `config.json:19:3: num_key_value_heads 3 must divide`},
		{"zero layers", set(`"num_hidden_layers": 28`, `"num_hidden_layers": 0`), `config.json:18:3: "num_hidden_layers" must be an integer in [1, 1024], got 0`},
		{"type", set(`"hidden_size": 1024`, `"hidden_size": "1024"`), `hidden_size`},
		{"float", set(`"hidden_size": 1024`, `"hidden_size": 10.5`), `hidden_size`},
		{"dtype", set(`"torch_dtype": "bfloat16"`, `"torch_dtype": "float32"`), `config.json:25:3: torch_dtype "float32"`},
		{"act", set(`"hidden_act": "silu"`, `"hidden_act": "relu"`), `config.json:10:3: activation "relu"`},
		{"dup", set(`"use_cache": true,`, `"use_cache": true, "use_cache": false,`), `config.json:27:22: key "use_cache" given twice`},
		{"missing", strings.Replace(base, `"hidden_size": 1024,`, ``, 1), `missing "hidden_size"`},
		{"quantized", set(`"use_cache": true,`, `"quantization_config": {"bits": 4},`), `quantized weights`},
		{"trailing", base + "{}", `unexpected data after the JSON value`},
		{"not object", `[1]`, `expected a JSON object`},
		{"empty", ``, `not JSON`},
		{"truncated", base[:200], `config.json:`},
	}
	for _, c := range cases {
		_, err := ParseHFConfig("config.json", []byte(c.text), "x")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		var he *HFConfigError
		if err != nil && !errors.As(err, &he) {
			t.Errorf("%s: %T is not an HFConfigError", c.name, err)
		}
	}
}

// FuzzParseHFConfig: any bytes give a model whose shape passes the
// parser's bounds, or an HFConfigError with a position inside the text.
func FuzzParseHFConfig(f *testing.F) {
	f.Add([]byte(qwen3Config))
	f.Add([]byte(phi2Config))
	f.Add([]byte(`{"model_type":"llama","num_experts":2}`))
	f.Add([]byte(`{"model_type":"gemma","hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":4,"vocab_size":4,"max_position_embeddings":8}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseHFConfig("f.json", b, "")
		if err != nil {
			var he *HFConfigError
			if !errors.As(err, &he) {
				if len(b) <= MaxHFConfigBytes {
					t.Fatalf("%T: %v", err, err)
				}
				return
			}
			if he.Line < 1 || he.Column < 1 {
				t.Fatalf("position %d:%d", he.Line, he.Column)
			}
			return
		}
		if m.NumLayers < 1 || m.NumQHeads < 1 || m.NumKVHeads < 1 || m.NumQHeads%m.NumKVHeads != 0 || m.HeadDim < 1 || m.EmbeddingDim < 1 || m.Name == "" {
			t.Fatalf("bad model %+v", m)
		}
	})
}

// Shapes whose derived sizes could overflow are refused; every catalogue
// model passes Validate.
func TestModelValidate(t *testing.T) {
	for _, e := range Catalog() {
		if err := e.Model.Validate(); err != nil {
			t.Errorf("%s: %v", e.Model.Name, err)
		}
	}
	m, _ := Lookup("Qwen/Qwen3-0.6B")
	big := m
	big.NumLayers, big.NumKVHeads, big.NumQHeads, big.HeadDim = 1024, 1024, 1024, 1024
	if err := big.Validate(); err == nil || !strings.Contains(err.Error(), "KV values per token") {
		t.Errorf("huge KV: %v", err)
	}
	bad := m
	bad.NumKVHeads, bad.Activation = 3, "relu"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "num_kv_heads 3 must divide num_q_heads 16") || !strings.Contains(err.Error(), `activation: silu or gelu, got "relu"`) {
		t.Errorf("bad: %v", err)
	}
}
