// Package slo judges a run against a latency service-level objective:
// per-metric attainment, the share of requests meeting every threshold,
// goodput (the throughput of those requests), offered against achieved
// load and an overload verdict. It is pure logic over per-request numbers,
// so every figure can be checked by hand.
//
// The objective has a threshold in ms on three metrics, each at a
// percentile:
//
//   - TTFT (first token time minus arrival) and E2E (completion minus
//     arrival): the run meets the metric when at least percentile% of all
//     requests (those that never got that far count as failing) are within
//     the threshold, i.e. the run's nearest-rank P_percentile is.
//   - Time between tokens is judged per token: the run meets it when at
//     least percentile% of all gaps between consecutive output tokens
//     (pooled over requests, as summary's token_latency) are within the
//     threshold. For a single request the same statement is judged on its
//     own gaps: its P_percentile gap (linear between ranks) must be within
//     the threshold (a request with fewer than two tokens has no gap and
//     passes).
//
// A request meets the SLO when it finished and meets every threshold
// (TTFT, E2E, and its own P_percentile gap); attainment is the fraction of
// all requests that do. A threshold of 0 leaves its metric unchecked.
package slo

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
)

// Spec is a latency objective: thresholds in ms (0: not checked), each at
// a percentile in (0, 100].
type Spec struct {
	TTFTMs         float64 `json:"ttft_ms"`
	TTFTPercentile float64 `json:"ttft_percentile"`
	TBTMs          float64 `json:"tbt_ms"`
	TBTPercentile  float64 `json:"tbt_percentile"`
	E2EMs          float64 `json:"e2e_ms"`
	E2EPercentile  float64 `json:"e2e_percentile"`
}

// Default is the objective used when none is given, an interactive chat
// service's usual targets (editable examples, not claims about any
// deployment): P90 TTFT within 1 s, P90 time between tokens within 100 ms
// (10 tokens/s, faster than reading), P90 end-to-end within 60 s.
func Default() Spec {
	return Spec{TTFTMs: 1000, TTFTPercentile: 90, TBTMs: 100, TBTPercentile: 90, E2EMs: 60000, E2EPercentile: 90}
}

// MaxThresholdMs bounds a threshold (a year: larger is surely a unit slip).
const MaxThresholdMs = 365 * 24 * 3600 * 1e3

// Validate reports an impossible or contradictory objective, naming the
// keys (under prefix, e.g. "slo.").
func (s Spec) Validate(prefix string) error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(prefix+f, a...)) }
	any := false
	for _, m := range []struct {
		name    string
		thr, pc float64
	}{{"ttft", s.TTFTMs, s.TTFTPercentile}, {"tbt", s.TBTMs, s.TBTPercentile}, {"e2e", s.E2EMs, s.E2EPercentile}} {
		if !(m.thr >= 0 && m.thr <= MaxThresholdMs) {
			bad("%s_ms: must be a number of ms in [0, %g] (0 = not checked), got %v", m.name, float64(MaxThresholdMs), m.thr)
			continue
		}
		if m.thr == 0 {
			continue
		}
		any = true
		if !(m.pc > 0 && m.pc <= 100) {
			bad("%s_percentile: must be in (0, 100] (90 means 90%% of requests), got %v", m.name, m.pc)
		}
	}
	if len(errs) == 0 && !any {
		bad("every threshold is 0: an objective needs at least one of ttft_ms, tbt_ms, e2e_ms")
	}
	if len(errs) == 0 && s.TTFTMs > 0 && s.E2EMs > 0 && s.E2EMs < s.TTFTMs && s.E2EPercentile >= s.TTFTPercentile {
		bad("e2e_ms %v is below ttft_ms %v at a percentile as high (%v >= %v): a request's end-to-end latency includes its TTFT, so the two contradict",
			s.E2EMs, s.TTFTMs, s.E2EPercentile, s.TTFTPercentile)
	}
	return errors.Join(errs...)
}

// Request is one request's outcome (ns since run start; -1: never).
type Request struct {
	ArrivalNs    int64
	FirstTokenNs int64
	CompletionNs int64
	OK           bool // finished normally
	// Rejected: turned away on arrival (it can never run), so never in
	// the system; the load verdict does not count it as an arrival to
	// keep up with.
	Rejected     bool
	OutputTokens int // tokens it produced
	// TBTNs is the request's own P_TBTPercentile gap between output
	// tokens, or a negative number when it has fewer than two tokens (or
	// when TBTOver says instead how it compares with the threshold).
	TBTNs float64
	// TBTOver: the request's own P_TBTPercentile gap is over the TBT
	// threshold, judged without its value (RequestOver).
	TBTOver bool
}

// Metric is one threshold's outcome.
type Metric struct {
	ThresholdMs float64 `json:"threshold_ms"`
	Percentile  float64 `json:"percentile"`
	// Within is the fraction of the sample within the threshold (requests
	// for TTFT and E2E, gaps between tokens for TBT).
	Within float64 `json:"within"`
	// ValueMs is the sample's nearest-rank P_percentile in ms; null when
	// that rank falls on a request that never got there.
	ValueMs *float64 `json:"value_ms"`
	Met     bool     `json:"met"`
}

// Load compares the arrival rate with what the run served.
type Load struct {
	// OfferedRPS is requests over the arrival span (first to last arrival);
	// 0 when every request arrives at once.
	OfferedRPS float64 `json:"offered_rps"`
	// OfferedTokensPerS is the output tokens produced over the arrival span.
	OfferedTokensPerS float64 `json:"offered_tokens_per_s"`
	// AchievedRPS is finished requests over the run's duration (first
	// arrival to last completion), AchievedTokensPerS their output tokens.
	AchievedRPS        float64 `json:"achieved_rps"`
	AchievedTokensPerS float64 `json:"achieved_tokens_per_s"`
	DurationS          float64 `json:"duration_s"`
	// The steady-state window is the second half of the arrival span:
	// requests that arrived and completed in it, and how many were in the
	// system (arrived, not completed) at its start and end.
	WindowArrivals    int `json:"window_arrivals"`
	WindowCompletions int `json:"window_completions"`
	InSystemStart     int `json:"in_system_start"`
	InSystemEnd       int `json:"in_system_end"`
	// Judged is false when too few requests arrive in the window.
	Judged     bool   `json:"judged"`
	Overloaded bool   `json:"overloaded"`
	Verdict    string `json:"verdict"`
}

// MinWindowArrivals is the fewest arrivals in the window the verdict needs.
const MinWindowArrivals = 20

// KeepUpFraction: a run is overloaded when fewer than this fraction of the
// window's arrivals complete in it (the queue then grows by the rest).
const KeepUpFraction = 0.9

// Report is a run judged against a Spec.
type Report struct {
	Spec Spec    `json:"spec"`
	TTFT *Metric `json:"ttft,omitempty"`
	TBT  *Metric `json:"tbt,omitempty"`
	E2E  *Metric `json:"e2e,omitempty"`
	// Met says the run meets every checked metric.
	Met bool `json:"met"`
	// Attainment is the fraction of all requests meeting every threshold.
	Attainment   float64 `json:"attainment"`
	GoodRequests int     `json:"good_requests"`
	// GoodTokens are the output tokens of the requests meeting the SLO.
	GoodTokens int64 `json:"good_tokens"`
	// Goodput: requests meeting the SLO and their output tokens, per second
	// of the run's duration (first arrival to last completion).
	GoodputRPS        float64 `json:"goodput_rps"`
	GoodputTokensPerS float64 `json:"goodput_tokens_per_s"`
	Load              Load    `json:"load"`
}

// Sample is an ascending sample as Evaluate reads it: its size, how many
// values are at most x, and its k-th smallest value (0-based).
type Sample interface {
	Len() int
	AtMost(x float64) int
	At(k int) float64
}

// sorted is a Sample over an ascending slice.
type sorted[G int64 | uint32] []G

func (v sorted[G]) Len() int { return len(v) }
func (v sorted[G]) AtMost(x float64) int {
	return sort.Search(len(v), func(i int) bool { return float64(v[i]) > x })
}
func (v sorted[G]) At(k int) float64 { return float64(v[k]) }

// Evaluate judges reqs against s. gaps are every gap between consecutive
// output tokens of the finished requests, sorted ascending (ns).
func Evaluate[G int64 | uint32](s Spec, reqs []Request, gaps []G) Report {
	return EvaluateSample(s, reqs, sorted[G](gaps))
}

// TBTRank is the rank (0-based) of the gap EvaluateSample reads from a
// sample of n gaps, and TBTThresholdNs the x it counts AtMost for (when
// s.TBTMs is set): what a Sample that does not hold every gap must answer.
func TBTRank(s Spec, n int) int { return nearestRank(n, s.TBTPercentile) }

// TBTThresholdNs is s.TBTMs in ns, as EvaluateSample passes it to AtMost.
func TBTThresholdNs(s Spec) float64 { return s.TBTMs * 1e6 }

// EvaluateSample is Evaluate over any Sample of the gaps.
func EvaluateSample(s Spec, reqs []Request, gaps Sample) Report {
	r := Report{Spec: s}
	n := len(reqs)
	ttft := make([]float64, 0, n) // +Inf for a request that never got there
	e2e := make([]float64, 0, n)
	for _, q := range reqs {
		t, e := math.Inf(1), math.Inf(1)
		if q.OK && q.FirstTokenNs >= 0 {
			t = float64(q.FirstTokenNs - q.ArrivalNs)
		}
		if q.OK && q.CompletionNs >= 0 {
			e = float64(q.CompletionNs - q.ArrivalNs)
		}
		ttft, e2e = append(ttft, t), append(e2e, e)
		good := q.OK && within(t, s.TTFTMs) && within(e, s.E2EMs) && !q.TBTOver && (q.TBTNs < 0 || within(q.TBTNs, s.TBTMs))
		if good {
			r.GoodRequests++
			r.GoodTokens += int64(q.OutputTokens)
		}
	}
	if n > 0 {
		r.Attainment = float64(r.GoodRequests) / float64(n)
	}
	sort.Float64s(ttft)
	sort.Float64s(e2e)
	r.Met = true
	// judge checks a sorted sample of n values: le(x) counts those <= x,
	// at(k) is the k-th smallest (0-based).
	judge := func(thr, pc float64, n int, le func(float64) int, at func(int) float64) *Metric {
		if thr == 0 {
			return nil
		}
		m := &Metric{ThresholdMs: thr, Percentile: pc, Within: 1} // an empty sample has nothing failing
		if n > 0 {
			m.Within = float64(le(thr*1e6)) / float64(n)
			if v := at(nearestRank(n, pc)); !math.IsInf(v, 1) {
				ms := v / 1e6
				m.ValueMs = &ms
			}
		}
		m.Met = m.Within*100 >= pc-1e-9
		r.Met = r.Met && m.Met
		return m
	}
	floats := func(v []float64) (int, func(float64) int, func(int) float64) {
		return len(v), func(x float64) int { return sort.Search(len(v), func(i int) bool { return v[i] > x }) }, func(k int) float64 { return v[k] }
	}
	n1, le1, at1 := floats(ttft)
	r.TTFT = judge(s.TTFTMs, s.TTFTPercentile, n1, le1, at1)
	n2, le2, at2 := floats(e2e)
	r.E2E = judge(s.E2EMs, s.E2EPercentile, n2, le2, at2)
	r.TBT = judge(s.TBTMs, s.TBTPercentile, gaps.Len(), gaps.AtMost, gaps.At)
	r.Load = load(reqs)
	if d := r.Load.DurationS; d > 0 {
		r.GoodputRPS = float64(r.GoodRequests) / d
		r.GoodputTokensPerS = float64(r.GoodTokens) / d
	}
	return r
}

// within says v (ns) is within a threshold in ms (0: not checked).
func within(v, thrMs float64) bool { return thrMs == 0 || v <= thrMs*1e6 }

// nearestRank is the 0-based index of a sorted sample's P_pc by nearest
// rank: the smallest value with at least pc% of the sample at or below it.
func nearestRank(n int, pc float64) int {
	k := int(math.Ceil(pc/100*float64(n) - 1e-9))
	return min(max(k, 1), n) - 1
}

// RequestQuantile is a request's P_pc gap (linear between closest ranks)
// from its ascending gaps, or -1 for none.
func RequestQuantile(sortedGaps []int64, pc float64) float64 {
	if len(sortedGaps) == 0 {
		return -1
	}
	pos := pc / 100 * float64(len(sortedGaps)-1)
	lo := int(pos)
	if lo+1 >= len(sortedGaps) {
		return float64(sortedGaps[len(sortedGaps)-1])
	}
	f := pos - float64(lo)
	return float64(sortedGaps[lo]) + (float64(sortedGaps[lo+1])-float64(sortedGaps[lo]))*f
}

// RequestQuantileOf is RequestQuantile of gaps in any order (it reorders
// them): the same value from two order statistics found by selection, in
// time linear in the gaps rather than a sort's n log n.
func RequestQuantileOf(gaps []int64, pc float64) float64 {
	n := len(gaps)
	if n == 0 {
		return -1
	}
	pos := pc / 100 * float64(n-1)
	lo := int(pos)
	if lo+1 >= n {
		return float64(slices.Max(gaps))
	}
	selectKth(gaps, lo)
	a, b := gaps[lo], slices.Min(gaps[lo+1:])
	f := pos - float64(lo)
	return float64(a) + (float64(b)-float64(a))*f
}

// RequestOver says whether a request's P_pc gap (RequestQuantile's value
// for gaps in any order) is over a threshold of thrMs, exactly as
// within(RequestQuantile(sorted gaps, pc), thrMs) would judge it, in one
// pass that neither copies nor reorders the gaps. With a of them within the
// threshold, the ascending gaps at ranks below a are within and the others
// over; the quantile interpolates between ranks lo and lo+1 (or is the
// largest gap), and an interpolation never leaves the closed range of its
// two ends (in float64 too, for integers below 2^53), so only lo = a-1
// needs values: the largest gap within and the smallest over, which the pass
// keeps. No gap: false (nothing to judge), as RequestQuantile's -1 passes.
func RequestOver[G int64 | uint32](gaps []G, pc, thrMs float64) bool {
	n := len(gaps)
	if n == 0 || thrMs == 0 {
		return false
	}
	thr := thrMs * 1e6 // as within
	// The largest gap within and the smallest over, kept as gaps: the
	// conversion to float64 is monotone, so they convert to the largest and
	// smallest converted gaps (float64 max and min are calls under GOOS=js,
	// half of this loop's time there). Both are set where they are read:
	// lo = a-1 with lo+1 < n, so a >= 1 and a < n.
	a := 0
	var in, over G
	for i, g := range gaps {
		if float64(g) <= thr {
			if a == 0 || g > in {
				in = g
			}
			a++
		} else if i == a || g < over { // i == a: the first over
			over = g
		}
	}
	pos := pc / 100 * float64(n-1)
	lo := int(pos)
	switch {
	case lo+1 >= n: // the largest gap
		return a < n
	case lo+1 < a:
		return false
	case lo >= a:
		return true
	}
	f := pos - float64(lo)
	lv, hv := float64(in), float64(over)
	return !within(lv+(hv-lv)*f, thrMs)
}

// selectKth reorders v so that v[k] is its k-th smallest (0-based), with
// nothing larger before it and nothing smaller after it: quickselect with
// a median-of-three pivot, falling back to a sort of what is left when the
// partitions stop shrinking.
func selectKth(v []int64, k int) {
	lo, hi := 0, len(v)-1
	budget := 2 * bits.Len(uint(len(v)))
	for hi > lo {
		if hi-lo < 16 || budget == 0 {
			slices.Sort(v[lo : hi+1])
			return
		}
		budget--
		mid := lo + (hi-lo)/2
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		p := v[mid]
		i, j := lo, hi
		for i <= j { // Hoare partition: v[lo..j] <= p <= v[i..hi]
			for v[i] < p {
				i++
			}
			for v[j] > p {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default: // j < k < i: v[k] == p, in place
			return
		}
	}
}

func load(reqs []Request) Load {
	var l Load
	if len(reqs) == 0 {
		l.Verdict = "no requests"
		return l
	}
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	var done int64 = -1
	finished, tokens, okTokens := 0, 0, 0
	for _, q := range reqs {
		first, last = min(first, q.ArrivalNs), max(last, q.ArrivalNs)
		tokens += q.OutputTokens
		if q.OK && q.CompletionNs >= 0 {
			finished++
			okTokens += q.OutputTokens
			done = max(done, q.CompletionNs)
		}
	}
	if span := float64(last-first) / 1e9; span > 0 {
		l.OfferedRPS = float64(len(reqs)) / span
		l.OfferedTokensPerS = float64(tokens) / span
	}
	if done > first {
		l.DurationS = float64(done-first) / 1e9
		l.AchievedRPS = float64(finished) / l.DurationS
		l.AchievedTokensPerS = float64(okTokens) / l.DurationS
	}
	mid := first + (last-first)/2
	rejected := 0
	for _, q := range reqs {
		if q.Rejected {
			rejected++
			continue
		}
		// In the system at t: arrived at or before t and not completed by t.
		in := func(t int64) bool { return q.ArrivalNs <= t && (q.CompletionNs < 0 || q.CompletionNs > t) }
		if in(mid) {
			l.InSystemStart++
		}
		if in(last) {
			l.InSystemEnd++
		}
		if q.ArrivalNs > mid && q.ArrivalNs <= last {
			l.WindowArrivals++
		}
		if q.CompletionNs > mid && q.CompletionNs <= last {
			l.WindowCompletions++
		}
	}
	note := ""
	if rejected > 0 {
		note = fmt.Sprintf(" (%d rejected on arrival not counted)", rejected)
	}
	if l.WindowArrivals < MinWindowArrivals {
		l.Verdict = fmt.Sprintf("not judged: %d requests arrived in the second half of the arrival span%s (at least %d are needed)", l.WindowArrivals, note, MinWindowArrivals)
		return l
	}
	l.Judged = true
	l.Overloaded = float64(l.WindowCompletions) < KeepUpFraction*float64(l.WindowArrivals)
	what := "keeping up"
	if l.Overloaded {
		what = "OVERLOADED"
	}
	l.Verdict = fmt.Sprintf("%s: in the second half of the arrivals %d requests arrived and %d completed; requests in the system went from %d to %d%s",
		what, l.WindowArrivals, l.WindowCompletions, l.InSystemStart, l.InSystemEnd, note)
	return l
}
