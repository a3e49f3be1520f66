package engine

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/servesim/servesim/engine/workload"
)

// Schedule replay: servesim's replica scheduler (the one a run of the
// config uses) driven by a real engine's step times instead of its timing
// model, so that its decisions can be compared with the engine's own step
// by step (bench/gpu/fidelity --replay). Timing is taken from reality; what
// is left to differ is policy.
//
// The reference engine's loop (profiles/tools/gpu/refengine/engine.py)
// schedules step k at the start of an iteration, after adding the arrivals
// it has seen, with step k-1 in flight and treated as done, then waits for
// step k-1 and processes its outputs (frees the blocks of the requests that
// finished in it). So, in the step log's times, step k is scheduled at
// start_ns[k]:
//   - with every request that arrived before it in the waiting queue, but
//     for those that arrived in the last instant before it, between the
//     loop reading the clock and start_ns (ArrivalWindowNs: Replayer.Step
//     tries each cut of them, see accept);
//   - with the members of every step before it advanced as planned
//     (planComplete), requests that finished in them no longer running;
//   - with the blocks of a finished request freed if the step it finished
//     in was processed before: end_ns of that step <= start_ns[k] (the
//     engine stamps end_ns when it sees the step complete, just before it
//     processes it, and start_ns at the top of a later iteration).

// ArrivalWindowNs is how long before a step's start an arrival may be and
// still not be seen by it: the engine reads the clock, adds what arrived by
// then, and only then stamps the step's start (the H200 step logs show an
// arrival 16.5 µs before a step that did not see it, ho11-code-threshold128
// step 673, most under 2.5 µs; the window is wider).
const ArrivalWindowNs = 50_000

// ReplayMember is one request's part of a replayed step, in the reference
// engine's terms (refengine/sched.py Scheduled).
type ReplayMember struct {
	Request int  // index in the workload
	Tokens  int  // tokens computed in the step
	Start   int  // position of the first of them (tokens whose KV was already held)
	Prompt  int  // the request's prompt length (step_log classifies by it)
	Samples bool // the step samples a token for it (a decode, or the last chunk of a prompt)
	Last    bool // ... and it is the request's last
}

// ReplayedStep is what the scheduler decided for one step.
type ReplayedStep struct {
	Members   []ReplayMember
	Preempted []int // requests preempted while it was scheduled (recompute), in order
	// KV blocks held after scheduling (finished requests whose step's
	// outputs were not processed yet included), and the pool's size.
	KVBlocks, NumBlocks int
	Waiting, Running    int // queue lengths after scheduling (running: not finished in this step)
	Arrived             int // requests added to the waiting queue so far
	// Unseen is how many of the arrivals in ArrivalWindowNs before the
	// start were left for the next step (the cut accept took).
	Unseen, Window int
	// KVBlocked are the requests waiting after scheduling that the same
	// step with an unbounded pool would have run (they wait for blocks:
	// kept out, behind a request kept out, or preempted), in queue order.
	KVBlocked []int
}

// Replayer drives one replica's scheduler through a real engine's steps.
type Replayer struct {
	s       *sim
	rp      *replica
	order   []int32 // request indices by arrival
	next    int     // order[next] is the next to arrive
	pending []replayFree
	arrived int
	steps   int
}

// replayFree is a step's finished requests, freed once its outputs are
// processed (at end).
type replayFree struct {
	end int64
	ids []int32
}

// NewReplayer is a replayer for cfg's scheduler (one replica, no prefix
// caching, no disaggregation) on wl's requests.
func NewReplayer(cfg Config, wl *workload.Workload) (*Replayer, error) {
	resolved, err := cfg.Resolve()
	if err != nil {
		return nil, &ConfigError{err}
	}
	if cfg.Cluster.NumReplicas != 1 || cfg.Cluster.PrefillReplicas > 0 || cfg.Scheduler.EnablePrefixCaching || cfg.Replica.NumPipelineStages != 1 {
		return nil, errors.New("engine: replay models one replica of one stage, without prefix caching or disaggregation")
	}
	mk, ok := schedulers[cfg.Scheduler.Type]
	if !ok {
		return nil, fmt.Errorf("engine: unknown scheduler %q", cfg.Scheduler.Type)
	}
	if wl == nil || len(wl.Requests) == 0 {
		return nil, errors.New("engine: the workload has no requests")
	}
	s := &sim{cfg: cfg, res: resolved, opt: Options{ProgressEvery: 1 << 30}}
	s.reqs = make([]request, len(wl.Requests))
	p := &Replayer{s: s}
	for i, w := range wl.Requests {
		if w.ClosedLoop || w.Rejected != "" {
			return nil, fmt.Errorf("engine: replay takes open-loop requests that run; request %d is not one", i)
		}
		s.reqs[i] = newRequest(i, w)
		s.reqs[i].replica, s.reqs[i].tokens = 0, make([]uint32, 0, w.Decode)
		p.order = append(p.order, int32(i))
	}
	slices.SortStableFunc(p.order, func(a, b int32) int {
		return cmp.Compare(s.reqs[a].arrival, s.reqs[b].arrival)
	})
	rp := &replica{id: 0, cfg: &s.cfg.Scheduler, res: &s.res, numBlocks: resolved.NumBlocks, lastPred: -1, stages: make([]stage, 1)}
	rp.sched = mk()
	rp.bigGaps = &s.bigGaps
	rp.setReqs(s.reqs)
	s.replicas = []*replica{rp}
	p.rp = rp
	return p, nil
}

// Done reports whether every request has finished.
func (p *Replayer) Done() bool { return p.s.done == len(p.s.reqs) }

// Step schedules the next step, begun at start and processed at end (the
// step log's start_ns and end_ns). The arrivals in ArrivalWindowNs before
// start may or may not have been seen (in arrival order, so a leading cut
// of them was): each cut is tried, from all seen to none, and the first
// whose step accept takes is kept; with none taken (or accept nil), all of
// them are seen. Every step is scheduled on a copy of the state (clone),
// which the replayer then takes.
func (p *Replayer) Step(start, end int64, accept func(ReplayedStep) bool) (ReplayedStep, error) {
	if p.Done() {
		return ReplayedStep{}, fmt.Errorf("engine: replay step %d at %d ns: every request has finished", p.steps, start)
	}
	p.freeProcessed(start)
	for p.next < len(p.order) && p.s.reqs[p.order[p.next]].arrival < start-ArrivalWindowNs {
		p.arrive()
	}
	win := 0
	for p.next+win < len(p.order) && p.s.reqs[p.order[p.next+win]].arrival < start {
		win++
	}
	var ms []member
	var st ReplayedStep
	var q *Replayer
	for unseen := 0; unseen <= win; unseen++ {
		c := p.clone()
		for i := 0; i < win-unseen; i++ {
			c.arrive()
		}
		m, cs := c.schedule()
		cs.Unseen, cs.Window = unseen, win
		if unseen == 0 {
			q, ms, st = c, m, cs // the default: all seen
		}
		if accept == nil || win == 0 {
			break
		}
		if accept(cs) {
			q, ms, st = c, m, cs
			break
		}
	}
	p.s, p.rp, p.next, p.arrived, p.pending = q.s, q.rp, q.next, q.arrived, q.pending
	if len(ms) == 0 {
		return st, fmt.Errorf("engine: replay step %d at %d ns: the scheduler has nothing to run (%d waiting, %d running, %d of %d blocks held)",
			p.steps, start, p.rp.waiting.len(), p.rp.running.len(), p.rp.allocated, p.rp.numBlocks)
	}
	p.advance(ms, end)
	p.steps++
	return st, nil
}

func (p *Replayer) arrive() {
	r := &p.s.reqs[p.order[p.next]]
	p.next++
	p.arrived++
	p.rp.load += r.work()
	p.rp.waiting.pushBack(r)
}

// freeProcessed frees the blocks of the requests that finished in steps
// processed by t (processOutputs).
func (p *Replayer) freeProcessed(t int64) {
	keep := p.pending[:0]
	for _, f := range p.pending {
		if f.end <= t {
			for _, id := range f.ids {
				p.rp.freeBlocks(&p.s.reqs[id])
			}
			continue
		}
		keep = append(keep, f)
	}
	p.pending = keep
}

// schedule builds the step (nextBatch) and describes it, advancing nothing.
func (p *Replayer) schedule() ([]member, ReplayedStep) {
	var probe *Replayer
	if p.rp.waiting.len() > 0 {
		probe = p.clone()
	}
	rp, reqs := p.rp, p.s.reqs
	var restarts []int
	before := make([]int, len(reqs))
	for i := range reqs {
		before[i] = reqs[i].restarts
	}
	// The members' counts are read after nextBatch: it changes only
	// preempted requests' (restart), and a request preempted in a step is
	// not scheduled in it.
	rp.dec = decodeSums{}
	ms := rp.sched.nextBatch(rp, nil)
	for i := range reqs {
		for k := before[i]; k < reqs[i].restarts; k++ {
			restarts = append(restarts, i)
		}
	}
	st := ReplayedStep{Preempted: restarts, KVBlocks: rp.allocated, NumBlocks: rp.numBlocks, Waiting: rp.waiting.len(), Arrived: p.arrived}
	running := rp.running.len()
	for _, m := range ms {
		r := &reqs[m.id]
		rm := ReplayMember{Request: r.id, Tokens: m.n, Prompt: r.prefill}
		if r.prefillDone {
			// servesim counts the sampled token as processed when it is
			// sampled: a decode computes the KV of token processed-1
			rm.Start, rm.Samples = r.processed-1, true
			rm.Last = r.generated+1 == r.decode
		} else {
			rm.Start = r.processed
			rm.Samples = r.processed+m.n == r.target
			rm.Last = rm.Samples && r.generated+1 == r.decode
		}
		if !rm.Last {
			running++
		}
		st.Members = append(st.Members, rm)
	}
	st.Running = running
	if rp.waiting.len() > 0 {
		// The same step with a pool no request fills (nothing waited
		// before it: those waiting now were preempted, for blocks).
		var kept []int32
		if probe != nil {
			probe.rp.numBlocks = math.MaxInt32
			probe.rp.sched.nextBatch(probe.rp, nil)
			kept = probe.rp.waiting.ids()
		}
		for _, id := range rp.waiting.ids() {
			if !slices.Contains(kept, id) {
				st.KVBlocked = append(st.KVBlocked, int(id))
			}
		}
	}
	return ms, st
}

// advance completes the step as planned: its members move on, finished
// ones keep their blocks until the step is processed at end.
func (p *Replayer) advance(ms []member, end int64) {
	rp := p.rp
	b := &batch{members: ms}
	rp.deferFree = true
	p.s.advanceEnd(rp, b, end)
	rp.deferFree = false
	if len(rp.deferred) > 0 {
		f := replayFree{end: end}
		for _, r := range rp.deferred {
			f.ids = append(f.ids, int32(r.id))
		}
		p.pending = append(p.pending, f)
		clear(rp.deferred)
		rp.deferred = rp.deferred[:0]
	}
}

// clone is a copy of the replayer's state that scheduling may change
// without touching p's (nextBatch writes requests' counts and the queues;
// token times are written only by advance, which runs on the kept copy).
func (p *Replayer) clone() *Replayer {
	s := *p.s
	s.reqs = slices.Clone(p.s.reqs)
	rp := *p.rp
	rp.waiting.s = slices.Clone(p.rp.waiting.s[p.rp.waiting.h:])
	rp.waiting.h = 0
	rp.running.s = slices.Clone(p.rp.running.s[p.rp.running.h:])
	rp.running.h = 0
	rp.incoming = queue{}
	rp.prefillBuf, rp.prefillIDs, rp.deferred = nil, nil, nil
	rp.setReqs(s.reqs)
	s.replicas = []*replica{&rp}
	q := *p
	q.s, q.rp = &s, &rp
	q.pending = make([]replayFree, len(p.pending))
	for i, f := range p.pending {
		q.pending[i] = replayFree{end: f.end, ids: slices.Clone(f.ids)}
	}
	return &q
}
