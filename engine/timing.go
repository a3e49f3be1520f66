package engine

import (
	"fmt"

	"github.com/servesim/servesim/engine/predict"
)

// The engine timing model (predictor.timing_model = engine) replays a
// serving engine's host loop instead of Vidur's batch-end scheduling. Per
// loop iteration, at host time h, with step n launched and still running:
//
//  1. schedule step n+1, treating step n as completed as planned (its
//     members advance; requests that finish in it keep their KV blocks
//     until its outputs are processed), prepare and launch it:
//     launch_{n+1} = h + host_{n+1}; the GPU runs it after step n:
//     end_{n+1} = max(end_n, launch_{n+1}) + gpu_{n+1} + sync_ms;
//  2. wait for step n (h' = max(launch_{n+1}, end_n)), process its outputs
//     (free its finished requests' blocks); loop at h'. Step n's tokens are
//     stamped at h', when the host sees it complete: after end_n when the
//     launch of step n+1 (an eager one above all) ends later. With no step
//     n+1 to launch, at end_n.
//
// So h_{n+1} = max(end_{n-1}, launch_n): this is REFENGINE.md's
// launch_{n+1} = end_{n-1} + host_{n+1} whenever the GPU is the bottleneck,
// and when the host is (host_n > the GPU time it hides behind) the host
// cannot start step n+1 before it has launched step n. With nothing in
// flight a step costs host + gpu (+ sync_ms); the first step launched on
// waking after more than idle_host.after_ms without work takes engine.json's
// idle_host time instead of the busy-step table's. An arrival is seen by the next
// iteration that starts at or after it (an arrival during step n, with n+1
// in flight, is first scheduled at end_n, in step n+2). With overlap "sync"
// the host waits for each step it launched: end_{n+1} = end_n + host_{n+1} +
// gpu_{n+1}, Vidur's composition with the engine's padding and host table.
// An eager step (engine.json eager_launch) is launched kernel by kernel over
// L ms from launch_{n+1}, the GPU running them as they come: it ends at
// max(start + gpu_{n+1}, launch_{n+1} + L) (+ sync_ms), its GPU time as CUDA
// events around it count it being that span, and the host loop goes on at
// max(launch_{n+1} + L, end_n), which is also step n's stamp.
type engineTiming struct {
	spec   *predict.EngineSpec
	async  bool
	syncNs int64 // added per step in async mode
}

// Step modes as recorded in BatchRecord.Mode.
const (
	modeNone uint8 = iota // vidur timing
	modeGraph
	modeGraphMixed
	modeEager
)

// ModeName is the step mode's name ("graph", "graph_mixed", "eager"), or ""
// under vidur timing.
func (b BatchRecord) ModeName() string {
	switch b.Mode {
	case modeGraph:
		return predict.ModeGraph
	case modeGraphMixed:
		return predict.ModeGraphMixed
	case modeEager:
		return predict.ModeEager
	}
	return ""
}

// resolveTiming picks the timing model: engine when asked for, or when
// "auto" and the profile set has engine.json.
func resolveTiming(cfg Config, set *predict.Set) (*engineTiming, error) {
	tm := cfg.Predictor.TimingModel
	if tm == TimingVidur || (tm == "" || tm == TimingAuto) && set.Engine == nil {
		return nil, nil
	}
	if set.Engine == nil {
		return nil, &ConfigError{fmt.Errorf("predictor.timing_model: engine timing needs a profile set with engine.json; %s has none", set.Origin)}
	}
	if pp := cfg.Replica.NumPipelineStages; pp != 1 {
		return nil, &ConfigError{fmt.Errorf("predictor.timing_model: engine timing (%s has engine.json) models one pipeline stage, got num_pipeline_stages %d; set timing_model vidur", set.Origin, pp)}
	}
	if !cfg.Predictor.SkipCPUOverheadModeling {
		return nil, &ConfigError{fmt.Errorf("predictor.skip_cpu_overhead_modeling: engine timing (%s has engine.json) takes host time from host_overheads.csv and cannot add cpu_overheads.csv; set it to true, or timing_model vidur", set.Origin)}
	}
	t := &engineTiming{spec: set.Engine, async: set.Engine.Overlap == predict.OverlapAsync}
	if t.async {
		t.syncNs = predict.Nanos(set.Engine.SyncMs)
	}
	return t, nil
}

// wake starts the replica's host loop if it is idle.
func (s *sim) wake(rp *replica) error {
	if rp.hostBusy {
		return nil
	}
	rp.hostBusy = true
	rp.wokeAt = s.now
	return s.hostLoop(rp, nil)
}

// hostMs is the host time of step b: the idle-start time (engine.json's
// idle_host) when the host loop launches it on waking after more than
// idle_host.after_ms without work, else host_overheads.csv's.
func (s *sim) hostMs(rp *replica, b *batch, prev *batch) (float64, error) {
	if ih := s.timing.spec.IdleHost; ih != nil && prev == nil && rp.wokeAt == s.now && s.now-rp.idleSince > predict.Nanos(ih.AfterMs) {
		return ih.Ms(int(b.key.NumPrefills), int(b.key.T-b.key.Bd)), nil
	}
	return rp.pred.Host(b.key)
}

// hostLoop is one iteration of the engine's host loop at s.now; proc is the
// step whose completion the host was waiting for (nil if none).
func (s *sim) hostLoop(rp *replica, proc *batch) error {
	if s.engineRuns && len(s.global) == 0 && len(rp.deferred) == 0 && rp.engineSteady(rp.launched, proc) {
		if ran, err := s.engineDecodeRun(rp, proc); ran || err != nil {
			return err
		}
	}
	if proc != nil {
		if !proc.planned {
			s.planComplete(rp, proc)
		}
		s.processOutputs(rp)
		s.free = append(s.free, proc.slot)
	}
	if len(s.global) > 0 { // arrivals at this instant whose global schedule has not run yet
		s.globalSchedule()
	}
	prev := rp.launched
	rp.launched = nil
	if prev != nil { // its stamp waits on the launch of the step built next
		s.holding = true
		s.planComplete(rp, prev)
		s.holding = false
	}
	b := s.buildBatch(rp)
	if b == nil {
		if prev != nil {
			s.stamped(prev, prev.rec.EndAt)
			s.push(event{at: prev.rec.EndAt, kind: evHostLoop, replica: int32(rp.id), b: slotOf(prev)})
		} else {
			rp.hostBusy = false
			rp.idleSince = s.now
		}
		return nil
	}
	rec := &b.rec
	m, err := s.enginePrediction(rp, b.key)
	if err != nil {
		return s.stepError(rp, b, err)
	}
	rp.use(m)
	hostMs, err := s.hostMs(rp, b, prev)
	if err != nil {
		return s.stepError(rp, b, err)
	}
	rec.ModelNs, rec.HostNs, rec.Padded, rec.Mode = m.modelNs, predict.Nanos(hostMs), m.padded, m.mode
	if ih := s.timing.spec.IdleHost; ih != nil && ih.GPUExtraMs > 0 && prev == nil && rp.wokeAt == s.now {
		// the GPU has had nothing to run since the host loop went idle
		rec.ModelNs += predict.Nanos(ih.GPUExtra(float64(s.now+rec.HostNs-rp.idleSince) / 1e6))
	}
	prevEnd := int64(-1)
	if prev != nil {
		prevEnd = prev.rec.EndAt
	}
	lms, sms := s.launchMs(rp, m.mode, int(b.key.Bd), b.key.T)
	next := s.place(rec, s.now+rec.HostNs, prevEnd, lms, sms)
	if prev != nil {
		s.stamped(prev, next)
	}
	s.commit(b)
	s.stats[rp.id].BusyNs += rec.EndAt
	if !s.timing.async {
		s.push(event{at: rec.EndAt, kind: evHostLoop, replica: int32(rp.id), b: slotOf(b)})
		return nil
	}
	rp.launched = b
	s.push(event{at: next, kind: evHostLoop, replica: int32(rp.id), b: slotOf(prev)})
	return nil
}

// place puts a step launched at launch on the GPU after the step before it,
// which ends at prevEnd (-1: none in flight), with launchMs its launch time
// and startMs how far into the launch its GPU work can begin (engine.json
// eager_launch for an eager step, else 0): it sets rec's GPU span (at
// least to the launch's end, and at least its GPU time past the later of
// the GPU's start and the work's start), EndAt and TotalNs, and returns
// when the host loop's next iteration starts.
func (s *sim) place(rec *BatchRecord, launch, prevEnd int64, launchMs, startMs float64) int64 {
	launchEnd := launch + predict.Nanos(launchMs)
	start, next := launch, launchEnd
	if prevEnd >= 0 {
		start, next = max(launch, prevEnd), max(launchEnd, prevEnd)
	}
	work := max(start, launch+predict.Nanos(startMs))
	rec.ModelNs = max(launchEnd, work+rec.ModelNs) - start
	rec.TotalNs = rec.HostNs + rec.ModelNs + s.timing.syncNs
	rec.EndAt = start + rec.ModelNs + s.timing.syncNs
	return next
}

// launchMs is the launch time on replica rp of a step of mode mode with
// decodes decodes and tokens tokens, and how far into it the step's GPU
// work can begin (EagerLaunch.Ms, StartFrac of it): 0, 0 but
// for an eager step. An eager step whose token count rp has not launched
// before adds eager_launch's first_ms, and the count is remembered.
func (s *sim) launchMs(rp *replica, mode uint8, decodes int, tokens int32) (launchMs, startMs float64) {
	if mode != modeEager {
		return 0, 0
	}
	spec := s.timing.spec
	if spec == nil || spec.EagerLaunch == nil {
		return 0, 0
	}
	l := spec.EagerLaunch
	launchMs = l.Ms(decodes)
	if l.FirstMs > 0 {
		if _, seen := rp.eagerLaunched[tokens]; !seen {
			if rp.eagerLaunched == nil {
				rp.eagerLaunched = map[int32]struct{}{}
			}
			rp.eagerLaunched[tokens] = struct{}{}
			launchMs += l.FirstMs
		}
	}
	return launchMs, l.StartFrac * launchMs
}

// enginePrediction is a step's GPU time under engine timing, memoized per
// replica as stagePrediction is (host time is not: it depends on more than
// the key).
func (s *sim) enginePrediction(rp *replica, k predict.Key) (*prediction, error) {
	sk := stageKey{k, 0}
	h := sk.hash()
	if p := rp.lastPred; p >= 0 && rp.lastHash == h && rp.lastKey.eq(&sk) {
		return rp.preds.at(p), nil
	}
	if i, ok := rp.memo.get(&sk, h, &rp.preds); ok {
		rp.lastKey, rp.lastHash, rp.lastPred = sk, h, i
		return rp.preds.at(i), nil
	}
	bd, mode, padded, err := rp.pred.EngineStage(s.timing.spec, k)
	if err != nil {
		return nil, err
	}
	return rp.remember(sk, h, prediction{modelNs: predict.Nanos(bd.ModelMs()), padded: int32(padded),
		mode: map[string]uint8{predict.ModeGraph: modeGraph, predict.ModeGraphMixed: modeGraphMixed, predict.ModeEager: modeEager}[mode]}, &bd), nil
}

// planComplete advances step b's members as if it had completed (their
// tokens are stamped with its end time) and re-queues them; requests that
// finish keep their blocks until processOutputs.
func (s *sim) planComplete(rp *replica, b *batch) {
	b.planned = true
	rp.deferFree = true // only rp.release reads it: advancing frees nothing
	s.advanceEnd(rp, b, b.rec.EndAt)
	rp.deferFree = false
}

// stamped is the end of step b's advance (planComplete, with what the
// stamp times held): the host sees b complete at at (max(b's end, the end
// of the next step's launch)). Its members' tokens, stamped at b's end,
// move there; then the closed-loop releases and KV transfers of the members
// that finished in b, and the sink's requests, happen at at, in the order
// advancing would have made them.
func (s *sim) stamped(b *batch, at int64) {
	if t := b.rec.EndAt; at > t {
		s.restamp(b, t, at-t)
	}
	if s.held > 0 {
		s.held = 0
		for _, mb := range b.members {
			r := &s.reqs[mb.id]
			if r.leaving { // handed off in b (a leaving request is not scheduled)
				s.push(event{at: at + r.transferNs, kind: evTransfer, replica: int32(b.replica), req: int32(r.id)})
			} else if r.done && r.completedAt == at {
				s.release(r, at)
			}
		}
	}
	if s.opt.Sink != nil {
		s.emit(false)
	}
}

// restamp moves the tokens of step b, stamped at t, d ns later, with the
// watch's counts: the members whose last token is at t produced one in b
// (a request's earlier tokens came before the host loop iteration that
// advanced b, and b ends after it by its GPU time and sync_ms).
func (s *sim) restamp(b *batch, t, d int64) {
	w, nt := s.watch, t+d
	for _, mb := range b.members {
		r := &s.reqs[mb.id]
		if r.lastToken != t {
			continue // a prompt chunk before its last
		}
		r.lastToken = nt
		if r.firstToken == t {
			r.firstToken = nt
			if w != nil {
				w.firstToken(r, nt) // monotone: later can only add
			}
		} else if g := s.shiftLastGap(r, nt, d); w != nil && w.tbtNs > 0 && !(float64(g) > w.tbtNs) && float64(g+d) > w.tbtNs {
			w.tbtOut++ // as w.gap(g+d), the gap g not counted
		}
		if r.done && r.completedAt == t {
			r.completedAt = nt
			if w != nil {
				w.completed(r, nt)
			}
		}
	}
}

// shiftLastGap makes r's last token, not its first, d ns later, at nt, and
// returns its gap before.
func (s *sim) shiftLastGap(r *request, nt, d int64) int64 {
	n := len(r.tokens) - 1
	key := uint64(r.id)<<32 | uint64(n)
	if g := int64(r.tokens[n]); g < gapEscape {
		if g+d < gapEscape {
			r.tokens[n] = uint32(g + d)
			return g
		}
		if s.bigGaps == nil {
			s.bigGaps = map[uint64]int64{}
		}
		r.tokens[n] = gapEscape
		s.bigGaps[key] = nt
		return g
	}
	s.bigGaps[key] = nt
	// the token before's time, walked from the first
	p := r.firstToken
	for i := 1; i < n; i++ {
		if g := r.tokens[i]; g == gapEscape {
			p = s.bigGaps[uint64(r.id)<<32|uint64(i)]
		} else {
			p += int64(g)
		}
	}
	return nt - d - p
}

// processOutputs frees the blocks of the requests that finished in the step
// whose outputs the host now processes.
func (s *sim) processOutputs(rp *replica) {
	for _, r := range rp.deferred {
		rp.freeBlocks(r) // they left batch_size_cap's count when released
	}
	clear(rp.deferred)
	rp.deferred = rp.deferred[:0]
	if s.nBatches%s.opt.ProgressEvery == 0 {
		s.progress()
	}
}

// NewPredictor builds the predictor a run of cfg on in.Profile uses, and
// returns the set's engine.json when the run would use engine timing (nil
// under vidur timing): for tools that predict single steps (calibration).
func NewPredictor(cfg Config, in Inputs) (*predict.Predictor, *predict.EngineSpec, error) {
	resolved, err := cfg.Resolve()
	if err != nil {
		return nil, nil, &ConfigError{err}
	}
	p, timing, err := newPredictor(cfg, resolved, in)
	if err != nil || timing == nil {
		return p, nil, err
	}
	return p, timing.spec, nil
}
