package main

import (
	"encoding/json"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/roofline"
	"github.com/servesim/servesim/internal/runner"
)

// modelFromFile reads replica.model_name as a Hugging Face config.json when
// it names a file (a catalogue name never does): the model's shape goes in
// replica.model_spec, its name (the config's _name_or_path, else
// custom/<model_type>) in model_name.
func modelFromFile(cfg *engine.Config) error {
	path := cfg.Replica.Model
	st, err := os.Stat(path)
	if err != nil || st.IsDir() {
		if strings.HasSuffix(path, ".json") {
			return fmt.Errorf("--model %s: not a readable config.json file (%v); catalogue models: servesim models", path, err)
		}
		return nil
	}
	if st.Size() > model.MaxHFConfigBytes {
		return fmt.Errorf("%s: %d bytes, more than a config.json's limit of %d", path, st.Size(), model.MaxHFConfigBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	m, err := model.ParseHFConfig(path, b, "")
	if err != nil {
		return err
	}
	cfg.Replica.Model, cfg.Replica.ModelSpec = m.Name, &m
	return nil
}

// gpuNumbers are the flags of a GPU given by its numbers.
type gpuNumbers struct {
	memory, hbm, bf16, fp8, nvlink, pcie *float64
}

func gpuFlags(fs *cliFlags) *gpuNumbers {
	g := &gpuNumbers{new(float64), new(float64), new(float64), new(float64), new(float64), new(float64)}
	fs.Float64Var(g.memory, "gpu_memory_gb", 0, "a GPU by its numbers (with --device NAME; a catalogue GPU's other numbers are kept): memory in GB")
	fs.Float64Var(g.hbm, "gpu_hbm_gbps", 0, "GPU memory bandwidth in GB/s")
	fs.Float64Var(g.bf16, "gpu_bf16_tflops", 0, "GPU dense BF16 tensor rate in TFLOP/s")
	fs.Float64Var(g.fp8, "gpu_fp8_tflops", 0, "GPU dense FP8 tensor rate in TFLOP/s (0: none; --weight_dtype fp8 runs its GEMMs at it)")
	fs.Float64Var(g.nvlink, "gpu_nvlink_gbps", 0, "GPU NVLink bandwidth in GB/s, both directions (0: none, PCIe is used)")
	fs.Float64Var(g.pcie, "gpu_pcie_gbps", 0, "GPU PCIe bandwidth in GB/s, both directions")
	return g
}

// dtypeFlags are the roofline estimate's dtypes (replica.weight_dtype,
// replica.kv_cache_dtype).
func dtypeFlags(fs *cliFlags, r *engine.ReplicaConfig) {
	fs.StringVar(&r.WeightDtype, "weight_dtype", r.WeightDtype, "weights and GEMM inputs: bf16 (default) or fp8 (W8A8 at the GPU's dense FP8 rate, one byte per weight; the roofline estimate only, not validated against FP8 measurements)")
	fs.StringVar(&r.KVCacheDtype, "kv_cache_dtype", r.KVCacheDtype, "KV cache: bf16 (default) or fp8 (one byte per element: more KV blocks, fewer attention bytes; the roofline estimate only)")
}

// apply puts a GPU given by numbers into replica.gpu, named --device and
// starting from the catalogue's numbers for that name if it has them.
func (g *gpuNumbers) apply(fs *cliFlags, cfg *engine.Config) error {
	names := []string{"gpu_memory_gb", "gpu_hbm_gbps", "gpu_bf16_tflops", "gpu_fp8_tflops", "gpu_nvlink_gbps", "gpu_pcie_gbps"}
	vals := []*float64{g.memory, g.hbm, g.bf16, g.fp8, g.nvlink, g.pcie}
	any := false
	for _, n := range names {
		any = any || fs.given(n)
	}
	if !any {
		return nil
	}
	gpu, err := model.LookupGPU(cfg.Replica.Device)
	if err != nil {
		gpu = model.GPU{Name: cfg.Replica.Device, Description: "given by its numbers", Source: "the --gpu_* flags"}
	} else {
		gpu.Description += ", numbers changed by flags"
		gpu.Source += "; changed by the --gpu_* flags"
	}
	dst := []*float64{&gpu.MemoryGB, &gpu.HBMGBps, &gpu.BF16TFLOPS, &gpu.FP8TFLOPS, &gpu.NVLinkGBps, &gpu.PCIeGBps}
	for i, n := range names {
		if fs.given(n) {
			*dst[i] = *vals[i]
		}
	}
	if err := gpu.Validate(); err != nil {
		return fmt.Errorf("--device %s with --gpu_* numbers: %w", cfg.Replica.Device, err)
	}
	cfg.Replica.GPU = &gpu
	return nil
}

// cmdModels lists the model catalogue with the source of each model's
// numbers.
func cmdModels(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		return fail(stderr, exitUsage, fmt.Errorf("usage: servesim models (no arguments)"))
	}
	for _, e := range model.Catalog() {
		m := e.Model
		fmt.Fprintf(stdout, "%s\t%d layers, hidden %d, %d/%d heads x %d, MLP %d, vocab %d\n\t%s\n", m.Name, m.NumLayers, m.EmbeddingDim,
			m.NumQHeads, m.NumKVHeads, m.HeadDim, m.MLPHiddenDim, m.VocabSize, e.Source)
	}
	return exitOK
}

// cmdGPUs lists the GPU catalogue with each entry's datasheet.
func cmdGPUs(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		return fail(stderr, exitUsage, fmt.Errorf("usage: servesim gpus (no arguments)"))
	}
	for _, g := range model.GPUs() {
		fmt.Fprintf(stdout, "%s\t%s: %g GB, %g GB/s, BF16 %g / FP8 %g TFLOP/s dense, NVLink %g GB/s, PCIe %g GB/s (node %s)\n\t%s\n",
			g.Name, g.Description, g.MemoryGB, g.HBMGBps, g.BF16TFLOPS, g.FP8TFLOPS, g.NVLinkGBps, g.PCIeGBps, roofline.Node(g).Name, g.Source)
	}
	return exitOK
}

// cmdEstimate writes the roofline estimate for a model and GPU as a profile
// folder (what a run without a measured set generates), to read or to
// run with --profile DIR.
func cmdEstimate(args []string, stdout, stderr io.Writer) int {
	cfg := engine.DefaultConfig()
	fs := newCLIFlags("estimate")
	fs.StringVar(&cfg.Replica.Model, "model", cfg.Replica.Model, "model: a catalogue `NAME` (servesim models) or a config.json path")
	fs.StringVar(&cfg.Replica.Device, "device", cfg.Replica.Device, "GPU: a catalogue `NAME` (servesim gpus) or the name of one given by --gpu_*")
	gpu := gpuFlags(fs)
	dtypeFlags(fs, &cfg.Replica)
	fs.IntVar(&cfg.Workload.MaxTokens, "max_tokens", cfg.Workload.MaxTokens, "longest context the tables cover")
	fs.IntVar(&cfg.Scheduler.BatchSizeCap, "batch_cap", cfg.Scheduler.BatchSizeCap, "largest decode batch the tables cover")
	out := fs.String("out", "", "output `DIR` (created)")
	help := func(w io.Writer) {
		fmt.Fprint(w, "usage: servesim estimate --model NAME|config.json --device NAME --out DIR [flags]\n\n"+
			"Writes the roofline estimate (ESTIMATED, not measured) for the model on the GPU as a profile folder in\n"+
			"Vidur's schemas: mlp.csv, attention.csv, all_reduce.csv, send_recv.csv, PROVENANCE.md and, for a\n"+
			"catalogue model, profile.json (servesim simulate --profile DIR runs it).\n\n")
		fs.printHelp(w)
	}
	if code, done := fs.parse(args, help, stdout, stderr); done {
		return code
	}
	if *out == "" || fs.NArg() > 0 {
		return fail(stderr, exitUsage, fmt.Errorf("usage: servesim estimate --model NAME|config.json --device NAME --out DIR"))
	}
	if err := modelFromFile(&cfg); err != nil {
		return fail(stderr, exitInput, err)
	}
	if err := gpu.apply(fs, &cfg); err != nil {
		return fail(stderr, exitUsage, err)
	}
	if err := cfg.Validate(); err != nil {
		return fail(stderr, exitUsage, err)
	}
	set, err := runner.Estimate(&cfg)
	if err != nil {
		return fail(stderr, errCode(err), err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(stderr, exitUsage, err)
	}
	files := map[string]string{"mlp.csv": "mlp.csv", "attention.csv": "attention.csv",
		"all_reduce.csv": set.Meta.NetworkDevice + "/all_reduce.csv", "send_recv.csv": set.Meta.NetworkDevice + "/send_recv.csv"}
	for dst, src := range files {
		b, err := iofs.ReadFile(set.FS, src)
		if err == nil {
			err = os.WriteFile(filepath.Join(*out, dst), b, 0o644)
		}
		if err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("--out %s: %w", *out, err))
		}
	}
	writes := map[string][]byte{"PROVENANCE.md": []byte(set.Provenance)}
	if cfg.Replica.ModelSpec == nil && cfg.Replica.GPU == nil { // a set another run can open by its names
		meta := set.Meta
		meta.Name = set.Meta.Name // "estimate:DEVICE/MODEL", with the dtypes when not bf16
		b, _ := json.MarshalIndent(meta, "", "  ")
		writes["profile.json"] = append(b, '\n')
	}
	for n, b := range writes {
		if err := os.WriteFile(filepath.Join(*out, n), b, 0o644); err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("--out %s: %w", *out, err))
		}
	}
	fmt.Fprintf(stdout, "wrote the ESTIMATED profile set for %s on %s to %s (%s)\n", cfg.Replica.Model, cfg.Replica.Device, *out, set.Meta.Summary)
	return exitOK
}
