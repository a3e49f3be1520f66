package wasmfloor

import (
	"testing"

	"github.com/servesim/servesim/internal/cputime"
)

// Each benchmark reports cpu_s/op: one op is a few million of its kernel's
// steps (a few ms natively). The sinks keep the results live.
var (
	sinkAcc  acc
	sinkI64  int64
	sinkInt  int
	sinkF64  float64
	sinkRecs []rec
)

// cpuPerOp runs op under b.Loop and reports its CPU seconds per op.
func cpuPerOp(b *testing.B, op func()) {
	cpu := cputime.Seconds()
	for b.Loop() {
		op()
	}
	if c := cputime.Seconds(); c > 0 {
		b.ReportMetric((c-cpu)/float64(b.N), "cpu_s/op")
	}
}

// BenchmarkChain: 3M calls of small methods on a struct pointer.
func BenchmarkChain(b *testing.B) {
	cpuPerOp(b, func() { sinkAcc = Chain(1_000_000) })
}

// BenchmarkScan: 40 passes over 100k requests (a copy of the fresh slice
// first, so that every op sees the same states).
func BenchmarkScan(b *testing.B) {
	fresh, work := NewReqs(100_000), make([]req, 100_000)
	cpuPerOp(b, func() {
		copy(work, fresh)
		for p := 0; p < 40; p++ {
			w, f := Scan(work)
			sinkI64 += w
			sinkInt += f
		}
	})
}

// BenchmarkMemo: 20k keys put, then 1M lookups, half of them misses.
func BenchmarkMemo(b *testing.B) {
	cpuPerOp(b, func() { sinkF64, sinkInt = MemoLookups(NewMemo(20_000), 20_000, 50) })
}

// BenchmarkInterp: 1M interpolations on a 64-point grid.
func BenchmarkInterp(b *testing.B) {
	g := NewGrid(64)
	cpuPerOp(b, func() { sinkF64 = Interp(g, 1_000_000) })
}

// BenchmarkDiv: 4M signed 64-bit divisions and remainders by a variable divisor.
func BenchmarkDiv(b *testing.B) {
	cpuPerOp(b, func() { sinkI64, _ = Div(4_000_000) })
}

// BenchmarkAppend: 1M 24-byte records appended to a nil slice.
func BenchmarkAppend(b *testing.B) {
	cpuPerOp(b, func() { sinkRecs = Append(1_000_000) })
}
