//go:build unix

package wasmfloor

import "syscall"

// cpuSeconds is the process's user+system CPU time: on a shared machine a
// benchmark's wall time says more about the other processes than about it.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
