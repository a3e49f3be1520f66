package predict

import (
	"math"
	"strings"
)

// The wave model of the prefill attention launch (PrefillLaunch with
// BlocksPerSM > 0). The launch runs TilesPerQueryBlock thread blocks (one
// per KV head) for every QueryTile queries of every prefill, the blocks of
// one head after another and, within a head, each prefill's tiles longest
// first (its last queries see the most keys), as the engine orders them. A
// block over k keys is BlockMs + KeyMs * k of work; the GPU's block
// scheduler hands the next block to the first SM with a free slot, an SM
// holds up to BlocksPerSM blocks, and a block progresses at rate 1 alone on
// its SM and at SharedRate while it shares it. The launch takes FloorMs plus
// the time until the last block is done. This is what the profiled grid's
// interpolation cannot see: a chunk whose blocks overflow one wave of
// SMs x BlocksPerSM costs about a second wave.

// validWaves checks the wave model's fields (bad reports an error).
func (l *PrefillLaunch) validWaves(bad func(string, ...any)) {
	if l.BlocksPerSM == 0 {
		if l.FloorMs != 0 || l.BlockMs != 0 || l.KeyMs != 0 || l.SharedRate != 0 || l.WavesSource != "" {
			bad(`"prefill_launch": floor_ms, block_ms, key_ms, shared_rate and waves_source need blocks_per_sm >= 1`)
		}
		return
	}
	if l.BlocksPerSM < 0 || l.BlocksPerSM > maxBlocksPerSM {
		bad(`"prefill_launch"."blocks_per_sm": expected 1-%d, got %d`, maxBlocksPerSM, l.BlocksPerSM)
	}
	for _, f := range []struct {
		key string
		v   float64
	}{{"floor_ms", l.FloorMs}, {"block_ms", l.BlockMs}, {"key_ms", l.KeyMs}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			bad(`"prefill_launch"."%s": expected a finite number >= 0, got %v`, f.key, f.v)
		}
	}
	if !(l.KeyMs > 0) {
		bad(`"prefill_launch"."key_ms": expected a number > 0 with blocks_per_sm, got %v`, l.KeyMs)
	}
	if !(l.SharedRate > 0 && l.SharedRate <= 1) {
		bad(`"prefill_launch"."shared_rate": expected a number in (0, 1], got %v`, l.SharedRate)
	}
	if strings.TrimSpace(l.WavesSource) == "" {
		bad(`"prefill_launch"."waves_source": expected where the wave model's numbers come from, got an empty string`)
	}
}

// maxBlocksPerSM bounds blocks_per_sm (a GPU SM holds at most 32 blocks).
const maxBlocksPerSM = 32

// Waves reports whether the wave model is on.
func (l *PrefillLaunch) Waves() bool { return l != nil && l.BlocksPerSM > 0 }

// WavesMs is the wave model's time (ms) of one launch of the prefills pfs,
// each over its own Processed cached keys.
func (l *PrefillLaunch) WavesMs(pfs []Prefill) float64 {
	var w waveSim
	return w.launchMs(l, pfs)
}

// waveSim holds the wave model's buffers, reused from launch to launch.
type waveSim struct {
	work, rem, last []float64
	rates           []float64 // makespan's rate by residents
	n               []int
	h               []smEvent
}

// launchMs is l.WavesMs(pfs) with w's buffers.
func (w *waveSim) launchMs(l *PrefillLaunch, pfs []Prefill) float64 {
	w.work = w.work[:0]
	for h := 0; h < l.TilesPerQueryBlock; h++ {
		for _, pf := range pfs {
			for q := (pf.Chunk - 1) / l.QueryTile; q >= 0; q-- {
				keys := pf.Processed + min((q+1)*l.QueryTile, pf.Chunk)
				w.work = append(w.work, l.BlockMs+l.KeyMs*float64(keys))
			}
		}
	}
	return l.FloorMs + w.makespan(l.SMs, l.BlocksPerSM, func(n int) float64 {
		if n > 1 {
			return l.SharedRate
		}
		return 1
	})
}

// smEvent is an SM's next block completion.
type smEvent struct {
	at float64
	sm int
}

func (e smEvent) before(o smEvent) bool { return e.at < o.at || e.at == o.at && e.sm < o.sm }

// makespan is when the last of the blocks (their work in w.work, in
// dispatch order) is done on sms SMs of perSM slots, each of an SM's n
// resident blocks progressing at rate(n).
// Blocks are first spread one per SM, then a second per SM, and so on;
// after that the next block goes to the SM where one finished.
func (w *waveSim) makespan(sms, perSM int, rate func(n int) float64) float64 {
	work := w.work
	if len(work) == 0 {
		return 0
	}
	w.rem = grow(w.rem, sms*perSM) // rem[m*perSM : m*perSM+n[m]]: SM m's residents' remaining work
	w.last = grow(w.last, sms)
	if cap(w.n) < sms {
		w.n = make([]int, sms)
	}
	rem, last, n := w.rem, w.last, w.n[:sms]
	clear(last)
	clear(n)
	w.rates = grow(w.rates, perSM+1) // rate(k) for k residents, once (not a call per event)
	rates := w.rates
	for k := 1; k <= perSM; k++ {
		rates[k] = rate(k)
	}
	// clean: every block has no work or more than 1e-12 (so that an event
	// with nothing done removes exactly the blocks without work).
	clean := true
	for _, x := range work {
		clean = clean && (x == 0 || x > 1e-12)
	}
	next := 0
	for s := 0; s < perSM; s++ {
		for m := 0; m < sms && next < len(work); m++ {
			rem[m*perSM+n[m]] = work[next]
			n[m]++
			next++
		}
	}
	due := func(m int) float64 {
		lo := math.Inf(1)
		for _, x := range rem[m*perSM : m*perSM+n[m]] {
			lo = min(lo, x)
		}
		return last[m] + lo/rates[n[m]]
	}
	h := w.h[:0]
	for m := 0; m < sms; m++ {
		if n[m] > 0 {
			h = append(h, smEvent{due(m), m})
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	end := 0.0
	for len(h) > 0 {
		e := h[0]
		m, r := e.sm, rates[n[e.sm]]
		done := (e.at - last[m]) * r
		res := rem[m*perSM : m*perSM+n[m]]
		k := 0
		for _, x := range res {
			if x -= done; x > 1e-12*max(1, done) {
				res[k] = x
				k++
			}
		}
		if k == len(res) { // rounding left the finishing block a hair of work: it is done
			lo := 0
			for i, x := range res {
				if x < res[lo] {
					lo = i
				}
			}
			res[lo] = res[k-1]
			k--
		}
		n[m], last[m], end = k, e.at, e.at
		zero := false // an unused block (no work) taken
		for n[m] < perSM && next < len(work) {
			rem[m*perSM+n[m]] = work[next]
			zero = zero || work[next] == 0
			n[m]++
			next++
		}
		if zero && clean {
			// The SM is due again at once (an unused block's due time is
			// its SM's last), and first of all (it was first at (e.at, m)
			// and no other SM changed): each such event removes the unused
			// blocks (nothing else: its done is 0 and the others' work is
			// over 1e-12) and refills, until the refill takes none. Done
			// here in one:
			// the residents with work, then the next blocks with work up
			// to perSM, those without skipped; the same residents, time
			// and next block as those events leave.
			res := rem[m*perSM : m*perSM+n[m]]
			k := 0
			for _, x := range res {
				if x != 0 {
					res[k] = x
					k++
				}
			}
			for k < perSM && next < len(work) {
				if x := work[next]; x != 0 {
					rem[m*perSM+k] = x
					k++
				}
				next++
			}
			n[m] = k
		}
		if n[m] > 0 {
			h[0] = smEvent{due(m), m}
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		if len(h) > 0 {
			siftDown(h, 0)
		}
	}
	w.h = h
	return end
}

// siftDown restores the min-heap order of h below i.
func siftDown(h []smEvent, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h[c+1].before(h[c]) {
			c++
		}
		if !h[c].before(h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}
