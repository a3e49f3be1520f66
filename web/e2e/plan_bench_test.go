package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkSearch16Page is README's search benchmark in the page: a
// 16-point max-QPS search (chunk size 256/512/1024/2048 x batch cap
// 32/64/128/256, Sarathi, A100 Qwen3-0.6B) of 10k requests with Splitwise
// conversation lengths per trial, precision 2%, from 16 QPS, on a pool of 2
// and of 4 Web Workers, each from a fresh page, timed from the click to the
// result; and natively (`servesim search --parallel 2`, this machine's
// cores). The page starts the search's workers when the panel opens: the
// benchmark waits until they are up (as a user filling in the form would)
// and reports their start's CPU apart (cpu-s-prewarm-N; a build without
// prewarming starts them at the click). The page's and the CLI's
// search.json must be equal. SERVESIM_E2E=1 go test -run '^$' -bench
// Search16Page -benchtime 1x ./web/e2e (SERVESIM_SEARCH_WORKERS=N: one pool
// of N workers only; SERVESIM_SEARCH_COLD=1: click without waiting).
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
	nativeCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	want, err := os.ReadFile(filepath.Join(cli, "search.json"))
	if err != nil {
		b.Fatal(err)
	}
	var res struct {
		Trials int `json:"trials"`
	}
	json.Unmarshal(want, &res)
	b.ReportMetric(native.Seconds(), "s-native-2cores")
	b.ReportMetric(nativeCPU.Seconds(), "cpu-s-native")
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
		var took, cpu time.Duration
		var cpu0, cpuOpen time.Duration
		err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(), downloadTo(dir),
			chromedp.ActionFunc(func(ctx2 context.Context) error { cpuOpen = browserCPU(ctx2); return nil }), openSearch(),
			searchAxis("chunk_size", "256,512,1024,2048"), searchAxis("batch_cap", "32,64,128,256"),
			searchParam("requests", "10000"), searchParam("precision", "0.02"), searchParam("start_qps", "16"),
			searchParam("workers", strconv.Itoa(workers)), waitText("#search-points", "16 points"),
			chromedp.ActionFunc(func(ctx2 context.Context) error {
				if os.Getenv("SERVESIM_SEARCH_COLD") != "" {
					return nil
				}
				return waitSearchWarm(ctx2, workers+1)
			}),
			chromedp.ActionFunc(func(ctx2 context.Context) error { start, cpu0 = time.Now(), browserCPU(ctx2); return nil }),
			chromedp.Click("#search-run", chromedp.ByQuery), waitText("#search-summary", "16 points"),
			chromedp.ActionFunc(func(ctx2 context.Context) error {
				took, cpu = time.Since(start), browserCPU(ctx2)-cpu0
				return nil
			}),
			chromedp.Text("#search-summary", &summary, chromedp.ByQuery), chromedp.Click("#search-dl-search", chromedp.ByQuery))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(took.Seconds(), "s-page-"+strconv.Itoa(workers)+"workers")
		if cpu0 > 0 {
			b.ReportMetric((cpu0 - cpuOpen).Seconds(), "cpu-s-prewarm-"+strconv.Itoa(workers)+"workers")
		}
		if cpu > 0 {
			b.ReportMetric(cpu.Seconds(), "cpu-s-page-"+strconv.Itoa(workers)+"workers")
		}
		b.Logf("%d workers: %v, %v of the browser's CPU (%s)", workers, took, cpu, summary)
		var got []byte
		for i := 0; i < 100 && len(got) == 0; i++ {
			got, _ = os.ReadFile(filepath.Join(dir, "search.json"))
			time.Sleep(100 * time.Millisecond)
		}
		if string(got) != string(want) {
			b.Errorf("%d workers: the page's search.json differs from the CLI's", workers)
		}
	}
	b.Logf("native (servesim search --parallel 2): %v, %v of CPU, %d trials", native, nativeCPU, res.Trials)
}

// waitSearchWarm waits until n of the next search's workers (its pool and
// coordinator) have their engine up, or returns at once in a page that does
// not start them ahead (servesim.searchWarm absent).
func waitSearchWarm(ctx context.Context, n int) error {
	for {
		var w struct {
			Ready, Workers int
			Known          bool
		}
		if err := chromedp.Evaluate(`(() => { const s = window.servesim; if (!s || !s.searchWarm) return {known: false}; const w = s.searchWarm(); return {known: true, ready: w.ready, workers: w.workers}; })()`, &w).Do(ctx); err != nil {
			return err
		}
		if !w.Known || w.Ready >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// procStat is a process's parent and CPU ticks (user + system, its ended
// threads included) from /proc/PID/stat.
type procStat struct {
	ppid  string
	ticks int64
}

// browserProcs lists the processes under the browser of ctx (itself
// included), by pid, from Linux's /proc; nil elsewhere, or when its process
// is not known.
func browserProcs(ctx context.Context) map[string]procStat {
	c := chromedp.FromContext(ctx)
	if c == nil || c.Browser == nil || c.Browser.Process() == nil {
		return nil
	}
	root := strconv.Itoa(c.Browser.Process().Pid)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	procs := map[string]procStat{}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime (fields 14 and 15)
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[e.Name()] = procStat{ppid: f[1], ticks: ut + st}
	}
	under := map[string]procStat{}
	for pid, p := range procs {
		for q, ok := pid, true; ok; q = procs[q].ppid {
			if q == root {
				under[pid] = p
				break
			}
			_, ok = procs[q]
		}
	}
	return under
}

// browserCPU is the CPU time (user + system) the browser of ctx and every
// process under it have used so far (0 where browserProcs has none): a
// process's own line counts its ended threads too, so the difference of two
// readings is what ran between them.
func browserCPU(ctx context.Context) time.Duration {
	var ticks int64
	for _, p := range browserProcs(ctx) {
		ticks += p.ticks
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ, 100 on Linux
}
