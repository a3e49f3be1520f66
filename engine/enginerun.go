package engine

import (
	"math"

	"github.com/servesim/servesim/engine/predict"
)

// engineDecodeRun runs, without the event queue, host-loop iterations of
// an async engine-timing replica in steady decode that the queue would run
// one after the other, from the one at hand (at s.now, proc the step the
// host waited for) on. It is tried at the start of an iteration whose
// launched step (rp.launched) holds every request the replica has, each
// decoding one token (engineSteady). Each iteration is done as hostLoop
// does it (process proc's outputs, advance the launched step as planned,
// build the next step from the same members, predict it, launch it), with
// the same state changes, counts, records and progress reports, as long as
// no member finishes in the step it advances, the KV blocks the next step
// takes are free (with one to spare at each member's turn for Sarathi and
// vLLM v0, which admit a decode only then), and, from the second on, no
// other event is due at or before it (engineAlone). It then queues the next
// iteration as hostLoop does. ran is false when it ran none (hostLoop then
// runs this one). Options.StepByStep turns it off; tests compare the two.
func (s *sim) engineDecodeRun(rp *replica, proc *batch) (ran bool, err error) {
	prev := rp.launched
	_, v1 := rp.sched.(vllmV1)
	spare := 1
	if v1 {
		spare = 0
	}
	reqs, bs, m := rp.reqs, rp.cfg.BlockSize, len(prev.members)
	// Members that take a KV block in the next step, and the fewest output
	// tokens any member has left after the launched step.
	need, left := 0, math.MaxInt
	for _, mb := range prev.members {
		r := &reqs[mb.id]
		if r.processed+1-r.blocks*bs == 1 {
			need++
		}
		left = min(left, r.decode-r.generated-1)
	}
	if left < 1 || rp.numBlocks-rp.allocated < need+spare {
		return false, nil
	}
	rp.noteCap(0, m-1) // what each step's nextBatch would compare: len(ms) from 0 to m-1, nothing waiting
	st := &s.stats[rp.id]
	var hostNs int64 = -1 // the steps' host time: a function of the batch size alone here (Predictor.Host)
	var next int64
	for {
		// Process the outputs of proc (nothing to free: no member finished).
		if proc != nil {
			if s.nBatches%s.opt.ProgressEvery == 0 {
				s.progress()
			}
			s.free = append(s.free, proc.slot)
		}
		// Advance the launched step as planned (planComplete), and build
		// the next from the same members (nextBatch's blocks, buildBatch's
		// sums), in one pass.
		prev.planned = true
		t := prev.rec.EndAt
		b := s.newBatch()
		b.members = append(b.members[:0], prev.members...)
		var sum int64
		mx, took := 0, 0
		need, left = 0, math.MaxInt
		for _, mb := range prev.members {
			r := &reqs[mb.id]
			r.processed++
			r.generated++
			if gap := t - r.lastToken; gap < gapEscape && len(r.tokens) < cap(r.tokens) {
				r.tokens = r.tokens[:len(r.tokens)+1]
				r.tokens[len(r.tokens)-1] = uint32(gap)
			} else {
				r.tokens = appendGap(r.tokens, r.id, gap, t, &s.bigGaps)
			}
			r.lastToken = t
			if r.processed-r.blocks*bs == 1 {
				r.blocks++
				took++
			}
			sum += int64(r.processed)
			mx = max(mx, r.processed)
			if r.processed+1-r.blocks*bs == 1 {
				need++
			}
			left = min(left, r.decode-r.generated-1)
		}
		rp.load -= int64(m)
		rp.allocated += took
		if v1 {
			rp.step++ // nextBatch's step count (its marks are only compared within a step)
		}
		b.id, b.replica, b.scheduledAt, b.planned = s.nBatches, rp.id, s.now, false
		s.nBatches++
		b.key = rp.pred.KeyOf(predict.Batch{NumRequests: m, Tokens: m, NumDecodes: m, DecodeContextSum: sum, DecodeContextMax: mx, LogitSeqs: m})
		queued := int32(min(rp.load, math.MaxInt32))
		b.rec = BatchRecord{Replica: int32(rp.id), ScheduledAt: s.now, KVBlocksInUse: int32(rp.allocated), Key: b.key, QueuedTokens: queued}
		st.Batches++
		st.BusyNs -= s.now
		st.MaxQueuedTokens = max(st.MaxQueuedTokens, int64(queued))
		if s.loadAware {
			st.Queued.add(s.now, queued)
		}
		st.DecodeTokens += int64(m)
		s.iters.add(s.now, IterValues{int64(m), int64(m), 0, int64(rp.allocated)})
		// Predict and launch it (hostLoop).
		p, err := s.enginePrediction(rp, b.key)
		if err != nil {
			return true, s.stepError(rp, b, err)
		}
		rp.use(p)
		if hostNs < 0 {
			ms, err := rp.pred.Host(b.key)
			if err != nil {
				return true, s.stepError(rp, b, err)
			}
			hostNs = predict.Nanos(ms)
		}
		rec := &b.rec
		rec.ModelNs, rec.HostNs, rec.Padded, rec.Mode = p.modelNs, hostNs, p.padded, p.mode
		// its start on the GPU (after the launched step), and the host loop's next iteration
		lms, sms := s.launchMs(rp, p.mode, m, int32(m))
		next = s.place(rec, s.now+rec.HostNs, prev.rec.EndAt, lms, sms)
		if d := next - t; d > 0 { // the host sees prev complete when b's launch ends (hostLoop's stamped)
			for _, mb := range prev.members {
				r := &reqs[mb.id]
				r.lastToken = next
				s.shiftLastGap(r, next, d)
			}
		}
		if !s.opt.SkipBatches {
			s.addBatch(*rec)
			if s.opt.KeepMembers {
				s.memberOff = append(s.memberOff, int32(len(s.memberReq)))
				for _, mb := range b.members {
					s.memberReq, s.memberTok = append(s.memberReq, mb.id), append(s.memberTok, 1)
				}
			}
		}
		st.BusyNs += rec.EndAt
		rp.launched = b
		proc, prev = prev, b
		// The next iteration, if it would be the queue's next event and is
		// steady too; the tick is the one the loop gives this iteration.
		if !s.engineAlone(next) || left < 1 || rp.numBlocks-rp.allocated < need+spare {
			break
		}
		if err := s.tick(); err != nil {
			return true, err
		}
		s.now = next
	}
	s.push(event{at: next, kind: evHostLoop, replica: int32(rp.id), b: slotOf(proc)})
	return true, nil
}

// engineSteady reports whether the replica's next host-loop iterations
// would each advance and rebuild the launched step b unchanged but for its
// members' contexts (engineDecodeRun), as far as the replica's own state
// says: b's members are every request the replica holds, each decoding one
// token, in the order its scheduler would take them again; proc, the step
// whose outputs the next iteration processes, was advanced.
func (rp *replica) engineSteady(b, proc *batch) bool {
	if b == nil || proc != nil && !proc.planned {
		return false
	}
	m := len(b.members)
	switch v := rp.sched.(type) {
	case sarathi, vllm:
	case vllmV1: // and its token budget takes every decode
		if m > v.budget(rp) {
			return false
		}
	default:
		return false
	}
	if rp.pc != nil || rp.prefillOnly || rp.waiting.len() != 0 || rp.running.len() != 0 || rp.incoming.len() != 0 || m == 0 || m > rp.res.MaxMicroBatchSize {
		return false
	}
	_, v0 := rp.sched.(vllm)
	_, v1 := rp.sched.(vllmV1)
	for i, mb := range b.members {
		r := &rp.reqs[mb.id]
		if mb.n != 1 || !r.prefillDone || !r.scheduled || r.done || r.leaving || r.blocks == 0 || r.firstToken < 0 {
			return false
		}
		if i > 0 { // vLLM v0 sorts its running requests by arrival, V1 by admission
			q := &rp.reqs[b.members[i-1].id]
			if v0 && !q.before(r) || v1 && q.admitted >= r.admitted {
				return false
			}
		}
	}
	return true
}

// engineAlone reports whether an event due at t would be the next out of
// the queue: nothing queued for now, nothing in the heap or arriving at or
// before t, no global schedule pending, and t within the time limit (the
// loop stops after the first event past it).
func (s *sim) engineAlone(t int64) bool {
	if s.fifoHead < len(s.fifo) || len(s.global) > 0 || len(s.heap) > 0 && s.heap[0].at <= t || s.limit >= 0 && t > s.limit {
		return false
	}
	return s.nextArr >= len(s.arrivals) || s.reqs[s.arrivals[s.nextArr]].arrival > t
}
