//go:build !unix && !js

package cputime

// Seconds is not measured here: 0, so the benchmarks report no cpu_s/op.
func Seconds() float64 { return 0 }
