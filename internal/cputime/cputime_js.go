//go:build js

package cputime

import "syscall/js"

// Seconds is the Node process's user+system CPU time (process.cpuUsage), 0
// outside Node.
func Seconds() float64 {
	p := js.Global().Get("process")
	if p.IsUndefined() || p.Get("cpuUsage").IsUndefined() {
		return 0
	}
	u := p.Call("cpuUsage")
	return (u.Get("user").Float() + u.Get("system").Float()) / 1e6
}
