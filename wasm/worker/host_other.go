//go:build !(js && wasm)

package main

import (
	"net/http"

	"github.com/syumai/workers"
)

func yield() {}

func tuneGC() {}

func persistent() bool { return false }

func searchPool() (http.RoundTripper, int) { return nil, 0 }

func serve(h http.Handler, _ bool) { workers.Serve(h) }
