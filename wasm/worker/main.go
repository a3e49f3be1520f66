// Command worker hosts servesim's HTTP API with github.com/syumai/workers:
// built with GOOS=js GOARCH=wasm it runs in the page's Web Worker (browser
// runtime) and on Cloudflare Workers (cloudflare runtime); built natively,
// `go run ./wasm/worker` serves it on $PORT through the same package.
package main

import (
	"github.com/syumai/workers"

	"github.com/servesim/servesim/api"
)

func main() {
	workers.Serve(api.NewHandler(api.Options{Yield: yield}))
}
