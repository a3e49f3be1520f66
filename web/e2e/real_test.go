package e2e

import (
	"archive/zip"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// realRun is the reference engine's real H200 run the real-result tests
// drop (40 requests, vLLM V1 scheduling).
const realRun = "../../bench/gpu/h200/ho-light"

// vllmResult writes the real run at dir as a `vllm bench serve` result
// JSON (--save-result --save-detailed: ttfts, itls, input_lens,
// output_lens, start_times, errors; seconds) and returns its path: the
// same requests and times, in the format users drop.
func vllmResult(t *testing.T, dir string) string {
	t.Helper()
	rows := func(name string, gz bool) [][]string {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var r io.Reader = f
		if gz {
			if r, err = gzip.NewReader(f); err != nil {
				t.Fatal(err)
			}
		}
		all, err := csv.NewReader(r).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return all[1:]
	}
	f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	reqs := rows("request_metrics.csv", false)
	n := len(reqs)
	ttfts, starts, in, out, errs := make([]float64, n), make([]float64, n), make([]int, n), make([]int, n), make([]string, n)
	itls := make([][]float64, n)
	for i, r := range reqs { // request_id,arrival_time_ns,first_token_time_ns,ttft_ns,completion_time_ns,num_prefill_tokens,num_decode_tokens,num_decode_tokens_actual,status
		starts[i], ttfts[i] = 100+f(r[1])/1e9, f(r[3])/1e9
		in[i], _ = strconv.Atoi(r[5])
		out[i], _ = strconv.Atoi(r[7])
		itls[i] = []float64{}
	}
	for _, r := range rows("token_metrics.csv.gz", true) { // request_id,token_index,token_time_ns,token_latency_ns
		if r[1] != "0" {
			id, _ := strconv.Atoi(r[0])
			itls[id] = append(itls[id], f(r[3])/1e9)
		}
	}
	// vLLM's key order (benchmarks/serve.py).
	b, _ := json.Marshal(struct {
		Backend    string      `json:"backend"`
		NumPrompts int         `json:"num_prompts"`
		InputLens  []int       `json:"input_lens"`
		OutputLens []int       `json:"output_lens"`
		TTFTs      []float64   `json:"ttfts"`
		ITLs       [][]float64 `json:"itls"`
		Errors     []string    `json:"errors"`
		StartTimes []float64   `json:"start_times"`
	}{"vllm", n, in, out, ttfts, itls, errs, starts})
	path := filepath.Join(t.TempDir(), "vllm_ho_light.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// cli runs the built servesim binary and returns its stdout.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(dist, "servesim"), args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("servesim %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// compareRows are the rows of servesim compare's table, as the page's
// table text has them (cells tab-separated).
func compareRows(md string) []string {
	var out []string
	for _, l := range strings.Split(md, "\n") {
		if !strings.HasPrefix(l, "| ") || strings.HasPrefix(l, "| metric") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "| "), " | ")
		out = append(out, strings.Join(cells, "\t"))
	}
	return out
}

// pageRows are the page's real-vs-simulated table rows.
func pageRows(table string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

// dropReal chooses the H200 set, drops the real result and runs it.
func dropReal(file string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitReady(`[id="cfg-predictor.profile"] option[value="h200/qwen3-0.6b"]`, chromedp.ByQuery),
		setField("predictor.profile", "h200/qwen3-0.6b"),
		chromedp.SetUploadFiles("#file-input", []string{file}, chromedp.ByQuery), waitText("#detected", "real-result: 40 requests"),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#real-table", "TTFT"),
	}
}

// TestPage_RealResultDrop: a dropped vllm bench serve result is the
// workload and the ground truth: the page simulates its requests and shows
// real vs simulated CDFs and servesim compare's table for the same file,
// row for row (the CLI run on the same file has the same run id).
func TestPage_RealResultDrop(t *testing.T) {
	srv, ctx := setup(t)
	file := vllmResult(t, realRun)
	var table, runID, matched string
	var series []int
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), dropReal(file),
		waitChartsDrawn(), chromedp.Sleep(300*time.Millisecond), // (charts are drawn one per task, after the result's first frame)
		chromedp.Text("#real-table", &table, chromedp.ByQuery), chromedp.Text("#real-matched", &matched, chromedp.ByQuery),
		chromedp.Text("#run-id", &runID, chromedp.ByQuery),
		chromedp.Evaluate(`["chart-real-ttft", "chart-real-time-between-tokens", "chart-real-e2e"].map((id) => { const c = servesim.chartOf(id); return c ? c.getOption().series.length : 0; })`, &series),
		shot("page-real-vs-sim.png"))
	if err != nil {
		t.Fatal(err)
	}
	sim := t.TempDir()
	cli(t, "simulate", "--workload", file, "--profile", "h200/qwen3-0.6b", "--scheduler", "vllm_v1", "--out", sim)
	md := cli(t, "compare", file, sim)
	want, got := compareRows(md), pageRows(table)
	if len(want) != 9 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the page's table:\n%s\nservesim compare's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	meta, _ := os.ReadFile(filepath.Join(sim, "run_meta.json"))
	var m struct {
		RunID string `json:"run_id"`
	}
	json.Unmarshal(meta, &m)
	if !strings.Contains(runID, m.RunID+",") || !strings.HasPrefix(matched, "40 requests matched") {
		t.Errorf("page run %q (%s), CLI run %q", runID, matched, m.RunID)
	}
	if len(series) != 3 || series[0] != 2 || series[1] != 2 || series[2] != 2 {
		t.Errorf("real-vs-simulated charts: series %v, want 2 each of 3", series)
	}
}

// TestPage_CalibrateOnRealRun: "Calibrate on this run" fits a profile set
// to the dropped result and uses it at once (the run is simulated again
// with it); its zip download is a profile folder the CLI simulates with to
// the page's numbers, and dropped on a fresh page with the result it gives
// the same run.
func TestPage_CalibrateOnRealRun(t *testing.T) {
	srv, ctx := setup(t)
	file := vllmResult(t, realRun)
	dir := t.TempDir()
	var before, after, runID, summary string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), dropReal(file),
		chromedp.Text("#real-table", &before, chromedp.ByQuery),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true),
		chromedp.Click("#calibrate", chromedp.ByQuery), waitText("#calibrated", "fitted on vllm_ho_light.json"),
		waitText("#run-config", "calibrated-"), waitText("#real-table", "TTFT"),
		chromedp.Text("#real-table", &after, chromedp.ByQuery), chromedp.Text("#run-id", &runID, chromedp.ByQuery),
		chromedp.Text("#calibrated", &summary, chromedp.ByQuery),
		chromedp.Click("#dl-calibrated", chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if before == after {
		t.Errorf("the calibrated set changed nothing:\n%s", after)
	}
	var zipPath string
	for i := 0; i < 100 && zipPath == ""; i++ {
		if m, _ := filepath.Glob(filepath.Join(dir, "calibrated-*.zip")); len(m) > 0 {
			if st, err := os.Stat(m[0]); err == nil && st.Size() > 0 {
				zipPath = m[0]
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if zipPath == "" {
		t.Fatal("no calibrated zip downloaded")
	}
	// Unzipped, the set is a --profile DIR: the CLI gives the page's table.
	set := t.TempDir()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		names = append(names, zf.Name)
		os.WriteFile(filepath.Join(set, zf.Name), b, 0o644)
	}
	zr.Close()
	if s := strings.Join(names, ","); !strings.Contains(s, "mlp.csv") || !strings.Contains(s, "attention.csv") || !strings.Contains(s, "profile.json") {
		t.Errorf("zip holds %s", s)
	}
	sim := t.TempDir()
	cli(t, "simulate", "--workload", file, "--profile", set, "--scheduler", "vllm_v1", "--out", sim)
	if want, got := compareRows(cli(t, "compare", file, sim)), pageRows(after); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calibrated: the page's table:\n%s\nservesim compare with the unzipped set:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Dropped back on a fresh page with the result: the same run.
	ctx2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	var runID2, table2 string
	err = chromedp.Run(ctx2, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.WaitReady(`[id="cfg-predictor.profile"] option[value="h200/qwen3-0.6b"]`, chromedp.ByQuery),
		setField("predictor.profile", "h200/qwen3-0.6b"),
		chromedp.SetUploadFiles("#file-input", []string{zipPath, file}, chromedp.ByQuery), waitText("#detected", "real-result: 40 requests"),
		waitText("#profile-files", "profile.json"),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-config", "calibrated-"), waitText("#real-table", "TTFT"),
		chromedp.Text("#run-id", &runID2, chromedp.ByQuery), chromedp.Text("#real-table", &table2, chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if runID2 != runID || table2 != after {
		t.Errorf("the dropped zip gave run %q\n%s\nthe calibrated run was %q\n%s", runID2, table2, runID, after)
	}
	t.Logf("%s\nbefore:\n%s\nafter:\n%s", summary, before, after)
}

// dropFiles drops paths (files or folders) on the page, as a user's drag
// from a file manager does.
func dropFiles(paths ...string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		data := &input.DragData{Items: []*input.DragDataItem{}, Files: paths, DragOperationsMask: 1}
		for _, ty := range []input.DispatchDragEventType{input.DragEnter, input.DragOver, input.Drop} {
			if err := input.DispatchDragEvent(ty, 300, 300, data).Do(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestPage_ProfileFolderDrop: a folder of Vidur-schema CSVs dropped on the
// page (with a sub-folder, as a set's folder may have) is the profile set,
// its own provenance shown, as the CLI's --profile DIR; a broken file in a
// dropped folder is reported at its line and column.
func TestPage_ProfileFolderDrop(t *testing.T) {
	srv, ctx := setup(t)
	dir := filepath.Join(t.TempDir(), "myset")
	set := "../../profiles/a100/qwen3-0.6b/"
	for src, dst := range map[string]string{set + "mlp.csv": "mlp.csv", set + "attention.csv": "notes/attention.csv", "testdata/myprofile/provenance.txt": "provenance.txt"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bad := filepath.Join(t.TempDir(), "badset")
	os.MkdirAll(bad, 0o755)
	b, _ := os.ReadFile(set + "mlp.csv")
	os.WriteFile(filepath.Join(bad, "mlp.csv"), b, 0o644)
	b, _ = os.ReadFile("testdata/badprofile/attention.csv")
	os.WriteFile(filepath.Join(bad, "attention.csv"), b, 0o644)
	var names string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"),
		dropFiles(dir), waitText("#profile-files", "provenance.txt"), chromedp.Text("#profile-files", &names, chromedp.ByQuery),
		chromedp.Click("#run", chromedp.ByQuery), waitRequests("4"), waitText("main", "USER-SUPPLIED: Timed by the e2e test"),
		dropFiles(bad), waitText("#error", "attention.csv, line 2, column 2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"mlp.csv", "attention.csv", "provenance.txt"} {
		if !strings.Contains(names, n) {
			t.Errorf("profile files %q lack %s", names, n)
		}
	}
}
