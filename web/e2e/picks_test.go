package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// pickSelect chooses a picker select's option (waiting for the catalogue
// to have it) and fires its change event.
func pickSelect(id, value string) chromedp.Action {
	sel := `[id="` + id + `"]`
	return chromedp.Tasks{
		chromedp.WaitReady(sel+` option[value="`+value+`"]`, chromedp.ByQuery),
		chromedp.SetValue(sel, value, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('`+sel+`').dispatchEvent(new Event("change", {bubbles: true}))`, nil),
	}
}

// downloaded waits for a downloaded file in dir and returns its bytes.
func downloaded(t *testing.T, dir, name string) []byte {
	t.Helper()
	for i := 0; i < 100; i++ {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && len(b) > 0 {
			return b
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s was not downloaded", name)
	return nil
}

// TestPage_PickModelGPU: a catalogue model on a catalogue GPU without a
// measured set runs on the roofline estimate, labelled ESTIMATED with the
// choice and its provenance one click away; the files are the CLI's bytes
// for `--model --device` (and with --weight_dtype fp8 --kv_cache_dtype fp8).
func TestPage_PickModelGPU(t *testing.T) {
	srv, ctx := setup(t)
	dir := t.TempDir()
	files := []string{"request_metrics.csv", "batch_metrics.csv", "run_meta.json"}
	var kind, fp8Title string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true),
		chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"),
		pickSelect("pick-model", "Qwen/Qwen3-8B"), pickSelect("pick-gpu", "l40s"),
		waitText("#pick-choice", "no measured profile set for Qwen/Qwen3-8B on l40s: ESTIMATED"),
		waitText("#profile-kind", "ESTIMATED"), chromedp.Text("#profile-kind", &kind, chromedp.ByQuery),
		waitText("#profile-summary", "held-out |error|"),
		waitText("#stale", "model"),
		chromedp.Click("#provenance", chromedp.ByQuery), waitText("pre.prov", "**Status: ESTIMATED.**"), waitText("pre.prov", "GPU: l40s"),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-config", "Qwen/Qwen3-8B (ESTIMATED)"),
		waitText("#run-choice", "Profile choice: no measured profile set for Qwen/Qwen3-8B on l40s"), waitRequests("4"),
		shot("page-estimate.png"),
		chromedp.Click(`#dl-request_metrics\.csv`, chromedp.ByQuery), chromedp.Click(`#dl-batch_metrics\.csv`, chromedp.ByQuery),
		chromedp.Click(`#dl-run_meta\.json`, chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if kind != "ESTIMATED" {
		t.Errorf("profile kind %q", kind)
	}
	cliDir := t.TempDir()
	cli(t, "simulate", "--preset", "seed", "--model", "Qwen/Qwen3-8B", "--device", "l40s", "--quiet", "--out", cliDir)
	same := func(sub string) {
		for _, f := range files {
			want, err := os.ReadFile(filepath.Join(cliDir, f))
			if err != nil {
				t.Fatal(err)
			}
			if got := downloaded(t, filepath.Join(dir, sub), f); !bytes.Equal(got, want) {
				t.Errorf("%s%s: the page's differs from the CLI's:\npage:\n%.1200s\nCLI:\n%.1200s", sub, f, got, want)
			}
		}
	}
	same("")
	// FP8 on the A100 is not offered (no FP8 tensor cores); on the L40S it
	// runs, as the CLI's flags.
	fp8 := filepath.Join(dir, "fp8")
	err = chromedp.Run(ctx, pickSelect("pick-gpu", "a100"),
		chromedp.AttributeValue(`[id="cfg-replica.weight_dtype"] option[value="fp8"]`, "title", &fp8Title, nil, chromedp.ByQuery),
		pickSelect("pick-gpu", "l40s"),
		pickSelect("cfg-replica.weight_dtype", "fp8"), pickSelect("cfg-replica.kv_cache_dtype", "fp8"),
		waitText("#pick-choice", "at fp8 weights and activations, fp8 KV cache"),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-choice", "fp8 KV cache"), waitRequests("4"),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(fp8).WithEventsEnabled(true),
		chromedp.Click(`#dl-request_metrics\.csv`, chromedp.ByQuery), chromedp.Click(`#dl-batch_metrics\.csv`, chromedp.ByQuery),
		chromedp.Click(`#dl-run_meta\.json`, chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if fp8Title != "a100 has no FP8 tensor cores" {
		t.Errorf("fp8 on the A100: option title %q", fp8Title)
	}
	cliDir = t.TempDir()
	cli(t, "simulate", "--preset", "seed", "--model", "Qwen/Qwen3-8B", "--device", "l40s", "--weight_dtype", "fp8", "--kv_cache_dtype", "fp8", "--quiet", "--out", cliDir)
	same("fp8/")
	if b, _ := os.ReadFile(filepath.Join(cliDir, "run_meta.json")); !strings.Contains(string(b), `"weight_dtype": "fp8"`) {
		t.Errorf("the CLI's run_meta.json has no fp8 weight_dtype")
	}
}

// TestPage_PickShareLink: a dropped config.json on a custom GPU with an
// FP8 KV cache travels in the share link: a fresh page reopens it with the
// same run id and the pickers restored.
func TestPage_PickShareLink(t *testing.T) {
	srv, ctx := setup(t)
	cfgFile, _ := filepath.Abs("testdata/tiny-llama/config.json")
	var runID, link, runID2, model, gpu, mem, kv string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"),
		chromedp.WaitReady(`#pick-gpu option[value="h100"]`, chromedp.ByQuery),
		chromedp.SetUploadFiles("#model-file", []string{cfgFile}, chromedp.ByQuery), waitText("#pick-config", "config.json"),
		waitText("#pick-choice", "no measured profile set for my/tiny-llama on a100"),
		pickSelect("pick-gpu", "!custom"), waitText("#pick-custom", "memory (GB)"),
		setField("replica.gpu.memory_gb", "24"), setField("replica.gpu.hbm_gbps", "900"), setField("replica.gpu.bf16_tflops", "150"),
		pickSelect("cfg-replica.kv_cache_dtype", "fp8"),
		waitText("#pick-choice", "no measured profile set for my/tiny-llama on my-gpu at fp8 KV cache"),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-choice", "my/tiny-llama on my-gpu"), waitRequests("4"),
		chromedp.Text("#run-id", &runID, chromedp.ByQuery),
		chromedp.Click("#share", chromedp.ByQuery), waitText("#notice", "Link"),
		chromedp.Evaluate(`location.href`, &link))
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	err = chromedp.Run(ctx2, chromedp.Navigate(link), waitRequests("4"), waitText("#run-choice", "my/tiny-llama on my-gpu at fp8 KV cache"),
		chromedp.Text("#run-id", &runID2, chromedp.ByQuery),
		waitText("#pick-config", "config.json"), chromedp.WaitReady(`#pick-gpu option[value="h100"]`, chromedp.ByQuery),
		chromedp.Value("#pick-model", &model, chromedp.ByQuery), chromedp.Value("#pick-gpu", &gpu, chromedp.ByQuery),
		chromedp.Value(`[id="cfg-replica.gpu.memory_gb"]`, &mem, chromedp.ByQuery), chromedp.Value(`[id="cfg-replica.kv_cache_dtype"]`, &kv, chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if runID2 != runID || model != "!config" || gpu != "!custom" || mem != "24" || kv != "fp8" {
		t.Errorf("reopened: run %q (was %q), model %q, gpu %q, memory %q, KV %q", runID2, runID, model, gpu, mem, kv)
	}
}

// TestPage_70BRefusal: Llama 3.1 70B on one H100 is refused by the memory
// planner before anything runs, with the tensor-parallel degree it fits at
// (TP 1 is not offered); Run shows the engine's error; the fix runs it.
func TestPage_70BRefusal(t *testing.T) {
	srv, ctx := setup(t)
	var tp1Disabled bool
	var refusal, runErr string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"),
		pickSelect("pick-model", "meta-llama/Llama-3.1-70B"), pickSelect("pick-gpu", "h100"),
		waitText("#pick-refusal", "it fits at tensor_parallel_size 2"), chromedp.Text("#pick-refusal", &refusal, chromedp.ByQuery),
		waitText("#pick-fix-fp8", "Use FP8 weights"),
		chromedp.Evaluate(`document.querySelector('[id="cfg-replica.tensor_parallel_size"] option[value="1"]').disabled`, &tp1Disabled),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#error", "does not fit on h100"), chromedp.Text("#error", &runErr, chromedp.ByQuery),
		chromedp.Click("#pick-fix", chromedp.ByQuery), waitText("#stale", "tensor parallel"),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-config", "TP2 PP1"), waitRequests("4"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"the weights alone take 127.5 GiB per GPU of the 72.0 GiB available", "it fits at tensor_parallel_size 2"} {
		if !strings.Contains(refusal, want) || !strings.Contains(runErr, want) {
			t.Errorf("want %q in the refusal %q and the run's error %q", want, refusal, runErr)
		}
	}
	if !tp1Disabled {
		t.Error("TP 1 is offered for 70B on one H100")
	}
}
