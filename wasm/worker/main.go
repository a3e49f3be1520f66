// Command worker hosts servesim's HTTP API with github.com/syumai/workers:
// built with GOOS=js GOARCH=wasm it runs in the page's Web Worker (browser
// runtime) and on Cloudflare Workers (cloudflare runtime); built natively,
// `go run ./wasm/worker` serves it on $PORT through the same package.
//
// In the page the Go instance is kept for the worker's lifetime (see
// host_js.go): the handler is served through syumai/workers'
// handleRequest binding for every request, and the embedded profiles and
// workloads it has parsed stay parsed; the default profile is parsed while
// the page loads.
package main

import (
	"time"

	"github.com/servesim/servesim/api"
)

func main() {
	tuneGC()
	p := persistent()
	opt := api.Options{Yield: yield, Preload: p}
	if p {
		// In the page the runs are the user's own, in their tab: the memory
		// budget is what one wasm32 instance can hold, not a shared server's.
		opt.Limits = api.DefaultLimits()
		opt.Limits.MemoryBudget = 3 << 30
		// The budget bounds a run, not its request or token count: 1M
		// Splitwise requests (1.35G simulated tokens) fit in 2.3 GiB of
		// wasm32 memory (engine's BenchmarkSimulateMillion under GOOS=js).
		opt.Limits.MaxRequests = 1_000_000
		opt.Limits.MaxTokens = 4_000_000_000
		// A 1M-request run takes minutes in wasm (and its streamed
		// token_metrics.csv download as long as the disk takes it): the
		// server's 60 s wall-clock budget is not the tab's.
		opt.Limits.Timeout = 30 * time.Minute
		// A search in the page runs on the user's own cores (a pool of Web
		// Workers, when the page gives one): a 16-point search of 10k
		// requests per trial is 6.4M simulated requests at most.
		opt.Limits.MaxSearchRequests = 100_000_000
		opt.Limits.SearchTimeout = 30 * time.Minute
		opt.SearchPool = searchPool
	}
	serve(api.NewHandler(opt), p)
}
