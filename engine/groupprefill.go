package engine

import (
	"math"

	"github.com/servesim/servesim/engine/predict"
)

// groupPrefillStep takes, at s.now and without the event queue, the step
// that the general path would run next on a Sarathi replica carrying a
// decode group (or none) whose one other running request is a prefill,
// or with nothing else running and one request waiting: the group's
// decodes and the prompt's next chunk, or its first, admitted (at light
// load, a new request's prompt chunks, most of the general steps).
// It is called where stageEnd would build the next batch (a batch has just
// ended, nothing is queued for this instant) and changes the state as
// Sarathi's nextBatch, buildBatch, stageSchedule and, at the step's end,
// endBatch would (with the same six events counted by tick), or reports
// false and changes nothing: when the step is not of that shape, its
// prediction fails or is out of range, or its end would not come strictly
// before the next event due (or would pass the time limit), when a member
// that finishes at its end has closed-loop turns waiting on it (their
// arrivals would be events), or when an SLO watch would stop the run
// before it (watchStops). The general path then takes it; tests compare
// every output with the step-by-step path (TestFastPath_*, and for
// watched runs TestWatched_GroupSameAsStepByStep).
func (s *sim) groupPrefillStep(rp *replica) (bool, error) {
	g := &rp.grp
	q := &rp.running
	if !g.on || rp.incoming.len() != 0 {
		return false, nil
	}
	maxMB, gn, bs := rp.res.MaxMicroBatchSize, g.n, rp.cfg.BlockSize
	seen, takers, dsum := 0, 0, int64(0)
	if gn > 0 {
		seen, takers, dsum = gn-1, int(g.phase[g.abs%int64(bs)]), g.ctxSum
		if gn > maxMB || rp.numBlocks-rp.allocated-takers < 1 {
			return false, nil // nextBatch dissolves the group
		}
	}
	// The prompt: the running list's one request, a prefill, or with the
	// running list empty the one waiting request, admitted (Sarathi's
	// admission after its pass, as nextBatch does it without a prefix
	// cache).
	var r *request
	admit := q.len() == 0
	switch {
	case q.len() == 1 && rp.waiting.len() == 0:
		r = &rp.reqs[q.s[q.h]]
		if r.prefillDone || !r.scheduled {
			return false, nil
		}
		// nextBatch: a prefill ahead of the group's place (front 1) is
		// taken with the front, else in the pass after the group (or
		// alone, with the group empty), which compares the cap first.
		if g.front == 0 || gn == 0 {
			if gn >= maxMB {
				return false, nil
			}
			seen = gn
		}
	case admit && rp.waiting.len() == 1:
		r = rp.waiting.front()
		if r.blocks != 0 || rp.numAllocated == rp.cfg.BatchSizeCap || gn == maxMB ||
			rp.numBlocks-(rp.allocated+takers)-ceilDiv(r.target, bs) < rp.res.WatermarkBlocks { // canAdmit, after the group's takes
			return false, nil
		}
	default:
		return false, nil
	}
	if r.done || r.leaving || r.firstChild >= 0 {
		return false, nil
	}
	n := min(r.target-r.processed, rp.cfg.ChunkSize-gn)
	if n <= 0 || !s.noChildren(g, 0) {
		return false, nil
	}
	next := int64(math.MaxInt64) // the next event due: an arrival or the heap's first
	if s.nextArr < len(s.arrivals) {
		next = s.reqs[s.arrivals[s.nextArr]].arrival
	}
	if len(s.heap) > 0 {
		next = min(next, s.heap[0].at)
	}
	// buildBatch's key.
	pb := predict.Batch{NumRequests: 1 + gn, Prefills: append(s.pbuf[:0], predict.Prefill{Chunk: n, Processed: r.processed}),
		Tokens: gn + n, NumDecodes: gn, DecodeContextSum: dsum, LogitSeqs: gn}
	if r.processed == r.skip { // its first chunk since admission
		pb.NewRequests++
	}
	if r.processed+n == r.target {
		pb.LogitSeqs++
	}
	if cap(pb.Prefills) != cap(s.pbuf) {
		s.pbuf = pb.Prefills
	}
	key := rp.pred.KeyOf(pb)
	p, err := rp.stagePrediction(key, 0)
	if err != nil || !(p.totalMs >= 0 && p.totalMs*1e6 <= float64(maxSimNs-s.now)) {
		return false, nil // the general path reports it
	}
	end := s.now + p.totalNs
	if end >= next || s.limit >= 0 && end > s.limit || s.watchStops() {
		return false, nil
	}
	// The step: nextBatch, buildBatch and stageSchedule at s.now.
	rp.noteCap(0, seen)
	q.clear()
	g.front = 0
	rp.allocated += takers
	g.inflight = gn > 0
	if admit {
		rp.noteCap(rp.numAllocated, gn)
		rp.waiting.popFront()
		rp.allocate(r, ceilDiv(r.target, bs))
		if !r.scheduled { // buildBatch's
			r.scheduled = true
			if r.restarts == 0 {
				r.scheduledAt = s.now
			}
			clear(r.tokens[len(r.tokens):cap(r.tokens)]) // as buildBatch: its gap store's page faults taken at once
		}
	}
	st := &s.stats[rp.id]
	queued := int32(min(rp.load, math.MaxInt32))
	s.nBatches++
	st.Batches++
	st.MaxQueuedTokens = max(st.MaxQueuedTokens, int64(queued))
	if s.loadAware {
		st.Queued.add(s.now, queued)
	}
	prefill := int64(key.T - key.Bd)
	st.PrefillTokens += prefill
	st.DecodeTokens += int64(key.Bd)
	s.iters.add(s.now, IterValues{int64(key.NumRequests), int64(key.T), prefill, int64(rp.allocated)})
	rp.use(p)
	if !s.opt.SkipBatches {
		s.addBatch(s.stepRecord(rp, end, key, queued, p))
	}
	// Its end (endBatch at end): the group, then the prefill, re-queued.
	st.BusyNs += end - s.now
	s.now = end
	if gn > 0 {
		s.groupStepEnd(rp, end)
	}
	r.processed += n
	rp.load -= int64(n)
	s.advanceSlow(rp, r, end)
	if r.done {
		rp.release(r)
	} else if !r.leaving {
		q.pushBack(r)
	}
	if s.nBatches%s.opt.ProgressEvery == 0 {
		s.progress()
	}
	// The six events (replica schedule, stage arrival, stage schedule,
	// stage end, stage schedule, batch end): one check stands for them.
	if s.events += 6; s.events&^4095 != (s.events-6)&^4095 {
		if err := s.check(); err != nil {
			return false, err
		}
	}
	return s.sinkErr == nil, nil
}
