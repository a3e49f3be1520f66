package ui

import (
	"encoding/json"
	"testing"
)

// A dropped file is a model config when it is named config.json or is a
// JSON object with a model_type; vLLM results and other JSON are not.
func TestIsModelConfig(t *testing.T) {
	for _, c := range []struct {
		f    File
		want bool
	}{
		{File{"config.json", "not even JSON"}, true}, // the worker reports where it is broken
		{File{"dir/config.json", "{}"}, true},
		{File{"qwen.json", `{"model_type": "qwen3", "hidden_size": 1024}`}, true},
		{File{"result.json", `{"date": "x", "ttfts": [1]}`}, false},
		{File{"x.jsonl", `{"model_type": "llama"}`}, false},
		{File{"run.servesim.json", `{"servesim_run": "1"}`}, false},
	} {
		if got := isModelConfig(c.f); got != c.want {
			t.Errorf("%s: %v, want %v", c.f.Name, got, c.want)
		}
	}
}

// The pickers choose the set (auto) until a set is named; naming one
// forgets them; a dropped config.json goes in the request as its text and
// in the share state.
func TestPicks(t *testing.T) {
	c := &Root{Cfg: map[string]string{}}
	if c.picked() || c.Value(field("predictor.profile")) != "" {
		t.Fatal("nothing picked yet")
	}
	c.Cfg["replica.model_name"], c.Cfg["replica.device"], c.Cfg["replica.weight_dtype"] = "Qwen/Qwen3-8B", "h100", "fp8"
	if !c.picked() || c.Value(field("predictor.profile")) != "auto" {
		t.Error("a picked model and GPU choose the set")
	}
	in, err := c.inputs()
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Config struct {
			Replica   map[string]any `json:"replica"`
			Predictor map[string]any `json:"predictor"`
		} `json:"config"`
	}
	json.Unmarshal([]byte(in.body), &req)
	if req.Config.Replica["model_name"] != "Qwen/Qwen3-8B" || req.Config.Replica["weight_dtype"] != "fp8" || req.Config.Predictor != nil {
		t.Errorf("request %s", in.body)
	}
	c.Cfg["predictor.profile"] = "h200/qwen3-0.6b"
	if c.picked() {
		t.Error("a named set is not chosen")
	}
	c.clearPicks()
	if _, ok := c.Cfg["replica.weight_dtype"]; ok || c.Cfg["predictor.profile"] != "h200/qwen3-0.6b" {
		t.Errorf("clearPicks: %v", c.Cfg)
	}
	delete(c.Cfg, "predictor.profile")
	c.Pick.Config = &File{"config.json", "{\"model_type\": \"llama\"}"} // takeModelConfig's, without the worker
	c.Cfg["replica.gpu.name"], c.Cfg["replica.device"], c.Cfg["replica.gpu.memory_gb"] = "my-gpu", "my-gpu", "24"
	if in, err = c.inputs(); err != nil {
		t.Fatal(err)
	}
	var req2 struct {
		ModelConfig string `json:"model_config"`
		Config      struct {
			Replica struct {
				GPU map[string]any `json:"gpu"`
			} `json:"replica"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(in.body), &req2); err != nil || req2.ModelConfig != "{\"model_type\": \"llama\"}" ||
		req2.Config.Replica.GPU["memory_gb"] != 24.0 || req2.Config.Replica.GPU["name"] != "my-gpu" || in.state.ModelConfig == nil {
		t.Errorf("request %s (%v)", in.body, err)
	}
}
