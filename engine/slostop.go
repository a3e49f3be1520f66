package engine

import "math"

// Early stop (Options.StopOnSLOFail): a capacity search only needs a
// trial's verdict, and a trial past capacity has lost it long before its
// last request finishes. The run tracks, per metric of the objective
// (Config.SLOSpec), how many members of the sample engine/slo will judge
// are already surely outside the threshold, and stops as soon as even
// every other member being within it could not reach the percentile.
// Each count only ever grows and is never more than the final one, so a
// stopped run is exactly a run whose slo.Evaluate says Met == false.
//
//   - TTFT and E2E: the sample is every request (slo counts a request that
//     never got there as failing). A request is surely out when its first
//     token (completion) came later than the threshold after its arrival,
//     when the run's clock is already past that point without it, or when
//     it can never run (rejected up front).
//   - Time between tokens: the sample is every gap between consecutive
//     output tokens of the requests that finish normally: without a time
//     limit that is every request not rejected up front, so the sample's
//     size, the sum of their output tokens minus one, is known before the
//     run. A gap, once observed, never changes (a restart keeps the tokens
//     produced). With a time limit the sample is not known: the gaps are
//     not watched.

// SLOStop says why a run with Options.StopOnSLOFail ended before its
// last request: its objective can no longer be met.
type SLOStop struct {
	// AtNs is the simulated time of the stop.
	AtNs int64 `json:"at_ns"`
	// Metric is the one that cannot be met: "ttft", "tbt" or "e2e".
	Metric string `json:"metric"`
	// Failing of the metric's Sample (requests; gaps for tbt) are already
	// surely outside the threshold; Allowed is the most the percentile
	// leaves room for.
	Failing int64 `json:"failing"`
	Sample  int64 `json:"sample"`
	Allowed int64 `json:"allowed"`
	// NotGood requests already surely miss the SLO (outside the TTFT or the
	// E2E threshold): attainment is at most 1 - NotGood/Requests.
	NotGood  int `json:"not_good"`
	Requests int `json:"requests"`
}

// AttainmentBound is the most attainment the stopped run could have had.
func (s *SLOStop) AttainmentBound() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Requests-s.NotGood) / float64(s.Requests)
}

// sloWatch holds the counts; nil when the run is not watched.
type sloWatch struct {
	ttftNs, e2eNs, tbtNs float64 // thresholds in ns, as slo compares them (0: unchecked)
	ttftPc, e2ePc, tbtPc float64
	n, gaps              int64 // the samples' sizes
	// The most members out each metric's sample allows (allowed): lost is
	// monotone in the count out, so the run is lost on a metric exactly when
	// its count is past this (check compares integers instead of dividing).
	ttftAllow, e2eAllow, tbtAllow int64
	mark                          []uint8 // per request: 1 out on TTFT, 2 out on E2E
	ttftOut, e2eOut               int64
	tbtOut                        int64
	notGood                       int
	pT, pE                        int // s.arrivals before these are past their TTFT / E2E cutoff
	// check's fast path, which runs between every two events: before due
	// neither cutoff can pass another arrival, and while each count out is
	// at most its lim (its allowed, or no bound for an unchecked metric)
	// the run is not lost.
	due                     int64
	ttftLim, tbtLim, e2eLim int64
	ttftFrom, e2eFrom       int64 // overFrom of ttftNs and e2eNs
}

// newSLOWatch sets up the watch after the requests are initialised; never
// says which requests can never run.
func newSLOWatch(cfg Config, n int, never func(i int) bool, decode func(i int) int) *sloWatch {
	sp := cfg.SLOSpec()
	w := &sloWatch{ttftNs: sp.TTFTMs * 1e6, e2eNs: sp.E2EMs * 1e6, ttftPc: sp.TTFTPercentile, e2ePc: sp.E2EPercentile,
		tbtPc: sp.TBTPercentile, n: int64(n), mark: make([]uint8, n)}
	if cfg.TimeLimitS == 0 {
		w.tbtNs = sp.TBTMs * 1e6
	}
	for i := range n {
		if never(i) {
			w.outTTFT(i)
			w.outE2E(i)
			continue
		}
		if d := decode(i); d > 1 {
			w.gaps += int64(d - 1)
		}
	}
	w.ttftAllow, w.e2eAllow, w.tbtAllow = allowOut(w.n, w.ttftPc), allowOut(w.n, w.e2ePc), allowOut(w.gaps, w.tbtPc)
	w.setQuiet()
	return w
}

// setQuiet sets what quiet reads from the thresholds and allowed counts
// (due is checkAll's).
func (w *sloWatch) setQuiet() {
	w.ttftLim, w.tbtLim, w.e2eLim = limOut(w.ttftNs, w.ttftAllow), limOut(w.tbtNs, w.tbtAllow), limOut(w.e2eNs, w.e2eAllow)
	w.ttftFrom, w.e2eFrom = overFrom(w.ttftNs), overFrom(w.e2eNs)
}

// limOut is a metric's allowed count out as check's fast path compares it:
// no bound for a metric not checked (threshold th not positive).
func limOut(th float64, allow int64) int64 {
	if !(th > 0) {
		return math.MaxInt64
	}
	return allow
}

// overFrom is a lower bound on the least d with float64(d) > th, for th > 0:
// below 2^52 every integer under int64(th) converts exactly and is under
// th; past it, 0 (no negative d passes). check's cutoff cannot pass an
// arrival at a before a + overFrom(threshold).
func overFrom(th float64) int64 {
	if th < 1<<52 {
		return int64(th)
	}
	return 0
}

// allowOut is allowed(n, pc), or no bound for an empty sample (never lost).
func allowOut(n int64, pc float64) int64 {
	if n == 0 {
		return math.MaxInt64
	}
	return allowed(n, pc)
}

func (w *sloWatch) outTTFT(i int) {
	if w.ttftNs > 0 && w.mark[i]&1 == 0 {
		if w.mark[i] == 0 {
			w.notGood++
		}
		w.mark[i] |= 1
		w.ttftOut++
	}
}

func (w *sloWatch) outE2E(i int) {
	if w.e2eNs > 0 && w.mark[i]&2 == 0 {
		if w.mark[i] == 0 {
			w.notGood++
		}
		w.mark[i] |= 2
		w.e2eOut++
	}
}

// cutoffDue is the earliest time at which a cutoff of threshold th (ns; not
// positive: unchecked) whose next arrival is s.arrivals[p] could pass it:
// that arrival's time plus from (overFrom), saturated; none: MaxInt64.
func (w *sloWatch) cutoffDue(s *sim, th float64, p int, from int64) int64 {
	if !(th > 0) || p >= len(s.arrivals) {
		return math.MaxInt64
	}
	a := s.reqs[s.arrivals[p]].arrival
	if a > math.MaxInt64-from {
		return math.MaxInt64
	}
	return a + from
}

// firstToken, completed and gap record what advance and decodeRun see.
func (w *sloWatch) firstToken(r *request, t int64) {
	if w.ttftNs > 0 && float64(t-r.arrival) > w.ttftNs {
		w.outTTFT(r.id)
	}
}

func (w *sloWatch) completed(r *request, t int64) {
	if w.e2eNs > 0 && float64(t-r.arrival) > w.e2eNs {
		w.outE2E(r.id)
	}
}

func (w *sloWatch) gap(g int64) {
	if w.tbtNs > 0 && float64(g) > w.tbtNs {
		w.tbtOut++
	}
}

// gapN is gap(g) n times: a decode group's step (n members, one gap).
func (w *sloWatch) gapN(g int64, n int) {
	if w.tbtNs > 0 && float64(g) > w.tbtNs {
		w.tbtOut += int64(n)
	}
}

// advanceWatched is advanceMembers for a run with an SLO watch (a capacity
// search's trial, Options.StopOnSLOFail): the same state changes, with a
// fast path of its own for a decode that does not finish (its gap written
// in place and counted by the watch), where advanceMembers sends every
// member of a watched run through advanceSlow (a call per member and
// token; a fifth of a search's trials in Node's profile under GOOS=js).
// A Sarathi replica's decode group (decodegroup.go) is advanced and
// counted at once (groupStepEnd), and the leading decodes join it as in
// advanceMembers (canJoin: their last token the group's too).
func (s *sim) advanceWatched(rp *replica, b *batch, t int64, requeue bool) {
	reqs := s.reqs
	if b.grp > 0 { // the group's members lead the batch
		s.groupStepEnd(rp, t)
	}
	join := 0 // the leading decodes that may join the group, in order, until one may not
	if rp.grp.on && requeue {
		join = b.dn
	}
	bs := rp.cfg.BlockSize
	// w.gap's test on an integer gap under gapEscape, as an integer
	// compare with a count kept in a local (added once, after the pass:
	// advanceSlow adds to the watch's own).
	over := tbtCut(s.watch)
	var out int64
	for i, m := range b.members {
		r := &reqs[m.id]
		r.processed += m.n
		rp.load -= int64(m.n)
		if gap := t - r.lastToken; r.prefillDone && r.firstToken >= 0 && r.generated+1 < r.decode && gap < gapEscape && len(r.tokens) < cap(r.tokens) {
			r.generated++
			if gap > over {
				out++
			}
			r.tokens = r.tokens[:len(r.tokens)+1]
			r.tokens[len(r.tokens)-1] = uint32(gap)
			r.lastToken = t
		} else {
			s.advanceSlow(rp, r, t)
		}
		if requeue {
			if r.done {
				rp.release(r)
			} else if i < join && rp.grp.canJoin(r, bs) {
				rp.grp.join(r, bs)
			} else {
				join = 0
				if !r.leaving {
					rp.running.pushBack(r)
				}
			}
		}
	}
	s.watch.tbtOut += out
}

// tbtCut is the largest gap (ns, an integer below gapEscape) that w.gap
// does not count: float64(g) > w.tbtNs exactly when g > it. No TBT
// threshold: none is counted.
func tbtCut(w *sloWatch) int64 {
	if w.tbtNs <= 0 || w.tbtNs >= gapEscape {
		return math.MaxInt64
	}
	return int64(math.Floor(w.tbtNs))
}

// lost says whether out of n members failing already miss percentile pc:
// slo's test (within*100 >= pc - 1e-9) on the best case, every other
// member within. The test is monotone in the count within, so the final
// sample, with at least as many out, fails it too.
func lost(out, n int64, pc float64) bool {
	if n == 0 || out == 0 {
		return false
	}
	within := float64(n-out) / float64(n)
	return !(within*100 >= pc-1e-9)
}

// allowed is the most members out that still pass.
func allowed(n int64, pc float64) int64 {
	lo, hi := int64(0), n // lost(lo) false; find the largest such
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if lost(mid, n, pc) {
			hi = mid - 1
		} else {
			lo = mid
		}
	}
	return lo
}

// check advances the cutoffs to now and says why the run is lost, if it
// is.
func (w *sloWatch) check(s *sim) *SLOStop {
	if w.quiet(s.now) {
		return nil
	}
	return w.checkAll(s)
}

// quiet reports whether check at now finds nothing: no cutoff due and no
// count out past its bound. Small enough to inline, so that the event
// loop, which asks between every two events, makes no call in the common
// case (calls are dear under GOOS=js). A count out is past its lim
// exactly when lim - out, which cannot overflow, is negative.
func (w *sloWatch) quiet(now int64) bool {
	return now < w.due && (w.ttftLim-w.ttftOut)|(w.tbtLim-w.tbtOut)|(w.e2eLim-w.e2eOut) >= 0
}

// checkAll is check without its fast path; it sets due for the cutoffs'
// next arrivals.
func (w *sloWatch) checkAll(s *sim) *SLOStop {
	now := s.now
	if w.ttftNs > 0 {
		for w.pT < len(s.arrivals) {
			r := &s.reqs[s.arrivals[w.pT]]
			if !(float64(now-r.arrival) > w.ttftNs) {
				break
			}
			if r.firstToken < 0 { // its first token, whenever it comes, is late
				w.outTTFT(r.id)
			}
			w.pT++
		}
	}
	if w.e2eNs > 0 {
		for w.pE < len(s.arrivals) {
			r := &s.reqs[s.arrivals[w.pE]]
			if !(float64(now-r.arrival) > w.e2eNs) {
				break
			}
			if !r.done {
				w.outE2E(r.id)
			}
			w.pE++
		}
	}
	w.due = min(w.cutoffDue(s, w.ttftNs, w.pT, w.ttftFrom), w.cutoffDue(s, w.e2eNs, w.pE, w.e2eFrom))
	stop := func(metric string, out, n, allow int64) *SLOStop {
		return &SLOStop{AtNs: now, Metric: metric, Failing: out, Sample: n, Allowed: allow, NotGood: w.notGood, Requests: int(w.n)}
	}
	switch {
	case w.ttftNs > 0 && w.ttftOut > w.ttftAllow: // lost(w.ttftOut, w.n, w.ttftPc)
		return stop("ttft", w.ttftOut, w.n, w.ttftAllow)
	case w.tbtNs > 0 && w.tbtOut > w.tbtAllow:
		return stop("tbt", w.tbtOut, w.gaps, w.tbtAllow)
	case w.e2eNs > 0 && w.e2eOut > w.e2eAllow:
		return stop("e2e", w.e2eOut, w.n, w.e2eAllow)
	}
	return nil
}
