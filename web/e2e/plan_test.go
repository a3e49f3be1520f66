package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// nativeSLO runs body through the test server's API (the native handler,
// what the CLI runs) and returns summary.slo's attainment and verdict as the
// page writes them.
func nativeSLO(t *testing.T, url, body string) (attainment string, met bool, overloaded bool) {
	t.Helper()
	resp, err := http.Post(url+"/api/simulate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Summary struct {
			SLO struct {
				Met        bool    `json:"met"`
				Attainment float64 `json:"attainment"`
				Load       struct {
					Overloaded bool `json:"overloaded"`
				} `json:"load"`
			} `json:"slo"`
		} `json:"summary"`
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(buf.Bytes(), &res) != nil {
		t.Fatalf("native run: %d %s", resp.StatusCode, buf.String()[:min(buf.Len(), 400)])
	}
	s := res.Summary.SLO
	return fmt.Sprintf("%.2f%%", 100*s.Attainment), s.Met, s.Load.Overloaded
}

// TestPage_SLO: the results header shows the run judged against its SLO
// (the native API's numbers for the same run); an edited objective is
// marked stale, applied by Run, kept in the share link; an overloaded run
// says so; a contradictory objective is a clear error and the page keeps
// working.
func TestPage_SLO(t *testing.T) {
	srv, ctx := setup(t)
	var att, verdict, att2, verdict2, load, ttftField, attLink string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		waitText("#slo-verdict", "SLO"), chromedp.Text("#slo-attainment", &att, chromedp.ByQuery),
		chromedp.Text("#slo-verdict", &verdict, chromedp.ByQuery),
		waitText("#slo-offered", "offered"), waitText("#slo-ttft", "P90 ≤ 1.000 s"),
		// a tight TTFT objective: stale, then Run judges against it
		setField("slo.ttft_ms", "20"), waitText("#stale", "SLO TTFT"),
		chromedp.Click("#run-stale", chromedp.ByQuery), waitText("#slo-ttft", "P90 ≤ 20.00 ms"),
		chromedp.Text("#slo-attainment", &att2, chromedp.ByQuery), chromedp.Text("#slo-verdict", &verdict2, chromedp.ByQuery),
		shot("page-slo.png"),
		chromedp.Click("#share", chromedp.ByQuery), waitText("#notice", "Link copied"))
	if err != nil {
		t.Fatal(err)
	}
	wantAtt, wantMet, _ := nativeSLO(t, srv.URL, `{"preset":"splitwise-conv-2qps"}`)
	if att != wantAtt || (verdict == "SLO met") != wantMet {
		t.Errorf("default SLO: page %q %q, native attainment %s met %v", att, verdict, wantAtt, wantMet)
	}
	wantAtt2, wantMet2, _ := nativeSLO(t, srv.URL, `{"preset":"splitwise-conv-2qps","config":{"slo":{"ttft_ms":20}}}`)
	if att2 != wantAtt2 || (verdict2 == "SLO met") != wantMet2 || att2 == att {
		t.Errorf("TTFT 20 ms: page %q %q, native attainment %s met %v (default: %s)", att2, verdict2, wantAtt2, wantMet2, att)
	}
	// the share link reproduces the objective
	var link string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`location.href`, &link)); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Run(ctx2, chromedp.Navigate(link), waitDefault(), waitText("#slo-ttft", "P90 ≤ 20.00 ms"),
		chromedp.Value(`[id="cfg-slo.ttft_ms"]`, &ttftField, chromedp.ByQuery), chromedp.Text("#slo-attainment", &attLink, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if ttftField != "20" || attLink != att2 {
		t.Errorf("share link: TTFT field %q attainment %q, want 20 and %q", ttftField, attLink, att2)
	}
	// overload, then a contradictory objective, then the page still runs
	err = chromedp.Run(ctx2, setField("workload.qps", "200"), chromedp.Click("#run", chromedp.ByQuery),
		waitText("#slo-load", "OVERLOADED"), chromedp.Text("#slo-load", &load, chromedp.ByQuery),
		waitText("#slo-load-verdict", "OVERLOADED: in the second half"),
		setField("slo.e2e_ms", "5"), chromedp.Click("#run", chromedp.ByQuery),
		waitText("#error", "e2e_ms 5 is below ttft_ms 20"), waitText("#error", "the results below are of the previous run"),
		chromedp.Click("#slo-defaults", chromedp.ByQuery), setField("workload.qps", "2"), chromedp.Click("#run", chromedp.ByQuery),
		waitText("#slo-ttft", "P90 ≤ 1.000 s"), waitText("#slo-load", "keeping up"))
	if err != nil {
		t.Fatal(err)
	}
}

// searchSet ticks a sweep axis with values (empty: unticks it).
func searchAxis(key, values string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => {
		const box = document.getElementById("search-axis-%[1]s"), v = document.getElementById("search-values-%[1]s");
		box.checked = %[2]q !== ""; box.dispatchEvent(new Event("change", {bubbles: true}));
		if (%[2]q !== "") { v.disabled = false; v.value = %[2]q; v.dispatchEvent(new Event("change", {bubbles: true})); }
	})()`, key, values), nil)
}

// searchParam sets a search setting (id search-KEY).
func searchParam(key, value string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const el = document.getElementById("search-%s"); el.value = %q; el.dispatchEvent(new Event("change", {bubbles: true})); })()`, key, value), nil)
}

// downloadTo saves the page's downloads into dir.
func downloadTo(dir string) chromedp.Action {
	return browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true)
}

// slowSearch gives a search test's browser 5 minutes: its Web Workers
// each compile the engine's wasm, which on a loaded 2-core machine (the
// full suite beside other jobs) takes a good part of the default 2.
func slowSearch(t *testing.T) {
	d := browserTimeout
	browserTimeout = 5 * time.Minute
	t.Cleanup(func() { browserTimeout = d })
}

// openSearch opens the capacity search panel.
func openSearch() chromedp.Action {
	return chromedp.Tasks{chromedp.Click("#search-toggle", chromedp.ByQuery), chromedp.WaitVisible("#search-run", chromedp.ByQuery)}
}

// TestPage_SearchMatchesCLI: a 4-point sweep with a target rate in the page
// (trials on 2 Web Workers) writes the same search.json, search.csv and
// search_curve.csv bytes as `servesim search` with the same inputs.
func TestPage_SearchMatchesCLI(t *testing.T) {
	slowSearch(t)
	srv, ctx := setup(t)
	dir := t.TempDir()
	var summary string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true),
		openSearch(), searchAxis("batch_cap", "16,64"), searchAxis("chunk_size", "256,1024"),
		searchParam("requests", "200"), searchParam("precision", "0.1"), searchParam("start_qps", "16"), searchParam("target_qps", "20"),
		searchParam("workers", "2"), waitText("#search-points", "4 points"),
		chromedp.ActionFunc(func(ctx context.Context) error {
			// the open panel starts the search's workers ahead of the click:
			// the pool's two and the coordinator have their engines up
			c, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := waitSearchWarm(c, 3); err != nil {
				return fmt.Errorf("the search's workers are not up ahead of the click: %w", err)
			}
			return nil
		}),
		chromedp.Click("#search-run", chromedp.ByQuery), waitText("#search-progress", "trials done"),
		waitText("#search-summary", "4 points"), chromedp.Text("#search-summary", &summary, chromedp.ByQuery),
		waitText("#search-cheapest", "Cheapest meeting the SLO at 20 QPS"), shot("page-search.png"),
		chromedp.Click("#search-dl-search", chromedp.ByQuery), chromedp.Click(`#search-dl-search\.csv`, chromedp.ByQuery),
		chromedp.Click(`#search-dl-search_curve\.csv`, chromedp.ByQuery))
	if err != nil {
		t.Fatal(err)
	}
	sameSearchAsCLI(t, dir, "--preset", "splitwise-conv-2qps", "--search_requests", "200", "--precision", "0.1", "--start_qps", "16",
		"--batch_cap_values", "16,64", "--chunk_size_values", "256,1024", "--target_qps", "20", "--max_points", "64")
	t.Logf("page: %s", summary)
}

// TestPage_SearchCancel: a search shows progress per point and Cancel
// stops it; the page then searches and runs again.
func TestPage_SearchCancel(t *testing.T) {
	slowSearch(t)
	srv, ctx := setup(t)
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), openSearch(),
		searchAxis("batch_cap", "32,64,128,256"), searchParam("requests", "19000"), searchParam("workers", "2"), // the trace has 19,366 rows
		chromedp.Click("#search-run", chromedp.ByQuery), waitText("#search-progress-table", "running at 10,000 QPS"), // the saturation bursts, at max_qps
		// a click in one event: the page re-renders as trials start, and a
		// mouse press and release straddling a render may not make a click
		chromedp.Evaluate(`document.getElementById("search-cancel").click()`, nil),
		waitText("#search-notice", "Search cancelled after"),
		searchAxis("batch_cap", "16,64"), searchParam("requests", "20"), searchParam("start_qps", "16"), searchParam("precision", "0.2"),
		chromedp.Click("#search-run", chromedp.ByQuery), waitText("#search-summary", "2 points"),
		pickPreset("spaced-2s"), waitRequests("8"))
	if err != nil {
		t.Fatal(err)
	}
}

// TestPage_SearchBadInput: a sweep over the cap, a bad value and an
// objective no rate meets are clear messages; the page keeps working.
func TestPage_SearchBadInput(t *testing.T) {
	srv, ctx := setup(t)
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), openSearch(),
		// over the cap of 64 points: the engine's message
		searchAxis("replicas", "1,2,3,4,5,6,7,8,9"), searchAxis("batch_cap", "1,2,3,4,5,6,7,8"), searchParam("requests", "20"),
		waitText("#search-points", "72 points"), chromedp.Click("#search-run", chromedp.ByQuery),
		waitText("#search-error", "the sweep is 72 points"), waitText("#search-error", "over the cap of 64"),
		// a bad value
		searchAxis("replicas", ""), searchAxis("batch_cap", "8,x"), chromedp.Click("#search-run", chromedp.ByQuery),
		waitText("#search-error", `batch cap values: "x" is not an integer`),
		// no rate meets the objective (from 0.02 QPS: the lowest rate, 0.01, is one halving away)
		searchAxis("batch_cap", "16,64"), setField("slo.ttft_ms", "0.001"), searchParam("start_qps", "0.02"),
		chromedp.Click("#search-run", chromedp.ByQuery), waitText("#search-error", "no point meets the SLO at any rate"),
		waitText("#search-error", "attainment at most 85.0%"), // 20 requests: stopped once 3 missed the P90 TTFT
		// the page still works
		pickPreset("spaced-2s"), waitRequests("8"))
	if err != nil {
		t.Fatal(err)
	}
}

// TestPage_SearchTraceRows: a search asking more requests a trial than the
// workload's trace has rows is refused before any trial starts (no
// progress row: each point's trials used to fail alike), with the trace's
// file, its rows and the count asked.
func TestPage_SearchTraceRows(t *testing.T) {
	slowSearch(t)
	srv, ctx := setup(t)
	var msg string
	var trials int
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), openSearch(),
		// count the trials the pool is given (search.js's onTrial "start")
		chromedp.Evaluate(`(() => { const S = window.servesim, search = S.search; window.trialsStarted = 0;
			S.search = (body, n, onTrial, onDone) => search(body, n, (phase, ...rest) => { if (phase === "start") window.trialsStarted++; onTrial(phase, ...rest); }, onDone); })()`, nil),
		searchParam("requests", "20000"), searchParam("workers", "1"), waitText("#search-points", "1 point"),
		chromedp.Evaluate(`document.getElementById("search-run").click()`, nil),
		waitText("#search-error", "expected requests"), chromedp.Text("#search-error", &msg, chromedp.ByQuery),
		chromedp.Evaluate(`window.trialsStarted`, &trials))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "20000 requests per trial, but the workload trace splitwise_conv.csv (preset splitwise-conv-2qps) has 19366 rows") ||
		!strings.Contains(msg, "expected requests <= 19366") {
		t.Errorf("the refusal says %q, want the trace, its 19366 rows and the 20000 asked", msg)
	}
	if trials != 0 {
		t.Errorf("%d trials started before the refusal, want none", trials)
	}
}

// runSearchOf clicks the search's Run in one event (the page may re-render
// between a mouse press and its release: a dropped file's or model's
// profile choice), fails at once with the page's message if it refuses the
// search, and waits for a summary saying points ("1 points"), read into
// summary.
func runSearchOf(points string, summary *string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Evaluate(`document.getElementById("search-run").click()`, nil),
		waitText("#search-progress, #search-summary, #search-error", ""),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var refused string
			if err := chromedp.Evaluate(`(document.getElementById("search-error")||{}).textContent||""`, &refused).Do(ctx); err != nil || refused == "" {
				return err
			}
			return fmt.Errorf("the search refused: %s", refused)
		}),
		waitText("#search-summary", points), chromedp.Text("#search-summary", summary, chromedp.ByQuery),
	}
}

// downloadSearch clicks the search's three downloads: search.json,
// search.csv and search_curve.csv (into the folder of downloadTo).
func downloadSearch() chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Click("#search-dl-search", chromedp.ByQuery), chromedp.Click(`#search-dl-search\.csv`, chromedp.ByQuery),
		chromedp.Click(`#search-dl-search_curve\.csv`, chromedp.ByQuery),
	}
}

// TestPage_SearchUserProfile: profile files dropped on the page (Vidur's
// mlp.csv and attention.csv, times doubled so that they are not the
// embedded set's, and a provenance text) are every pooled trial's set: the
// page's search.json, search.csv and search_curve.csv are the bytes of
// `servesim search --profile DIR` with the same inputs, and differ from a
// search on the embedded set. Before, the page refused ("a search runs on
// the embedded profile sets").
func TestPage_SearchUserProfile(t *testing.T) {
	slowSearch(t)
	srv, ctx := setup(t)
	dir, set := t.TempDir(), doubledProfile(t)
	paths := []string{filepath.Join(set, "mlp.csv"), filepath.Join(set, "attention.csv"), filepath.Join(set, "provenance.txt")}
	var summary string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), downloadTo(dir),
		chromedp.SetUploadFiles("#file-input", paths, chromedp.ByQuery), waitText("#profile-files", "mlp.csv, attention.csv, provenance.txt"),
		openSearch(), searchParam("requests", "200"), searchParam("precision", "0.1"), searchParam("workers", "2"),
		waitText("#search-points", "1 point"),
		runSearchOf("1 points", &summary),
		downloadSearch())
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--preset", "splitwise-conv-2qps", "--search_requests", "200", "--precision", "0.1", "--max_points", "64"}
	sameSearchAsCLI(t, dir, append([]string{"--profile", set}, args...)...)
	embedded := t.TempDir()
	if out, err := exec.Command(filepath.Join(dist, "servesim"), append(append([]string{"search"}, args...), "--quiet", "--out", embedded)...).CombinedOutput(); err != nil {
		t.Fatalf("servesim search: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "search.csv"))
	b, _ := os.ReadFile(filepath.Join(embedded, "search.csv"))
	if bytes.Equal(a, b) {
		t.Errorf("the search with doubled profile times equals the embedded set's: the files were not used\n%s", a)
	}
	t.Logf("page: %s", summary)
}

// doubledProfile writes a user's profile folder: the a100/qwen3-0.6b set's
// mlp.csv and attention.csv with every time doubled (so that a run on it
// differs from one on the embedded set) and testdata/myprofile's
// provenance.txt.
func doubledProfile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"mlp.csv", "attention.csv"} {
		f, err := os.Open(filepath.Join("../../profiles/a100/qwen3-0.6b", name))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows[1:] {
			for j, col := range rows[0] {
				if v, err := strconv.ParseFloat(row[j], 64); err == nil && strings.HasPrefix(col, "time_stats.") {
					row[j] = strconv.FormatFloat(2*v, 'g', -1, 64)
				}
			}
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.WriteAll(rows)
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	prov, err := os.ReadFile("testdata/myprofile/provenance.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "provenance.txt"), prov, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPage_SearchModelConfig: a Hugging Face config.json dropped on the
// page (the model picker's file input) is the model of the capacity
// search's trials: the page's search.json, search.csv and search_curve.csv
// are the bytes of `servesim search --model config.json` with the same
// inputs (the roofline estimate for that model on the default GPU, as a run
// of it chooses).
func TestPage_SearchModelConfig(t *testing.T) {
	slowSearch(t)
	srv, ctx := setup(t)
	dir := t.TempDir()
	cfgFile, _ := filepath.Abs("testdata/tiny-llama/config.json")
	var summary, table string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), downloadTo(dir),
		chromedp.WaitReady(`#pick-gpu option[value="h100"]`, chromedp.ByQuery),
		chromedp.SetUploadFiles("#model-file", []string{cfgFile}, chromedp.ByQuery), waitText("#pick-config", "config.json"),
		waitText("#pick-choice", "no measured profile set for my/tiny-llama on a100"),
		openSearch(), searchParam("requests", "200"), searchParam("precision", "0.1"), searchParam("workers", "2"),
		waitText("#search-points", "1 point"),
		runSearchOf("1 points", &summary),
		chromedp.Text("#search-table", &table, chromedp.ByQuery),
		downloadSearch())
	if err != nil {
		var searchErr string
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		chromedp.Run(dctx, chromedp.Evaluate(`(document.getElementById("search-error")||{}).textContent||""`, &searchErr))
		cancel()
		t.Fatalf("%v (search error %q)", err, searchErr)
	}
	if !strings.Contains(summary, "1 met the SLO") {
		t.Errorf("summary %q, table %q: the point has no max QPS", summary, table)
	}
	sameSearchAsCLI(t, dir, "--preset", "splitwise-conv-2qps", "--model", cfgFile,
		"--search_requests", "200", "--precision", "0.1", "--max_points", "64")
	t.Logf("page: %s", summary)
}

// TestPage_SearchProgressBursts: a point's first trials are its two
// saturation bursts (3/10 of the pilot's requests and the pilot's, all
// arriving at once at max_qps, run to the last for the capacity estimate):
// the progress table says so, with the burst's duration, and keeps it out
// of the point's bracket, as search.json keeps it out of the curves (its
// saturation), never as a trial at 10,000 QPS that fails the SLO.
func TestPage_SearchProgressBursts(t *testing.T) {
	slowSearch(t)
	srv, ctx := setup(t)
	var row struct{ Trials, Bracket, Last, Running string }
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), openSearch(),
		// 19,000 requests a trial (the trace has 19,366): bursts of 570 and
		// 1,900 requests (the pilot's), one at a time on one worker, at a
		// batch cap of 1 and 4-token prefill chunks, so that the longer is
		// still running when the other is shown done (progress is shown
		// every 500 ms). The chunks make the work: a request's decodes alone
		// are one decode run, which the engine takes in one step, and with
		// 512-token chunks both bursts ended inside one progress interval.
		setField("scheduler.batch_size_cap", "1"), setField("scheduler.chunk_size", "4"),
		searchParam("requests", "19000"), searchParam("workers", "1"), waitText("#search-points", "1 point"),
		chromedp.Evaluate(`document.getElementById("search-run").click()`, nil), waitText("#search-progress-table", "running at 10,000"),
		chromedp.ActionFunc(func(ctx context.Context) error {
			for { // the first trial done is a burst: the pilot starts after both
				if err := chromedp.Evaluate(`(() => { const t = document.getElementById("search-progress-table");
					if (!t) return {Last: "\x00" + ((document.getElementById("search-error") || document.getElementById("search-summary") || {}).textContent || "")};
					const c = t.rows[1].cells;
					return {Trials: c[2].textContent, Bracket: c[3].textContent, Last: c[4].textContent, Running: c[5].textContent}; })()`, &row).Do(ctx); err != nil {
					return err
				}
				if m, ended := strings.CutPrefix(row.Last, "\x00"); ended {
					return fmt.Errorf("the search ended before a trial was shown done: %q", m)
				}
				if row.Last != "" {
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("waiting for a trial to be done: %w", ctx.Err())
				case <-time.After(20 * time.Millisecond):
				}
			}
		}),
		chromedp.Evaluate(`document.getElementById("search-cancel").click()`, nil), waitText("#search-notice", "Search cancelled after"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(row.Last, "saturation burst: 570 requests at once, served in ") && !strings.HasPrefix(row.Last, "saturation burst: 1,900 requests at once") ||
		!strings.Contains(row.Last, "not judged against the SLO") || row.Bracket != "" || row.Trials != "1" {
		t.Errorf("the first burst done shows: trials %q, so far %q, last trial %q (running %q); want a saturation burst, no bracket", row.Trials, row.Bracket, row.Last, row.Running)
	}
	t.Logf("progress: %+v", row)
}

// TestPage_AB: pin a run, change a setting, run again: the comparison
// table has both runs' numbers (as each run showed them), difference and
// ratio and each SLO's verdict; five overlay charts are drawn with A and B
// in their colours; A's files download with the bytes of A's run; the share
// link reproduces both runs.
func TestPage_AB(t *testing.T) {
	srv, ctx := setup(t)
	dir := t.TempDir()
	var aTTFT, aID, bTTFT, bID, table, link string
	var drawn int
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true),
		chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"),
		chromedp.Text("#k-ttft", &aTTFT, chromedp.ByQuery), chromedp.Text("#run-id", &aID, chromedp.ByQuery),
		chromedp.Click("#ab-pin", chromedp.ByQuery), waitText("#ab-a", "seed"),
		setField("scheduler.type", "orca"), setField("scheduler.batch_size_cap", "2"), chromedp.Click("#run", chromedp.ByQuery),
		waitText("#ab-b", "orca"), waitText("#ab-table", "TTFT P50"),
		chromedp.Text("#k-ttft", &bTTFT, chromedp.ByQuery), chromedp.Text("#run-id", &bID, chromedp.ByQuery),
		chromedp.Text("#ab-table", &table, chromedp.ByQuery),
		waitChartsDrawn(), chromedp.Sleep(300*time.Millisecond), // (charts are drawn one per task, after the result's first frame)
		chromedp.Evaluate(`["chart-ab-ttft","chart-ab-tbt","chart-ab-e2e","chart-ab-throughput","chart-ab-running"].filter((id) => {
			const c = servesim.chartOf(id); if (!c) return false;
			const s = c.getOption().series; return s.length === 2 && s[0].itemStyle.color !== s[1].itemStyle.color; }).length`, &drawn),
		shot("page-ab.png"),
		chromedp.Click(`#ab-dl-request_metrics\.csv`, chromedp.ByQuery),
		chromedp.Click("#share", chromedp.ByQuery), waitText("#notice", "Link copied"), chromedp.Evaluate(`location.href`, &link))
	if err != nil {
		t.Fatal(err)
	}
	if aTTFT == bTTFT || aID == bID {
		t.Fatalf("A and B are the same run: %s %s / %s %s", aID, aTTFT, bID, bTTFT)
	}
	var ttftRow string
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, "TTFT P50") {
			ttftRow = l
		}
	}
	// the seed run's four requests have one TTFT: P50 is the median shown
	if !strings.Contains(ttftRow, aTTFT) || !strings.Contains(ttftRow, bTTFT) || !strings.Contains(ttftRow, "×") {
		t.Errorf("TTFT P50 row %q lacks A %s and B %s and a ratio", ttftRow, aTTFT, bTTFT)
	}
	for _, want := range []string{"SLO\tSLO met", "TTFT objective", "E2E objective", "load"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if drawn != 5 {
		t.Errorf("%d of 5 comparison charts drawn with A and B in two colours", drawn)
	}
	var got []byte
	for i := 0; i < 100 && len(got) == 0; i++ {
		got, _ = os.ReadFile(filepath.Join(dir, "A-request_metrics.csv"))
		time.Sleep(100 * time.Millisecond)
	}
	if string(got) != string(golden(t, "request_metrics.csv")) {
		t.Errorf("A's request_metrics.csv is not the seed run's:\n%.300s", got)
	}
	ctx2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	var aID2, bID2 string
	if err := chromedp.Run(ctx2, chromedp.Navigate(link), waitText("#ab-b", "orca"), waitText("#ab-table", "TTFT P50"),
		chromedp.Text("#ab-a", &aID2, chromedp.ByQuery), chromedp.Text("#run-id", &bID2, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aID2, strings.TrimSuffix(strings.Fields(strings.TrimPrefix(aID, "run "))[0], ",")) || bID2 != bID {
		t.Errorf("the link opened A %q and B %q; were %q and %q", aID2, bID2, aID, bID)
	}
}

// sameSearchAsCLI runs `servesim search ARGS --quiet --out DIR2` and checks
// that the page's downloads in dir (waited for up to 10 s each) equal its
// search.json, search.csv and search_curve.csv byte for byte.
func sameSearchAsCLI(t *testing.T, dir string, args ...string) {
	t.Helper()
	cli := t.TempDir()
	cmd := exec.Command(filepath.Join(dist, "servesim"), append(append([]string{"search"}, args...), "--quiet", "--out", cli)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("servesim search: %v\n%s", err, out)
	}
	for _, f := range []string{"search.json", "search.csv", "search_curve.csv"} {
		want, err := os.ReadFile(filepath.Join(cli, f))
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		for i := 0; i < 100 && len(got) == 0; i++ {
			got, _ = os.ReadFile(filepath.Join(dir, f))
			time.Sleep(100 * time.Millisecond)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the page's differs from the CLI's:\npage:\n%.1500s\nCLI:\n%.1500s", f, got, want)
		}
	}
}
