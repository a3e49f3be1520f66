package model

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
)

//go:embed catalog/models.json catalog/gpus.json
var catalogFS embed.FS

// Entry is a catalogue model with the source of its numbers.
type Entry struct {
	Model  Model
	Source string
}

// vidurSource is the source of the models of model.go's table.
const vidurSource = "Vidur's model configs (vidur/config/model_config.py, MIT), head_dim and tie_word_embeddings from the model's config.json on huggingface.co"

// catalog is the model catalogue: model.go's table (Vidur's models and
// Qwen3-0.6B) and catalog/models.json (Hugging Face config.json values read
// by ParseHFConfig). It is read on first use, not at start-up: a run of a
// model of model.go's table never needs the file (in the page's wasm its
// parse was a noticeable part of the engine's start).
var catalog = sync.OnceValue(func() []Entry {
	var out []Entry
	for _, m := range models {
		out = append(out, Entry{m, vidurSource})
	}
	var file struct {
		Note   string `json:"note"`
		Models []struct {
			Name   string          `json:"name"`
			Source string          `json:"source"`
			Config json.RawMessage `json:"config"`
		} `json:"models"`
	}
	b, err := catalogFS.ReadFile("catalog/models.json")
	if err == nil {
		err = json.Unmarshal(b, &file)
	}
	if err != nil {
		panic("model: catalog/models.json: " + err.Error())
	}
	for _, e := range file.Models {
		m, err := ParseHFConfig("catalog/models.json:"+e.Name, e.Config, e.Name)
		if err != nil {
			panic("model: " + err.Error())
		}
		out = append(out, Entry{m, e.Source})
	}
	seen := map[string]bool{}
	for _, e := range out {
		if seen[e.Model.Name] {
			panic("model: catalogue lists " + e.Model.Name + " twice")
		}
		seen[e.Model.Name] = true
	}
	return out
})

// Catalog lists every known model with the source of its numbers, sorted
// by name.
func Catalog() []Entry {
	out := append([]Entry(nil), catalog()...)
	sort.Slice(out, func(i, j int) bool { return out[i].Model.Name < out[j].Model.Name })
	return out
}

// GPU is an accelerator's datasheet numbers, what the roofline estimate
// needs: memory, memory bandwidth, dense tensor rates and link bandwidths.
type GPU struct {
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	MemoryGB    float64 `json:"memory_gb"`
	HBMGBps     float64 `json:"hbm_gbps"`    // memory bandwidth, GB/s
	BF16TFLOPS  float64 `json:"bf16_tflops"` // dense
	FP8TFLOPS   float64 `json:"fp8_tflops"`  // dense; 0: none
	NVLinkGBps  float64 `json:"nvlink_gbps"` // per GPU, both directions; 0: none
	PCIeGBps    float64 `json:"pcie_gbps"`   // both directions
	Source      string  `json:"source,omitempty"`
}

// Validate checks that a GPU's numbers can drive the estimate: a name,
// memory, bandwidth and BF16 rate > 0 and finite, the others >= 0.
func (g GPU) Validate() error {
	var bad []string
	if g.Name == "" || len(g.Name) > 64 {
		bad = append(bad, fmt.Sprintf("name: 1 to 64 characters, got %q", clipS(g.Name)))
	}
	for _, f := range []struct {
		n   string
		v   float64
		pos bool
		hi  float64
	}{{"memory_gb", g.MemoryGB, true, 1e5}, {"hbm_gbps", g.HBMGBps, true, 1e6}, {"bf16_tflops", g.BF16TFLOPS, true, 1e6},
		{"fp8_tflops", g.FP8TFLOPS, false, 1e6}, {"nvlink_gbps", g.NVLinkGBps, false, 1e6}, {"pcie_gbps", g.PCIeGBps, false, 1e6}} {
		ok := f.v >= 0 && f.v <= f.hi && !math.IsNaN(f.v)
		if f.pos {
			ok = ok && f.v > 0
		}
		if !ok {
			want := ">= 0"
			if f.pos {
				want = "> 0"
			}
			bad = append(bad, fmt.Sprintf("%s: must be %s and at most %g, got %v", f.n, want, f.hi, f.v))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("gpu %q: %s", clipS(g.Name), strings.Join(bad, "; "))
	}
	return nil
}

// Device is the GPU as the memory planner sees it.
func (g GPU) Device() Device {
	return Device{Name: g.Name, FP16TFLOPS: g.BF16TFLOPS, TotalMemoryGB: g.MemoryGB}
}

// gpus is the GPU catalogue (catalog/gpus.json), read on first use.
var gpus = sync.OnceValue(func() []GPU {
	var file struct {
		Note string `json:"note"`
		GPUs []GPU  `json:"gpus"`
	}
	b, err := catalogFS.ReadFile("catalog/gpus.json")
	if err == nil {
		err = json.Unmarshal(b, &file)
	}
	if err != nil {
		panic("model: catalog/gpus.json: " + err.Error())
	}
	for _, g := range file.GPUs {
		if err := g.Validate(); err != nil {
			panic("model: catalog/gpus.json: " + err.Error())
		}
	}
	return file.GPUs
})

// GPUs lists the GPU catalogue, in its file's order.
func GPUs() []GPU { return append([]GPU(nil), gpus()...) }

// LookupGPU returns a catalogue GPU by name.
func LookupGPU(name string) (GPU, error) {
	var names []string
	for _, g := range gpus() {
		if g.Name == name {
			return g, nil
		}
		names = append(names, g.Name)
	}
	return GPU{}, fmt.Errorf("unknown GPU %q (catalogue: %s; or give its numbers)", clipS(name), strings.Join(names, ", "))
}
