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
	"github.com/servesim/servesim/api"
)

func main() {
	tuneGC()
	p := persistent()
	serve(api.NewHandler(api.Options{Yield: yield, Preload: p}), p)
}
