package e2e

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/servesim/servesim/web/ui"
)

// defaultState is the share link's (and run file's) inputs of the page's
// default settings.
const defaultState = `{"preset":"` + ui.PageDefault + `","config":{}}`

// shareLink is the page's share link fragment (app.js's share: #s= and the
// deflated state, base64url) for a state.
func shareLink(t testing.TB, state string) string {
	t.Helper()
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestCompression)
	fw.Write([]byte(state))
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return "#s=" + base64.RawURLEncoding.EncodeToString(z.Bytes())
}

// TestPage_DefaultPrebuilt: a fresh page with the default settings plots
// the default run computed when the page was built (dist/'s
// ui.DefaultRunFile, by build.sh) and says so; that result is byte for byte
// the one this browser's engine computes for the same request (the engine
// is deterministic, natively and as wasm); its downloads are the CLI's
// files for that run and its share link reopens it (simulated in the
// browser, the same run); a setting changed marks it stale, and Run
// replaces it with the browser's own run.
func TestPage_DefaultPrebuilt(t *testing.T) {
	srv, ctx := setup(t)
	text, err := os.ReadFile(filepath.Join(dist, ui.DefaultRunFile))
	if err != nil {
		t.Fatal(err)
	}
	var file ui.PrebuiltRun
	if err := json.Unmarshal(text, &file); err != nil {
		t.Fatal(err)
	}
	body, want, err := ui.DefaultInputs()
	if err != nil {
		t.Fatal(err)
	}
	if file.Request != body || file.Run != "1" || file.Preset != want.Preset {
		t.Fatalf("%s: request %q, run %q, preset %q; want the page's default %q", ui.DefaultRunFile, file.Request, file.Run, file.Preset, body)
	}
	cli := cliRun(t, "1000")
	dir := t.TempDir()
	var prebuilt, elapsed, runID, line, link string
	var charts int
	err = chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.Text("#prebuilt", &prebuilt, chromedp.ByQuery),
		chromedp.Text("#k-elapsed", &elapsed, chromedp.ByQuery),
		chromedp.Text("#run-id", &runID, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll(".chart canvas").length`, &charts),
		// The in-browser engine's answer to the same request: its result line.
		await(`new Promise((resolve, reject) => {
			let result = "";
			servesim.simulate("/api/simulate?format=ndjson", `+jsString(file.Request)+`,
				(line) => { if (line.startsWith('{"result"')) result = line; },
				() => resolve(result), reject);
		})`, &line),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true),
		// (saved from memory: which way a file is saved is TestPage_StreamedDownloads')
		chromedp.Evaluate(`servesim.downloadMode = "memory"`, nil),
		chromedp.Click(`#dl-request_metrics\.csv`, chromedp.ByQuery),
		chromedp.Click("#share", chromedp.ByQuery), waitText("#notice", "Link copied"),
		chromedp.Evaluate(`location.href`, &link))
	if err != nil {
		t.Fatal(err)
	}
	var d download
	if err := waitDownload(ctx, 0, &d); err != nil || d.State != "saved" {
		t.Fatalf("the download of request_metrics.csv: %+v, %v", d, err)
	}
	if !strings.Contains(prebuilt, "Computed when this page was built, by the same engine") || !strings.Contains(prebuilt, "Run recomputes it") {
		t.Errorf("the prebuilt result's note: %q", prebuilt)
	}
	if elapsed != "—" || charts < 11 {
		t.Errorf("prebuilt result: simulation time %q (want —), %d charts drawn (want 11)", elapsed, charts)
	}
	if wantLine := `{"result":` + string(file.Result) + `}`; line != wantLine {
		t.Errorf("the in-browser engine's result for %s (%d bytes) is not the prebuilt one (%d bytes)", file.Request, len(line), len(wantLine))
	}
	// The download: the CLI's file for the default run.
	wantCSV, _ := os.ReadFile(filepath.Join(cli, "request_metrics.csv"))
	var got []byte
	for i := 0; i < 200 && len(got) < len(wantCSV); i++ {
		got, _ = os.ReadFile(filepath.Join(dir, "request_metrics.csv"))
		time.Sleep(100 * time.Millisecond)
	}
	if !bytes.Equal(got, wantCSV) {
		t.Errorf("request_metrics.csv of the prebuilt result: %d bytes, not the CLI's %d", len(got), len(wantCSV))
	}
	// The share link: the default inputs; opened, the browser runs them.
	if st := linkState(t, link); st != defaultState {
		t.Errorf("share link %q holds %s, want the default state %s", link, st, defaultState)
	}
	ctx2, cancel := chromedp.NewContext(ctx)
	var runID2, elapsed2 string
	var prebuilt2 bool
	err = chromedp.Run(ctx2, chromedp.Navigate(link), waitDefault(),
		chromedp.Text("#run-id", &runID2, chromedp.ByQuery), chromedp.Text("#k-elapsed", &elapsed2, chromedp.ByQuery),
		chromedp.Evaluate(`!!document.getElementById("prebuilt")`, &prebuilt2))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if runID2 != runID || prebuilt2 || !strings.HasSuffix(elapsed2, "s") {
		t.Errorf("the share link opened %q (prebuilt %v, simulation time %q), the run on screen was %q", runID2, prebuilt2, elapsed2, runID)
	}
	// A setting changed marks it stale; Run replaces it with this browser's run.
	var stillPrebuilt bool
	err = chromedp.Run(ctx, setField("workload.qps", "3"), waitText("#stale", "Settings changed (QPS"),
		chromedp.Evaluate(`!!document.getElementById("prebuilt")`, &stillPrebuilt),
		chromedp.Click("#run-stale", chromedp.ByQuery), waitText("#run-config", "3 QPS"),
		waitText("#k-elapsed", "s"), chromedp.Text("#k-elapsed", &elapsed, chromedp.ByQuery),
		chromedp.Evaluate(`!!document.getElementById("prebuilt")`, &prebuilt2))
	if err != nil {
		t.Fatal(err)
	}
	if !stillPrebuilt || prebuilt2 {
		t.Errorf("prebuilt note: %v while stale (want true), %v after Run (want false)", stillPrebuilt, prebuilt2)
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// linkState is the state a share link holds (shareLink's inverse).
func linkState(t testing.TB, link string) string {
	t.Helper()
	_, frag, ok := strings.Cut(link, "#s=")
	z, err := base64.RawURLEncoding.DecodeString(frag)
	if !ok || err != nil {
		t.Fatalf("share link %q: %v", link, err)
	}
	b, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
	if err != nil {
		t.Fatalf("share link %q: %v", link, err)
	}
	return string(b)
}
