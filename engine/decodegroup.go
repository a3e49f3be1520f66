package engine

import (
	"math"
	"slices"

	"github.com/servesim/servesim/engine/predict"
)

// A saturated Sarathi replica runs mixed batches: a few prefill chunks and
// every running decode, one token each. Step by step, each decode is read
// by the scheduler's pass (does it need a KV block, is one free), then
// advanced at the batch end (its counts, the gap to its previous token,
// re-queued at the running list's back): per decode token, two passes over
// requests far apart in memory. The decodes that were in one step are in
// the next one too, in the same order, unless one finished or the KV cache
// ran short; the only things a step needs from them are their count, their
// contexts' sum and the KV blocks they take (a decode takes one every
// block_size steps, at a step fixed by its context's phase). So they are
// carried as a group: the replica keeps those sums and the end time of
// each step, and a member's own state (counts, blocks, token gaps) is
// brought up to date only when it leaves the group (it finishes, the group
// is dissolved, or the log of step times is restarted), its gaps then
// copied from the replica's step gaps in one sequential write.
//
// Where the group sits: Sarathi's running list is, between steps, the
// requests it left (prefills it had no budget for, pushed back to the
// front, and those past the micro-batch cap), then the decodes of the last
// step in their order, then the step's other members as re-queued. The
// group is that middle part; rp.running holds the rest, the first
// decodeGroup.front of its entries before the group's place. A step's pass
// goes over the front (prefills: if one is a decode, the group is
// dissolved first), takes the group at once, then goes on over the rest as
// before; a decode taken there one by one (a prefill that completed in the
// step before) joins the group at the step's end, at the group's back,
// which is where the running list would have it.
//
// The group is carried only where nothing else reads its members between
// steps (decodeGroupOK): Sarathi, one pipeline stage, Vidur's timing, no
// prefix cache, no disaggregation, no batch members kept, and a decode key
// that does not read the longest context (attention keyed by the mean).
// An SLO watch (a capacity search's trial, Options.StopOnSLOFail) needs
// no more of the members than the group keeps: a step's gap is the same
// for every member (each one's last token was the group's last step end,
// lastT; a decode whose was not does not join a watched group, canJoin),
// so the watch counts it once for the group's size (groupStepEnd,
// groupDecodeRun), and a member's completion as it finishes
// (groupStepEnd); a member's first token came before it joined, and its
// done flag is set as it finishes. The watch's check runs between events, whose counts are then
// those of the run without the group, so it stops at the same event.
// A steady decode run of the group's replica takes the group's steps too
// (groupDecodeRun: the running requests that follow it join it first),
// so that the group lives on across the runs between arrivals; what needs
// every running request's own state (decodeRun, the run's end) dissolves
// it first. Options.StepByStep turns it off; the fast-path tests
// compare the two (TestFastPath_DecodeGroup, and for watched runs
// TestWatched_GroupSameAsStepByStep).

// decodeGroupLog is the most step times a group's log holds: when it is
// full every member is brought up to date and the log starts again (its
// memory then stays bounded however long the group lives).
const decodeGroupLog = 4096

// decodeGroup is a replica's decodes carried from step to step (see the
// comment above).
type decodeGroup struct {
	on    bool    // the replica may carry one (decodeGroupOK)
	ids   []int32 // members in order; entries of requests no longer members (inGrp false) are skipped
	n     int     // members
	front int     // rp.running's entries before the group's place
	// abs counts the group's steps (its replica's steps that took a group),
	// never reset; times[i] and gaps[i] are step base+i's end time and its
	// gap after the step before (gaps[0] is not read); escaped: a gap in
	// the log is gapEscape or more.
	abs, base int64
	times     []int64
	gaps      []uint32
	escaped   bool
	inflight  bool  // a step took the group and has not ended
	lastT     int64 // every member's last token time: the group's last step's end (or, before its first, the first joiner's)
	watched   bool  // the run has an SLO watch: a joiner's last token must be lastT (canJoin)
	ctxSum    int64 // the members' contexts (processed) summed, as of now
	// phase[c] counts the members that take a KV block at the steps s with
	// s%block_size == c.
	phase []int32
	// fin orders the members by the step at whose end they finish, then by
	// their order in the group (seq: joins counted since the group was last
	// empty; a member leaves only by finishing or when the group is
	// dissolved, so each request joins at most once in that time and seq
	// cannot wrap).
	fin     []groupFin
	seq     uint32
	scratch []int32 // dissolve's
}

type groupFin struct {
	step int64
	seq  uint32
	id   int32
}

func (a groupFin) less(b groupFin) bool { return a.step < b.step || a.step == b.step && a.seq < b.seq }

// decodeGroupOK reports whether a replica of s may carry a decode group.
func (s *sim) decodeGroupOK(rp *replica) bool {
	_, ok := rp.sched.(sarathi)
	return ok && !s.opt.StepByStep && !s.opt.KeepMembers && s.timing == nil && len(rp.stages) == 1 && rp.pc == nil && !rp.prefillOnly &&
		s.disagg == nil && s.cfg.Predictor.AttentionDecodeContext != "max" && rp.cfg.BlockSize > 0
}

// joinable reports whether r, a decode just advanced at a step's end, may
// join the group: it holds blocks, its next block falls within block_size
// steps (so that it has one phase), and its gap store has room for every
// token left.
func joinable(r *request, bs int) bool {
	j1 := 1 - (r.processed - r.blocks*bs)
	return !r.done && r.prefillDone && !r.leaving && r.blocks > 0 && r.firstToken >= 0 && j1 >= 0 && j1 < bs &&
		len(r.tokens)+(r.decode-r.generated) <= cap(r.tokens)
}

// canJoin is joinable, and for a watched run also that r's last token
// is every member's (lastT), so that the group's next gap is r's too (a
// decode advanced at the step's end that the group took, or the first
// joiner: always, as the group is carried; checked, not assumed).
func (g *decodeGroup) canJoin(r *request, bs int) bool {
	return joinable(r, bs) && (!g.watched || g.n == 0 || r.lastToken == g.lastT)
}

// join adds r (its state as of the group's next step) at the group's back.
func (g *decodeGroup) join(r *request, bs int) {
	if g.n == 0 {
		g.times, g.gaps, g.escaped, g.base = g.times[:0], g.gaps[:0], false, g.abs
		g.lastT = r.lastToken
		if g.phase == nil {
			g.phase = make([]int32, bs)
		}
	}
	r.inGrp, r.grpAt = true, g.abs
	g.ids = append(g.ids, int32(r.id))
	g.n++
	g.ctxSum += int64(r.processed)
	j1 := 1 - (r.processed - r.blocks*bs) // the first step (from g.abs) at which it takes a block
	g.phase[(g.abs+int64(j1))%int64(bs)]++
	g.seq++
	g.pushFin(groupFin{g.abs + int64(r.decode-r.generated-1), g.seq, int32(r.id)})
}

func (g *decodeGroup) pushFin(f groupFin) {
	g.fin = append(g.fin, f)
	h := g.fin
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (g *decodeGroup) popFin() groupFin {
	h := g.fin
	f := h[0]
	n := len(h) - 1
	h[0] = h[n]
	g.fin = g.fin[:n] // a self-reslice: no pointer stored (no GC write barrier)
	h = h[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h[l].less(h[m]) {
			m = l
		}
		if r < n && h[r].less(h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return f
}

// settle brings member r's state up to the group's steps so far (those
// since it joined or was last settled): its counts, gaps and last token
// time, and the KV blocks it took in them (and in the pass of a step in
// flight).
func (g *decodeGroup) settle(r *request, bs int, bigGaps *map[uint64]int64) {
	k := int(g.abs - r.grpAt)
	passes := k
	if g.inflight {
		passes++
	}
	if j1 := 1 - (r.processed - r.blocks*bs); passes > j1 {
		r.blocks += (passes-1-j1)/bs + 1
	}
	if k == 0 {
		return
	}
	r.processed += k
	r.generated += k
	i0 := int(r.grpAt - g.base)
	n := len(r.tokens)
	if first := g.times[i0] - r.lastToken; !g.escaped && first < gapEscape && n+k <= cap(r.tokens) {
		r.tokens = r.tokens[:n+k] // a self-reslice: no pointer written (no GC write barrier)
		r.tokens[n] = uint32(first)
		copy(r.tokens[n+1:], g.gaps[i0+1:i0+k])
	} else {
		last := r.lastToken
		for _, t := range g.times[i0 : i0+k] {
			r.tokens = appendGap(r.tokens, r.id, t-last, t, bigGaps)
			last = t
		}
	}
	r.lastToken = g.times[i0+k-1]
	r.grpAt = g.abs
}

// take is the group's share of a step's pass (Sarathi's nextBatch), when it
// can be taken at once: every member's turn finds a free block (the
// blocks they take are fewer than those free) and all fit under the
// micro-batch cap. It reports false, changing nothing, when not.
func (g *decodeGroup) take(rp *replica, maxMB int) bool {
	bs := rp.cfg.BlockSize
	takers := int(g.phase[g.abs%int64(bs)])
	if g.n > maxMB || rp.numBlocks-rp.allocated-takers < 1 {
		return false
	}
	rp.allocated += takers
	g.inflight = true
	return true
}

// groupStepEnd is the group's share of a step's end at t (advanceMembers,
// advanceWatched): each member one token on, those whose last token it is
// settled and finished in the group's order (as advanceSlow and
// defaultOnBatchEnd do); an SLO watch counts every member's gap (the
// same: t - lastT) and each finish.
func (s *sim) groupStepEnd(rp *replica, t int64) {
	g := &rp.grp
	w := s.watch
	if w != nil {
		w.gapN(t-g.lastT, g.n)
	}
	g.logStep(t)
	g.inflight = false
	rp.load -= int64(g.n)
	g.ctxSum += int64(g.n)
	if len(g.fin) > 0 && g.fin[0].step == g.abs-1 {
		s.groupFinish(rp, t)
	} else {
		rp.restartLog() // groupFinish's tail when no member finishes (the group's size unchanged)
	}
}

// groupFinish settles and finishes, in the group's order, the members
// whose last token the group's step that ended at t gave (as advanceSlow
// and defaultOnBatchEnd do), then restarts the log if it is full.
func (s *sim) groupFinish(rp *replica, t int64) {
	g, w := &rp.grp, s.watch
	bs := rp.cfg.BlockSize
	for len(g.fin) > 0 && g.fin[0].step == g.abs-1 {
		f := g.popFin()
		r := &rp.reqs[f.id]
		j1 := 1 - (r.processed - r.blocks*bs) // its phase, from its state before settling
		g.phase[(r.grpAt+int64(j1))%int64(bs)]--
		g.settle(r, bs, &s.bigGaps)
		r.inGrp = false
		g.n--
		g.ctxSum -= int64(r.processed)
		r.done = true
		r.completedAt = t
		if w != nil {
			w.completed(r, t)
		}
		s.done++
		s.release(r, t)
		if r.id == s.emitted {
			s.emit(false)
		}
		rp.release(r)
	}
	if g.n == 0 {
		g.ids, g.seq = g.ids[:0], 0
		g.times, g.gaps, g.escaped, g.base = g.times[:0], g.gaps[:0], false, g.abs
	} else {
		rp.restartLog()
	}
	if live := g.n; len(g.ids) > 2*live+64 { // drop the finished members' entries
		k := 0
		for _, id := range g.ids {
			if rp.reqs[id].inGrp {
				g.ids[k] = id
				k++
			}
		}
		g.ids = g.ids[:k]
	}
}

// dissolve settles every member and puts the group back in the running
// list at its place (unless a step that took it is in flight: its
// members are in that batch, out of the list, as they would be).
func (rp *replica) dissolve() {
	g := &rp.grp
	if g.n == 0 {
		return
	}
	bs := rp.cfg.BlockSize
	q := &rp.running
	back := g.scratch[:0]
	if !g.inflight {
		back = append(back, q.s[q.h+g.front:]...)
		q.s = q.s[:q.h+g.front]
	}
	g.scratch = back
	for _, id := range g.ids {
		r := &rp.reqs[id]
		if !r.inGrp {
			continue
		}
		g.settle(r, bs, rp.bigGaps)
		r.inGrp = false
		if !g.inflight {
			q.s = append(q.s, id)
		}
	}
	if !g.inflight {
		q.s = append(q.s, back...)
	}
	g.ids, g.fin, g.seq = g.ids[:0], g.fin[:0], 0
	g.n, g.ctxSum, g.front, g.inflight = 0, 0, 0, false
	clear(g.phase)
	g.times, g.gaps, g.escaped, g.base = g.times[:0], g.gaps[:0], false, g.abs
}

// logStep appends a step that ended at t to the group's log.
func (g *decodeGroup) logStep(t int64) {
	if n := len(g.times); n > 0 {
		gap := t - g.times[n-1]
		if gap >= gapEscape {
			g.escaped = true
		}
		g.gaps = append(g.gaps, uint32(min(gap, gapEscape)))
	} else {
		g.gaps = append(g.gaps, 0)
	}
	g.times = append(g.times, t)
	g.lastT = t
	g.abs++
}

// logRun appends k steps, the first ending at end and each d later (d
// under gapEscape).
func (g *decodeGroup) logRun(end, d int64, k int) {
	g.logStep(end)
	n := len(g.times)
	if cap(g.times)-n < k-1 || cap(g.gaps)-n < k-1 { // the log grows (bounded: decodeGroupLog)
		g.times, g.gaps = slices.Grow(g.times, k-1), slices.Grow(g.gaps, k-1)
	}
	// Self-reslices store no pointer: assigning slices.Grow's result went
	// through the GC write barrier while a collection ran (3% of the lean
	// engine benchmark's rows under GOOS=js, single-threaded).
	g.times = g.times[:n+k-1]
	g.gaps = g.gaps[:n+k-1]
	t, gp := g.times[n:], g.gaps[n:]
	for j := range t {
		t[j] = end + int64(j+1)*d
		gp[j] = uint32(d)
	}
	g.abs += int64(k - 1)
	g.lastT = end + int64(k-1)*d
}

// restartLog settles every member when the log is full, and starts it
// again. Small enough to inline (a call per group step is dear under
// GOOS=js); the restart itself is restartFull's.
func (rp *replica) restartLog() {
	if len(rp.grp.times) >= decodeGroupLog {
		rp.restartFull()
	}
}

func (rp *replica) restartFull() {
	g := &rp.grp
	for _, id := range g.ids {
		if r := &rp.reqs[id]; r.inGrp {
			g.settle(r, rp.cfg.BlockSize, rp.bigGaps)
		}
	}
	g.times, g.gaps, g.escaped, g.base = g.times[:0], g.gaps[:0], false, g.abs
}

// absorb makes every running request a member, for a decode run of the
// group alone (groupDecodeRun): it may when the running list has nothing
// ahead of the group's place and what follows it (the decodes that
// completed their prefill in the last step, re-queued) may join, in
// order. An empty group (the replica's first decodes, or the last
// members finished) takes the running list whole, in its order, when
// each may join and all had their last token at once, as the decodes
// that form a group at a step's end have (advanceMembers): so light
// loads, where the group is often empty, take the group's decode runs
// too (whose chunks run through the members' KV block takes, where
// decodeRun's end before each). It reports whether it did; false changes
// nothing.
func (rp *replica) absorb() bool {
	g := &rp.grp
	if !g.on || g.n > 0 && g.front != 0 {
		return false
	}
	bs := rp.cfg.BlockSize
	ids := rp.running.ids()
	for _, id := range ids {
		r := &rp.reqs[id]
		if !g.canJoin(r, bs) || g.n == 0 && r.lastToken != rp.reqs[ids[0]].lastToken {
			return false
		}
	}
	for _, id := range ids {
		g.join(&rp.reqs[id], bs)
	}
	g.front = 0
	rp.running.clear()
	return true
}

// groupDecodeRun is decodeRun for a replica whose running requests are all
// in its decode group (absorb): the same iterations, stopping at the same
// points, with the same state changes, counts, records and checks, each
// costing the group's sums instead of a pass over its members (their
// gaps are the log's, written when they are settled). It takes the step
// at whose end members finish too (groupFinish, as groupStepEnd would),
// when no closed-loop request waits on them (its arrival would be an
// event) and no SLO watch would stop the run before it (finishesAlone),
// and then ends: again reports that the group's members may run on (the
// replica is still in a steady decode), as the general path would find
// at that step's end.
func (s *sim) groupDecodeRun(rp *replica) (again bool, err error) {
	next := int64(math.MaxInt64) // the next event due: an arrival or the heap's first
	if s.nextArr < len(s.arrivals) {
		next = s.reqs[s.arrivals[s.nextArr]].arrival
	}
	if len(s.heap) > 0 {
		next = min(next, s.heap[0].at)
	}
	g := &rp.grp
	m := g.n
	rp.noteCap(0, m-1) // what each step's nextBatch would compare: len(ms) from 0 to m-1, nothing waiting
	bs := int64(rp.cfg.BlockSize)
	st := &s.stats[rp.id]
	steps := int(g.fin[0].step - g.abs) // the steps before the first in which a member finishes
	var key predict.Key
	var p *prediction
	same := 0 // further steps that keep key (and p: no other prediction is made meanwhile)
	inRange := false
	var acc decodeAcc // this run's iterations of one IterStats bucket, merged at once
	defer acc.flush(&s.iters, m)
	untilProgress := s.opt.ProgressEvery - s.nBatches%s.opt.ProgressEvery // batches until the next s.progress
	chunk := s.opt.SkipBatches && !s.loadAware
	for ; steps >= 0; steps-- {
		fin := steps == 0 // members finish at this step's end
		if fin && !s.finishesAlone(rp) {
			return false, nil
		}
		blocks := int(g.phase[g.abs%bs])          // members that take a new KV block this step
		if rp.numBlocks-rp.allocated < blocks+1 { // Sarathi wants a free block at every member's turn
			return false, nil
		}
		if p != nil && same > 0 {
			same--
		} else {
			key, same = rp.pred.DecodeKeyRun(predict.Batch{NumRequests: m, Tokens: m, NumDecodes: m, DecodeContextSum: g.ctxSum, LogitSeqs: m})
			var err error
			if p, err = rp.stagePrediction(key, 0); err != nil {
				return false, nil // the general path reports it
			}
			inRange = s.now <= next && next <= maxSimNs && p.totalMs >= 0 && p.totalMs*1e6 <= float64(maxSimNs-next)
		}
		if !inRange && !(p.totalMs >= 0 && p.totalMs*1e6 <= float64(maxSimNs-s.now)) {
			return false, nil // the general path reports it
		}
		end := s.now + p.totalNs
		if end >= next || s.limit >= 0 && end > s.limit {
			return false, nil
		}
		if k, last, sum := s.groupChunk(fin, chunk, rp, p, inRange, blocks, steps, same, untilProgress, next, &acc); k > 1 {
			// k steps at once, as decodeRun takes them (chunkSteps), with
			// the blocks their members take: in use at the first step a,
			// at the last step last (they only grow), summed over the
			// steps sum.
			d, kk := p.totalNs, int64(k)
			s.nBatches += k
			st.Batches += k
			st.BusyNs += kk * d
			st.MaxQueuedTokens = max(st.MaxQueuedTokens, int64(min(rp.load, math.MaxInt32))) // the load only falls
			st.DecodeTokens += kk * int64(m)
			a := int64(rp.allocated + blocks)
			if acc.c == 0 {
				acc.k, acc.lo, acc.hi, acc.sum = int(s.now>>s.iters.shift), a, a, 0
			}
			acc.c += int32(k)
			acc.lo, acc.hi, acc.sum = min(acc.lo, a), max(acc.hi, last), acc.sum+sum
			rp.allocated = int(last)
			p.n += kk // rp.use, k times (p is memoized: groupChunk)
			// An SLO watch counts every member's gaps: the first step's, then k-1 of d.
			if w := s.watch; w != nil {
				w.gapN(end-g.lastT, m)
				w.gapN(d, (k-1)*m)
			}
			g.logRun(end, d, k)
			s.now += kk * d
			rp.load -= kk * int64(m)
			g.ctxSum += kk * int64(m)
			rp.restartLog()
			if untilProgress -= k; untilProgress == 0 { // at the last step only (groupChunk)
				untilProgress = s.opt.ProgressEvery
				s.progress()
			}
			if s.events += 6 * k; s.events&^4095 != (s.events-6)&^4095 { // at the last step only (groupChunk)
				if err := s.ctx.Err(); err != nil {
					return false, err
				}
				if err := s.checkBudget(s.cost()); err != nil {
					return false, err
				}
			}
			same -= k - 1
			steps -= k - 1
			continue
		}
		rp.allocated += blocks
		s.noteDecodeStep(rp, st, &acc, m, p, key, end)
		s.now = end
		st.BusyNs += end
		if s.watch != nil {
			s.watch.gapN(end-g.lastT, m) // every member's gap
		}
		g.logStep(end)
		rp.load -= int64(m)
		g.ctxSum += int64(m)
		if fin {
			s.groupFinish(rp, end)
		} else {
			rp.restartLog()
		}
		if untilProgress--; untilProgress == 0 {
			untilProgress = s.opt.ProgressEvery
			s.progress()
		}
		if s.events += 6; s.events&^4095 != (s.events-6)&^4095 {
			if err := s.ctx.Err(); err != nil {
				return false, err
			}
			if err := s.checkBudget(s.cost()); err != nil {
				return false, err
			}
		}
		if fin {
			return g.n > 0 && s.sinkErr == nil, nil
		}
	}
	return false, nil
}

// finishesAlone reports whether groupDecodeRun may take the step at whose
// end members of rp's group finish: no closed-loop request waits on a
// member finishing then, and no SLO watch would stop the run before it
// (watchStops).
func (s *sim) finishesAlone(rp *replica) bool {
	return s.noChildren(&rp.grp, 0) && !s.watchStops()
}

// watchStops reports whether the SLO watch, if any, stops the run at
// s.now. It is asked before a step that the group's fast paths
// (groupPrefillStep, groupDecodeRun's finishing step) take at s.now and
// that the run without the group builds on its general path, after which
// the event loop runs the watch's check at the same s.now: the check there
// reads counts that building a step does not change, so a fast path that
// leaves the step to the general path when it would stop makes the run
// stop at the same event as without the group, and one that takes it
// when it would not changes nothing the check sees (a check repeated at
// the same time counts nothing new).
func (s *sim) watchStops() bool {
	return s.watch != nil && s.watch.check(s) != nil
}

// noChildren reports whether no closed-loop request waits on a member that
// finishes at step g.abs among fin heap entry i and those under it (the
// entries at that step are the root's and, while they are at it, their
// children's).
func (s *sim) noChildren(g *decodeGroup, i int) bool {
	return i >= len(g.fin) || g.fin[i].step != g.abs || s.reqs[g.fin[i].id].firstChild < 0 && s.noChildren(g, 2*i+1) && s.noChildren(g, 2*i+2)
}

// groupChunk is chunkSteps for groupDecodeRun, with the blocks the members
// take in the chunk's steps (the group's phases): every step's pass still
// finds a free block at each member's turn (as groupDecodeRun checks step
// by step), and the blocks in use only grow, so the plot bucket's merge
// needs their value at the chunk's last step (last) and their sum over its
// steps (sum), each step's after its own takes.
func (s *sim) groupChunk(fin, chunk bool, rp *replica, p *prediction, inRange bool, blocks, steps, same, untilProgress int, next int64, acc *decodeAcc) (k int, last, sum int64) {
	d := p.totalNs
	if fin || !chunk || p == &rp.scratch || d <= 0 || d >= gapEscape {
		return 1, 0, 0
	}
	it := &s.iters
	b := s.now >> it.shift
	if len(it.First) < IterBuckets || it.Width <= 0 || b >= IterBuckets || acc.c != 0 && int(b) != acc.k {
		return 1, 0, 0
	}
	k = min(steps, same+1, untilProgress)
	k = min(k, int(((b+1)<<it.shift-1-s.now)/d)+1) // step j starts at s.now + j*d, in bucket b
	if next < math.MaxInt64 {
		k = min(k, int((next-1-s.now)/d)) // step j ends at s.now + (j+1)*d < next
	}
	if s.limit >= 0 {
		k = min(k, int((s.limit-s.now)/d)) // and not past the time limit
	}
	k = min(k, int((s.events&^4095+4096-s.events+5)/6)) // the step whose six events cross a multiple of 4096, at the latest
	g := &rp.grp
	k = min(k, decodeGroupLog-len(g.times)) // the log is restarted after the chunk
	// Step j's takes are phase[(abs+j)%bs], its pass wanting one block
	// more free (step 0's was checked); the phase is stepped, not divided
	// for (a 64-bit division is a runtime call under GOOS=js).
	ph := g.phase
	c := int(g.abs % int64(len(ph)))
	free := rp.numBlocks - rp.allocated - blocks
	a := int64(rp.allocated + blocks)
	sum = a
	for j := 1; j < k; j++ {
		if c++; c == len(ph) {
			c = 0
		}
		t := int(ph[c])
		if free < t+1 {
			k = j
			break
		}
		free -= t
		a += int64(t)
		sum += a
	}
	if !inRange && k > 1 && !(p.totalMs >= 0 && p.totalMs*1e6 <= float64(maxSimNs-(s.now+int64(k-1)*d))) {
		return 1, 0, 0 // groupDecodeRun's range check would fail at a later step (the bound falls as time goes on)
	}
	return k, a, sum
}
