package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/servesim/servesim/internal/runner"
)

// BenchmarkPage reports, on localhost in headless Chromium: navigation to
// the first plotted result with a cold and a warm cache; the page's download
// size raw, gzip and brotli; and 10k requests simulated in the browser's
// worker against the same run natively.
func BenchmarkPage(b *testing.B) {
	srv, ctx := setup(b)
	firstResult := func() time.Duration {
		start := time.Now()
		err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitText("#k-requests", "4"),
			chromedp.WaitVisible(".chart canvas", chromedp.ByQuery))
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	cold := firstResult()
	warm := firstResult()
	b.ReportMetric(cold.Seconds()*1000, "ms-first-result-cold")
	b.ReportMetric(warm.Seconds()*1000, "ms-first-result-warm")

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
	cfg := map[string]any{"workload": map[string]any{"num_requests": 10000, "qps": 32}}
	body, _ := json.Marshal(map[string]any{"preset": "splitwise-conv-2qps", "config": cfg})
	var ms float64
	err := chromedp.Run(ctx, chromedp.Evaluate(`new Promise((resolve, reject) => {
		const t0 = performance.now();
		servesim.request("/api/simulate", "POST", `+"`"+string(body)+"`"+`, (status, text) => status === 200 ? resolve(performance.now() - t0) : reject(text));
	})`, &ms, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if err != nil {
		b.Fatal(err)
	}
	job := runner.Job{Preset: "splitwise-conv-2qps"}
	job.Config, _ = runner.Config("splitwise-conv-2qps")
	job.Config.Workload.NumRequests, job.Config.Workload.QPS = 10000, 32
	start := time.Now()
	if _, err := runner.Run(context.Background(), job); err != nil {
		b.Fatal(err)
	}
	native := time.Since(start)
	b.ReportMetric(ms, "ms-10k-browser")
	b.ReportMetric(native.Seconds()*1000, "ms-10k-native")
	b.ReportMetric(ms/(native.Seconds()*1000), "browser/native")
}
