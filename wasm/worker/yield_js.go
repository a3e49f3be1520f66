//go:build js && wasm

package main

import (
	"runtime/debug"
	"time"
)

// yield lets the JavaScript event loop run (Go's timers go through it), so a
// streamed progress line reaches the page while the simulation continues.
func yield() { time.Sleep(time.Millisecond) }

// tuneGC trades memory for speed: in wasm the collector runs on the one
// thread the simulation uses, with no parallel marking, and its write
// barriers cost more; collecting at 4x the live heap instead of 2x makes a
// 10k-request run ~20% faster. The soft limit brings the default pace back
// well before a 32-bit wasm memory (4 GiB) fills.
func tuneGC() {
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(2 << 30)
}
