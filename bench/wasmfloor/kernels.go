// Package wasmfloor holds micro-kernels that stand for the engine's hot
// patterns (a chain of method calls on a struct pointer, a scan of a slice
// of structs with branches, a small-key open-addressing memo, float64
// interpolation on a grid, signed 64-bit division, appends that grow a
// slice), so that the ratio Go's wasm backend gives on such code can be
// measured apart from the engine:
//
//	go test -run '^$' -bench . ./bench/wasmfloor/                       # natively
//	GOOS=js GOARCH=wasm go test -c -o floor.wasm ./bench/wasmfloor/
//	node --stack-size=8192 "$(go env GOROOT)/lib/wasm/wasm_exec_node.js" floor.wasm -test.run '^$' -test.bench .
//
// Each benchmark reports cpu_s/op (the process's user+system CPU time:
// getrusage natively, process.cpuUsage in Node). They measure; they assert
// nothing about time. TestKernels checks each kernel's result against values
// computed by hand.
package wasmfloor

// acc is the receiver of the call chain: step calls add and tick, as the
// engine's event handlers call small methods on *sim and *replica.
type acc struct {
	sum, even, n int64
}

//go:noinline
func (a *acc) add(v int64) {
	a.sum += v
	if v&1 == 0 {
		a.even++
	}
}

//go:noinline
func (a *acc) tick() { a.n++ }

//go:noinline
func (a *acc) step(i int) {
	a.add(int64(i))
	a.tick()
}

// Chain calls a.step(i) for i in [0, n): 3n calls that the compiler may not
// inline, each reading and writing fields through the pointer.
func Chain(n int) acc {
	a := &acc{}
	for i := 0; i < n; i++ {
		a.step(i)
	}
	return *a
}

// req is a request's state as a scheduler scans it.
type req struct {
	state uint8 // 0 waiting, 1 running, 2 done
	ctx   int32
	left  int32
	_     int64 // padding to the size of a small engine struct
}

// NewReqs returns n requests: request i is in state i%3 with context i and
// i%5+1 tokens left.
func NewReqs(n int) []req {
	rs := make([]req, n)
	for i := range rs {
		rs[i] = req{state: uint8(i % 3), ctx: int32(i), left: int32(i%5 + 1)}
	}
	return rs
}

// Scan makes one scheduler-like pass over rs: a running request's context
// grows by one and its tokens left fall by one (done at zero); a waiting
// one's context is counted. It returns the waiting tokens and how many
// finished.
func Scan(rs []req) (waiting int64, finished int) {
	for i := range rs {
		r := &rs[i]
		switch r.state {
		case 0:
			waiting += int64(r.ctx)
		case 1:
			r.ctx++
			r.left--
			if r.left == 0 {
				r.state = 2
				finished++
			}
		}
	}
	return waiting, finished
}

// key is a small memo key, as the engine's stage key is (a few int32 fields).
type key struct {
	t, kd, kp, nreq int32
}

func (k *key) hash() uint64 {
	const m = 0x9e3779b97f4a7c15
	h := (uint64(uint32(k.t)) | uint64(uint32(k.kd))<<32) * m
	h = (h ^ h>>32 ^ (uint64(uint32(k.kp)) | uint64(uint32(k.nreq))<<32)) * m
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>29
}

// Memo is an open-addressing table (linear probing, power-of-two size, at
// most half full) from keys to values, as the engine's predMemo is.
type Memo struct {
	keys  []key
	vals  []float64
	used  []bool
	shift uint8
	n     int
}

// NewMemo returns a table with room for n keys at most half full.
func NewMemo(n int) *Memo {
	size, shift := 1, uint8(64)
	for size < 2*n {
		size *= 2
		shift--
	}
	return &Memo{keys: make([]key, size), vals: make([]float64, size), used: make([]bool, size), shift: shift}
}

// Get returns k's value and whether it is there.
func (m *Memo) Get(k key) (float64, bool) {
	mask := uint64(len(m.keys) - 1)
	for i := k.hash() >> m.shift; ; i = (i + 1) & mask {
		if !m.used[i] {
			return 0, false
		}
		if m.keys[i] == k {
			return m.vals[i], true
		}
	}
}

// Put sets k's value (k absent; the table must have room).
func (m *Memo) Put(k key, v float64) {
	mask := uint64(len(m.keys) - 1)
	i := k.hash() >> m.shift
	for m.used[i] {
		i = (i + 1) & mask
	}
	m.keys[i], m.vals[i], m.used[i] = k, v, true
	m.n++
}

// MemoLookups fills a table with the keys {i, 2i, i%7, 1} for i in [0, n)
// (value i), then looks up rounds*n keys, each of the n present ones and
// as many absent ones ({i, 2i, i%7, 2}) in turn, and returns the sum of
// the values found and the number of misses.
func MemoLookups(m *Memo, n, rounds int) (sum float64, misses int) {
	for i := 0; i < n; i++ {
		m.Put(key{int32(i), int32(2 * i), int32(i % 7), 1}, float64(i))
	}
	for r := 0; r < rounds; r++ {
		for i := 0; i < n; i++ {
			k := key{int32(i), int32(2 * i), int32(i % 7), 1}
			if r&1 == 1 {
				k.nreq = 2
			}
			if v, ok := m.Get(k); ok {
				sum += v
			} else {
				misses++
			}
		}
	}
	return sum, misses
}

// Grid is a profile-like table: y measured at increasing x.
type Grid struct {
	X, Y []float64
}

// At interpolates y linearly at x (a binary search for the cell, clamped
// to the grid's ends), as the predictor reads a profile's table.
func (g *Grid) At(x float64) float64 {
	xs := g.X
	if x <= xs[0] {
		return g.Y[0]
	}
	if x >= xs[len(xs)-1] {
		return g.Y[len(xs)-1]
	}
	lo, hi := 0, len(xs)-1
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if xs[mid] <= x {
			lo = mid
		} else {
			hi = mid
		}
	}
	f := (x - xs[lo]) / (xs[hi] - xs[lo])
	return g.Y[lo] + f*(g.Y[hi]-g.Y[lo])
}

// NewGrid returns a grid of n points x = 16k, y = 3x + 5 (k in [0, n)).
func NewGrid(n int) *Grid {
	g := &Grid{X: make([]float64, n), Y: make([]float64, n)}
	for k := range g.X {
		g.X[k] = float64(16 * k)
		g.Y[k] = 3*g.X[k] + 5
	}
	return g
}

// Interp sums g.At(x) for x = 0.5, 1.5, ..., n-0.5.
func Interp(g *Grid, n int) float64 {
	s := 0.0
	for i := 0; i < n; i++ {
		s += g.At(float64(i) + 0.5)
	}
	return s
}

// Div sums t/d and t%d for t in [0, n) with d = 1 + t%13 (signed int64
// division by a divisor the compiler cannot see: the engine's rounding of
// times and contexts to blocks and buckets).
func Div(n int64) (q, r int64) {
	for t := int64(0); t < n; t++ {
		d := 1 + t%13
		q += t / d
		r += t % d
	}
	return q, r
}

// rec is a per-iteration record, as the engine's BatchRecord is (smaller).
type rec struct {
	t      int64
	tokens int32
	reqs   int32
	dur    float64
}

// Append appends n records to a nil slice (it grows by Go's doubling) and
// returns it.
func Append(n int) []rec {
	var rs []rec
	for i := 0; i < n; i++ {
		rs = append(rs, rec{t: int64(i), tokens: int32(i & 255), reqs: int32(i & 7), dur: float64(i) * 0.5})
	}
	return rs
}
