//go:build !unix && !js

package wasmfloor

// cpuSeconds is not measured here (0: the benchmarks then report no
// cpu_s/op).
func cpuSeconds() float64 { return 0 }
