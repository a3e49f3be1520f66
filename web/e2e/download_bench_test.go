package e2e

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkPageLargeRun is README's large run in the page: N requests
// (SERVESIM_BENCH_LARGE=N; Splitwise conversation lengths repeated to N
// rows, uploaded as a length trace, Poisson 32 QPS, the page's default
// settings) run in the page, then its request_metrics.csv
// downloaded, streamed through the service worker to disk (and with
// SERVESIM_BENCH_LARGE_TOKENS=1 its token_metrics.csv too: ~7 KB a
// request). It reports each phase's wall time, the browser's CPU, the
// largest resident memory of one browser process and of all of them
// together (sampled from /proc every 250 ms) and the worker's wasm memory;
// the downloaded files must have the CLI's bytes. Not a test:
// SERVESIM_BENCH_LARGE=1000000 SERVESIM_E2E=1 go test -run '^$' -bench PageLargeRun -benchtime 1x ./web/e2e
func BenchmarkPageLargeRun(b *testing.B) {
	n, err := strconv.Atoi(os.Getenv("SERVESIM_BENCH_LARGE"))
	if err != nil || n <= 0 {
		b.Skip("set SERVESIM_BENCH_LARGE to the request count (e.g. 1000000)")
	}
	browserTimeout = 60 * time.Minute
	srv, ctx := setup(b)
	files, outputs := []string{"request_metrics.csv"}, "request"
	if os.Getenv("SERVESIM_BENCH_LARGE_TOKENS") != "" {
		files, outputs = append(files, "token_metrics.csv"), "request,token"
	}
	// Splitwise's conversation lengths repeated to n rows (bench/blis/compare.sh's lengths.csv).
	raw, err := os.ReadFile("../../presets/data/traces/splitwise_conv.csv")
	if err != nil {
		b.Fatal(err)
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n")[1:] {
		f := strings.Split(l, ",")
		rows = append(rows, f[1]+","+f[2])
	}
	var lengths strings.Builder
	lengths.WriteString("num_prefill_tokens,num_decode_tokens\n")
	for i := 0; i < n; i++ {
		lengths.WriteString(rows[i%len(rows)] + "\n")
	}
	cli, work := b.TempDir(), b.TempDir()
	trace := filepath.Join(work, "lengths.csv")
	if err := os.WriteFile(trace, []byte(lengths.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command(filepath.Join(dist, "servesim"), "simulate", "--workload", trace, "--num-requests", strconv.Itoa(n),
		"--qps", "32", "--outputs", outputs,
		"--quiet", "--out", cli)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("servesim simulate: %v\n%s", err, out)
	}
	b.Logf("natively (servesim simulate, %s): %v wall, %v CPU", strings.Join(files, ", "), time.Since(start),
		cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	dir := b.TempDir()
	count := strconv.FormatInt(int64(n), 10)
	for i := len(count) - 3; i > 0; i -= 3 {
		count = count[:i] + "," + count[i:]
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), downloadTo(dir)); err != nil {
		b.Fatal(err)
	}
	phase := func(name string, act chromedp.Action) {
		mem := watchMemory(ctx)
		cpu0, t0 := browserCPU(ctx), time.Now()
		if err := chromedp.Run(ctx, act); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		took, cpu := time.Since(t0), browserCPU(ctx)-cpu0
		one, all, which := mem()
		var st struct{ WasmBytes float64 }
		chromedp.Run(ctx, await(`new Promise((r) => servesim.workerStats(r))`, &st))
		b.Logf("%s: %v wall, %v of the browser's CPU, peak RSS %.0f MiB in one process (%s), %.0f MiB all processes; worker's wasm memory %.0f MiB",
			name, took.Round(time.Millisecond), cpu, float64(one)/(1<<20), which, float64(all)/(1<<20), st.WasmBytes/(1<<20))
		b.ReportMetric(took.Seconds(), "s-"+name)
		b.ReportMetric(float64(one)/(1<<20), "MiB-peak-process-"+name)
	}
	phase("run", chromedp.Tasks{chromedp.SetUploadFiles("#file-input", []string{trace}, chromedp.ByQuery), waitText("#detected", "length-trace"),
		setField("workload.num_requests", strconv.Itoa(n)), setField("workload.qps", "32"),
		chromedp.Click("#run", chromedp.ByQuery), waitRequests(count)})
	// SERVESIM_BENCH_LARGE_MODE: sw (the default: the service worker, to
	// the downloads folder), opfs (the save dialog's way, answered with a
	// file of the origin's private file system) or discard (the save
	// dialog's way into a writer that keeps nothing: the worker and the
	// page alone).
	mode := cmp.Or(os.Getenv("SERVESIM_BENCH_LARGE_MODE"), "sw")
	setMode := map[string]string{
		"sw":      `servesim.downloadMode = ""`,
		"opfs":    `servesim.downloadMode = "picker"; window.showSaveFilePicker = async (o) => (await navigator.storage.getDirectory()).getFileHandle(o.suggestedName, { create: true })`,
		"discard": `servesim.downloadMode = "picker"; window.showSaveFilePicker = async () => ({ createWritable: async () => new WritableStream({}) })`,
	}[mode]
	if setMode == "" {
		b.Fatalf("SERVESIM_BENCH_LARGE_MODE=%q: expected sw, opfs or discard", mode)
	}
	for i, f := range files {
		var d download
		phase(strings.TrimSuffix(f, ".csv"), chromedp.Tasks{chromedp.Evaluate(setMode, nil),
			chromedp.Click("#dl-"+strings.ReplaceAll(f, ".", `\.`), chromedp.ByQuery),
			chromedp.ActionFunc(func(ctx context.Context) error { return waitDownload(ctx, i, &d) })})
		want, size := sha256File(b, filepath.Join(cli, f))
		if mode != "sw" {
			b.Logf("%s: %+v; the CLI's %d bytes", f, d, size)
			if d.State != "saved" || d.Bytes != size {
				b.Errorf("%s: %+v, not the CLI's %d bytes", f, d, size)
			}
			if mode == "opfs" {
				chromedp.Run(ctx, await(`navigator.storage.getDirectory().then((d) => d.removeEntry(`+"`"+f+"`"+`)).then(() => true)`, nil))
			}
			continue
		}
		var got string
		for j := 0; j < 300 && got != want; j++ { // the browser renames the file once it is whole
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				got, _ = sha256File(b, filepath.Join(dir, f))
			}
			if got != want {
				time.Sleep(100 * time.Millisecond)
			}
		}
		b.Logf("%s: %+v; %d bytes (the CLI's: %v)", f, d, size, got == want)
		if d.Mode != "sw" || d.State != "saved" || got != want {
			b.Errorf("%s: %+v, not the CLI's %d bytes", f, d, size)
		}
		os.Remove(filepath.Join(dir, f))
	}
}

// watchMemory samples the resident memory of the browser of ctx and of
// every process under it every 250 ms until the returned function is
// called, which gives the largest of one process and of their sum.
func watchMemory(ctx context.Context) func() (one, all int64, which string) {
	var mu sync.Mutex
	var one, all int64
	var which string
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			o, a, w := browserRSS(ctx)
			mu.Lock()
			if o > one {
				one, which = o, w
			}
			all = max(all, a)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return func() (int64, int64, string) {
		close(done)
		wg.Wait()
		return one, all, which
	}
}

// browserRSS is the resident memory (VmRSS) of the largest process of the
// browser of ctx (itself or under it) and of all of them, from Linux's
// /proc (0 elsewhere), and the largest one's kind (its --type, "browser"
// for the browser's own).
func browserRSS(ctx context.Context) (one, all int64, which string) {
	c := chromedp.FromContext(ctx)
	if c == nil || c.Browser == nil || c.Browser.Process() == nil {
		return 0, 0, ""
	}
	root := strconv.Itoa(c.Browser.Process().Pid)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, ""
	}
	parent, rss := map[string]string{}, map[string]int64{}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "PPid:":
				parent[e.Name()] = f[1]
			case len(f) >= 2 && f[0] == "VmRSS:":
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				rss[e.Name()] = kb << 10
			}
		}
	}
	for pid, r := range rss {
		for q, ok := pid, true; ok; q, ok = parent[q], parent[q] != "" {
			if q == root {
				if all += r; r > one {
					one, which = r, pid
				}
				break
			}
		}
	}
	if which != "" {
		cmd, _ := os.ReadFile("/proc/" + which + "/cmdline")
		which = "browser"
		for _, a := range strings.FieldsFunc(string(cmd), func(r rune) bool { return r == 0 || r == ' ' }) { // a renderer's title is one line
			if t, ok := strings.CutPrefix(a, "--type="); ok {
				which = t
			}
		}
	}
	return one, all, which
}
