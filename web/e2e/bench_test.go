package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/servesim/servesim/api"
)

// BenchmarkPage reports, on localhost in headless Chromium: navigation to
// the first plotted result with a cold cache (fresh profile, the browser
// already running) and a warm one (service worker), and the browser's CPU
// time for each (startCold): the default page (its prebuilt default result,
// web/ui/prebuilt.go) and the first result this browser simulates (the
// same settings through a share link, in a fresh browser: startSim); the
// page's download size
// raw, gzip and brotli; and 10k requests simulated in the browser's worker
// against the same API request handled natively in-process: the page's
// streamed run (progress lines, then summary and plot series), median of 5
// each after one warm-up run, the two alternating.
func BenchmarkPage(b *testing.B) {
	srv, ctx := setup(b)
	if err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil { // start the browser first
		b.Fatal(err)
	}
	startCold(b, ctx, srv.URL, "")
	startSim(b)

	var raw, gz, br int
	var names []string
	filepath.Walk(dist, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(p) != "servesim" {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	for _, p := range names {
		data, _ := os.ReadFile(p)
		raw += len(data)
		var g, r bytes.Buffer
		gw, _ := gzip.NewWriterLevel(&g, gzip.BestCompression)
		gw.Write(data)
		gw.Close()
		bw := brotli.NewWriterLevel(&r, brotli.BestCompression) // what precompressed static assets use
		bw.Write(data)
		bw.Close()
		gz += g.Len()
		br += r.Len()
		rel, _ := filepath.Rel(dist, p)
		b.Logf("%-24s raw %9d  gzip %9d  brotli %9d", rel, len(data), g.Len(), r.Len())
	}
	b.ReportMetric(float64(raw)/1e6, "MB-raw")
	b.ReportMetric(float64(gz)/1e6, "MB-gzip")
	b.ReportMetric(float64(br)/1e6, "MB-brotli")

	// 10k requests: Splitwise conversation lengths, Poisson 32 QPS.
	body := `{"preset":"splitwise-conv-2qps","config":{"workload":{"num_requests":10000,"qps":32}}}`
	// Browser and native runs alternate, so that both see the same host
	// (this machine's speed drifts by tens of percent over minutes); the
	// first of each is a warm-up.
	browserRun := func() float64 {
		var ms float64
		err := chromedp.Run(ctx, chromedp.Evaluate(`new Promise((resolve, reject) => {
			const t0 = performance.now();
			let result = false;
			servesim.simulate("/api/simulate?format=ndjson", `+"`"+body+"`"+`,
				(line) => { result = result || line.startsWith('{"result"'); },
				() => result ? resolve(performance.now() - t0) : reject("no result"), reject);
		})`, &ms, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
		if err != nil {
			b.Fatal(err)
		}
		return ms
	}
	h := api.NewHandler(api.Options{})
	nativeRun := func() float64 {
		req := httptest.NewRequest(http.MethodPost, "/api/simulate?format=ndjson", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `{"result"`) {
			b.Fatalf("native: status %d: %.200s", rec.Code, rec.Body)
		}
		return time.Since(start).Seconds() * 1000
	}
	var browser, native []float64
	for i := range 6 {
		bm, nm := browserRun(), nativeRun()
		if i > 0 {
			browser, native = append(browser, bm), append(native, nm)
		}
	}
	b.Logf("10k requests, ms: browser %v, native %v", browser, native)
	mb, mn := median(browser), median(native)
	b.ReportMetric(mb, "ms-10k-browser")
	b.ReportMetric(mn, "ms-10k-native")
	b.ReportMetric(mb/mn, "browser/native")
}

// BenchmarkPageStart is BenchmarkPage's start-up measures alone, a fresh
// browser profile each time (-count 5 gives five cold and five warm starts
// of each), with the page's start-up marks logged.
func BenchmarkPageStart(b *testing.B) {
	srv, ctx := setup(b)
	if err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatal(err)
	}
	startCold(b, ctx, srv.URL, "")
	chromedp.Cancel(ctx) // (one browser at a time on this machine's cores)
	startSim(b)
}

// startSim measures the first result the browser simulates itself, cold
// and warm, in a browser of its own (a fresh profile): the page opened with
// a share link of its default settings, which runs them instead of showing
// the default run's prebuilt result (metrics ms-first-result-sim-cold and
// -sim-warm, and so on).
func startSim(b *testing.B) {
	srv, ctx := setup(b)
	if err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatal(err)
	}
	startCold(b, ctx, srv.URL+"/"+shareLink(b, defaultState), "sim-")
	chromedp.Cancel(ctx)
}

// startCold measures a cold start and then a warm one (served by the
// service worker, which the page registers after its first result): the
// first plotted result as the page timed it (and the first frame of the key
// results alone, ms-first-keys), and the CPU time the browser's processes
// used from navigation to it and to the last chart drawn (every chart of the
// default run), from /proc sampled every 50 ms (cpuSampler), with its split
// by thread. Each start waits for the browser to be idle first.
func startCold(b *testing.B, ctx context.Context, url, prefix string) {
	for _, kind := range []string{"cold", "warm"} {
		kind := prefix + kind
		waitBrowserIdle(b, ctx)
		s := sampleCPU(ctx)
		ths := sampleThreads(ctx)
		at := firstResult(b, ctx, url)
		var origin, keys float64
		if err := chromedp.Run(ctx, waitChartsDrawn(), chromedp.Evaluate(`performance.timeOrigin`, &origin),
			chromedp.Evaluate(`window.__servesimFirstKeys || 0`, &keys)); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(keys, "ms-first-keys-"+kind)
		end := time.Now()
		s.stop()
		ths.stop()
		b.Logf("%s start, ms since navigation: %s", kind, marks(b, ctx))
		nav := time.UnixMicro(int64(origin * 1000))
		b.Logf("%s start: CPU to the first result by thread: %s", kind, ths.report(nav, nav.Add(at)))
		cpuFirst, cpuCharts := s.at(nav.Add(at))-s.at(nav), s.at(end)-s.at(nav)
		b.ReportMetric(at.Seconds()*1000, "ms-first-result-"+kind)
		if cpuCharts > 0 {
			b.Logf("%s start: browser CPU %v to the first result (%v), %v to the last chart seen (%v)", kind,
				cpuFirst.Round(10*time.Millisecond), at.Round(time.Millisecond), cpuCharts.Round(10*time.Millisecond), end.Sub(nav).Round(time.Millisecond))
			b.ReportMetric(cpuFirst.Seconds()*1000, "cpu-ms-first-result-"+kind)
		}
		if strings.HasSuffix(kind, "cold") {
			if err := chromedp.Run(ctx, chromedp.Evaluate(`navigator.serviceWorker.ready.then(() => true)`, nil,
				func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// cpuSampler reads the browser's CPU time (browserCPU) every 50 ms, so
// that the CPU used up to a moment the page timed can be read afterwards
// (the test sees the moment late: each DevTools round trip waits for a
// free main thread).
type cpuSampler struct {
	mu   sync.Mutex
	t    []time.Time
	cpu  []time.Duration
	done chan struct{}
}

func sampleCPU(ctx context.Context) *cpuSampler {
	s := &cpuSampler{done: make(chan struct{})}
	read := func() {
		c, t := browserCPU(ctx), time.Now()
		s.mu.Lock()
		s.t, s.cpu = append(s.t, t), append(s.cpu, c)
		s.mu.Unlock()
	}
	read()
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-tick.C:
				read()
			}
		}
	}()
	return s
}

func (s *cpuSampler) stop() { close(s.done) }

// at is the CPU time at t, interpolated between the samples around it.
func (s *cpuSampler) at(t time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.t) == 0 {
		return 0
	}
	i := sort.Search(len(s.t), func(i int) bool { return !s.t[i].Before(t) })
	switch {
	case i == 0:
		return s.cpu[0]
	case i == len(s.t):
		return s.cpu[len(s.cpu)-1]
	}
	f := float64(t.Sub(s.t[i-1])) / float64(s.t[i].Sub(s.t[i-1]))
	return s.cpu[i-1] + time.Duration(f*float64(s.cpu[i]-s.cpu[i-1]))
}

// waitBrowserIdle waits until the browser's processes are idle (under 40
// ms of CPU in the last 500 ms, at most 20 s), so that a start is timed
// alone: a fresh Chromium is still starting for 1-2 s after its first
// about:blank has loaded (its omnibox popup's WebUI renderer, ~1.5 s of CPU
// on this machine), work that no visitor's page load competes with.
func waitBrowserIdle(b testing.TB, ctx context.Context) {
	start := time.Now()
	type sample struct {
		t   time.Time
		cpu time.Duration
	}
	var s []sample
	for time.Since(start) < 20*time.Second {
		s = append(s, sample{time.Now(), browserCPU(ctx)})
		if n := len(s); n > 5 && s[n-1].cpu-s[n-6].cpu < 40*time.Millisecond {
			b.Logf("browser idle after %v (%v of CPU meanwhile)", time.Since(start).Round(10*time.Millisecond), s[n-1].cpu-s[0].cpu)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Logf("browser not idle after %v: timing anyway", time.Since(start).Round(time.Second))
}

// firstResultJS, run in the page before its own scripts, records when the
// first plotted result is painted: the first animation frame (the paint)
// after the key results show the default run's requests and a chart has a
// canvas, in ms since navigation. Timing it in the page leaves out the
// test's polling (each DevTools round trip waits for a free main thread,
// seconds on a loaded machine while the page draws its other charts).
// It records the first frame with the key results alone too
// (window.__servesimFirstKeys: the page paints them before its first chart).
const firstResultJS = `(() => {
	const keys = () => {
		const k = document.getElementById("k-requests");
		return k && k.textContent.trim() === "` + defaultRequests + `";
	};
	const done = () => keys() && document.querySelector(".chart canvas");
	const obs = new MutationObserver(() => {
		if (keys() && !window.__servesimKeysSeen) {
			window.__servesimKeysSeen = true;
			requestAnimationFrame(() => { window.__servesimFirstKeys = performance.now(); });
		}
		if (!done()) return;
		obs.disconnect();
		requestAnimationFrame(() => { window.__servesimFirstResult = performance.now(); });
	});
	obs.observe(document, { subtree: true, childList: true, characterData: true });
})()`

// firstResult is the time from navigation to the first plotted result: the
// default run's key results and a chart painted (the page draws the others
// one per task after it), as the page timed it (firstResultJS).
func firstResult(b testing.TB, ctx context.Context, url string) time.Duration {
	var ms float64
	var leave chromedp.Action = chromedp.Tasks{}
	if strings.Contains(url, "#") {
		// (from the same URL, a link's navigation would only change the
		// fragment, without a new page)
		leave = chromedp.Navigate("about:blank")
	}
	err := chromedp.Run(ctx, leave,
		chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(firstResultJS).Do(ctx)
			return err
		}),
		chromedp.Navigate(url), waitFor("#k-requests", defaultRequests, true),
		chromedp.WaitVisible(".chart canvas", chromedp.ByQuery),
		chromedp.Poll(`window.__servesimFirstResult`, &ms, chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// marks are the page's start-up milestones (app.js's servesim.marks, the
// worker's included) up to the first chart, in time order.
func marks(b testing.TB, ctx context.Context) string {
	var m [][]any
	if err := chromedp.Run(ctx, chromedp.Evaluate(`(servesim.marks || []).slice().sort((a, b) => a[1] - b[1])`, &m)); err != nil {
		b.Fatal(err)
	}
	var out []string
	for _, e := range m {
		name, _ := e[0].(string)
		at, _ := e[1].(float64)
		out = append(out, fmt.Sprintf("%s %.0f", name, at))
		if strings.HasPrefix(name, "chart ") {
			break
		}
	}
	return strings.Join(out, ", ")
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
