package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// streamRequests is the run the streamed-download tests save files of:
// its token_metrics.csv (~50 MB) is many times what a download may hold.
const streamRequests, streamRequestsText = "8000", "8,000"

// cliRun writes the CLI's files for the page's default preset with n
// requests into a temporary folder.
func cliRun(t *testing.T, n string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(dist, "servesim"), "simulate", "--preset", "splitwise-conv-2qps", "--num-requests", n, "--quiet", "--out", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("servesim simulate: %v\n%s", err, out)
	}
	return dir
}

// sha256File is the SHA-256 of a file and its size, read as a stream (the
// large-run benchmark's files are gigabytes).
func sha256File(t testing.TB, path string) (string, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// await evaluates a JavaScript expression that is a promise.
func await(expr string, out any) chromedp.Action {
	return chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })
}

// download is one download's record in the page (app.js's S.downloads).
type download struct {
	Name, Mode, State, Message, Note string
	Bytes                            int64
}

// waitDownload waits until the page has more than n downloads and its last
// one is no longer streaming.
func waitDownload(ctx context.Context, n int, d *download) error {
	for {
		*d = download{}
		if err := chromedp.Run(ctx, chromedp.Evaluate(`servesim.downloads.length > `+fmt.Sprint(n)+` ? servesim.downloads[servesim.downloads.length - 1] : {}`, d)); err != nil {
			return err
		}
		if d.State != "" && d.State != "streaming" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the download (%+v): %w", *d, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestPage_StreamedDownloads: each way the page saves a file gives the
// CLI's bytes: streamed through the service worker to the downloads folder
// (what Chromium uses by default), streamed into a file from the save
// dialog (the File System Access API; the dialog answered by the test with
// a file that keeps what is written), and, where nothing streams, in memory
// with the message saying so.
func TestPage_StreamedDownloads(t *testing.T) {
	srv, ctx := setup(t)
	cli := cliRun(t, streamRequests)
	dir := t.TempDir()
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		setField("workload.num_requests", streamRequests), chromedp.Click("#run", chromedp.ByQuery), waitRequests(streamRequestsText),
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).WithEventsEnabled(true))
	if err != nil {
		t.Fatal(err)
	}
	click := func(f string) chromedp.Action {
		return chromedp.Click("#dl-"+strings.ReplaceAll(f, ".", `\.`), chromedp.ByQuery)
	}
	n := 0 // downloads so far
	for _, f := range []string{"token_metrics.csv", "request_metrics.csv"} {
		want, size := sha256File(t, filepath.Join(cli, f))
		// The default: the service worker, into the downloads folder.
		var d download
		if err := chromedp.Run(ctx, chromedp.Evaluate(`servesim.downloadMode = ""`, nil), click(f)); err != nil {
			t.Fatal(err)
		}
		if err := waitDownload(ctx, n, &d); err != nil {
			t.Fatal(err)
		}
		if d.Mode != "sw" || d.State != "saved" || d.Bytes != size {
			t.Errorf("%s by default: %+v; want mode sw, saved, %d bytes", f, d, size)
		}
		var got string
		for i := 0; i < 200; i++ { // the browser renames the file once it is whole
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				got, _ = sha256File(t, filepath.Join(dir, f))
				if got == want {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got != want {
			t.Errorf("%s through the service worker: sha256 %s, the CLI's %s", f, got, want)
		}
		os.Remove(filepath.Join(dir, f))

		// The save dialog, answered with a file that keeps what is written.
		if err := chromedp.Run(ctx, chromedp.Evaluate(stallingPicker+`window.stall = false;`, nil), click(f)); err != nil {
			t.Fatal(err)
		}
		if err := waitDownload(ctx, n+1, &d); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Run(ctx, await(savedSHA, &got)); err != nil {
			t.Fatal(err)
		}
		if d.Mode != "picker" || d.State != "saved" || d.Bytes != size || got != want {
			t.Errorf("%s into the chosen file: %+v, sha256 %s; want mode picker, saved, %d bytes, the CLI's %s", f, d, got, size, want)
		}
		var closed bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(`window.fileClosed`, &closed)); err != nil || !closed {
			t.Errorf("%s: the chosen file was not closed (%v)", f, err)
		}
		n += 2
	}
	// Without streams: in memory, and the page says so.
	f := "request_metrics.csv"
	want, _ := sha256File(t, filepath.Join(cli, f))
	var d download
	var box string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`servesim.downloadMode = "memory"`, nil), click(f)); err != nil {
		t.Fatal(err)
	}
	if err := waitDownload(ctx, n, &d); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, chromedp.Text("#downloads", &box, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	var got string
	for i := 0; i < 100 && got != want; i++ {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			got, _ = sha256File(t, filepath.Join(dir, f))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d.Mode != "memory" || d.State != "saved" || !strings.Contains(box, "cannot stream a download to disk") || got != want {
		t.Errorf("in memory: %+v, box %q, sha256 %s (the CLI's %s)", d, box, got, want)
	}
}

// stallingPicker answers the save dialog with a file whose writes wait
// while window.stall is set (a disk that does not keep up), and keeps what
// is written in window.saved.
const stallingPicker = `servesim.downloadMode = "picker"; window.stall = true; window.saved = []; window.savedBytes = 0; window.fileClosed = false;
window.showSaveFilePicker = async () => ({ createWritable: async () => new WritableStream({
	async write(c) {
		window.saved.push(c); window.savedBytes += c.byteLength;
		while (window.stall) await new Promise((r) => setTimeout(r, 50));
	},
	close() { window.fileClosed = true; },
}) });`

// savedSHA is the SHA-256 of what stallingPicker's file holds.
const savedSHA = `(async () => {
	const h = new Uint8Array(await crypto.subtle.digest("SHA-256", await new Blob(window.saved).arrayBuffer()));
	return Array.from(h, (b) => b.toString(16).padStart(2, "0")).join("");
})()`

// enqueued is what the worker's Go streams have produced so far, in bytes.
const enqueued = `new Promise((r) => servesim.workerStats((s) => r(s.enqueued)))`

// TestPage_StreamedDownloadBounded: while the disk does not keep up, the
// worker stops producing the file (at most ~10 MiB ahead of what was
// written, of a ~50 MB file); once the disk goes on, the file completes
// with the CLI's bytes.
func TestPage_StreamedDownloadBounded(t *testing.T) {
	srv, ctx := setup(t)
	cli := cliRun(t, streamRequests)
	want, size := sha256File(t, filepath.Join(cli, "token_metrics.csv"))
	var e0, e1, e2, saved float64
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		setField("workload.num_requests", streamRequests), chromedp.Click("#run", chromedp.ByQuery), waitRequests(streamRequestsText),
		await(enqueued, &e0), chromedp.Evaluate(stallingPicker, nil),
		chromedp.Click(`#dl-token_metrics\.csv`, chromedp.ByQuery),
		chromedp.Sleep(3*time.Second), await(enqueued, &e1),
		chromedp.Sleep(2*time.Second), await(enqueued, &e2), chromedp.Evaluate(`window.savedBytes`, &saved))
	if err != nil {
		t.Fatal(err)
	}
	ahead := e2 - e0 - saved
	t.Logf("stalled: %.1f MiB produced, %.1f MiB written, of %.1f MiB", (e2-e0)/(1<<20), saved/(1<<20), float64(size)/(1<<20))
	if e2 != e1 || ahead > 12<<20 || saved <= 0 || float64(size) < 3*(e2-e0) {
		t.Errorf("with the disk stalled the worker went on: %.0f then %.0f bytes produced, %.0f written (%.0f ahead), of %d", e1-e0, e2-e0, saved, ahead, size)
	}
	var got string
	var d download
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.stall = false`, nil)); err != nil {
		t.Fatal(err)
	}
	if err := waitDownload(ctx, 0, &d); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, await(savedSHA, &got)); err != nil {
		t.Fatal(err)
	}
	if d.State != "saved" || d.Bytes != size || got != want {
		t.Errorf("after the stall: %+v, sha256 %s; want saved, %d bytes, the CLI's %s", d, got, size, want)
	}
}

// TestPage_StreamedDownloadStop: Stop ends a download mid-way (the chosen
// file is not written) and the run producing it, so the page's next run
// goes ahead at once.
func TestPage_StreamedDownloadStop(t *testing.T) {
	srv, ctx := setup(t)
	var d download
	var closed bool
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		setField("workload.num_requests", streamRequests), chromedp.Click("#run", chromedp.ByQuery), waitRequests(streamRequestsText),
		chromedp.Evaluate(stallingPicker, nil), chromedp.Click(`#dl-token_metrics\.csv`, chromedp.ByQuery),
		chromedp.Sleep(2*time.Second), chromedp.Click(`#downloads button`, chromedp.ByQuery),
		// The disk catches up (a write in progress ends before the file is dropped).
		chromedp.Sleep(500*time.Millisecond), chromedp.Evaluate(`window.stall = false`, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDownload(ctx, 0, &d); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.fileClosed`, &closed),
		// The download's run has stopped: a run now is not queued behind it.
		chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4")); err != nil {
		t.Fatal(err)
	}
	if d.State != "stopped" || closed {
		t.Errorf("after Stop: %+v, file closed %v; want stopped, not closed", d, closed)
	}
}
