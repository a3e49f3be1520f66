package slo

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

const ms = int64(1e6)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestEvaluate_ByHand checks every number of a six-request run worked out
// on paper (see the comments).
func TestEvaluate_ByHand(t *testing.T) {
	s := Spec{TTFTMs: 100, TTFTPercentile: 50, TBTMs: 10, TBTPercentile: 75, E2EMs: 1000, E2EPercentile: 100}
	reqs := []Request{
		{ArrivalNs: 0, FirstTokenNs: 50 * ms, CompletionNs: 500 * ms, OK: true, OutputTokens: 3, TBTNs: 8e6},           // good
		{ArrivalNs: 100 * ms, FirstTokenNs: 300 * ms, CompletionNs: 900 * ms, OK: true, OutputTokens: 2, TBTNs: 5e6},   // TTFT 200 ms
		{ArrivalNs: 200 * ms, FirstTokenNs: 260 * ms, CompletionNs: 1400 * ms, OK: true, OutputTokens: 4, TBTNs: 9e6},  // E2E 1200 ms
		{ArrivalNs: 300 * ms, FirstTokenNs: -1, CompletionNs: -1},                                                      // never finished
		{ArrivalNs: 400 * ms, FirstTokenNs: 450 * ms, CompletionNs: 1000 * ms, OK: true, OutputTokens: 5, TBTNs: 20e6}, // its gap P75 20 ms
		{ArrivalNs: 500 * ms, FirstTokenNs: 520 * ms, CompletionNs: 800 * ms, OK: true, OutputTokens: 1, TBTNs: -1},    // good, no gap
	}
	gaps := []int64{2 * ms, 4 * ms, 6 * ms, 8 * ms, 10 * ms, 12 * ms, 14 * ms, 16 * ms}
	r := Evaluate(s, reqs, gaps)
	if r.GoodRequests != 2 || r.GoodTokens != 4 || !near(r.Attainment, 2.0/6) {
		t.Errorf("good %d attainment %v, want 2 and 1/3", r.GoodRequests, r.Attainment)
	}
	// Duration: first arrival 0 to last completion 1.4 s.
	if !near(r.GoodputRPS, 2/1.4) || !near(r.GoodputTokensPerS, 4/1.4) {
		t.Errorf("goodput %v req/s %v tok/s, want %v and %v", r.GoodputRPS, r.GoodputTokensPerS, 2/1.4, 4/1.4)
	}
	// TTFT 20,50,50,60,200,inf: 4/6 within 100 ms; nearest-rank P50 is the 3rd: 50 ms.
	if m := r.TTFT; !near(m.Within, 4.0/6) || !m.Met || m.ValueMs == nil || *m.ValueMs != 50 {
		t.Errorf("ttft %+v", m)
	}
	// E2E 300,500,600,800,1200,inf: 4/6 within 1 s, P100 needs all; P100 is inf (null).
	if m := r.E2E; !near(m.Within, 4.0/6) || m.Met || m.ValueMs != nil {
		t.Errorf("e2e %+v", m)
	}
	// Gaps: 5 of 8 within 10 ms < 75%; nearest-rank P75 is the 6th: 12 ms.
	if m := r.TBT; !near(m.Within, 5.0/8) || m.Met || m.ValueMs == nil || *m.ValueMs != 12 {
		t.Errorf("tbt %+v", m)
	}
	if r.Met {
		t.Error("met, want not")
	}
	l := r.Load
	// 6 requests over a 0.5 s arrival span, 15 tokens; 5 finished with 15 tokens over 1.4 s.
	if !near(l.OfferedRPS, 12) || !near(l.OfferedTokensPerS, 30) || !near(l.AchievedRPS, 5/1.4) || !near(l.AchievedTokensPerS, 15/1.4) || !near(l.DurationS, 1.4) {
		t.Errorf("load %+v", l)
	}
	// Window (250 ms, 500 ms]: r3, r4, r5 arrive, r0 completes; in system 3 at 250 ms (r0-r2), 5 at 500 ms.
	if l.WindowArrivals != 3 || l.WindowCompletions != 1 || l.InSystemStart != 3 || l.InSystemEnd != 5 || l.Judged || l.Overloaded {
		t.Errorf("window %+v", l)
	}
}

func TestEvaluate_Verdict(t *testing.T) {
	for _, tc := range []struct {
		name       string
		done       func(a int64) int64
		over       bool
		comp, s, e int
	}{
		// Arrivals every 10 ms (0..990 ms), window (495, 990].
		{"served in 5 ms", func(a int64) int64 { return a + 5*ms }, false, 49, 0, 1}, // the one arriving at 490 ms is done at 495 ms
		// Completion at 2a+1 ms: completions in the window are a in (247, 494.5]: 25 < 0.9*50.
		{"falling behind", func(a int64) int64 { return 2*a + ms }, true, 25, 25, 50},
	} {
		var reqs []Request
		for i := range 100 {
			a := int64(i) * 10 * ms
			reqs = append(reqs, Request{ArrivalNs: a, FirstTokenNs: a, CompletionNs: tc.done(a), OK: true, OutputTokens: 1, TBTNs: -1})
		}
		l := Evaluate[int64](Default(), reqs, nil).Load
		if !l.Judged || l.Overloaded != tc.over || l.WindowArrivals != 50 || l.WindowCompletions != tc.comp || l.InSystemStart != tc.s || l.InSystemEnd != tc.e {
			t.Errorf("%s: %+v", tc.name, l)
		}
		if tc.over != strings.HasPrefix(l.Verdict, "OVERLOADED") {
			t.Errorf("%s: verdict %q", tc.name, l.Verdict)
		}
	}
}

// TestEvaluate_Rejected: requests turned away on arrival are never in the
// system: served in 5 ms, every other one of 100 rejected, the run keeps up
// (25 of 25 window arrivals complete, none in the system at either end
// of the window); counting the rejected as arrivals that never complete would call
// it overloaded (25 of 50). All rejected: not judged, and saying why.
func TestEvaluate_Rejected(t *testing.T) {
	reqs := make([]Request, 100)
	for i := range reqs {
		a := int64(i) * 10 * ms
		reqs[i] = Request{ArrivalNs: a, FirstTokenNs: a, CompletionNs: a + 5*ms, OK: true, OutputTokens: 1, TBTNs: -1}
		if i%2 == 1 {
			reqs[i] = Request{ArrivalNs: a, FirstTokenNs: -1, CompletionNs: -1, Rejected: true, TBTNs: -1}
		}
	}
	l := Evaluate[int64](Default(), reqs, nil).Load
	if !l.Judged || l.Overloaded || l.WindowArrivals != 25 || l.WindowCompletions != 25 || l.InSystemStart != 0 || l.InSystemEnd != 0 {
		t.Errorf("half rejected: %+v", l)
	}
	if !strings.HasSuffix(l.Verdict, "(50 rejected on arrival not counted)") {
		t.Errorf("half rejected: verdict %q", l.Verdict)
	}
	for i := range reqs {
		reqs[i] = Request{ArrivalNs: reqs[i].ArrivalNs, FirstTokenNs: -1, CompletionNs: -1, Rejected: true, TBTNs: -1}
	}
	l = Evaluate[int64](Default(), reqs, nil).Load
	if l.Judged || l.Overloaded || !strings.Contains(l.Verdict, "not judged: 0 requests arrived in the second half of the arrival span (100 rejected on arrival not counted)") {
		t.Errorf("all rejected: %+v", l)
	}
}

func TestValidate(t *testing.T) {
	if err := Default().Validate("slo."); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s    Spec
		want string
	}{
		{Spec{TTFTMs: -1, TTFTPercentile: 90}, "slo.ttft_ms: must be"},
		{Spec{TTFTMs: math.NaN(), TTFTPercentile: 90}, "slo.ttft_ms: must be"},
		{Spec{TBTMs: 100, TBTPercentile: 0}, "slo.tbt_percentile: must be in (0, 100]"},
		{Spec{E2EMs: 100, E2EPercentile: 101}, "slo.e2e_percentile"},
		{Spec{}, "every threshold is 0"},
		{Spec{TTFTMs: 1000, TTFTPercentile: 90, E2EMs: 500, E2EPercentile: 90}, "contradict"},
	} {
		err := tc.s.Validate("slo.")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.s, err, tc.want)
		}
	}
	// A looser E2E at a lower percentile is not a contradiction.
	if err := (Spec{TTFTMs: 1000, TTFTPercentile: 99, E2EMs: 500, E2EPercentile: 50}).Validate(""); err != nil {
		t.Error(err)
	}
}

func TestRequestQuantile(t *testing.T) {
	g := []int64{10, 20, 30, 40, 50}
	for _, tc := range []struct{ pc, want float64 }{{0, 10}, {50, 30}, {90, 46}, {100, 50}} {
		if got := RequestQuantile(g, tc.pc); !near(got, tc.want) {
			t.Errorf("P%v = %v, want %v", tc.pc, got, tc.want)
		}
	}
	if RequestQuantile(nil, 50) >= 0 {
		t.Error("no gaps: want negative")
	}
}

// TestRequestQuantileOf: selection gives RequestQuantile of the sorted
// gaps exactly, on random samples with few and with many ties.
func TestRequestQuantileOf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for c := range 3000 {
		n := 1 + rng.IntN(400)
		spread := []int64{1, 3, 50, 1 << 40}[c%4]
		v := make([]int64, n)
		for i := range v {
			v[i] = 1e6 + rng.Int64N(spread)
		}
		if c%7 == 0 { // sorted and reversed inputs
			slices.Sort(v)
			if c%2 == 0 {
				slices.Reverse(v)
			}
		}
		pc := []float64{0, 1, 50, 90, 95, 99, 100, 100 * rng.Float64()}[c%8]
		sorted := slices.Sorted(slices.Values(v))
		want := RequestQuantile(sorted, pc)
		got := RequestQuantileOf(slices.Clone(v), pc)
		if got != want {
			t.Fatalf("case %d (n %d, pc %v): %v, want %v", c, n, pc, got, want)
		}
	}
	if RequestQuantileOf(nil, 90) != -1 {
		t.Error("no gaps: want -1")
	}
}

// TestRequestOver: the one-pass verdict is the judgement of RequestQuantile
// of the sorted gaps against the threshold, on random samples with few and
// many ties, thresholds at, just off and between the gaps' values, both
// gap types, every kind of percentile; and no gap or no threshold is never
// over.
func TestRequestOver(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	over := 0
	for c := range 20000 {
		n := 1 + rng.IntN([]int{3, 40, 400}[c%3])
		spread := []int64{1, 3, 50, 1e6, 1 << 31}[c%5]
		v := make([]int64, n)
		for i := range v {
			v[i] = 1e6 + rng.Int64N(spread)
		}
		pc := []float64{0, 1, 50, 90, 95, 99, 99.9, 100, 100 * rng.Float64()}[c%9]
		sorted := slices.Sorted(slices.Values(v))
		q := RequestQuantile(sorted, pc)
		var thrMs float64
		switch x := v[rng.IntN(n)]; c % 4 {
		case 0:
			thrMs = float64(x) / 1e6
		case 1:
			thrMs = float64(x+1-2*rng.Int64N(2)) / 1e6
		case 2:
			thrMs = q / 1e6 // the quantile itself (within), or as near as float division gives
		default:
			thrMs = (1e6 + rng.Float64()*float64(spread)) / 1e6
		}
		want := !within(q, thrMs)
		if want {
			over++
		}
		if got := RequestOver(v, pc, thrMs); got != want {
			t.Fatalf("case %d (n %d, pc %v, threshold %v ms, quantile %v ns): over %v, want %v", c, n, pc, thrMs, q, got, want)
		}
		u := make([]uint32, n)
		for i, x := range v {
			u[i] = uint32(x)
		}
		if got := RequestOver(u, pc, thrMs); got != want {
			t.Fatalf("case %d, uint32 gaps: over %v, want %v", c, got, want)
		}
	}
	if over < 2000 || over > 18000 {
		t.Errorf("%d of 20000 cases over: the thresholds do not test both sides", over)
	}
	if RequestOver([]int64(nil), 90, 1) || RequestOver([]int64{5e9}, 90, 0) {
		t.Error("no gap or no threshold: never over")
	}
}
