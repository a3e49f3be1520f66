package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --model takes a catalogue name or a config.json; --device a catalogue
// GPU or one given by --gpu_* numbers; without --profile the run uses the
// estimate and says so.
func TestSimulate_AnyModelAnyGPU(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := runCLI(t, "simulate", "--out", dir, "--model", "testdata/hf/llama-config.json", "--device", "l4")
	if code != exitOK || !strings.Contains(errs, "note: no measured profile set for example/tiny-llama on l4: ESTIMATED") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var meta struct {
		Profile map[string]any `json:"profile"`
		Config  struct {
			Replica struct {
				Model     string         `json:"model_name"`
				ModelSpec map[string]any `json:"model_spec"`
			} `json:"replica"`
		} `json:"config"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "run_meta.json"))
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Profile["kind"] != "estimated" || meta.Config.Replica.Model != "example/tiny-llama" || meta.Config.Replica.ModelSpec["num_kv_heads"] != 4.0 {
		t.Errorf("run_meta: %+v %+v", meta.Profile, meta.Config.Replica)
	}
	sum, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	if !strings.Contains(string(sum), "(ESTIMATED)") || !strings.Contains(string(sum), "**Profile choice**") {
		t.Errorf("summary.md does not say the set is an estimate:\n%s", sum)
	}
	// A GPU by its numbers, and a catalogue model.
	code, _, errs = runCLI(t, "simulate", "--quiet", "--out", t.TempDir(), "--model", "Qwen/Qwen3-4B", "--device", "my-card",
		"--gpu_memory_gb", "32", "--gpu_hbm_gbps", "900", "--gpu_bf16_tflops", "150")
	if code != exitOK {
		t.Errorf("custom GPU: exit %d: %s", code, errs)
	}
	code, _, errs = runCLI(t, "simulate", "--quiet", "--out", t.TempDir(), "--device", "my-card", "--gpu_memory_gb", "32")
	if code != exitUsage || !strings.Contains(errs, "hbm_gbps: must be > 0") {
		t.Errorf("incomplete GPU: exit %d: %s", code, errs)
	}
	// A mixture-of-experts config is refused by name and position.
	code, _, errs = runCLI(t, "simulate", "--quiet", "--out", t.TempDir(), "--model", "testdata/hf/mixtral-config.json")
	if code != exitInput || !strings.Contains(errs, `testdata/hf/mixtral-config.json:7:3: "num_experts_per_tok": mixture-of-experts models are not supported`) {
		t.Errorf("MoE: exit %d: %s", code, errs)
	}
	// --profile estimate: the estimate even where a measured set exists.
	code, _, errs = runCLI(t, "simulate", "--quiet", "--out", dir, "--device", "h200", "--profile", "estimate")
	b, _ = os.ReadFile(filepath.Join(dir, "run_meta.json"))
	if code != exitOK || !strings.Contains(string(b), `"kind": "estimated"`) {
		t.Errorf("--profile estimate: exit %d: %s", code, errs)
	}
	// The catalogues.
	code, out, _ := runCLI(t, "models")
	if code != exitOK || !strings.Contains(out, "meta-llama/Llama-3.1-70B\t80 layers") || !strings.Contains(out, "huggingface.co/meta-llama/Llama-3.1-70B") {
		t.Errorf("models: %d %s", code, out)
	}
	code, out, _ = runCLI(t, "gpus")
	if code != exitOK || !strings.Contains(out, "b200\t") || !strings.Contains(out, "datasheet") {
		t.Errorf("gpus: %d %s", code, out)
	}
}

// servesim estimate writes the estimate as a profile folder that a run
// opens with --profile DIR and that predicts what the in-memory estimate
// does.
func TestEstimate_WritesProfileFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "est")
	code, out, errs := runCLI(t, "estimate", "--model", "Qwen/Qwen3-8B", "--device", "l40s", "--out", dir)
	if code != exitOK || !strings.Contains(out, "ESTIMATED") {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	for _, f := range []string{"mlp.csv", "attention.csv", "all_reduce.csv", "send_recv.csv", "PROVENANCE.md", "profile.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	a, b := t.TempDir(), t.TempDir()
	if code, _, errs := runCLI(t, "simulate", "--quiet", "--out", a, "--profile", dir, "--model", "Qwen/Qwen3-8B", "--tp", "2"); code != exitOK {
		t.Fatalf("--profile DIR: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLI(t, "simulate", "--quiet", "--out", b, "--model", "Qwen/Qwen3-8B", "--device", "l40s", "--tp", "2"); code != exitOK {
		t.Fatalf("estimate: exit %d: %s", code, errs)
	}
	ra, _ := os.ReadFile(filepath.Join(a, "request_metrics.csv"))
	rb, _ := os.ReadFile(filepath.Join(b, "request_metrics.csv"))
	if len(ra) == 0 || string(ra) != string(rb) {
		t.Errorf("the written folder predicts differently from the estimate:\n%s\n%s", ra, rb)
	}
}
