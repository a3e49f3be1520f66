// Package e2e drives the built page (dist/) in headless Chromium: the
// default run, every workload format through the file input, downloads,
// share links, offline reload, error recovery and cancel. It needs
// ./build.sh first and runs when SERVESIM_E2E=1 (./build.sh test sets it).
package e2e

import (
	"archive/zip"
	"bytes"
	"cmp"
	"compress/flate"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/servesim/servesim/api"
	"github.com/servesim/servesim/presets"
)

var screenshots = flag.String("screenshots", "", "write page screenshots into this folder")

// dist is the built page: ../../dist, or $SERVESIM_DIST (to compare two
// builds with the same tests and benchmarks).
var dist = cmp.Or(os.Getenv("SERVESIM_DIST"), "../../dist")

// browserTimeout bounds one test's browser session (a benchmark may raise it).
var browserTimeout = 2 * time.Minute

func setup(t testing.TB) (*httptest.Server, context.Context) {
	t.Helper()
	if os.Getenv("SERVESIM_E2E") == "" {
		t.Skip("browser tests: run ./build.sh test (or ./build.sh, then SERVESIM_E2E=1 go test ./web/e2e)")
	}
	for _, f := range []string{"index.html", "ui.wasm", "build/app.wasm", "echarts.min.js", "sw.js"} {
		if _, err := os.Stat(filepath.Join(dist, f)); err != nil {
			t.Fatalf("dist/ is not built (%v): run ./build.sh", err)
		}
	}
	srv := httptest.NewServer(api.NewHandler(api.Options{Static: http.FileServer(http.Dir(dist))}))
	t.Cleanup(srv.Close)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium()), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true), chromedp.WindowSize(1400, 1800), chromedp.UserDataDir(profileDir(t)))
	if os.Getenv("SERVESIM_CHROME_DISABLE_GPU") != "" {
		// a host with no GPU process (a sandboxed kernel, as on the GPU
		// machine these benchmarks were run on): the browser exits when
		// its GPU process cannot start
		opts = append(opts, chromedp.DisableGPU)
	}
	// SERVESIM_CHROME_FLAGS: more browser switches, space-separated
	// (--name or --name=value), for a host that needs them
	for _, f := range strings.Fields(os.Getenv("SERVESIM_CHROME_FLAGS")) {
		name, value, ok := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if !ok {
			opts = append(opts, chromedp.Flag(name, true))
			continue
		}
		opts = append(opts, chromedp.Flag(name, value))
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, browserTimeout)
	t.Cleanup(cancel3)
	// On failure, show what the page printed: the first place to look.
	var mu sync.Mutex
	var console []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			console = append(console, string(e.Type)+": "+strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			console = append(console, "exception: "+e.ExceptionDetails.Error())
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("browser console (%d lines):\n%s", len(console), strings.Join(console, "\n"))
		}
	})
	return srv, ctx
}

// profileDir is a browser profile folder removed after the test; Chromium
// may still be writing to it as it exits, so removal errors are ignored.
func profileDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "servesim-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func chromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// golden returns the CLI's first request_metrics.csv row for the seed run.
func golden(t testing.TB, file string) []byte {
	b, err := os.ReadFile(filepath.Join("../../engine/report/testdata/seed", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// msText is how the page shows a duration of a few ms (four significant digits).
func msText(ns string) string {
	v, _ := strconv.ParseFloat(ns, 64)
	v /= 1e6
	return strconv.FormatFloat(v, 'f', max(0, 3-int(math.Floor(math.Log10(v)))), 64) + " ms"
}

// defaultRequests is the page's default run's request count (ui.PageDefault).
const defaultRequests = "1,000"

// waitDefault waits for the page's default run (the prebuilt result, on
// a fresh page) and the catalogues the panel's selects list (presets and
// profile sets: the page asks for them after its first chart, and the
// engine answers them once it has started).
func waitDefault() chromedp.Action {
	return chromedp.Tasks{waitRequests(defaultRequests), waitCatalogs()}
}

// waitCatalogs waits until the panel lists the presets and the profile sets.
func waitCatalogs() chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitReady(`#preset option[value="seed"]`, chromedp.ByQuery),
		chromedp.WaitReady(`[id="cfg-predictor.profile"] option[value="a100/qwen3-0.6b"]`, chromedp.ByQuery),
	}
}

// waitText waits until sel's text contains want.
func waitText(sel, want string) chromedp.Action { return waitFor(sel, want, false) }

// waitRequests waits until the key results show exactly n requests and
// every chart of the page is drawn (they are drawn one per task).
func waitRequests(n string) chromedp.Action {
	return chromedp.Tasks{waitFor("#k-requests", n, true), waitChartsDrawn()}
}

// waitChartsDrawn waits until no chart of the page is left to draw.
func waitChartsDrawn() chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for {
			var pending bool
			if err := chromedp.Run(ctx, chromedp.Evaluate(`!!servesim.chartsPending && servesim.chartsPending()`, &pending)); err != nil {
				return err
			}
			if !pending {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for the charts to be drawn: %w", ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

func waitFor(sel, want string, exact bool) chromedp.Action {
	// A query that cannot block: the page re-renders while a run goes on,
	// and chromedp's node queries can wait forever on a replaced node.
	js := `(() => { const el = document.querySelector(` + strconv.Quote(sel) + `); return el && el.getClientRects().length ? el.innerText : "\x00"; })()`
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var got string
		for {
			err := chromedp.Run(ctx, chromedp.Evaluate(js, &got))
			if err == nil && got != "\x00" && (strings.Contains(got, want) && !exact || strings.TrimSpace(got) == want) {
				return nil
			}
			select {
			case <-ctx.Done():
				var pageErr string
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				chromedp.Run(dctx, chromedp.Evaluate(`(document.getElementById("error")||{}).textContent||""`, &pageErr))
				cancel()
				return fmt.Errorf("waiting for %s to show %q (last %q; page error %q): %w", sel, want, got, pageErr, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

func shot(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		if *screenshots == "" {
			return nil
		}
		var b []byte
		if err := chromedp.Run(ctx, chromedp.Sleep(500*time.Millisecond), chromedp.FullScreenshot(&b, 100)); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(*screenshots, name), b, 0o644)
	})
}

// TestPage_DefaultRun: opening the page shows a workload with distributions
// (PageDefault: its result computed when the page was built, see
// TestPage_DefaultPrebuilt), charts drawn; one click runs the seed workload
// and shows the CLI's TTFT and E2E.
func TestPage_DefaultRun(t *testing.T) {
	srv, ctx := setup(t)
	row := strings.Split(strings.Split(string(golden(t, "request_metrics.csv")), "\n")[1], ",")
	def, err := presets.Lookup("splitwise-conv-2qps")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := presets.Lookup("seed")
	if err != nil {
		t.Fatal(err)
	}
	var charts int
	var desc, seedDesc string
	err = chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.Sleep(300*time.Millisecond),
		chromedp.Evaluate(`document.querySelectorAll(".chart canvas").length`, &charts),
		chromedp.Text("#preset-description", &desc, chromedp.ByQuery),
		chromedp.Click("#provenance", chromedp.ByQuery), waitText("pre.prov", "SYNTHESIZED"),
		shot("page-default.png"),
		// The Vidur seed run is one click away, with the CLI's numbers.
		chromedp.Click("#seed-run", chromedp.ByQuery),
		waitText("#k-ttft", msText(row[3])), waitText("#k-e2e", msText(row[4])), waitRequests("4"),
		chromedp.Text("#preset-description", &seedDesc, chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if charts < 11 {
		t.Errorf("%d charts drawn, want 11", charts)
	}
	// The chosen preset's description is shown (it never was).
	if desc != def.Description || seedDesc != seed.Description {
		t.Errorf("preset descriptions shown: %q, then %q for the seed run; want %q, %q", desc, seedDesc, def.Description, seed.Description)
	}
}

// TestPage_OneGoInstance: the worker's Go instance serves every request
// (catalogs, runs, an error, downloads) and is not restarted per request.
func TestPage_OneGoInstance(t *testing.T) {
	srv, ctx := setup(t)
	var out string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.Evaluate(`(async () => {
			const req = (url, method, body) => new Promise((resolve) => servesim.request(url, method, body, (status) => resolve(status)));
			const got = [];
			got.push(await req("/api/simulate", "POST", JSON.stringify({preset: "spaced-2s"})));
			got.push(await req("/api/simulate", "POST", JSON.stringify({preset: "nope"})));
			got.push(await req("/api/simulate?file=request_metrics.csv", "POST", JSON.stringify({preset: "seed"})));
			got.push(await req("/api/profiles", "GET", null));
			const stats = await new Promise((resolve) => servesim.workerStats(resolve));
			return got.join(",") + " instances=" + stats.instances;
		})()`, &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if err != nil {
		t.Fatal(err)
	}
	if want := "200,400,200,200 instances=1"; out != want {
		t.Fatalf("statuses and Go instances: %s, want %s", out, want)
	}
}

// TestPage_GoExitRecovered: if the worker's Go runtime dies mid-run (a
// fatal error such as running out of memory), the page says so next to the
// inputs instead of waiting forever, and the next run starts a new instance.
func TestPage_GoExitRecovered(t *testing.T) {
	srv, ctx := setup(t)
	var instances int
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		startLongRun(),
		chromedp.Evaluate(`servesim.testExitGo()`, nil),
		waitText("#error", "the Go runtime exited"),
		pickPreset("spaced-2s"),
		waitRequests("8"),
		chromedp.Evaluate(`new Promise((resolve) => servesim.workerStats((s) => resolve(s.instances)))`, &instances,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if err != nil {
		t.Fatal(err)
	}
	if instances != 2 {
		t.Errorf("%d Go instances after one exit, want 2", instances)
	}
}

// TestPage_NarrowScreen: on a phone-sized viewport the page fits its width
// (no sideways scrolling) and shows the results above the settings.
func TestPage_NarrowScreen(t *testing.T) {
	srv, ctx := setup(t)
	var width int
	var resultsFirst, tableScrolls, settingsLink bool
	err := chromedp.Run(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.WaitVisible(".chart canvas", chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &width),
		chromedp.Evaluate(`document.getElementById("k-requests").getBoundingClientRect().top < document.getElementById("preset").getBoundingClientRect().top`, &resultsFirst),
		// The percentile table scrolls sideways to its last column (not clipped).
		chromedp.Evaluate(`(() => { const w = document.getElementById("percentiles").parentElement; w.scrollLeft = 1e4;
			const last = document.querySelector("#percentiles th:last-child").getBoundingClientRect();
			return getComputedStyle(w).overflowX === "auto" && w.scrollWidth > w.clientWidth && last.right <= w.getBoundingClientRect().right + 1; })()`, &tableScrolls),
		// The settings are one tap from the top.
		chromedp.Evaluate(`(() => { const a = document.querySelector('a[href="#settings"]'); return !!a && a.getClientRects().length > 0 && a.getBoundingClientRect().top < 844; })()`, &settingsLink),
		shot("page-narrow.png"))
	if err != nil {
		t.Fatal(err)
	}
	if width > 390 || !resultsFirst || !tableScrolls || !settingsLink {
		t.Errorf("at 390 px: page width %d px, results above settings %v, table scrolls to its last column %v, settings link at the top %v",
			width, resultsFirst, tableScrolls, settingsLink)
	}
}

// TestPage_Formats: each supported format through the file input, detected
// before running, then run.
func TestPage_Formats(t *testing.T) {
	srv, ctx := setup(t)
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	tests := []struct {
		name     string
		files    []string
		detected string
		requests string
	}{
		{"servesim pair", []string{"../../presets/data/spaced-2s/trace_lengths.csv", "../../presets/data/spaced-2s/trace_intervals.csv"}, "servesim-trace: 8 requests", "8"},
		{"vidur trace", []string{"../../presets/data/seed/vidur_trace.csv"}, "vidur-trace: 4 requests", "4"},
		{"length-only trace", []string{"testdata/lengths.csv"}, "length-trace: 4 requests", "4"},
		{"AIPerf sessions", []string{"../../engine/workload/testdata/aiperf_sessions.jsonl"}, "2 sessions (2 turns arrive after their previous turn completes); 4 distinct prefix blocks of 512 tokens", "4"},
		{"Bailian", []string{"../../engine/workload/testdata/bailian.jsonl"}, "bailian-trace: 3 requests", "3"},
		{"BurstGPT", []string{"../../engine/workload/testdata/burstgpt.csv"}, "burstgpt: 3 requests", "3"},
		{"Azure", []string{"../../engine/workload/testdata/azure_2024.csv"}, "prompt p50/p90/p99/max 2162/3567/3567/3567", "3"},
		{"vLLM result", []string{"../../internal/realrun/testdata/vllm_bench_serve.json"}, "real-result: 4 requests", "4"},
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		var paths []string
		for _, f := range tc.files {
			paths = append(paths, abs(f))
		}
		err := chromedp.Run(ctx, chromedp.SetUploadFiles("#file-input", paths, chromedp.ByQuery),
			waitText("#detected", tc.detected), chromedp.Click("#run", chromedp.ByQuery), waitRequests(tc.requests))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
}

// TestPage_UserProfile: a profile folder dropped on the page (Vidur CSVs
// and a provenance text) is used for the runs and shown as the user's; a
// broken one shows its file, line and column.
func TestPage_UserProfile(t *testing.T) {
	srv, ctx := setup(t)
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	set := "../../profiles/a100/qwen3-0.6b/"
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"),
		chromedp.SetUploadFiles("#file-input", []string{abs(set + "mlp.csv"), abs(set + "attention.csv"), abs("testdata/myprofile/provenance.txt")}, chromedp.ByQuery),
		waitText("#profile-files", "mlp.csv, attention.csv, provenance.txt"), waitText("#detected-profile", "vidur-trace: 4 requests"),
		chromedp.Click("#run", chromedp.ByQuery), waitRequests("4"), waitText("main", "USER-SUPPLIED: Timed by the e2e test"),
		// A broken attention.csv replaces the good one: its position is shown.
		chromedp.SetUploadFiles("#file-input", []string{abs(set + "mlp.csv"), abs("testdata/badprofile/attention.csv")}, chromedp.ByQuery),
		waitText("#error", "attention.csv, line 2, column 2"))
	if err != nil {
		t.Fatal(err)
	}
}

// TestPage_ErrorThenRecover: a malformed file shows file/line/column and a
// following good file still runs.
func TestPage_ErrorThenRecover(t *testing.T) {
	srv, ctx := setup(t)
	bad, _ := filepath.Abs("testdata/bad_trace.csv")
	good, _ := filepath.Abs("../../presets/data/seed/vidur_trace.csv")
	var chunk string
	var skipCPU bool
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.SetUploadFiles("#file-input", []string{bad}, chromedp.ByQuery),
		waitText("#error", "bad_trace.csv, line 3, column 2 (num_prefill_tokens)"), waitText("#error", `expected an integer >= 1, got "ten"`),
		chromedp.Value(`[id="cfg-scheduler.chunk_size"]`, &chunk, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("cfg-predictor.skip_cpu_overhead_modeling").checked`, &skipCPU),
		shot("page-error.png"),
		chromedp.SetUploadFiles("#file-input", []string{good}, chromedp.ByQuery),
		waitText("#detected", "vidur-trace: 4 requests"), chromedp.Click("#run", chromedp.ByQuery), waitRequests("4"))
	if err != nil {
		t.Fatal(err)
	}
	// With no result on screen the panel still shows what the next run uses.
	if chunk != "512" || !skipCPU {
		t.Errorf("settings shown after the error: chunk size %q, skip CPU overhead %v; want 512, true", chunk, skipCPU)
	}
}

// TestPage_Downloads: downloaded files equal the CLI's bytes.
func TestPage_Downloads(t *testing.T) {
	srv, ctx := setup(t)
	dir := t.TempDir()
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"request_metrics.csv", "token_metrics.csv", "batch_metrics.csv", "chrome_trace.json"} {
		if err := chromedp.Run(ctx, chromedp.Click("#dl-"+strings.ReplaceAll(f, ".", `\.`), chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		var got []byte
		for i := 0; i < 100; i++ {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil && len(b) > 0 {
				got = b
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if string(got) != string(golden(t, f)) {
			t.Errorf("%s: the page's download differs from the CLI's (%d vs %d bytes)", f, len(got), len(golden(t, f)))
		}
	}
	// The zip of every file (streamed as it is compressed): the CLI's bytes inside.
	if err := chromedp.Run(ctx, chromedp.Click("#dl-zip", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	var zr *zip.ReadCloser
	for i := 0; i < 100 && zr == nil; i++ {
		if m, _ := filepath.Glob(filepath.Join(dir, "*.zip")); len(m) == 1 {
			zr, _ = zip.OpenReader(m[0])
		}
		if zr == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if zr == nil {
		t.Fatal("no zip downloaded")
	}
	defer zr.Close()
	for _, zf := range zr.File {
		if zf.Name == "run_meta.json" || zf.Name == "summary.md" {
			continue // they name the run's output folder
		}
		rc, _ := zf.Open()
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != string(golden(t, zf.Name)) {
			t.Errorf("zip's %s differs from the CLI's (%d vs %d bytes)", zf.Name, len(got), len(golden(t, zf.Name)))
		}
	}
}

// TestPage_ShareLink: a share link with an uploaded workload and changed
// settings (chunk size, profile set) reproduces the run in a fresh page.
// On the way: after the upload the results stay and "Run to update" is at
// the top of a 1400x900 screen (the page used to empty its right two thirds
// and leave Run below the fold), and "Profile (next run)" names the set
// chosen, not the last run's.
func TestPage_ShareLink(t *testing.T) {
	srv, ctx := setup(t)
	lengths, _ := filepath.Abs("testdata/lengths.csv")
	var runID, config, link, runID2, config2, nextProfile string
	var runVisible bool
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.SetUploadFiles("#file-input", []string{lengths}, chromedp.ByQuery), waitText("#detected", "length-trace"),
		waitText("#stale", "Settings changed (workload)"),
		chromedp.Evaluate(`(() => { const r = document.getElementById("run-stale").getBoundingClientRect();
			return r.top >= 0 && r.bottom <= 900 && document.querySelectorAll(".chart canvas").length >= 11; })()`, &runVisible),
		setField("scheduler.chunk_size", "256"),
		// The profile set is a select of the embedded sets.
		chromedp.WaitReady(`[id="cfg-predictor.profile"] option[value="h200/qwen3-0.6b"]`, chromedp.ByQuery),
		setField("predictor.profile", "h200/qwen3-0.6b"),
		waitText("#profile-kind", "MEASURED"),
		chromedp.Evaluate(`document.getElementById("profile-kind").parentElement.innerText`, &nextProfile),
		chromedp.Click("#run", chromedp.ByQuery), waitRequests("4"), waitText("#run-config", "h200/qwen3-0.6b (MEASURED)"),
		chromedp.Text("#run-id", &runID, chromedp.ByQuery), chromedp.Text("#run-config", &config, chromedp.ByQuery),
		chromedp.Click("#share", chromedp.ByQuery), waitText("#notice", "Link copied"),
		chromedp.Evaluate(`location.href`, &link))
	if err != nil {
		t.Fatal(err)
	}
	if !runVisible {
		t.Error("after an upload, the previous results and a Run button at the top of a 900 px screen are not both shown")
	}
	if !strings.HasPrefix(nextProfile, "h200/qwen3-0.6b ") {
		t.Errorf("Profile (next run) after choosing h200/qwen3-0.6b: %q", nextProfile)
	}
	if !strings.Contains(link, "#s=") {
		t.Fatalf("link %q", link)
	}
	ctx2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	var profile string
	if err := chromedp.Run(ctx2, chromedp.Navigate(link), waitRequests("4"),
		chromedp.Text("#run-id", &runID2, chromedp.ByQuery), chromedp.Text("#run-config", &config2, chromedp.ByQuery),
		chromedp.Value(`[id="cfg-predictor.profile"]`, &profile, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if runID2 != runID || !strings.Contains(runID, "length-trace") || config2 != config || profile != "h200/qwen3-0.6b" {
		t.Errorf("shared run %q (%q) with profile %q, original %q (%q) with h200/qwen3-0.6b", runID2, config2, profile, runID, config)
	}
}

// TestPage_Offline: after one visit the page works with the network off.
func TestPage_Offline(t *testing.T) {
	srv, ctx := setup(t)
	var ready bool
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.Evaluate(`navigator.serviceWorker.ready.then(() => true)`, &ready, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if err != nil || !ready {
		t.Fatalf("service worker: %v %v", ready, err)
	}
	srv.Close() // the network is gone: nothing answers on that port any more
	err = chromedp.Run(ctx, network.Enable(), network.EmulateNetworkConditions(true, 0, 0, 0),
		chromedp.Reload(), waitDefault())
	if err != nil {
		t.Fatal(err)
	}
}

// pickPreset selects a preset, which runs it.
func pickPreset(name string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitReady(`#preset option[value="`+name+`"]`, chromedp.ByQuery),
		chromedp.SetValue("#preset", name, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("preset").dispatchEvent(new Event("change", {bubbles: true}))`, nil),
	}
}

// startLongRun starts 40k synthetic requests (within the API's memory budget) (minutes of simulation, so
// the run is surely still going when a test acts on it) and waits for
// progress.
func startLongRun() chromedp.Action {
	return chromedp.Tasks{
		pickPreset("synthetic"), waitRequests("128"),
		setField("workload.num_requests", "400000"), setField("workload.qps", "20"),
		chromedp.Click("#run", chromedp.ByQuery),
		waitText("#progress-text", "of 400,000 requests done"),
	}
}

// setField sets a configuration input and fires its change event.
func setField(key, value string) chromedp.Action {
	sel := `[id="cfg-` + key + `"]`
	return chromedp.Tasks{
		chromedp.SetValue(sel, value, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('`+sel+`').dispatchEvent(new Event("change", {bubbles: true}))`, nil),
	}
}

// TestPage_Cancel: a large run shows progress and can be cancelled; the
// page keeps working afterwards.
func TestPage_Cancel(t *testing.T) {
	srv, ctx := setup(t)
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		startLongRun(), shot("page-progress.png"),
		chromedp.Click("#cancel", chromedp.ByQuery), waitText("#notice", "Cancelled."),
		pickPreset("spaced-2s"),
		waitRequests("8"))
	if err != nil {
		t.Fatal(err)
	}
}

// chartsDrawn counts the result's charts that have a drawn canvas.
const chartsDrawn = `Array.from(document.querySelectorAll(".chart")).filter((el) => el.querySelector("canvas") && servesim.chartOf(el.id)).length`

// TestPage_ResultStaysDuringRunErrorCancel: the result on screen is a
// snapshot: during a run, after a failed run and after Cancel, every chart
// stays drawn next to the key results of the same run.
func TestPage_ResultStaysDuringRunErrorCancel(t *testing.T) {
	srv, ctx := setup(t)
	var before, during, afterCancel, afterError int
	var runID, runIDAfter string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		pickPreset("synthetic"), waitRequests("128"), chromedp.Sleep(300*time.Millisecond),
		chromedp.Evaluate(chartsDrawn, &before), chromedp.Text("#run-id", &runID, chromedp.ByQuery),
		setField("workload.num_requests", "400000"), setField("workload.qps", "20"),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#progress-text", "of 400,000 requests done"),
		chromedp.Sleep(300*time.Millisecond), chromedp.Evaluate(chartsDrawn, &during),
		chromedp.Click("#cancel", chromedp.ByQuery), waitText("#notice", "Cancelled."),
		chromedp.Sleep(300*time.Millisecond), chromedp.Evaluate(chartsDrawn, &afterCancel),
		// A run that fails (batch cap 0 is a configuration error).
		setField("workload.num_requests", "128"), setField("workload.qps", "0.5"), setField("scheduler.batch_size_cap", "0"),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#error", "batch_size_cap"),
		chromedp.Sleep(300*time.Millisecond), chromedp.Evaluate(chartsDrawn, &afterError),
		chromedp.Text("#run-id", &runIDAfter, chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if before != 11 || during != 11 || afterCancel != 11 || afterError != 11 || runIDAfter != runID {
		t.Errorf("charts drawn: %d before, %d during a run, %d after Cancel, %d after an error (want 11); run on screen %q then %q",
			before, during, afterCancel, afterError, runID, runIDAfter)
	}
}

// TestPage_DownloadsAndLinkAreOfTheRunOnScreen: changing settings without
// Run marks the results stale, and downloads and the share link are still
// of the run on screen (the CLI's seed files), not of the panel's settings.
func TestPage_DownloadsAndLinkAreOfTheRunOnScreen(t *testing.T) {
	srv, ctx := setup(t)
	dir := t.TempDir()
	var runID, link, runID2 string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"),
		chromedp.Text("#run-id", &runID, chromedp.ByQuery),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true),
		setField("scheduler.type", "orca"), setField("scheduler.batch_size_cap", "2"),
		waitText("#stale", "Settings changed (scheduler, batch cap)"),
		chromedp.Click(`#dl-request_metrics\.csv`, chromedp.ByQuery),
		chromedp.Click("#share", chromedp.ByQuery), waitText("#notice", "Link copied"),
		chromedp.Evaluate(`location.href`, &link))
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i := 0; i < 100 && len(got) == 0; i++ {
		got, _ = os.ReadFile(filepath.Join(dir, "request_metrics.csv"))
		time.Sleep(100 * time.Millisecond)
	}
	if string(got) != string(golden(t, "request_metrics.csv")) {
		t.Errorf("request_metrics.csv is not the seed run's on screen:\n%s", got)
	}
	ctx2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Run(ctx2, chromedp.Navigate(link), waitRequests("4"), chromedp.Text("#run-id", &runID2, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if runID2 != runID {
		t.Errorf("the share link opened %q, the run on screen was %q", runID2, runID)
	}
}

// TestPage_ShareTooLargeRefused: a share link for an upload too large for
// a URL is refused loudly (the address stays as it was, nothing else is
// shared), and the run file it suggests reproduces the run in a fresh page.
func TestPage_ShareTooLargeRefused(t *testing.T) {
	srv, ctx := setup(t)
	big, _ := filepath.Abs("../../presets/data/traces/splitwise_code.csv")
	dir := t.TempDir()
	var runID, href, runID2 string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true),
		chromedp.SetUploadFiles("#file-input", []string{big}, chromedp.ByQuery), waitText("#detected", "requests"),
		chromedp.Click("#run", chromedp.ByQuery), waitRequests("8,819"),
		chromedp.Text("#run-id", &runID, chromedp.ByQuery),
		chromedp.Click("#share", chromedp.ByQuery), waitText("#share-error", "too large for a link"),
		waitText("#share-error", "run file"),
		chromedp.Evaluate(`location.href`, &href),
		chromedp.Click("#dl-run", chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(href, "#s=") {
		t.Errorf("a link was made anyway: %s", href)
	}
	runFile := ""
	for i := 0; i < 100 && runFile == ""; i++ {
		if m, _ := filepath.Glob(filepath.Join(dir, "*.servesim.json")); len(m) > 0 {
			if st, err := os.Stat(m[0]); err == nil && st.Size() > 0 {
				runFile = m[0]
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if runFile == "" {
		t.Fatal("no run file downloaded")
	}
	ctx2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Run(ctx2, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.SetUploadFiles("#file-input", []string{runFile}, chromedp.ByQuery), waitRequests("8,819"),
		chromedp.Text("#run-id", &runID2, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if runID2 != runID {
		t.Errorf("the run file reopened %q, the run was %q", runID2, runID)
	}
}

// TestPage_SettingsThatCannotWork: choosing LightLLM sets (and locks) its
// block size 1 and runs; tensor parallel offers only the profile's sizes;
// settings of other schedulers are disabled with a note; a run that fails
// outside the profiled grid offers extrapolation, which then runs.
func TestPage_SettingsThatCannotWork(t *testing.T) {
	srv, ctx := setup(t)
	var block, tps, chunkWhy string
	var blockDisabled, chunkDisabled bool
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"),
		chromedp.Evaluate(`Array.from(document.getElementById("cfg-replica.tensor_parallel_size").options).map((o) => o.value).join(",")`, &tps),
		setField("scheduler.type", "lightllm"),
		chromedp.Value(`[id="cfg-scheduler.block_size"]`, &block, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("cfg-scheduler.block_size").disabled`, &blockDisabled),
		chromedp.Evaluate(`document.getElementById("cfg-scheduler.chunk_size").disabled`, &chunkDisabled),
		chromedp.Text(`[id="why-scheduler.chunk_size"]`, &chunkWhy, chromedp.ByQuery),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-config", "lightllm"), waitRequests("4"))
	if err != nil {
		t.Fatal(err)
	}
	if block != "1" || !blockDisabled || !chunkDisabled || !strings.Contains(chunkWhy, "sarathi only") || tps != "1" {
		t.Errorf("lightllm: block size %q (disabled %v), chunk size disabled %v (%q); TP choices %q (want 1 only)", block, blockDisabled, chunkDisabled, chunkWhy, tps)
	}
	// Orca on the 8 QPS preset batches past the profiled token counts.
	err = chromedp.Run(ctx, pickPreset("splitwise-conv-8qps"), waitDefault(),
		setField("scheduler.type", "orca"), chromedp.Click("#run", chromedp.ByQuery),
		waitText("#error", "not profiled"), chromedp.Click("#run-extrapolate", chromedp.ByQuery),
		waitText("#run-config", "orca"), waitText("#run-config", "extrapolating"), waitText("#extrapolated", "were extrapolated"))
	if err != nil {
		t.Fatal(err)
	}
}

// TestPage_TraceReplayDisablesArrivals: on a trace replay the QPS and
// request-count inputs are disabled with a note; on generated arrivals
// they are enabled.
func TestPage_TraceReplayDisablesArrivals(t *testing.T) {
	srv, ctx := setup(t)
	var replay, generated []bool
	var note string
	q := `["cfg-workload.qps", "cfg-workload.num_requests"].map((id) => document.getElementById(id).disabled)`
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"), chromedp.Evaluate(q, &replay),
		chromedp.Text(`[id="why-workload.qps"]`, &note, chromedp.ByQuery),
		pickPreset("synthetic"), waitRequests("128"), chromedp.Evaluate(q, &generated))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(replay) != "[true true]" || fmt.Sprint(generated) != "[false false]" || !strings.Contains(note, "trace replay") {
		t.Errorf("disabled on the seed replay %v (note %q), on synthetic %v", replay, note, generated)
	}
}

// TestPage_Dashboard: units per magnitude in key results, table, axes and
// tooltips; zooming one chart over time zooms the others (one time axis);
// CDFs mark P50/P90/P99 and switch to a log axis; every chart exports PNG;
// the header summarises the run's configuration.
func TestPage_Dashboard(t *testing.T) {
	srv, ctx := setup(t)
	var e2e, summary, table, logType string
	var out map[string]any
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), chromedp.Sleep(300*time.Millisecond),
		chromedp.Text("#k-e2e", &e2e, chromedp.ByQuery), chromedp.Text("#run-config", &summary, chromedp.ByQuery),
		chromedp.Text("#percentiles", &table, chromedp.ByQuery),
		chromedp.Evaluate(`(() => {
			const inst = (id) => servesim.chartOf(id);
			const load = inst("chart-load"), kv = inst("chart-kv"), ttft = inst("chart-ttft");
			load.dispatchAction({type: "dataZoom", start: 20, end: 40});
			const o = ttft.getOption();
			return {
				kvZoom: kv.getOption().dataZoom[0].start + "-" + kv.getOption().dataZoom[0].end,
				sameAxis: load.getOption().xAxis[0].max === kv.getOption().xAxis[0].max && load.getOption().xAxis[0].max > 0,
				group: load.group + "," + kv.group,
				marks: o.series[0].markLine.data.map((d) => d.name).join(","),
				tickMs: o.xAxis[0].axisLabel.formatter(0.5) + "|" + o.xAxis[0].axisLabel.formatter(86705.336) + "|" + o.xAxis[0].axisLabel.formatter(2.2159),
				tip: load.getOption().tooltip[0].formatter([{seriesName: "running", marker: "", value: [16299.995683991508, 130457963]}]),
				png: Array.from(document.querySelectorAll(".chart")).every((el) => servesim.chartOf(el.id).getOption().toolbox[0].feature.saveAsImage.show)
					&& ttft.getDataURL({type: "png"}).startsWith("data:image/png"),
				batches: (() => { const t = inst("chart-batches").getOption().title[0]; return t.text + " | " + t.subtext; })(),
			};
		})()`, &out),
		chromedp.Click("#logx", chromedp.ByQuery), chromedp.Sleep(500*time.Millisecond),
		chromedp.Evaluate(`servesim.chartOf("chart-e2e").getOption().xAxis[0].type`, &logType))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"kvZoom": "20-40", "sameAxis": true, "group": "time,time", "marks": "P50,P90,P99",
		"tickMs": "500 µs|86.71 s|2.216 ms", "tip": "16,300 s<br>running: 130,457,963", "png": true}
	for k, v := range want {
		if fmt.Sprint(out[k]) != fmt.Sprint(v) {
			t.Errorf("%s: got %v, want %v", k, out[k], v)
		}
	}
	if logType != "log" {
		t.Errorf("CDF axis after log x: %q", logType)
	}
	// Per-iteration series are aggregated per time bucket, never sampled
	// ("every 754th iteration", "every 2th").
	if b, _ := out["batches"].(string); !regexp.MustCompile(`iterations in [0-9,]+ time buckets`).MatchString(b) || strings.Contains(b, "every") {
		t.Errorf("batch chart's title %q: want its iterations in time buckets, no sampling", b)
	}
	t.Logf("E2E %q; summary %q; table %q", e2e, summary, table)
	if !strings.HasSuffix(e2e, " s") && !strings.HasSuffix(e2e, " ms") {
		t.Errorf("E2E median %q has no unit", e2e)
	}
	for _, want := range []string{"sarathi, chunk 512, cap 128, 1 replica, TP1 PP1, 2 QPS poisson", "(SYNTHESIZED)"} {
		if !strings.Contains(summary, want) {
			t.Errorf("run summary %q lacks %q", summary, want)
		}
	}
	if !strings.Contains(table, "1,000") || !strings.Contains(table, " ms") {
		t.Errorf("percentile table without units or separators: %q", table)
	}
}

// TestPage_MooncakeTrace: a Mooncake-style .jsonl (timestamp, input_length,
// output_length, hash_ids) is detected as what it is, not as a
// prompts.jsonl, and replays with its own arrivals.
func TestPage_MooncakeTrace(t *testing.T) {
	srv, ctx := setup(t)
	f, _ := filepath.Abs("../../engine/workload/testdata/mooncake.jsonl")
	var header string
	var qpsDisabled bool
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.SetUploadFiles("#file-input", []string{f}, chromedp.ByQuery), waitText("#detected", "mooncake-trace: "),
		chromedp.Evaluate(`document.getElementById("cfg-workload.qps").disabled`, &qpsDisabled),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-id", "(mooncake-trace)"),
		chromedp.Text("#run-config", &header, chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	if !qpsDisabled || !strings.Contains(header, "trace arrivals") {
		t.Errorf("a Mooncake trace is a replay: QPS disabled %v, header %q", qpsDisabled, header)
	}
}

// TestPage_ShareLinkBounded: a share link is read within bounds: one that
// inflates to 30 MB (a 29 KB deflate bomb) and one over 64 Ki characters
// are refused with a message, and the page still runs.
func TestPage_ShareLinkBounded(t *testing.T) {
	srv, ctx := setup(t)
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	fw.Write(make([]byte, 30<<20))
	fw.Close()
	bomb := base64.RawURLEncoding.EncodeToString(z.Bytes())
	for _, tc := range []struct{ frag, want string }{
		{bomb, "inflate to more than 8388608 bytes"},
		{strings.Repeat("A", 70000), "over the 65536 this page reads"},
	} {
		ctx2, cancel := chromedp.NewContext(ctx)
		err := chromedp.Run(ctx2, chromedp.Navigate(srv.URL+"/#s="+tc.frag),
			waitText("#error", "could not read the shared link"), waitText("#error", tc.want))
		cancel()
		if err != nil {
			t.Fatalf("%d-character link: %v", len(tc.frag), err)
		}
	}
}
