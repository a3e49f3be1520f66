package predict

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestMakespan: block schedules worked by hand.
func TestMakespan(t *testing.T) {
	for _, c := range []struct {
		name         string
		work         []float64
		sms, per     int
		shared, want float64
	}{
		{"one slot runs them in turn", []float64{1, 2, 3}, 1, 1, 1, 6},
		{"the next block goes to the SM that frees first", []float64{3, 1, 1, 1}, 2, 1, 1, 3},
		{"two sharing at half rate take twice as long", []float64{1, 1}, 1, 2, 0.5, 2},
		{"two sharing at full rate", []float64{1, 1}, 1, 2, 1, 1},
		// both at 0.8 until the first is done at 1/0.8 = 1.25; the other has 2 - 1 = 1 left, alone: 2.25
		{"the survivor runs alone at rate 1", []float64{1, 2}, 1, 2, 0.8, 2.25},
		// spread one per SM first: SM0 {4}, SM1 {1}; SM1 takes the third (1) at 1, then the fourth at 2
		{"spread first, then refill", []float64{4, 1, 1, 1}, 2, 2, 1, 4},
		{"none", nil, 4, 2, 1, 0},
	} {
		w := waveSim{work: c.work}
		rate := func(n int) float64 {
			if n > 1 {
				return c.shared
			}
			return 1
		}
		if got := w.makespan(c.sms, c.per, rate); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: makespan %v, want %v", c.name, got, c.want)
		}
	}
}

// TestWavesMs: a launch's blocks by hand (one head, 32-query tiles, longest
// first, key cost 0.001 ms, floor 0.1 ms, one block per SM on 2 SMs).
func TestWavesMs(t *testing.T) {
	l := PrefillLaunch{SMs: 2, QueryTile: 32, TilesPerQueryBlock: 1, BlocksPerSM: 1, FloorMs: 0.1, KeyMs: 0.001, SharedRate: 1}
	for _, c := range []struct {
		pfs  []Prefill
		want float64
	}{
		{[]Prefill{{Chunk: 64}}, 0.1 + 0.064},                          // tiles of 64 and 32 keys side by side
		{[]Prefill{{Chunk: 96}}, 0.1 + 0.096},                          // 96 | 64 then 32
		{[]Prefill{{Chunk: 40, Processed: 100}}, 0.1 + 0.140},          // 140 | 132
		{[]Prefill{{Chunk: 32}, {Chunk: 32}, {Chunk: 32}}, 0.1 + .064}, // three 32-key tiles on two SMs
	} {
		if got := l.WavesMs(c.pfs); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("WavesMs(%v) = %v, want %v", c.pfs, got, c.want)
		}
	}
}

// TestWavesMs_SecondWave: on the H200's geometry (132 SMs x 2 blocks, 8
// KV heads, 32-query tiles), 33 tiles fill one wave of 264 blocks and 34
// need a second: over 2048 cached keys the launch jumps by over 20%.
func TestWavesMs_SecondWave(t *testing.T) {
	l := PrefillLaunch{SMs: 132, QueryTile: 32, TilesPerQueryBlock: 8, BlocksPerSM: 2, FloorMs: 0.0005, BlockMs: 0.003, KeyMs: 0.0000257, SharedRate: 0.82}
	a, b := l.WavesMs([]Prefill{{Chunk: 1056, Processed: 2048}}), l.WavesMs([]Prefill{{Chunk: 1072, Processed: 2048}})
	if b/a < 1.2 {
		t.Errorf("1056 -> 1072 tokens over 2048 keys: %.4f -> %.4f ms, want a jump over 20%%", a, b)
	}
	if c := l.WavesMs([]Prefill{{Chunk: 1040, Processed: 2048}}); a/c > 1.05 {
		t.Errorf("1040 -> 1056 tokens (one wave): %.4f -> %.4f ms, want under 5%% more", c, a)
	}
}

func TestPrefillLaunch_WavesValidation(t *testing.T) {
	base := `{"engine":"e","overlap":"sync","prefill_launch":{"sms":132,"query_tile":32,"tiles_per_query_block":8`
	for _, c := range []struct{ json, want string }{
		{base + `,"blocks_per_sm":2,"key_ms":0.00002,"shared_rate":0,"waves_source":"s"}}`, `"shared_rate": expected a number in (0, 1]`},
		{base + `,"blocks_per_sm":2,"key_ms":0,"shared_rate":0.8,"waves_source":"s"}}`, `"key_ms": expected a number > 0`},
		{base + `,"blocks_per_sm":2,"key_ms":0.00002,"shared_rate":0.8}}`, `"waves_source": expected where`},
		{base + `,"blocks_per_sm":99,"key_ms":0.00002,"shared_rate":0.8,"waves_source":"s"}}`, `"blocks_per_sm": expected 1-32`},
		{base + `,"key_ms":0.00002}}`, `need blocks_per_sm >= 1`},
	} {
		_, err := ParseEngineSpec([]byte(c.json), "engine.json")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.json, err, c.want)
		}
	}
}

// TestMakespan_SameAsEventByEvent: makespan's unused blocks taken in one
// step (an SM due again at once, first of all) give the same float as
// heapMakespan, which takes every event in turn (makespan as it was), on
// random launches: many unused blocks, ties, one to 140 SMs, 1-6 slots,
// sharing rates, blocks of a hair of work (which turn the shortcut off),
// and the decode model's own launches.
func TestMakespan_SameAsEventByEvent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 3000 {
		sms, per := 1+rng.IntN(140), 1+rng.IntN(6)
		work := make([]float64, rng.IntN(2000))
		for i := range work {
			switch rng.IntN(5) {
			case 0, 1: // unused
			case 2: // ties
				work[i] = float64(1+rng.IntN(3)) * 0.25
			default:
				work[i] = rng.Float64()
			}
		}
		if trial%10 == 0 && len(work) > 0 {
			work[rng.IntN(len(work))] = 1e-13
		}
		share := rng.Float64()
		rate := func(n int) float64 { return 1 / (1 + share*float64(n-1)) }
		w := waveSim{work: work}
		got := w.makespan(sms, per, rate)
		if want := heapMakespan(work, sms, per, rate); got != want {
			t.Fatalf("trial %d (%d blocks, %d SMs x %d): makespan %v, event by event %v", trial, len(work), sms, per, got, want)
		}
	}
	d := &DecodeLaunch{BoundPerSeq: 2, BoundMin: 80, PartMin: 128, BlockN: 64, MaxParts: 64, Heads: 8, SMs: 132, BlocksPerSM: 4,
		BlockMs: 0.000323456, KeyMs: 0.000022462, Share: 0.05}
	rate := func(n int) float64 { return 1 / (1 + d.Share*float64(n-1)) }
	unused := 0
	for trial := range 300 {
		b := 1 + rng.IntN(256)
		lens := ShapeLens(nil, b, 1+rng.IntN(4000), rng.IntN(8000))
		var w waveSim
		w.decodeMs(d, lens, b+rng.IntN(64)) // leaves its blocks in w.work
		for _, x := range w.work {
			if x == 0 {
				unused++
			}
		}
		got := w.makespan(d.SMs, d.BlocksPerSM, rate)
		if want := heapMakespan(w.work, d.SMs, d.BlocksPerSM, rate); got != want {
			t.Fatalf("decode launch %d (%d blocks): makespan %v, event by event %v", trial, len(w.work), got, want)
		}
	}
	if unused == 0 {
		t.Fatal("no decode launch had unused blocks: the shortcut is not tried")
	}
}

// heapMakespan is makespan taking every event in turn from a binary heap.
func heapMakespan(work []float64, sms, perSM int, rate func(n int) float64) float64 {
	if len(work) == 0 {
		return 0
	}
	rem, last, n := make([]float64, sms*perSM), make([]float64, sms), make([]int, sms)
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
		return last[m] + lo/rate(n[m])
	}
	var h []smEvent
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
		m, r := e.sm, rate(n[e.sm])
		done := (e.at - last[m]) * r
		res := rem[m*perSM : m*perSM+n[m]]
		k := 0
		for _, x := range res {
			if x -= done; x > 1e-12*max(1, done) {
				res[k] = x
				k++
			}
		}
		if k == len(res) {
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
		for n[m] < perSM && next < len(work) {
			rem[m*perSM+n[m]] = work[next]
			n[m]++
			next++
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
	return end
}
