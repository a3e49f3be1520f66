//go:build js && wasm

package main

import "time"

// yield lets the JavaScript event loop run (Go's timers go through it), so a
// streamed progress line reaches the page while the simulation continues.
func yield() { time.Sleep(time.Millisecond) }
