package ui

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/vugu/vugu"
)

// The model and GPU pickers (issue 20): a catalogue model or a dropped
// Hugging Face config.json, a catalogue GPU or one by its numbers, and the
// roofline estimate's dtypes. Without a profile set named, the worker
// chooses as the CLI does (internal/runner's ChooseProfile, through POST
// /api/profile): the measured set for the pair where one exists, else the
// estimate. The page decides nothing about the choice itself.

// ModelEntry is an entry of GET /api/models.
type ModelEntry struct {
	Name    string `json:"name"`
	Layers  int    `json:"num_layers"`
	Hidden  int    `json:"embedding_dim"`
	QHeads  int    `json:"num_q_heads"`
	KVHeads int    `json:"num_kv_heads"`
	Source  string `json:"source"`
}

// GPUEntry is an entry of GET /api/gpus.
type GPUEntry struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	MemoryGB    float64 `json:"memory_gb"`
	HBMGBps     float64 `json:"hbm_gbps"`
	BF16TFLOPS  float64 `json:"bf16_tflops"`
	FP8TFLOPS   float64 `json:"fp8_tflops"`
	NVLinkGBps  float64 `json:"nvlink_gbps"`
	PCIeGBps    float64 `json:"pcie_gbps"`
	Source      string  `json:"source"`
}

// TPFit is POST /api/profile's verdict on one tensor-parallel degree.
type TPFit struct {
	Size int    `json:"size"`
	Why  string `json:"why"`
}

// ProfileChoice is POST /api/profile's answer.
type ProfileChoice struct {
	Profile        Profile `json:"profile"`
	TensorParallel []TPFit `json:"tensor_parallel"`
}

// pickState is the pickers' state beside Root.Cfg (which holds the
// settings themselves: replica.model_name, replica.device, replica.gpu.*,
// the dtypes).
type pickState struct {
	Models []ModelEntry
	GPUs   []GPUEntry
	// Config is a dropped config.json, sent as model_config.
	Config *File
	// Choice answers POST /api/profile for the inputs in choiceFor; Err is
	// its error (a config.json refused, FP8 on a GPU without it).
	Choice    *ProfileChoice
	Err       *Problem
	choiceFor string
}

// customGPU is the GPU select's value for a GPU given by its numbers.
const customGPU = "!custom"

// configModel is the model select's value for a dropped config.json.
const configModel = "!config"

// gpuFields are the numbers of a custom GPU (config replica.gpu).
var gpuFields = []Field{
	{Key: "replica.gpu.name", Label: "name", Kind: "text", Help: "the GPU's name (replica.device)"},
	{Key: "replica.gpu.memory_gb", Label: "memory (GB)", Kind: "number"},
	{Key: "replica.gpu.hbm_gbps", Label: "memory bandwidth (GB/s)", Kind: "number"},
	{Key: "replica.gpu.bf16_tflops", Label: "dense BF16 (TFLOP/s)", Kind: "number"},
	{Key: "replica.gpu.fp8_tflops", Label: "dense FP8 (TFLOP/s, optional)", Kind: "number", Help: "empty or 0: no FP8 tensor cores"},
	{Key: "replica.gpu.nvlink_gbps", Label: "NVLink (GB/s both ways, optional)", Kind: "number", Help: "empty or 0: none (PCIe links the GPUs)"},
	{Key: "replica.gpu.pcie_gbps", Label: "PCIe (GB/s both ways, optional)", Kind: "number"},
}

// dtypeFields are the roofline estimate's dtypes.
var dtypeFields = []Field{
	{Key: "replica.weight_dtype", Label: "weights and GEMM inputs", Kind: "select", Options: []string{"bf16", "fp8"},
		Help: "fp8: W8A8 GEMMs at the GPU's dense FP8 rate, one byte per weight (the roofline estimate only; not validated against FP8 measurements)"},
	{Key: "replica.kv_cache_dtype", Label: "KV cache", Kind: "select", Options: []string{"bf16", "fp8"},
		Help: "fp8: one byte per KV element (twice the KV blocks, half the attention's KV bytes; the roofline estimate only)"},
}

// pickKeys are the settings the pickers own.
var pickKeys = func() []string {
	k := []string{"replica.model_name", "replica.device"}
	for _, f := range append(gpuFields[:len(gpuFields):len(gpuFields)], dtypeFields...) {
		k = append(k, f.Key)
	}
	return k
}()

// picked reports whether the next run's profile set is chosen for a
// model and GPU (nothing named, or auto/estimate) rather than a named set.
func (c *Root) picked() bool {
	if len(c.ProfileFiles) > 0 {
		return false
	}
	switch c.Cfg["predictor.profile"] {
	case "auto", "estimate":
		return true
	case "":
	default:
		return false
	}
	if c.Pick.Config != nil {
		return true
	}
	for _, k := range pickKeys {
		if _, ok := c.Cfg[k]; ok {
			return true
		}
	}
	return false
}

// clearPicks forgets the pickers' settings (a named set was chosen).
func (c *Root) clearPicks() {
	for _, k := range pickKeys {
		delete(c.Cfg, k)
	}
	delete(c.Cfg, "replica.gpu.description")
	delete(c.Cfg, "replica.gpu.source")
	c.Pick.Config, c.Pick.Choice, c.Pick.Err, c.Pick.choiceFor = nil, nil, nil, ""
}

// pickCatalogs loads the model and GPU catalogues (with the others, after
// the first result), then asks for the choice a restored link needs.
func (c *Root) pickCatalogs() {
	c.request("/api/models", "GET", "", func(status int, body string) {
		if status == 200 {
			json.Unmarshal([]byte(body), &c.Pick.Models)
		}
	})
	c.request("/api/gpus", "GET", "", func(status int, body string) {
		if status == 200 {
			json.Unmarshal([]byte(body), &c.Pick.GPUs)
		}
	})
	c.refreshChoice()
}

// refreshChoice asks the worker which set the next run would use and which
// TP degrees fit, when the pickers are in use and the inputs changed.
func (c *Root) refreshChoice() {
	if !c.picked() {
		c.Pick.Choice, c.Pick.Err, c.Pick.choiceFor = nil, nil, ""
		return
	}
	in, err := c.inputs()
	if err != nil {
		c.Pick.Choice, c.Pick.Err = nil, &Problem{Title: "bad setting", Detail: err.Error()}
		return
	}
	if in.body == c.Pick.choiceFor {
		return
	}
	c.Pick.choiceFor = in.body
	c.request("/api/profile", "POST", in.body, func(status int, text string) {
		if in.body != c.Pick.choiceFor {
			return // the inputs changed meanwhile: a newer answer comes
		}
		c.Pick.Choice, c.Pick.Err = nil, nil
		if status != 200 {
			c.Pick.Err = problemOf(status, text)
			return
		}
		var ch ProfileChoice
		if err := json.Unmarshal([]byte(text), &ch); err != nil {
			c.Pick.Err = problemOf(0, text)
			return
		}
		c.Pick.Choice = &ch
	})
}

// isModelConfig reports whether a dropped file is a Hugging Face
// config.json (named so, or a JSON object with a model_type).
func isModelConfig(f File) bool {
	name := path.Base(strings.ReplaceAll(f.Name, "\\", "/"))
	if name == "config.json" {
		return true
	}
	if !strings.HasSuffix(name, ".json") {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(f.Content), &m) != nil {
		return false
	}
	_, ok := m["model_type"]
	return ok
}

// takeModelConfig takes a dropped config.json as the model.
func (c *Root) takeModelConfig(f File) {
	c.Pick.Config = &f
	delete(c.Cfg, "replica.model_name")
	if p := c.Cfg["predictor.profile"]; p != "auto" && p != "estimate" {
		delete(c.Cfg, "predictor.profile")
	}
	c.refreshChoice()
}

// pickModelConfig adds the model config to a request and its share state.
func (c *Root) pickModelConfig(req map[string]any, st *shareState) {
	if c.Pick.Config == nil || len(c.ProfileFiles) > 0 {
		return
	}
	req["model_config"] = c.Pick.Config.Content
	st.ModelConfig = c.Pick.Config
}

// pickStale lists the pickers' settings that differ from the run on screen.
func (c *Root) pickStale() []string {
	var out []string
	was := c.shown.state
	if c.cfgKey("replica.model_name") != was.Config["replica.model_name"] || !sameFile(c.Pick.Config, was.ModelConfig) {
		out = append(out, "model")
	}
	gpu := false
	for _, k := range append([]string{"replica.device"}, keysOf(gpuFields)...) {
		gpu = gpu || c.cfgKey(k) != was.Config[k]
	}
	if gpu {
		out = append(out, "GPU")
	}
	for _, f := range dtypeFields {
		if c.cfgKey(f.Key) != was.Config[f.Key] {
			out = append(out, f.Label)
		}
	}
	return out
}

func (c *Root) cfgKey(k string) string { return c.Cfg[k] }

func keysOf(fs []Field) []string {
	var k []string
	for _, f := range fs {
		k = append(k, f.Key)
	}
	return k
}

func sameFile(a, b *File) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && a.Content == b.Content
}

// gpuEntry is the catalogue GPU of that name (nil if none).
func (c *Root) gpuEntry(name string) *GPUEntry {
	for i := range c.Pick.GPUs {
		if c.Pick.GPUs[i].Name == name {
			return &c.Pick.GPUs[i]
		}
	}
	return nil
}

// nextDevice is the device the next run uses.
func (c *Root) nextDevice() string {
	if d, ok := c.Cfg["replica.device"]; ok {
		return d
	}
	return c.baseConfig()["replica.device"]
}

// ModelGpu is the settings panel's model and GPU pickers (model-gpu.vugu).
type ModelGpu struct {
	R *Root
}

// ModelChoices are the model select's options.
func (c *ModelGpu) ModelChoices() []Choice {
	r := c.R
	out := []Choice{{Value: "", Label: "the profile set's model (" + r.baseConfig()["replica.model_name"] + ")"}}
	if r.Pick.Config != nil {
		out = append(out, Choice{Value: configModel, Label: "your " + r.Pick.Config.Name, Title: "a dropped Hugging Face config.json"})
	}
	for _, m := range r.Pick.Models {
		out = append(out, Choice{Value: m.Name, Label: fmt.Sprintf("%s (%d layers, hidden %d, %d/%d heads)", m.Name, m.Layers, m.Hidden, m.QHeads, m.KVHeads), Title: m.Source})
	}
	if cur := c.ModelValue(); cur != "" && cur != configModel && !hasChoice(out, cur) {
		out = append(out, Choice{Value: cur, Label: cur})
	}
	return out
}

// ModelValue is the model select's value.
func (c *ModelGpu) ModelValue() string {
	if c.R.Pick.Config != nil {
		return configModel
	}
	return c.R.Cfg["replica.model_name"]
}

// GPUChoices are the GPU select's options.
func (c *ModelGpu) GPUChoices() []Choice {
	r := c.R
	out := []Choice{{Value: "", Label: "the profile set's device (" + r.baseConfig()["replica.device"] + ")"}}
	for _, g := range r.Pick.GPUs {
		out = append(out, Choice{Value: g.Name, Label: fmt.Sprintf("%s: %s, %g GB, %g GB/s, BF16 %g TFLOP/s", g.Name, g.Description, g.MemoryGB, g.HBMGBps, g.BF16TFLOPS), Title: g.Source})
	}
	out = append(out, Choice{Value: customGPU, Label: "custom: a GPU by its numbers"})
	if cur := c.GPUValue(); cur != "" && !hasChoice(out, cur) {
		out = append(out, Choice{Value: cur, Label: cur})
	}
	return out
}

func hasChoice(cs []Choice, v string) bool {
	for _, c := range cs {
		if c.Value == v {
			return true
		}
	}
	return false
}

// GPUValue is the GPU select's value.
func (c *ModelGpu) GPUValue() string {
	if c.Custom() {
		return customGPU
	}
	return c.R.Cfg["replica.device"]
}

// Custom reports whether the GPU is given by its numbers.
func (c *ModelGpu) Custom() bool { _, ok := c.R.Cfg["replica.gpu.name"]; return ok }

// GPUFields are a custom GPU's numbers.
func (c *ModelGpu) GPUFields() []Field { return gpuFields }

// DtypeFields are the estimate's dtypes.
func (c *ModelGpu) DtypeFields() []Field { return dtypeFields }

// Value is a picker field's value ("" for bf16 and absent numbers).
func (c *ModelGpu) Value(f Field) string {
	v := c.R.Cfg[f.Key]
	if v == "" && f.Kind == "select" {
		return "bf16"
	}
	return v
}

// DtypeChoices are a dtype select's options: fp8 weights only on a GPU
// with an FP8 rate.
func (c *ModelGpu) DtypeChoices(f Field) []Choice {
	var out []Choice
	for _, o := range f.Options {
		ch := Choice{Value: o, Label: o}
		if f.Key == "replica.weight_dtype" && o == "fp8" {
			if why := c.noFP8(); why != "" {
				ch.Disabled, ch.Title = true, why
			}
		}
		out = append(out, ch)
	}
	return out
}

// noFP8 says why the next run's GPU cannot run FP8 GEMMs ("" if it can,
// or if its numbers are not known here).
func (c *ModelGpu) noFP8() string {
	r := c.R
	if c.Custom() {
		if v, _ := strconv.ParseFloat(r.Cfg["replica.gpu.fp8_tflops"], 64); !(v > 0) {
			return "give the custom GPU's dense FP8 rate first"
		}
		return ""
	}
	if g := r.gpuEntry(r.nextDevice()); g != nil && !(g.FP8TFLOPS > 0) {
		return g.Name + " has no FP8 tensor cores"
	}
	return ""
}

// Choice is the worker's answer for the next run (nil until it comes, or
// when a named set is used).
func (c *ModelGpu) Choice() *ProfileChoice {
	if !c.R.picked() {
		return nil
	}
	return c.R.Pick.Choice
}

// Err is the worker's refusal of the pickers' settings.
func (c *ModelGpu) Err() *Problem {
	if !c.R.picked() {
		return nil
	}
	return c.R.Pick.Err
}

// Refusal is why the next run's tensor-parallel degree cannot run ("" if
// it can), and Fix the smallest larger degree that can (0: none).
func (c *ModelGpu) Refusal() (string, int) {
	ch := c.Choice()
	if ch == nil {
		return "", 0
	}
	tp := c.R.Value(field("replica.tensor_parallel_size"))
	why := ""
	for _, f := range ch.TensorParallel {
		if strconv.Itoa(f.Size) == tp {
			why = f.Why
		}
	}
	if why == "" {
		return "", 0
	}
	cur, _ := strconv.Atoi(tp)
	for _, f := range ch.TensorParallel {
		if f.Why == "" && f.Size > cur {
			return why, f.Size
		}
	}
	return why, 0
}

// RefusalText is Refusal's message.
func (c *ModelGpu) RefusalText() string { w, _ := c.Refusal(); return w }

// FixTP is Refusal's fix.
func (c *ModelGpu) FixTP() int { _, t := c.Refusal(); return t }

// HandleModel picks a catalogue model (or the profile set's, or the
// dropped config.json).
func (c *ModelGpu) HandleModel(event vugu.DOMEvent) {
	r := c.R
	r.safe(func() {
		v := event.PropString("target", "value")
		switch v {
		case configModel:
			return
		case "":
			delete(r.Cfg, "replica.model_name")
		default:
			r.Cfg["replica.model_name"] = v
		}
		r.Pick.Config = nil
		c.unname()
		r.refreshChoice()
	})
}

// unname lets the run choose its set: a named embedded set is dropped
// (auto and estimate stay).
func (c *ModelGpu) unname() {
	r := c.R
	if p := r.Cfg["predictor.profile"]; p != "auto" && p != "estimate" {
		delete(r.Cfg, "predictor.profile")
	}
	delete(r.Cfg, "replica.network_device") // a named set's node; the estimate prices its own links
}

// HandleGPU picks a catalogue GPU, the profile set's device, or a custom
// one (starting from the current GPU's numbers).
func (c *ModelGpu) HandleGPU(event vugu.DOMEvent) {
	r := c.R
	r.safe(func() {
		v := event.PropString("target", "value")
		from := r.gpuEntry(r.nextDevice())
		for _, f := range gpuFields {
			delete(r.Cfg, f.Key)
		}
		delete(r.Cfg, "replica.gpu.description")
		delete(r.Cfg, "replica.gpu.source")
		switch v {
		case "":
			delete(r.Cfg, "replica.device")
		case customGPU:
			if from == nil {
				from = r.gpuEntry("h100")
			}
			r.Cfg["replica.device"], r.Cfg["replica.gpu.name"] = "my-gpu", "my-gpu"
			r.Cfg["replica.gpu.description"], r.Cfg["replica.gpu.source"] = "given by its numbers", "the page's custom GPU"
			if from != nil {
				f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
				for k, x := range map[string]float64{"memory_gb": from.MemoryGB, "hbm_gbps": from.HBMGBps, "bf16_tflops": from.BF16TFLOPS,
					"fp8_tflops": from.FP8TFLOPS, "nvlink_gbps": from.NVLinkGBps, "pcie_gbps": from.PCIeGBps} {
					if x > 0 {
						r.Cfg["replica.gpu."+k] = f(x)
					}
				}
			}
		default:
			r.Cfg["replica.device"] = v
		}
		c.unname()
		r.refreshChoice()
	})
}

// HandleGPUField records a custom GPU's number (the name is the device's).
func (c *ModelGpu) HandleGPUField(f Field, event vugu.DOMEvent) {
	r := c.R
	r.safe(func() {
		v := strings.TrimSpace(event.PropString("target", "value"))
		switch {
		case f.Key == "replica.gpu.name":
			r.Cfg[f.Key], r.Cfg["replica.device"] = v, v
		case v == "":
			delete(r.Cfg, f.Key)
		default:
			r.Cfg[f.Key] = v
		}
		r.refreshChoice()
	})
}

// HandleDtype records a dtype (bf16 is the default: not sent).
func (c *ModelGpu) HandleDtype(f Field, event vugu.DOMEvent) {
	r := c.R
	r.safe(func() {
		if v := event.PropString("target", "value"); v == "bf16" {
			delete(r.Cfg, f.Key)
		} else {
			r.Cfg[f.Key] = v
		}
		c.unname()
		r.refreshChoice()
	})
}

// HandleFix sets the tensor-parallel degree the model fits at.
func (c *ModelGpu) HandleFix(event vugu.DOMEvent) {
	r := c.R
	r.safe(func() {
		if t := c.FixTP(); t > 0 {
			r.Cfg["replica.tensor_parallel_size"] = strconv.Itoa(t)
			r.refreshChoice()
		}
	})
}

// FixFP8 reports whether the refusal says FP8 weights would fit.
func (c *ModelGpu) FixFP8() bool {
	return strings.Contains(c.RefusalText(), "with weight_dtype fp8") && c.R.Cfg["replica.weight_dtype"] == ""
}

// HandleFixFP8 makes the weights FP8 (the estimate).
func (c *ModelGpu) HandleFixFP8(event vugu.DOMEvent) {
	r := c.R
	r.safe(func() {
		r.Cfg["replica.weight_dtype"] = "fp8"
		c.unname()
		r.refreshChoice()
	})
}

// HandleForget drops a dropped config.json.
func (c *ModelGpu) HandleForget(event vugu.DOMEvent) {
	r := c.R
	r.safe(func() {
		r.Pick.Config = nil
		r.refreshChoice()
	})
}
