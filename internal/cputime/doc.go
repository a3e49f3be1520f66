// Package cputime reads the process's user+system CPU time, which the
// benchmarks report as cpu_s/op: on a shared machine a benchmark's wall time
// says more about the other processes than about it, and under GOOS=js the
// Node process's CPU time (V8's background compiles included) is what a run
// costs.
package cputime
