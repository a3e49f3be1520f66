package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkSearch16Page is README's search benchmark in the page: a
// 16-point max-QPS search (chunk size 256/512/1024/2048 x batch cap
// 32/64/128/256, Sarathi, A100 Qwen3-0.6B) of 10k requests with Splitwise
// conversation lengths per trial, precision 2%, from 16 QPS, on a pool of 2
// and of 4 Web Workers, each from a fresh page (workers start cold), timed
// from the click to the result; and natively (`servesim search --parallel
// 2`, this machine's cores). The page's and the CLI's search.json must be
// equal. SERVESIM_E2E=1 go test -run '^$' -bench Search16Page -benchtime 1x ./web/e2e
// (SERVESIM_SEARCH_WORKERS=N: one pool of N workers only).
func BenchmarkSearch16Page(b *testing.B) {
	browserTimeout = 20 * time.Minute
	srv, ctx := setup(b)
	cli := b.TempDir()
	start := time.Now()
	cmd := exec.Command(filepath.Join(dist, "servesim"), "search", "--preset", "splitwise-conv-2qps", "--search_requests", "10000",
		"--precision", "0.02", "--start_qps", "16", "--chunk_size_values", "256,512,1024,2048", "--batch_cap_values", "32,64,128,256",
		"--max_points", "64", "--parallel", "2", "--quiet", "--out", cli)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("servesim search: %v\n%s", err, out)
	}
	native := time.Since(start)
	want, err := os.ReadFile(filepath.Join(cli, "search.json"))
	if err != nil {
		b.Fatal(err)
	}
	var res struct {
		Trials int `json:"trials"`
	}
	json.Unmarshal(want, &res)
	b.ReportMetric(native.Seconds(), "s-native-2cores")
	b.ReportMetric(float64(res.Trials), "trials")
	pools := []int{2, 4}
	if env := os.Getenv("SERVESIM_SEARCH_WORKERS"); env != "" { // one pool size, e.g. to take the browser's CPU time alone
		n, err := strconv.Atoi(env)
		if err != nil {
			b.Fatalf("SERVESIM_SEARCH_WORKERS=%q: %v", env, err)
		}
		pools = []int{n}
	}
	for _, workers := range pools {
		dir := b.TempDir()
		var summary string
		var took time.Duration
		err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), downloadTo(dir), openSearch(),
			searchAxis("chunk_size", "256,512,1024,2048"), searchAxis("batch_cap", "32,64,128,256"),
			searchParam("requests", "10000"), searchParam("precision", "0.02"), searchParam("start_qps", "16"),
			searchParam("workers", strconv.Itoa(workers)), waitText("#search-points", "16 points"),
			chromedp.ActionFunc(func(ctx2 context.Context) error { start = time.Now(); return nil }),
			chromedp.Click("#search-run", chromedp.ByQuery), waitText("#search-summary", "16 points"),
			chromedp.ActionFunc(func(ctx2 context.Context) error { took = time.Since(start); return nil }),
			chromedp.Text("#search-summary", &summary, chromedp.ByQuery), chromedp.Click("#search-dl-search", chromedp.ByQuery))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(took.Seconds(), "s-page-"+strconv.Itoa(workers)+"workers")
		b.Logf("%d workers: %v (%s)", workers, took, summary)
		var got []byte
		for i := 0; i < 100 && len(got) == 0; i++ {
			got, _ = os.ReadFile(filepath.Join(dir, "search.json"))
			time.Sleep(100 * time.Millisecond)
		}
		if string(got) != string(want) {
			b.Errorf("%d workers: the page's search.json differs from the CLI's", workers)
		}
	}
	b.Logf("native (servesim search --parallel 2): %v, %d trials", native, res.Trials)
}
