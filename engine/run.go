package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/workload"
)

// Status values of a request in request_metrics.csv.
const (
	StatusOK              = "ok"
	StatusRejectedTooLong = workload.RejectedTooLong // can never run: max_tokens, the KV cache, the token budget or the profile's contexts
	StatusUnfinished      = "unfinished"             // still running when time_limit stopped the run
)

// request is a request's simulation state (Vidur §1.5).
type request struct {
	// The fields every decode token reads or writes come first, to share
	// the fewest cache lines (a saturated run touches each running request
	// several times per iteration, 10k of them far apart in memory).
	//
	// tokens holds each output token's time as the gap to the one before
	// (the first is firstToken, stored as 0); a gap that does not fit in
	// 32 bits is gapEscape and sim.bigGaps has the token's time.
	//
	// The first 64 bytes (one cache line: TestRequest_LineSized) hold what
	// the scheduler's pass over the running requests reads (prefillDone,
	// processed, blocks) and most of what advancing a decode does; the
	// second line its times and what sortRunning compares.
	tokens      []uint32
	processed   int // Vidur's num_processed_tokens
	blocks      int // KV blocks held
	generated   int // output tokens produced so far
	decode      int // D as given
	prefillDone bool
	scheduled   bool
	done        bool
	leaving     bool // disaggregation: handed off (KV in transfer)
	lastToken   int64
	firstToken  int64
	id          int
	arrival     int64 // (sortRunning compares every running request's, every iteration)

	prefill     int // P as given
	target      int // prompt tokens to (re-)prefill: P plus tokens generated before a restart
	restarts    int
	replica     int
	admitted    int64 // vllm_v1: admission order (re-admission after a restart counts anew)
	mark        int64 // vllm_v1: scheduled or preempted in the step being built
	scheduledAt int64 // first schedule
	completedAt int64
	// Prefix caching (prefix.go): the keys of the prompt's full blocks, the
	// cache slot of each leading block held (-1: private), and the prompt
	// tokens its first admission found cached.
	keys          []uint64
	held          []int32
	cachedPrefill int
	// Disaggregation: the prefill replica, the transfer time.
	prefillReplica int
	transferNs     int64
	skip           int // prompt tokens the latest admission found cached
	// Closed-loop arrivals (workload.Request.ClosedLoop): the request is
	// released delay ns after request after completes, not before
	// notBefore. firstChild/nextSibling list the requests waiting on this
	// one, in ID order.
	closed      bool
	rejectAtArr bool // released into a rejection (never fits)
	after       int32
	delay       int64
	notBefore   int64
	firstChild  int32
	lastChild   int32
	nextSibling int32
	// A member of its replica's decode group (decodegroup.go) since step
	// grpAt: its counts, blocks, gaps and last token time are as of then.
	grpAt int64
	inGrp bool

	// Padding to a multiple of 64 bytes (TestRequest_LineSized): s.reqs is
	// a large allocation, page-aligned, so each request then starts a cache
	// line and its per-token fields above take two lines, not three.
	_ [31]byte
}

func (r *request) before(o *request) bool {
	return r.arrival < o.arrival || r.arrival == o.arrival && r.id < o.id
}

// restart is recompute preemption. Vidur overwrites P and D with the
// processed count ([quirk]); servesim keeps them and re-prefills the prompt
// plus the tokens generated so far. The two agree except when a partially
// prefilled request is evicted, where Vidur turns unprocessed prompt tokens
// into output tokens (fixed here).
func (r *request) restart() {
	r.target = r.prefill + r.generated
	r.processed, r.skip = 0, 0
	r.prefillDone = false
	r.restarts++
}

// batch is one iteration on one replica.
type batch struct {
	id          int
	replica     int
	members     []member
	key         predict.Key
	scheduledAt int64
	planned     bool        // engine timing: its members were advanced (planComplete)
	grp, dn     int         // the replica's decode group taken (its members, not in members), and members' leading decodes (decodeSums)
	rec         BatchRecord // its record, copied to sim.batches when records are kept
	slot        int32       // 1 + its index in sim.allBatches (event.b)
}

type eventKind uint8

const (
	evArrival eventKind = iota
	evGlobalSchedule
	evReplicaSchedule
	evStageArrival
	evStageSchedule
	evStageEnd
	evBatchEnd
	evHostLoop // engine timing: an iteration of the replica's host loop
	evTransfer // disaggregation: a request's KV reached the decode pool
)

// event holds no pointer (its batch is sim.batchAt's index), so that the
// queue's moves and swaps need no GC write barriers (dear under GOOS=js)
// and its arrays are not scanned.
type event struct {
	at      int64
	seq     uint64
	kind    eventKind
	replica int32
	stage   int32
	req     int32
	b       int32 // batch: 1 + its index in sim.allBatches; 0: none
}

// The event order is Vidur's: by time, then by creation. Arrivals are all
// created before the loop, so at equal times they come first; events created
// for the current instant (almost all of them) are later than everything
// already queued for that instant, so they wait in a FIFO; only events for
// the future go through the heap. The pop order equals a single (time, seq)
// heap's, at O(1) for most events.
type eventHeap []event

func (h eventHeap) less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].seq < h[j].seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	q := *h
	e := q[0]
	n := len(q) - 1
	q[0] = q[n]
	*h = (*h)[:n] // a self-reslice: no pointer written (no GC write barrier)
	q = q[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	return e
}

// maxSimNs bounds simulated time: arrivals are at most workload.MaxTimeNs,
// and a run may go on for as long again.
const maxSimNs = 2 * workload.MaxTimeNs

// InternalError is a broken invariant inside the engine, recovered at Run's
// boundary so that a host (CLI, API, browser) keeps working.
type InternalError struct{ Value any }

func (e *InternalError) Error() string {
	return fmt.Sprintf("internal error (please report): %v", e.Value)
}

// ConfigError wraps a configuration problem (Config.Validate or the memory
// planner).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Inputs are what a run reads.
type Inputs struct {
	Workload *workload.Workload
	Profile  *predict.Set
	Network  fs.FS // root of network profiles (one folder per node); needed for TP or PP > 1
}

// Progress is reported to Options.OnProgress.
type Progress struct {
	Done, Total int   // finished (or rejected) requests
	Now         int64 // simulated ns
}

// Options are run-time hooks; the zero value is fine.
type Options struct {
	// OnProgress, if set, is called about every ProgressEvery batch ends
	// (default 1024) and once at the end. It must not change anything.
	OnProgress    func(Progress)
	ProgressEvery int
	// KeepMembers records every batch's members (request and tokens), for
	// chrome traces and tests; it costs 8 bytes per request per iteration.
	KeepMembers bool
	// SkipBatches keeps no per-iteration records: Result.Batches is nil
	// (batch_metrics.csv and chrome_trace.json cannot be written) and the
	// run's memory no longer grows with its iterations. Every other output
	// is the same, from per-replica totals (Result.Replicas).
	SkipBatches bool
	// StepByStep turns off the chained path (sim.stageEnd) and the steady
	// decode runs (sim.decodeRun): every event of every iteration goes
	// through the event queue. The outputs are the same (tests compare the
	// two); it is slower.
	StepByStep bool
	// MemoryBudget, if > 0, bounds the bytes of records a run keeps (and a
	// host's reports then derive from them), estimated from counts: per
	// request, per output token, per iteration, per batch member kept. A
	// run past it ends with a *workload.LimitError as soon as it is crossed,
	// checked before the run (from the workload) and as it grows.
	MemoryBudget int64
	// Sink, if set, is handed every request's result as soon as it and
	// every request before it are final (see Sink).
	Sink Sink
	// StopOnSLOFail ends the run as soon as its objective (Config.SLOSpec)
	// can no longer be met, whatever the rest of the run does (slostop.go):
	// Result.Stopped then says why, and the requests still in flight are
	// unfinished. For a capacity search's trials, which need the verdict
	// only; a stopped run's other outputs describe a partial run.
	StopOnSLOFail bool
}

// Record costs for Options.MemoryBudget, in bytes: what the run keeps plus
// what report.Analyze derives from it (latency samples, series). An output
// token is its 32-bit gap, which report's statistics read in place.
const (
	costPerRequest = 512
	costPerToken   = 4
	costPerBatch   = 160
	costPerMember  = 8
)

type sim struct {
	cfg                             Config
	res                             Resolved
	pred                            *predict.Predictor
	reqs                            []request
	replicas                        []*replica
	global                          []*request
	arrivals                        []int32 // request indices in arrival order
	nextArr                         int
	fifo                            []event // events for the current instant, in creation order
	fifoHead                        int
	heap                            eventHeap // events for later instants
	seq                             uint64
	now                             int64
	rr                              int
	rng                             *rand.Rand
	batches                         []BatchRecord // nil with Options.SkipBatches
	nBatches                        int           // batches built
	bigGaps                         map[uint64]int64
	stats                           []ReplicaStats
	prefixPts                       []PrefixPoint
	iters                           IterStats
	spans                           []int64  // PP > 1: per batch, per stage: start, end
	free                            []int32  // batches to reuse, by event.b (no pointers: see event)
	allBatches                      []*batch // every batch made, by event.b
	pbuf                            []predict.Prefill
	memberOff, memberReq, memberTok []int32
	done                            int
	opt                             Options
	timing                          *engineTiming // nil: vidur timing
	disagg                          *disagg       // nil: no disaggregation
	nRoute                          int           // replicas the router sends arrivals to
	notes                           []string      // added to the workload's notes
	baseCost                        int64         // MemoryBudget bytes fixed at the start
	ctx                             context.Context
	events                          int   // events handled (tick)
	limit                           int64 // time_limit in ns, -1: none
	chain                           bool  // stageEnd may run an iteration's events without the queue
	loadAware                       bool  // a load-aware router: ReplicaStats.Queued is kept
	decodeRuns                      bool  // stageEnd may run steady decode iterations at once (decodeRun)
	engineRuns                      bool  // hostLoop may run steady decode iterations without the queue (engineDecodeRun)
	wl                              []workload.Request
	emitted                         int       // requests handed to Options.Sink
	sinkTimes                       []int64   // emit's buffer
	sinkErr                         error     // Options.Sink failed
	watch                           *sloWatch // Options.StopOnSLOFail
	stopped                         *SLOStop
	// Engine timing: while a step is advanced before its stamp is known
	// (planComplete), the effects that the stamp times are held (held
	// counts them) and happen at the stamp (stamped).
	holding bool
	held    int
}

// tick counts a handled event; every 4096 it checks the context and the
// memory budget.
func (s *sim) tick() error {
	if s.events++; s.events&4095 != 0 { // small enough to inline (calls are dear under GOOS=js)
		return nil
	}
	return s.check()
}

// check is tick's check of the context and the memory budget.
func (s *sim) check() error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	return s.checkBudget(s.cost())
}

func (s *sim) push(e event) {
	s.seq++
	e.seq = s.seq
	if e.at == s.now {
		s.fifo = append(s.fifo, e)
		return
	}
	s.heap.push(e)
}

// pop returns the next event in (time, creation) order.
func (s *sim) pop() (event, bool) {
	const none = math.MaxInt64
	ta, th, tf := int64(none), int64(none), int64(none)
	if s.nextArr < len(s.arrivals) {
		ta = s.reqs[s.arrivals[s.nextArr]].arrival
	}
	if len(s.heap) > 0 {
		th = s.heap[0].at
	}
	if s.fifoHead < len(s.fifo) {
		tf = s.now
	}
	switch {
	case ta == none && th == none && tf == none:
		return event{}, false
	case ta <= th && ta <= tf:
		i := s.arrivals[s.nextArr]
		s.nextArr++
		return event{at: ta, kind: evArrival, req: i}, true
	case th <= tf:
		return s.heap.pop(), true
	}
	e := s.fifo[s.fifoHead]
	s.fifoHead++
	if s.fifoHead == len(s.fifo) {
		s.fifo, s.fifoHead = s.fifo[:0], 0
	}
	return e, true
}

// Run simulates the workload under cfg.
func Run(ctx context.Context, cfg Config, in Inputs, opt Options) (res *Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, &InternalError{Value: p}
		}
	}()
	resolved, err := cfg.Resolve()
	if err != nil {
		return nil, &ConfigError{err}
	}
	if in.Workload == nil || len(in.Workload.Requests) == 0 {
		return nil, errors.New("engine: the workload has no requests")
	}
	pred, timing, err := newPredictor(cfg, resolved, in)
	if err != nil {
		return nil, err
	}
	s := &sim{cfg: cfg, res: resolved, pred: pred, opt: opt, timing: timing,
		rng: rand.New(rand.NewPCG(cfg.Seed, 0x676c6f62))} // "glob": the random global scheduler's own stream
	if s.opt.ProgressEvery <= 0 {
		s.opt.ProgressEvery = 1024
	}
	for i := 0; i < cfg.Cluster.NumReplicas; i++ {
		rp := &replica{id: i, cfg: &s.cfg.Scheduler, res: &s.res, numBlocks: resolved.NumBlocks, lastPred: -1,
			stages: make([]stage, cfg.Replica.NumPipelineStages)}
		rp.sched = schedulers[cfg.Scheduler.Type]()
		rp.pred = pred
		if cfg.Scheduler.EnablePrefixCaching {
			rp.pc = newPrefixCache()
		}
		rp.bigGaps = &s.bigGaps
		s.replicas = append(s.replicas, rp)
	}
	s.nRoute = len(s.replicas)
	s.stats = make([]ReplicaStats, len(s.replicas))
	s.loadAware = LoadAwareRouting(cfg.Cluster.GlobalScheduler)
	if cfg.Cluster.PrefillReplicas > 0 {
		if s.disagg, err = newDisagg(cfg, in); err != nil {
			return nil, err
		}
		s.nRoute = cfg.Cluster.PrefillReplicas
		for i, rp := range s.replicas {
			if i < s.nRoute {
				rp.prefillOnly = true
			} else {
				rp.res, rp.numBlocks, rp.pred = &s.disagg.res, s.disagg.res.NumBlocks, s.disagg.pred
			}
		}
	}
	wl := in.Workload.Requests
	s.wl = wl
	// Up front, with the least number of iterations the run can take: a
	// request's outputs come one per iteration, and an iteration holds at
	// most batch_size_cap requests per replica.
	if err := s.checkBudget(int64(len(wl))*costPerRequest + decodeTokens(wl)*costPerToken + leastIterations(cfg, wl)*costPerBatch); err != nil {
		return nil, err
	}
	s.reqs = make([]request, len(wl))
	for _, rp := range s.replicas {
		rp.setReqs(s.reqs)
	}
	var keys []uint64 // every request's block keys, one backing array
	var keyOff []int
	if cfg.Scheduler.EnablePrefixCaching && in.Workload.BlockTokens > 0 {
		keyOff = make([]int, len(wl)+1)
		for i, w := range wl {
			keys = blockKeys(keys, in.Workload.HashIDs(i), in.Workload.BlockTokens, cfg.Scheduler.BlockSize, w.Prefill)
			keyOff[i+1] = len(keys)
		}
	}
	kvRejected, budgetRejected, longRejected := 0, 0, 0
	longest, longTable := pred.LongestContext()
	gaps := gapArena{left: decodeTokens(wl)}
	var early []int32 // open-loop requests rejected before the run: their dependents are released at their arrival
	for i, w := range wl {
		r := &s.reqs[i]
		*r = newRequest(i, w)
		if keyOff != nil {
			r.keys = keys[keyOff[i]:keyOff[i+1]:keyOff[i+1]]
		}
		over := w.Rejected == "" && s.overBudget(r)
		long := w.Rejected == "" && !over && longest > 0 && r.decode > 1 && r.prefill+r.decode-1 > longest
		never := w.Rejected != "" || over || long || s.neverFits(r)
		switch {
		case over:
			budgetRejected++
		case long:
			longRejected++
		case never && w.Rejected == "":
			kvRejected++
		}
		if w.ClosedLoop {
			if w.Parent < 1 || w.Parent > i {
				return nil, fmt.Errorf("engine: request %d is closed-loop but its parent (%d) is not an earlier request", i, w.Parent-1)
			}
			r.closed, r.after, r.delay, r.notBefore, r.arrival = true, int32(w.Parent-1), w.DelayNs, w.ArrivalNs, -1
			p := &s.reqs[r.after]
			if p.lastChild < 0 {
				p.firstChild = int32(i)
			} else {
				s.reqs[p.lastChild].nextSibling = int32(i)
			}
			p.lastChild = int32(i)
			r.rejectAtArr = never
			if !never {
				r.tokens = gaps.take(w.Decode)
			}
			continue
		}
		if never {
			r.done = true
			s.done++
			early = append(early, int32(i))
			continue
		}
		r.tokens = gaps.take(w.Decode)
		s.arrivals = append(s.arrivals, int32(i))
	}
	sort.SliceStable(s.arrivals, func(a, b int) bool { return s.reqs[s.arrivals[a]].arrival < s.reqs[s.arrivals[b]].arrival })
	for _, i := range early {
		s.release(&s.reqs[i], s.reqs[i].arrival)
	}
	if kvRejected > 0 {
		s.notes = append(s.notes, fmt.Sprintf("%d of %d requests need more KV cache than a replica has (%d blocks of %d tokens, %d kept free by the watermark) and are marked %s",
			kvRejected, len(wl), resolved.NumBlocks, cfg.Scheduler.BlockSize, resolved.WatermarkBlocks, StatusRejectedTooLong))
	}
	if n, table := pred.MaxBatch(); n > 0 {
		if reach := min(resolved.MaxMicroBatchSize, len(wl)-kvRejected-budgetRejected-longRejected); reach > n {
			s.notes = append(s.notes, fmt.Sprintf("up to %d sequences may share a step (batch cap %d), more than %s covers (1..%d): a step of more stops the run with an error; lower the batch cap to %d or enable predictor extrapolation",
				reach, cfg.Scheduler.BatchSizeCap, table, n, n*cfg.Replica.NumPipelineStages))
		}
	}
	if longRejected > 0 {
		s.notes = append(s.notes, fmt.Sprintf("%d of %d requests reach a context (prompt + output - 1) longer than the %d tokens %s covers and are marked %s (as an engine of that max_model_len rejects them); shorten them (request_generator_config_max_tokens clips generated and trace lengths), use a profile of longer contexts, or enable predictor extrapolation (its reads past the grid are counted in run_meta.json)",
			longRejected, len(wl), longest, longTable, StatusRejectedTooLong))
	}
	if n, table := pred.MaxTokens(); n > 0 {
		if budget, name := stepTokenBudget(cfg.Scheduler); budget > n {
			s.notes = append(s.notes, fmt.Sprintf("a step may hold up to %d tokens (%s), more than %s covers (1..%d): a step of more stops the run with an error; lower %s to %d or enable predictor extrapolation",
				budget, name, table, n, name, n))
		}
	}
	if budgetRejected > 0 {
		s.notes = append(s.notes, fmt.Sprintf("%d of %d requests have prompts longer than max_tokens_in_batch (%d), which %s never admits (vLLM v0 ignores such prompts), and are marked %s",
			budgetRejected, len(wl), cfg.Scheduler.MaxTokensInBatch, cfg.Scheduler.Type, StatusRejectedTooLong))
	}
	if opt.StopOnSLOFail {
		s.watch = newSLOWatch(cfg, len(wl), func(i int) bool { return s.reqs[i].done || s.reqs[i].rejectAtArr }, func(i int) int { return wl[i].Decode })
	}
	s.baseCost = int64(len(wl))*costPerRequest + decodeTokens(wl)*costPerToken
	s.limit = -1
	if cfg.TimeLimitS > 0 {
		s.limit = int64(math.Round(cfg.TimeLimitS * 1e9))
	}
	s.ctx = ctx
	if opt.Sink != nil {
		if err := opt.Sink.Start(s.cfg); err != nil {
			return nil, fmt.Errorf("engine: sink: %w", err)
		}
		s.emit(false) // the requests rejected before the run
	}
	s.chain = !opt.StepByStep && s.timing == nil && cfg.Replica.NumPipelineStages == 1
	s.decodeRuns = s.chain
	for _, rp := range s.replicas {
		rp.grp.on, rp.grp.watched = s.decodeGroupOK(rp), s.watch != nil
	}
	s.engineRuns = !opt.StepByStep && s.timing != nil && s.timing.async && s.watch == nil
	terminated := false
	for !terminated {
		e, ok := s.pop()
		if !ok {
			break
		}
		if e.at < s.now {
			panic("engine: time went backwards")
		}
		s.now = e.at
		if s.limit >= 0 && s.now > s.limit {
			terminated = true
		}
		if err := s.handle(e); err != nil {
			return nil, err
		}
		if err := s.tick(); err != nil {
			return nil, err
		}
		if s.sinkErr != nil {
			return nil, s.sinkErr
		}
		if w := s.watch; w != nil && !w.quiet(s.now) {
			if s.stopped = w.checkAll(s); s.stopped != nil {
				break
			}
		}
	}
	for _, rp := range s.replicas {
		rp.dissolve() // each request's own state, for the results
	}
	if !terminated && s.stopped == nil {
		if s.done < len(s.reqs) {
			return nil, s.stallError()
		}
		for _, rp := range s.replicas {
			if rp.allocated != 0 || rp.waiting.len() != 0 || rp.running.len() != 0 || rp.load != 0 || rp.incoming.len() != 0 {
				panic(fmt.Sprintf("engine: replica %d not empty at the end: %d blocks, %d waiting, %d running, %d queued tokens", rp.id, rp.allocated, rp.waiting.len(), rp.running.len(), rp.load))
			}
		}
	}
	s.progress()
	if s.emit(true); s.sinkErr != nil {
		return nil, s.sinkErr
	}
	return s.result(in), nil
}

// profileMatches checks that the profile set was made for the replica's
// model and device: its times are that device's, and the memory planner
// sizes the KV cache from replica.device, so mixing them (an H200 profile
// on an A100's memory) would be silently wrong. Vidur cannot mix them: it
// finds profiles by device name.
func profileMatches(cfg Config, set *predict.Set) error {
	if set.Meta.Model != cfg.Replica.Model {
		return &ConfigError{fmt.Errorf("profile set %s is for %s, but replica_config_model_name is %s", set.Origin, set.Meta.Model, cfg.Replica.Model)}
	}
	if set.Meta.Device != cfg.Replica.Device {
		return &ConfigError{fmt.Errorf("profile set %s was made for device %s, but replica_config_device is %s: set replica_config_device to %s (and replica_config_network_device to one of its nodes, e.g. %s)",
			set.Origin, set.Meta.Device, cfg.Replica.Device, set.Meta.Device, set.Meta.NetworkDevice)}
	}
	for _, d := range []struct{ key, set, cfg string }{{"weight_dtype", set.Meta.WeightDtype, cfg.Replica.WeightDtype}, {"kv_cache_dtype", set.Meta.KVCacheDtype, cfg.Replica.KVCacheDtype}} {
		if Dtype(d.set) != Dtype(d.cfg) {
			return &ConfigError{fmt.Errorf("profile set %s holds %s times (%s), but replica.%s is %s: only the roofline estimate models another dtype (predictor.profile estimate, or no profile named)",
				set.Origin, Dtype(d.set), d.key, d.key, Dtype(d.cfg))}
		}
	}
	return nil
}

// newPredictor checks the profile set against cfg, resolves the timing
// model and loads the tables it reads. Engine timing charges the embedding
// and the LM head (an engine step runs them) and reads host_overheads.csv.
func newPredictor(cfg Config, resolved Resolved, in Inputs) (*predict.Predictor, *engineTiming, error) {
	if in.Profile == nil {
		return nil, nil, errors.New("engine: no profile set")
	}
	if err := profileMatches(cfg, in.Profile); err != nil {
		return nil, nil, err
	}
	timing, err := resolveTiming(cfg, in.Profile)
	if err != nil {
		return nil, nil, err
	}
	pc := cfg.Predictor
	if timing != nil {
		pc.LMHead, pc.Embedding = true, true
	}
	p, err := predict.New(in.Profile, in.Network, predict.Options{
		Model: resolved.Model, Node: resolved.Node, TP: cfg.Replica.TensorParallelSize, PP: cfg.Replica.NumPipelineStages,
		HeadDim: resolved.Model.HeadDim, KVCachePredictionGranularity: pc.KVCachePredictionGranularity,
		AttentionDecodeBatchingOverhead: pc.AttentionDecodeBatchingOverhead, AttentionPrefillBatchingOverhead: pc.AttentionPrefillBatchingOverhead,
		NCCLCPULaunchOverheadMs: pc.NCCLCPULaunchOverheadMs, NCCLCPUSkewOverheadPerDeviceMs: pc.NCCLCPUSkewOverheadPerDeviceMs,
		CPUOverhead: !pc.SkipCPUOverheadModeling, LMHead: pc.LMHead, Embedding: pc.Embedding, Extrapolate: pc.Extrapolate,
		DecodeContextMax: pc.AttentionDecodeContext == "max", HostOverheads: timing != nil, DecodeShape: timing != nil,
	})
	return p, timing, err
}

// Prepare loads and validates the profile tables a run of cfg reads (what
// Run does before simulating), so that a later Run on the same profile set
// (opened once with predict.Open) starts without parsing them. in.Workload
// is not needed.
func Prepare(cfg Config, in Inputs) error {
	resolved, err := cfg.Resolve()
	if err != nil {
		return &ConfigError{err}
	}
	_, _, err = newPredictor(cfg, resolved, in)
	return err
}

// overBudget reports whether a request's prompt can never pass a scheduler
// that admits whole prompts within max_tokens_in_batch (vllm, lightllm): it
// would wait at the head of the queue for ever.
func (s *sim) overBudget(r *request) bool {
	b := wholePromptBudget(s.cfg.Scheduler)
	return b > 0 && r.prefill > b
}

// wholePromptBudget is max_tokens_in_batch for the schedulers that admit
// whole prompts within it (vllm, lightllm), 0 for the others.
func wholePromptBudget(sc SchedulerConfig) int {
	if sc.Type == "vllm" || sc.Type == "lightllm" {
		return sc.MaxTokensInBatch
	}
	return 0
}

// neverFits reports whether a request can never be served by the KV cache:
// its prompt can never pass admission, or its full context can never be held.
func (s *sim) neverFits(r *request) bool {
	bs := s.cfg.Scheduler.BlockSize
	switch s.cfg.Scheduler.Type {
	case "orca", "faster_transformer":
		return r.prefill+r.decode > s.res.MaxBlocksPerSequence*bs
	case "lightllm":
		return r.prefill+r.decode > s.res.NumBlocks
	case "vllm_v1": // blocks as tokens are computed, no watermark
		return ceilDiv(r.prefill+r.decode, bs) > s.res.NumBlocks
	}
	never := ceilDiv(r.prefill, bs) > s.res.NumBlocks-s.res.WatermarkBlocks || ceilDiv(r.prefill+r.decode, bs) > s.res.NumBlocks
	if d := s.disagg; d != nil { // the decode pool holds the context too
		never = never || ceilDiv(r.prefill, bs) > d.res.NumBlocks-d.res.WatermarkBlocks || ceilDiv(r.prefill+r.decode, bs) > d.res.NumBlocks
	}
	return never
}

// decodeTokens sums the output tokens of the requests that may run.
func decodeTokens(wl []workload.Request) int64 {
	var t int64
	for _, r := range wl {
		if r.Rejected == "" {
			t = workload.SatAdd(t, int64(r.Decode))
		}
	}
	return t
}

// leastIterations is a lower bound on a run's iterations (batch ends).
func leastIterations(cfg Config, wl []workload.Request) int64 {
	var longest int64
	for _, r := range wl {
		if r.Rejected == "" {
			longest = max(longest, int64(r.Decode))
		}
	}
	perIter := int64(cfg.Scheduler.BatchSizeCap) * int64(cfg.Cluster.NumReplicas)
	return max(longest, decodeTokens(wl)/max(perIter, 1))
}

// cost estimates the bytes of records kept so far (Options.MemoryBudget).
func (s *sim) cost() int64 {
	return s.baseCost + int64(len(s.batches))*costPerBatch + int64(len(s.prefixPts))*16 + int64(len(s.spans))*8 + int64(len(s.memberReq))*costPerMember
}

func (s *sim) checkBudget(c int64) error {
	if b := s.opt.MemoryBudget; b > 0 && c > b {
		size := fmt.Sprintf("%d MiB", b>>20)
		if b < 1<<20 {
			size = fmt.Sprintf("%d KiB", b>>10)
		}
		return &workload.LimitError{Msg: fmt.Sprintf("the run needs more than its memory budget of %s for its records (%d requests, %d iterations so far); use fewer requests or shorter outputs",
			size, len(s.reqs), s.nBatches)}
	}
	return nil
}

// stepTokenBudget is the most tokens sc's scheduler puts in one step, and
// the setting that says so (0 for orca and faster_transformer, which have
// none).
func stepTokenBudget(sc SchedulerConfig) (int, string) {
	switch sc.Type {
	case "vllm_v1":
		if sc.MaxNumBatchedTokens == 0 {
			return DefaultMaxNumBatchedTokens, "max_num_batched_tokens"
		}
		return sc.MaxNumBatchedTokens, "max_num_batched_tokens"
	case "sarathi":
		return sc.ChunkSize, "chunk_size"
	}
	if b := wholePromptBudget(sc); b > 0 {
		return b, "max_tokens_in_batch"
	}
	return 0, ""
}

// stepError is err from predicting batch b on replica rp, with where it
// happened and, when b holds more sequences than the profile's tables keyed
// by sequences cover (Predictor.MaxBatch), the batch cap to lower.
func (s *sim) stepError(rp *replica, b *batch, err error) error {
	err = fmt.Errorf("batch %d at t=%d ns: %w", b.id, s.now, err)
	if n, _ := rp.pred.MaxTokens(); n > 0 && int(b.key.T) > n {
		budget, name := stepTokenBudget(s.cfg.Scheduler)
		switch {
		case name == "":
			return fmt.Errorf("%w; the step holds %d tokens: %s batches whole prompts with no token budget, so a step's tokens grow with its batch (cap %d): lower the batch cap, or use a scheduler with a token budget",
				err, b.key.T, s.cfg.Scheduler.Type, s.cfg.Scheduler.BatchSizeCap)
		case budget > n:
			return fmt.Errorf("%w; the step holds %d tokens, which %s (%d) allows and the profile does not cover: lower %s to %d",
				err, b.key.T, name, budget, name, n)
		}
	}
	if n, _ := rp.pred.MaxBatch(); n > 0 && int(b.key.NumRequests) > n {
		err = fmt.Errorf("%w; the step holds %d sequences, which the batch cap (%d) allows and the profile does not cover: lower the batch cap to %d",
			err, b.key.NumRequests, s.cfg.Scheduler.BatchSizeCap, n*s.cfg.Replica.NumPipelineStages)
	}
	return err
}

func (s *sim) stallError() error {
	msg := fmt.Sprintf("engine: simulation stalled at t=%d ns with %d of %d requests unfinished", s.now, len(s.reqs)-s.done, len(s.reqs))
	for _, rp := range s.replicas {
		msg += fmt.Sprintf("; replica %d: %d waiting, %d running, %d/%d KV blocks allocated", rp.id, rp.waiting.len(), rp.running.len(), rp.allocated, rp.numBlocks)
		if n := rp.incoming.len(); n > 0 {
			msg += fmt.Sprintf(", %d transferred requests waiting for admission", n)
		}
		if b := wholePromptBudget(s.cfg.Scheduler); b > 0 && rp.waiting.len() > 0 {
			if r := rp.waiting.front(); nextTokens(r) > b {
				msg += fmt.Sprintf("; its first waiting request (%d) restarts after a preemption with %d tokens to recompute, more than max_tokens_in_batch (%d) admits: "+
					"raise max_tokens_in_batch to the longest request's prompt + output tokens (real vLLM v0 refuses a max_model_len above max_num_batched_tokens)",
					r.id, nextTokens(r), s.cfg.Scheduler.MaxTokensInBatch)
			}
		}
	}
	return errors.New(msg)
}

func (s *sim) progress() {
	if s.opt.OnProgress != nil {
		s.opt.OnProgress(Progress{Done: s.done, Total: len(s.reqs), Now: s.now})
	}
}

func (s *sim) handle(e event) error {
	switch e.kind {
	case evArrival:
		r := &s.reqs[e.req]
		if r.closed {
			r.arrival = s.now
			if r.rejectAtArr {
				r.done = true
				s.done++
				s.release(r, s.now)
				s.emit(false)
				return nil
			}
		}
		s.global = append(s.global, r)
		s.push(event{at: s.now, kind: evGlobalSchedule})
	case evGlobalSchedule:
		s.globalSchedule()
	case evReplicaSchedule:
		if s.timing != nil {
			return s.wake(s.replicas[e.replica])
		}
		s.replicaSchedule(s.replicas[e.replica])
	case evHostLoop:
		return s.hostLoop(s.replicas[e.replica], s.batchAt(e.b))
	case evStageArrival:
		st := &s.replicas[e.replica].stages[e.stage]
		st.queue = append(st.queue, e.b)
		s.push(event{at: s.now, kind: evStageSchedule, replica: e.replica, stage: e.stage})
	case evStageSchedule:
		return s.stageSchedule(e.replica, e.stage)
	case evStageEnd:
		rp := s.replicas[e.replica]
		if s.chain && s.alone() {
			return s.stageEnd(rp, s.batchAt(e.b))
		}
		rp.stages[e.stage].busy = false
		s.push(event{at: s.now, kind: evStageSchedule, replica: e.replica, stage: e.stage})
		if int(e.stage) == len(rp.stages)-1 {
			s.push(event{at: s.now, kind: evBatchEnd, replica: e.replica, b: e.b})
		} else {
			s.push(event{at: s.now, kind: evStageArrival, replica: e.replica, stage: e.stage + 1, b: e.b})
		}
	case evBatchEnd:
		s.batchEnd(s.replicas[e.replica], s.batchAt(e.b))
	case evTransfer:
		s.transferDone(s.replicas[e.replica], &s.reqs[e.req])
	}
	return nil
}

// alone reports whether no other event is due at s.now (or before): no
// arrival, nothing in the heap at s.now, nothing queued for this instant,
// and the run not past its time limit (where the loop stops after this
// event).
func (s *sim) alone() bool {
	if s.fifoHead < len(s.fifo) || len(s.heap) > 0 && s.heap[0].at <= s.now || s.limit >= 0 && s.now > s.limit {
		return false
	}
	return s.nextArr >= len(s.arrivals) || s.reqs[s.arrivals[s.nextArr]].arrival > s.now
}

// stageEnd is the end of batch b on a one-stage replica when no other event
// is due at this instant: the events that follow it in the queue (stage
// schedule, batch end, replica schedule, stage arrival, stage schedule of
// the next batch) would come out one after the other, so they run here in
// that order without the queue, each counted by tick as if it had been
// queued. As soon as one of them queues an event for this instant, the next
// is queued too and the loop takes over, so the order of events is exactly
// the queue's (Options.StepByStep turns this off; tests compare the two).
func (s *sim) stageEnd(rp *replica, b *batch) error {
	st := &rp.stages[0]
	st.busy = false
	if err := s.tick(); err != nil { // the stage end itself
		return err
	}
	if len(st.queue) != 0 {
		panic("engine: a one-stage replica had a batch queued behind a running one")
	}
	if err := s.tick(); err != nil { // stage schedule: nothing queued
		return err
	}
	s.endBatch(rp, b)
	if s.fifoHead < len(s.fifo) {
		s.push(event{at: s.now, kind: evReplicaSchedule, replica: int32(rp.id)})
		return nil
	}
	if err := s.tick(); err != nil { // batch end
		return err
	}
	if rp.numRunningBatches >= 1 {
		return nil
	}
	for s.decodeRuns { // decode runs and, between them, a group's prefill steps, while they can be taken without the queue
		if rp.steadyDecode() {
			if rp.absorb() {
				for again := true; again; again = again && rp.steadyDecode() && rp.absorb() {
					var err error
					if again, err = s.groupDecodeRun(rp); err != nil {
						return err
					}
				}
			} else {
				rp.dissolve() // decodeRun reads each running request's state
				if err := s.decodeRun(rp); err != nil {
					return err
				}
				break
			}
		}
		if ok, err := s.groupPrefillStep(rp); err != nil {
			return err
		} else if !ok {
			break
		}
	}
	nb := s.buildBatch(rp)
	if nb == nil {
		return nil
	}
	rp.numRunningBatches++
	if s.fifoHead < len(s.fifo) {
		s.push(event{at: s.now, kind: evStageArrival, replica: int32(rp.id), b: nb.slot})
		return nil
	}
	if err := s.tick(); err != nil { // replica schedule
		return err
	}
	st.queue = append(st.queue, nb.slot)
	if err := s.tick(); err != nil { // stage arrival
		return err
	}
	return s.stageSchedule(int32(rp.id), 0) // its tick is the loop's
}

// steadyDecode reports whether the replica's next batches are its running
// requests' decodes alone, as long as none finishes and nothing arrives:
// Sarathi, vLLM v0 or vLLM V1 (whose token budget takes them all) with
// nothing waiting, no prefix cache, no transfers, and every running request
// past its prefill with blocks held, all in one batch. (All three then give
// every running request one token, in the running list's order, taking a
// new KV block when its last is full; Sarathi and vLLM v0 need a free block
// at each request's turn, vLLM V1 the blocks they take.)
func (rp *replica) steadyDecode() bool {
	switch v := rp.sched.(type) {
	case sarathi, vllm:
	case vllmV1: // and its token budget takes every decode
		if rp.running.len() > v.budget(rp) {
			return false
		}
	default:
		return false
	}
	if rp.pc != nil || rp.prefillOnly || rp.waiting.len() != 0 || rp.incoming.len() != 0 {
		return false
	}
	ids := rp.running.ids()
	if n := len(ids) + rp.grp.n; n == 0 || n > rp.res.MaxMicroBatchSize {
		return false
	}
	for _, id := range ids {
		r := &rp.reqs[id]
		if !r.prefillDone || !r.scheduled || r.done || r.leaving || r.blocks == 0 {
			return false
		}
	}
	return true // the decode group's members pass too: they are decodes holding blocks
}

// decodeRun runs, at s.now and without the event queue, the iterations of a
// replica in steady decode (steadyDecode) that the queue would run one
// after the other: each the same members, one token each, contexts one
// longer every step. It stops before an iteration in which a request would
// finish, a member would need a KV block that is not free, the prediction
// fails, or whose end would not come strictly before the next event due (an
// arrival, another replica's event) or would pass the time limit; the
// general path then runs that iteration. Each iteration changes the state
// exactly as the chained path does (the scheduler's nextBatch, buildBatch,
// stageSchedule and endBatch for an all-decode batch), with the same six events
// counted by tick, and the same records when they are kept; tests compare
// every output with the step-by-step path.
func (s *sim) decodeRun(rp *replica) error {
	next := int64(math.MaxInt64) // the next event due: an arrival or the heap's first
	if s.nextArr < len(s.arrivals) {
		next = s.reqs[s.arrivals[s.nextArr]].arrival
	}
	if len(s.heap) > 0 {
		next = min(next, s.heap[0].at)
	}
	if _, ok := rp.sched.(vllm); ok {
		rp.sortRunning() // vLLM's nextBatch sorts the running requests before it takes them (Sarathi takes them as queued)
	}
	ids, reqs := rp.running.ids(), rp.reqs
	m := len(ids)
	rp.noteCap(0, m-1) // what each step's nextBatch would compare: len(ms) from 0 to m-1, nothing waiting
	bs := rp.cfg.BlockSize
	st := &s.stats[rp.id]
	var ctx int64 // the members' contexts: each is one longer every step
	ctxMax, steps := 0, math.MaxInt
	for _, id := range ids {
		r := &reqs[id]
		ctx += int64(r.processed)
		ctxMax = max(ctxMax, r.processed)
		steps = min(steps, r.decode-r.generated-1) // a step in which a request finishes is the general path's
	}
	blocks := 0 // members that take a new KV block this step
	for _, id := range ids {
		r := &reqs[id]
		if r.processed-r.blocks*bs == 1 {
			blocks++
		}
	}
	var key predict.Key
	var p *prediction
	same := 0 // further steps that keep key (and p: no other prediction is made meanwhile)
	inRange := false
	var acc decodeAcc // this run's iterations of one IterStats bucket, merged at once
	defer acc.flush(&s.iters, m)
	untilProgress := s.opt.ProgressEvery - s.nBatches%s.opt.ProgressEvery // batches until the next s.progress
	// Sarathi and vLLM v0 (admitDecode) want a free block at every member's
	// turn; vLLM V1 allocates what each member needs (blocksFor) and
	// preempts when that is short.
	spare := 1
	_, v1 := rp.sched.(vllmV1)
	if v1 {
		spare = 0
	}
	chunk := s.opt.SkipBatches && !s.loadAware && s.watch == nil
	for ; steps > 0; steps-- {
		if rp.numBlocks-rp.allocated < blocks+spare {
			return nil
		}
		if p != nil && same > 0 {
			same--
		} else {
			key, same = rp.pred.DecodeKeyRun(predict.Batch{NumRequests: m, Tokens: m, NumDecodes: m, DecodeContextSum: ctx, DecodeContextMax: ctxMax, LogitSeqs: m})
			var err error
			if p, err = rp.stagePrediction(key, 0); err != nil {
				return nil // the general path reports it
			}
			// The range check below holds for every step of the run if it
			// holds at next: s.now stays below it, and the bound only falls
			// as s.now grows.
			inRange = s.now <= next && next <= maxSimNs && p.totalMs >= 0 && p.totalMs*1e6 <= float64(maxSimNs-next)
		}
		if !inRange && !(p.totalMs >= 0 && p.totalMs*1e6 <= float64(maxSimNs-s.now)) {
			return nil // the general path reports it
		}
		end := s.now + p.totalNs
		if end >= next || s.limit >= 0 && end > s.limit {
			return nil
		}
		if k := s.chunkSteps(chunk, rp, ids, reqs, p, inRange, blocks, steps, same, untilProgress, next, &acc); k > 1 {
			// k steps at once (chunkSteps says when they differ only in
			// their times): the same state changes, counts and bucket
			// merges as k passes of the step below.
			d, kk := p.totalNs, int64(k)
			if v1 {
				rp.step += kk
			}
			s.nBatches += k
			st.Batches += k
			st.BusyNs += kk * d                                                              // each step's end less its start
			st.MaxQueuedTokens = max(st.MaxQueuedTokens, int64(min(rp.load, math.MaxInt32))) // the load only falls
			st.DecodeTokens += kk * int64(m)
			a := int64(rp.allocated) // no block taken: the same every step
			if acc.c == 0 {
				acc.k, acc.lo, acc.hi, acc.sum = int(s.now>>s.iters.shift), a, a, 0
			}
			acc.c += int32(k)
			acc.lo, acc.hi, acc.sum = min(acc.lo, a), max(acc.hi, a), acc.sum+kk*a
			p.n += kk // rp.use, k times (p is memoized: chunkSteps)
			blocks = decodeSteps(ids, reqs, end, d, k, bs, &s.bigGaps)
			s.now += kk * d
			rp.load -= kk * int64(m)
			ctx += kk * int64(m)
			ctxMax += k
			if untilProgress -= k; untilProgress == 0 { // at the last step only (chunkSteps)
				untilProgress = s.opt.ProgressEvery
				s.progress()
			}
			if s.events += 6 * k; s.events&^4095 != (s.events-6)&^4095 { // at the last step only (chunkSteps)
				if err := s.ctx.Err(); err != nil {
					return err
				}
				if err := s.checkBudget(s.cost()); err != nil {
					return err
				}
			}
			same -= k - 1
			steps -= k - 1
			continue
		}
		// Build (nextBatch, buildBatch), schedule (stageSchedule): the members'
		// blocks are allocated below, as they are advanced.
		rp.allocated += blocks
		if v1 {
			rp.step++ // nextBatch's step count (its marks are only compared within a step)
		}
		s.noteDecodeStep(rp, st, &acc, m, p, key, end)
		if !s.opt.SkipBatches && s.opt.KeepMembers {
			s.memberOff = append(s.memberOff, int32(len(s.memberReq)))
			for _, id := range ids {
				r := &reqs[id]
				s.memberReq, s.memberTok = append(s.memberReq, int32(r.id)), append(s.memberTok, 1)
			}
		}
		// End (endBatch at end): every member one token on.
		s.now = end
		st.BusyNs += end
		if s.watch == nil {
			blocks = decodeStep(ids, reqs, end, bs, &s.bigGaps)
		} else {
			blocks = 0
			for _, id := range ids {
				r := &reqs[id]
				if r.processed-r.blocks*bs == 1 {
					r.blocks++
				}
				r.processed++
				if r.processed-r.blocks*bs == 1 {
					blocks++
				}
				r.generated++
				gap := end - r.lastToken
				s.watch.gap(gap)
				// In place (a self-reslice stores no pointer: no GC write
				// barrier, single-threaded under GOOS=js), as decodeStep.
				if n := len(r.tokens); gap < gapEscape && n < cap(r.tokens) {
					r.tokens = r.tokens[:n+1]
					r.tokens[n] = uint32(gap)
				} else {
					r.tokens = appendGap(r.tokens, r.id, gap, end, &s.bigGaps)
				}
				r.lastToken = end
			}
		}
		rp.load -= int64(m)
		ctx += int64(m)
		ctxMax++
		if untilProgress--; untilProgress == 0 { // s.nBatches%s.opt.ProgressEvery == 0
			untilProgress = s.opt.ProgressEvery
			s.progress()
		}
		// The six events: replica schedule, stage arrival, stage schedule,
		// stage end, stage schedule, batch end. What tick checks is the same
		// after each of them here, so one check stands for six.
		if s.events += 6; s.events&^4095 != (s.events-6)&^4095 {
			if err := s.ctx.Err(); err != nil {
				return err
			}
			if err := s.checkBudget(s.cost()); err != nil {
				return err
			}
		}
	}
	return nil
}

// chunkSteps is how many steps of a decode run, from this one (at s.now,
// using p, ending before next), differ only in their times, so that they
// can be taken at once (k > 1), with each step's outputs the same: a run
// keeping no records, with no load-aware router or SLO watch (they take
// every step's values); no member takes a KV block in them (blocks is 0
// now and no member's context reaches its block's end), p holds (same),
// is memoized (rp.use counts it) and in range; every step ends strictly
// before next and within the time limit, in the plot bucket this one
// merges into (acc), and neither a progress report nor a tick's check
// falls before the last of them. 1: take this step alone.
func (s *sim) chunkSteps(chunk bool, rp *replica, ids []int32, reqs []request, p *prediction, inRange bool, blocks, steps, same, untilProgress int, next int64, acc *decodeAcc) int {
	d := p.totalNs
	if !chunk || blocks != 0 || p == &rp.scratch || d <= 0 || d >= gapEscape {
		return 1
	}
	it := &s.iters
	b := s.now >> it.shift
	if len(it.First) < IterBuckets || it.Width <= 0 || b >= IterBuckets || acc.c != 0 && int(b) != acc.k {
		return 1
	}
	k := min(steps, same+1, untilProgress)
	k = min(k, int(((b+1)<<it.shift-1-s.now)/d)+1) // step j starts at s.now + j*d, in bucket b
	if next < math.MaxInt64 {
		k = min(k, int((next-1-s.now)/d)) // step j ends at s.now + (j+1)*d < next
	}
	if s.limit >= 0 {
		k = min(k, int((s.limit-s.now)/d)) // and not past the time limit
	}
	k = min(k, int((s.events&^4095+4096-s.events+5)/6)) // the step whose six events cross a multiple of 4096, at the latest
	bs := rp.cfg.BlockSize
	for _, id := range ids {
		r := &reqs[id]
		k = min(k, 1-(r.processed-r.blocks*bs)) // at step 1-(processed-blocks*bs) the member takes a block
	}
	if !inRange && k > 1 && !(p.totalMs >= 0 && p.totalMs*1e6 <= float64(maxSimNs-(s.now+int64(k-1)*d))) {
		return 1 // decodeRun's range check would fail at a later step (the bound falls as time goes on)
	}
	return k
}

// decodeSteps ends k steps of a decode run in which no member takes a KV
// block, the first ending at end and each d later (decodeStep, k times);
// it returns how many members take a new block in the next step.
func decodeSteps(ids []int32, reqs []request, end, d int64, k, bs int, bigGaps *map[uint64]int64) int {
	blocks := 0
	last := end + int64(k-1)*d
	for _, id := range ids {
		r := &reqs[id]
		r.processed += k
		r.generated += k
		if n, gap := len(r.tokens), end-r.lastToken; gap < gapEscape && n+k <= cap(r.tokens) {
			// In place, as decodeStep writes: a self-reslice stores no
			// pointer (no GC write barrier, dear under GOOS=js).
			r.tokens = r.tokens[:n+k]
			t := r.tokens[n : n+k]
			t[0] = uint32(gap)
			for j := 1; j < k; j++ {
				t[j] = uint32(d)
			}
		} else {
			r.tokens = appendGap(r.tokens, r.id, gap, end, bigGaps)
			for j := 1; j < k; j++ {
				r.tokens = append(r.tokens, uint32(d))
			}
		}
		r.lastToken = last
		if r.processed-r.blocks*bs == 1 {
			blocks++
		}
	}
	return blocks
}

// decodeStep ends one step of a decode run at end (endBatch of an
// all-decode batch): every member one token on, taking the KV block it
// filled; it returns how many members take a new block in the next step.
// A function of its own with few live values: inside decodeRun's loop
// they did not fit Go's wasm registers, and each member paid for the
// reloads.
func decodeStep(ids []int32, reqs []request, end int64, bs int, bigGaps *map[uint64]int64) int {
	blocks := 0
	for _, id := range ids {
		r := &reqs[id]
		if r.processed-r.blocks*bs == 1 {
			r.blocks++
		}
		r.processed++
		if r.processed-r.blocks*bs == 1 {
			blocks++
		}
		r.generated++
		if gap := end - r.lastToken; gap < gapEscape && len(r.tokens) < cap(r.tokens) {
			r.tokens = r.tokens[:len(r.tokens)+1]
			r.tokens[len(r.tokens)-1] = uint32(gap)
		} else {
			r.tokens = appendGap(r.tokens, r.id, gap, end, bigGaps)
		}
		r.lastToken = end
	}
	return blocks
}

// appendGap appends a token's gap (at time t, gap after the one before)
// to request id's store, a gap of gapEscape or more as gapEscape with its
// time in bigGaps.
func appendGap(tokens []uint32, id int, gap, t int64, bigGaps *map[uint64]int64) []uint32 {
	if gap >= gapEscape {
		if *bigGaps == nil {
			*bigGaps = map[uint64]int64{}
		}
		(*bigGaps)[uint64(id)<<32|uint64(len(tokens))] = t
		gap = gapEscape
	}
	return append(tokens, uint32(gap))
}

// decodeAcc gathers consecutive iterations of a decode run in one
// IterStats bucket, to merge them at once (the bucket's count, min, max and
// sum come out the same): each has m requests, m tokens, no prefill, and
// its own KV blocks in use.
type decodeAcc struct {
	k           int
	c           int32
	lo, hi, sum int64 // of the KV blocks in use
}

// flush merges what a gathered into it.
func (a *decodeAcc) flush(it *IterStats, m int) {
	if a.c > 0 {
		n := int64(m)
		it.merge(a.k, a.c, IterValues{n, n, 0, a.lo}, IterValues{n, n, 0, a.hi}, IterValues{int64(a.c) * n, int64(a.c) * n, 0, a.sum})
		a.c = 0
	}
}

// globalSchedule assigns every queued request to a replica (§4).
func (s *sim) globalSchedule() {
	g := s.global
	// Arrival events fire in time order, so g is already sorted by arrival.
	touched := make([]bool, len(s.replicas))
	var lor []int
	if s.cfg.Cluster.GlobalScheduler == "lor" {
		lor = make([]int, s.nRoute)
		for i, rp := range s.replicas[:s.nRoute] {
			lor[i] = rp.waiting.len()
		}
	}
	for _, r := range g {
		var k int
		switch s.cfg.Cluster.GlobalScheduler {
		case "round_robin":
			k = s.rr % s.nRoute
			s.rr++
		case "random":
			k = s.rng.IntN(s.nRoute)
		case "lor":
			for i := range lor {
				if lor[i] < lor[k] {
					k = i
				}
			}
			lor[k]++
		default:
			k = s.route(r)
		}
		r.replica = k
		s.replicas[k].load += r.work()
		s.replicas[k].waiting.pushBack(r)
		touched[k] = true
	}
	s.global = s.global[:0]
	for k, t := range touched {
		if t {
			s.push(event{at: s.now, kind: evReplicaSchedule, replica: int32(k)})
		}
	}
}

// replicaSchedule builds batches while fewer than PP are in flight (§5.1).
func (s *sim) replicaSchedule(rp *replica) {
	for rp.numRunningBatches < len(rp.stages) {
		b := s.buildBatch(rp)
		if b == nil {
			break
		}
		rp.numRunningBatches++
		s.push(event{at: s.now, kind: evStageArrival, replica: int32(rp.id), b: b.slot})
	}
}

// buildBatch asks the replica's scheduler for its next batch and records
// it; nil when there is nothing to run.
func (s *sim) buildBatch(rp *replica) *batch {
	if rp.incoming.len() > 0 {
		rp.admitTransfers()
	}
	b := s.newBatch()
	rp.dec = decodeSums{}
	ms := rp.sched.nextBatch(rp, b.members[:0])
	if len(ms) == 0 && rp.dec.g == 0 {
		s.free = append(s.free, b.slot)
		return nil
	}
	if cap(ms) == cap(b.members) { // the same array (appends that grow it change its capacity): no pointer written
		b.members = b.members[:len(ms)]
	} else {
		b.members = ms
	}
	b.id, b.replica, b.scheduledAt, b.planned = s.nBatches, rp.id, s.now, false
	s.nBatches++
	hit := 0
	if rp.pc != nil {
		hit, rp.pc.stepHit = rp.pc.stepHit, 0
	}
	d := rp.dec
	b.grp, b.dn = d.g, d.n
	pb := predict.Batch{NumRequests: len(ms) + d.g, Prefills: s.pbuf[:0],
		Tokens: d.n + d.g, NumDecodes: d.n + d.g, DecodeContextSum: d.sum, DecodeContextMax: d.max, LogitSeqs: d.n + d.g}
	for _, m := range ms[d.n:] { // the summed decodes were scheduled in their prefill
		r := &s.reqs[m.id]
		pb.Tokens += m.n
		if r.prefillDone {
			pb.NumDecodes++
			pb.DecodeContextSum += int64(r.processed)
			pb.DecodeContextMax = max(pb.DecodeContextMax, r.processed)
			pb.LogitSeqs++
		} else {
			pb.Prefills = append(pb.Prefills, predict.Prefill{Chunk: m.n, Processed: r.processed})
			if r.processed == r.skip { // its first chunk since admission
				pb.NewRequests++
			}
			if r.processed+m.n == r.target {
				pb.LogitSeqs++
			}
		}
		if !r.scheduled {
			r.scheduled = true
			if r.restarts == 0 {
				r.scheduledAt = s.now
			}
			// Its token-gap store, written over the coming iterations one
			// gap at a time, is fresh memory (a page fault every 4 KiB, a
			// cache miss every 16 gaps, each stalling the step's pass over
			// its members): clearing it now, in one sequential write,
			// takes those here and leaves its lines in cache.
			clear(r.tokens[len(r.tokens):cap(r.tokens)])
		}
	}
	if cap(pb.Prefills) != cap(s.pbuf) {
		s.pbuf = pb.Prefills
	}
	b.key = rp.pred.KeyOf(pb)
	b.rec = BatchRecord{Replica: int32(rp.id), ScheduledAt: s.now, KVBlocksInUse: int32(rp.allocated), Key: b.key, PrefixHitTokens: int32(hit),
		QueuedTokens: int32(min(rp.load, math.MaxInt32))}
	st := &s.stats[rp.id]
	st.Batches++
	st.BusyNs -= s.now // + EndAt once known: the sum of EndAt - ScheduledAt
	st.MaxQueuedTokens = max(st.MaxQueuedTokens, int64(b.rec.QueuedTokens))
	if s.loadAware {
		st.Queued.add(s.now, b.rec.QueuedTokens)
	}
	st.PrefillTokens += int64(b.rec.PrefillTokens())
	st.DecodeTokens += int64(b.rec.DecodeTokens())
	s.iters.add(s.now, IterValues{int64(b.rec.Size()), int64(b.rec.Tokens()), int64(b.rec.PrefillTokens()), int64(b.rec.KVBlocksInUse)})
	if rp.pc != nil && (hit > 0 || b.rec.PrefillTokens() > 0) {
		s.prefixPts = append(s.prefixPts, PrefixPoint{At: s.now, Hit: int32(hit), Prefill: int32(b.rec.PrefillTokens())})
	}
	if s.opt.SkipBatches {
		return b
	}
	s.addBatch(b.rec)
	if pp := len(rp.stages); pp > 1 {
		for i := 0; i < 2*pp; i++ {
			s.spans = append(s.spans, 0)
		}
	}
	if s.opt.KeepMembers {
		s.memberOff = append(s.memberOff, int32(len(s.memberReq)))
		for _, m := range ms {
			s.memberReq, s.memberTok = append(s.memberReq, m.id), append(s.memberTok, int32(m.n))
		}
	}
	return b
}

// prediction is a stage's predicted time for one key, and how many stages
// of the run took it.
type prediction struct {
	// The key it was made for and what a stage reads, first: a lookup
	// reads them together (predMemo).
	sk               stageKey
	totalMs          float64
	totalNs, modelNs int64
	n                int64
	padded           int32
	mode             uint8
}

type stageKey struct {
	k predict.Key
	s int32
}

// stagePrediction is rp.pred.Stage(k, s) with its times in ns, memoized per
// replica: a lightly loaded replica predicts the same key for many
// iterations in a row.
func (rp *replica) stagePrediction(k predict.Key, s int32) (*prediction, error) {
	sk := stageKey{k, s}
	h := sk.hash()
	if p := rp.lastPred; p >= 0 && rp.lastHash == h && rp.lastKey.eq(&sk) { // consecutive iterations often share a key: no table lookup
		return rp.preds.at(p), nil
	}
	if i, ok := rp.memo.get(&sk, h, &rp.preds); ok {
		rp.lastKey, rp.lastHash, rp.lastPred = sk, h, i
		return rp.preds.at(i), nil
	}
	bd, err := rp.pred.Stage(k, int(s))
	if err != nil {
		return nil, err
	}
	return rp.remember(sk, h, prediction{totalMs: bd.TotalMs(), totalNs: predict.Nanos(bd.TotalMs()), modelNs: predict.Nanos(bd.ModelMs())}, &bd), nil
}

func (rp *replica) remember(sk stageKey, h uint64, p prediction, bd *predict.Breakdown) *prediction {
	if rp.preds.n >= maxPredictions { // bounded: a saturated run predicts a new key almost every iteration
		rp.scratch, rp.scratchBD, rp.lastPred = p, *bd, -1
		return &rp.scratch
	}
	p.sk = sk
	i := rp.preds.add(p, bd)
	rp.memo.put(h, i)
	rp.lastKey, rp.lastHash, rp.lastPred = sk, h, i
	return rp.preds.at(i)
}

// predStore holds a replica's memoized predictions in chunks of predChunk
// (the first grown as a slice is): appending past the first never copies
// them (a saturated run makes thousands). Their breakdowns, which only
// termSums reads, are kept apart (bds, in the same chunks), so that a
// lookup's prediction is two cache lines, not four.
type predStore struct {
	chunks [][]prediction
	bds    [][]predict.Breakdown
	n      int32
}

const predChunk = 512

func (ps *predStore) at(i int32) *prediction { return &ps.chunks[i/predChunk][i%predChunk] }

func (ps *predStore) bdAt(i int32) *predict.Breakdown { return &ps.bds[i/predChunk][i%predChunk] }

// add appends p with its breakdown and returns its index.
func (ps *predStore) add(p prediction, bd *predict.Breakdown) int32 {
	switch {
	case ps.n == 0:
		ps.chunks, ps.bds = append(ps.chunks, nil), append(ps.bds, nil)
	case ps.n%predChunk == 0:
		ps.chunks, ps.bds = append(ps.chunks, make([]prediction, 0, predChunk)), append(ps.bds, make([]predict.Breakdown, 0, predChunk))
	}
	c := &ps.chunks[len(ps.chunks)-1]
	*c = append(*c, p)
	d := &ps.bds[len(ps.bds)-1]
	*d = append(*d, *bd)
	ps.n++
	return ps.n - 1
}

// maxPredictions bounds the predictions a replica memoizes (~250 B each).
const maxPredictions = 1 << 15

// use counts one stage that took prediction p (for termSums).
func (rp *replica) use(p *prediction) {
	if p != &rp.scratch { // small enough to inline: one call fewer per iteration
		p.n++
		return
	}
	rp.useScratch(p)
}

func (rp *replica) useScratch(*prediction) {
	for k, v := range rp.scratchBD.Terms() {
		rp.extraTerms[k] += v
	}
}

// termSums sums every stage's predicted time by term: per replica, each
// memoized prediction times the stages that took it, in the order the
// predictions were first made, then those past the memo's bound, as used.
func (s *sim) termSums() [predict.NumTerms]float64 {
	var sum [predict.NumTerms]float64
	for _, rp := range s.replicas {
		for i := range rp.preds.n {
			n := float64(rp.preds.at(i).n)
			for k, v := range rp.preds.bdAt(i).Terms() {
				sum[k] += v * n
			}
		}
		for k, v := range rp.extraTerms {
			sum[k] += v
		}
	}
	return sum
}

// gapArena hands out the requests' token-gap stores from shared chunks:
// one allocation per gapChunk gaps instead of one per request (allocation
// is dear under GOOS=js, and 100k small objects are GC work everywhere).
// A request's store is capped at its own length, so an append past it
// (never expected) copies instead of writing into its neighbour's.
type gapArena struct {
	buf  []uint32
	left int64 // gaps still to hand out (a chunk is no larger)
}

// gapChunk is the most gaps in a shared chunk (4 MiB); a request longer
// than a sixteenth of it gets a store of its own, so that at most that
// much of a chunk is left unused at its end.
const gapChunk = 1 << 20

// take returns an empty store with room for n gaps.
func (a *gapArena) take(n int) []uint32 {
	a.left -= int64(n)
	if n > gapChunk/16 {
		return make([]uint32, 0, n)
	}
	if len(a.buf)+n > cap(a.buf) {
		a.buf = make([]uint32, 0, max(n, int(min(a.left+int64(n), gapChunk))))
	}
	k := len(a.buf)
	a.buf = a.buf[:k+n]
	return a.buf[k : k : k+n]
}

// gapEscape marks a token gap of 2^32-1 ns (4.3 s) or more in
// request.tokens; the token's time is in sim.bigGaps.
const gapEscape = math.MaxUint32

// commit copies b's record to the kept records (none with SkipBatches).
func (s *sim) commit(b *batch) {
	if !s.opt.SkipBatches {
		s.batches[b.id] = b.rec
	}
}

// newBatch reuses a finished batch when one is free.
func (s *sim) newBatch() *batch {
	if n := len(s.free); n > 0 {
		b := s.allBatches[s.free[n-1]-1]
		s.free = s.free[:n-1]
		return b
	}
	b := &batch{}
	s.allBatches = append(s.allBatches, b)
	b.slot = int32(len(s.allBatches))
	return b
}

// batchAt is the batch an event names (event.b); nil for none.
func (s *sim) batchAt(i int32) *batch {
	if i == 0 {
		return nil
	}
	return s.allBatches[i-1]
}

// slotOf is b's event.b (0 for nil).
func slotOf(b *batch) int32 {
	if b == nil {
		return 0
	}
	return b.slot
}

func (s *sim) stageSchedule(rid, sid int32) error {
	rp := s.replicas[rid]
	st := &rp.stages[sid]
	if st.busy || len(st.queue) == 0 {
		return nil
	}
	st.busy = true
	b := s.batchAt(st.queue[0])
	n := copy(st.queue, st.queue[1:])
	st.queue = st.queue[:n]
	m, err := rp.stagePrediction(b.key, sid)
	if err != nil {
		return s.stepError(rp, b, err)
	}
	// A profile cell or an extrapolation can predict any finite time: refuse
	// one that would take simulated time past int64 instead of wrapping.
	if ms := m.totalMs; !(ms >= 0 && ms*1e6 <= float64(maxSimNs-s.now)) {
		return fmt.Errorf("batch %d at t=%d ns: predicted stage time %g ms takes simulated time past %d ns (a profile time out of range?)", b.id, s.now, ms, maxSimNs)
	}
	d := m.totalNs
	rp.use(m)
	rec := &b.rec
	rec.ModelNs += m.modelNs
	rec.TotalNs += d
	s.commit(b)
	if pp := len(rp.stages); pp > 1 && !s.opt.SkipBatches {
		s.spans[2*(b.id*pp)+2*int(sid)] = s.now
		s.spans[2*(b.id*pp)+2*int(sid)+1] = s.now + d
	}
	s.push(event{at: s.now + d, kind: evStageEnd, replica: rid, stage: sid, b: b.slot})
	return nil
}

// batchEnd advances each member (Vidur's request.on_batch_end) and lets the
// scheduler re-queue or free them.
func (s *sim) batchEnd(rp *replica, b *batch) {
	s.endBatch(rp, b)
	s.push(event{at: s.now, kind: evReplicaSchedule, replica: int32(rp.id)})
}

// endBatch is batchEnd without queueing the replica's schedule.
func (s *sim) endBatch(rp *replica, b *batch) {
	b.rec.EndAt = s.now
	s.commit(b)
	s.stats[rp.id].BusyNs += s.now
	s.advanceEnd(rp, b, s.now)
	rp.numRunningBatches--
	s.free = append(s.free, b.slot)
	if s.nBatches%s.opt.ProgressEvery == 0 {
		s.progress()
	}
}

// advanceEnd is advance then the scheduler's onBatchEnd. For a scheduler
// whose onBatchEnd is defaultOnBatchEnd, on a replica without a prefix
// cache that hands nothing off, the two run as one pass over the members:
// advancing a member reads nothing that re-queueing or freeing an earlier
// one changes (its own request, the replica's load, the event queue and
// the sink), so the state after the pass is the same.
func (s *sim) advanceEnd(rp *replica, b *batch, t int64) {
	switch rp.sched.(type) {
	case sarathi, vllm, orca, lightLLM:
		if rp.pc == nil && !rp.prefillOnly {
			if s.watch != nil {
				s.advanceWatched(rp, b, t, true)
				return
			}
			s.advanceMembers(rp, b, t, true)
			return
		}
	}
	if s.watch != nil {
		s.advanceWatched(rp, b, t, false)
	} else {
		s.advanceMembers(rp, b, t, false)
	}
	rp.sched.onBatchEnd(rp, b)
}

// advanceMembers moves each member of b on by the tokens it computed, as if
// b ended at t (Vidur's request.on_batch_end): a completed prompt produces
// the first token, every later step one more; finished requests are done
// at t and release their closed-loop turns. With requeue, each member is
// then re-queued or freed as defaultOnBatchEnd does, in the same pass.
func (s *sim) advanceMembers(rp *replica, b *batch, t int64, requeue bool) {
	reqs := s.reqs
	fast := s.watch == nil
	if b.grp > 0 { // the group's members lead the batch
		s.groupStepEnd(rp, t)
	}
	join := 0 // the leading decodes that may join the group, in order, until one may not
	if rp.grp.on && requeue {
		join = b.dn
	}
	bs := rp.cfg.BlockSize
	for i, m := range b.members {
		r := &reqs[m.id]
		r.processed += m.n
		rp.load -= int64(m.n)
		// A decode that does not finish, with no SLO watch and a gap that
		// fits (almost every member at load): its gap written in place (a
		// self-reslice stores no pointer: no GC write barrier, no append).
		if gap := t - r.lastToken; fast && r.prefillDone && r.firstToken >= 0 && r.generated+1 < r.decode && gap < gapEscape && len(r.tokens) < cap(r.tokens) {
			r.generated++
			r.tokens = r.tokens[:len(r.tokens)+1]
			r.tokens[len(r.tokens)-1] = uint32(gap)
			r.lastToken = t
		} else {
			s.advanceSlow(rp, r, t)
		}
		if requeue {
			if r.done {
				rp.release(r)
			} else if i < join && joinable(r, bs) {
				rp.grp.join(r, bs)
			} else {
				join = 0
				if !r.leaving {
					rp.running.pushBack(r)
				}
			}
		}
	}
}

// advanceSlow is advanceMembers' general case for r, whose processed
// count and the replica's load have been advanced.
func (s *sim) advanceSlow(rp *replica, r *request, t int64) {
	if !r.prefillDone {
		if rp.pc != nil {
			rp.cacheComputed(r)
		}
		if r.processed < r.target {
			return
		}
		if rp.prefillOnly {
			r.prefillDone = true
			s.handoff(rp, r, t)
			return
		}
		rp.load-- // its first output token
		r.prefillDone = true
		r.processed++ // the last prefill chunk also produces the first token (§1.5)
	}
	r.generated++
	if r.firstToken < 0 {
		r.firstToken = t
		r.tokens = append(r.tokens, 0)
		if s.watch != nil {
			s.watch.firstToken(r, t)
		}
	} else {
		gap := t - r.lastToken
		if s.watch != nil {
			s.watch.gap(gap)
		}
		// In place when it fits: assigning append's result stores the
		// slice's pointer, through the GC write barrier while a collection
		// runs (single-threaded under GOOS=js: 9% of a search's watched
		// trials, every member of which comes here); a self-reslice stores
		// none. Written out here, not in a function: a call per token costs
		// in wasm.
		if n := len(r.tokens); gap < gapEscape && n < cap(r.tokens) {
			r.tokens = r.tokens[:n+1]
			r.tokens[n] = uint32(gap)
		} else {
			r.tokens = appendGap(r.tokens, r.id, gap, t, &s.bigGaps)
		}
	}
	r.lastToken = t
	if r.generated == r.decode {
		r.done = true
		r.completedAt = t
		if s.watch != nil {
			s.watch.completed(r, t)
		}
		s.done++
		s.release(r, t) // closed-loop turns waiting on r arrive after t
		if r.id == s.emitted {
			s.emit(false)
		}
	}
}

// release schedules the arrivals of the closed-loop requests waiting on r,
// which finished (or was rejected) at t: each arrives its delay later, and
// not before its own earliest time. Their events are ordered by time, then
// by creation (here: by request ID), so runs stay deterministic.
func (s *sim) release(r *request, t int64) {
	if s.holding && r.firstChild >= 0 {
		s.held++ // stamped releases it at the step's stamp
		return
	}
	for c := r.firstChild; c >= 0; c = s.reqs[c].nextSibling {
		k := &s.reqs[c]
		at := max(t+k.delay, k.notBefore, s.now)
		s.push(event{at: at, kind: evArrival, req: c})
	}
}

// addBatch appends a step's record to the run's, doubling the slice when it
// is full (append grows a large slice by 1.25x, copying it over and over).
func (s *sim) addBatch(rec BatchRecord) {
	if len(s.batches) == cap(s.batches) {
		s.batches = slices.Grow(s.batches, max(len(s.batches), 1024))
	}
	s.batches = append(s.batches, rec)
}

// stepRecord is the record of a step launched now on rp and ending at end,
// of prediction p at key, with queued tokens waiting: the fast paths' steps,
// which keep no member list.
func (s *sim) stepRecord(rp *replica, end int64, key predict.Key, queued int32, p *prediction) BatchRecord {
	return BatchRecord{Replica: int32(rp.id), ScheduledAt: s.now, EndAt: end, KVBlocksInUse: int32(rp.allocated), Key: key,
		QueuedTokens: queued, ModelNs: p.modelNs, TotalNs: p.totalNs}
}

// noteDecodeStep is a decode run's bookkeeping for one step of m decoding
// members, launched now and ending at end with prediction p at key: the
// replica's counts and busy time (its end is added when the step ends), the
// iteration statistics (merged in acc while the steps share a plot bucket),
// the load-aware queue, the prediction's use and, unless skipped, the step's
// record. decodeRun and groupDecodeRun share it.
func (s *sim) noteDecodeStep(rp *replica, st *ReplicaStats, acc *decodeAcc, m int, p *prediction, key predict.Key, end int64) {
	s.nBatches++
	queued := int32(min(rp.load, math.MaxInt32))
	st.Batches++
	st.BusyNs -= s.now
	st.MaxQueuedTokens = max(st.MaxQueuedTokens, int64(queued))
	st.DecodeTokens += int64(m)
	if it := &s.iters; len(it.First) >= IterBuckets && it.Width > 0 && s.now>>it.shift < IterBuckets && (acc.c == 0 || int(s.now>>it.shift) == acc.k) {
		a := int64(rp.allocated)
		if acc.c == 0 {
			acc.k, acc.lo, acc.hi, acc.sum = int(s.now>>it.shift), a, a, 0
		}
		acc.c++
		acc.lo, acc.hi, acc.sum = min(acc.lo, a), max(acc.hi, a), acc.sum+a
	} else {
		acc.flush(it, m)
		it.add(s.now, IterValues{int64(m), int64(m), 0, int64(rp.allocated)})
	}
	if s.loadAware {
		st.Queued.add(s.now, queued)
	}
	rp.use(p)
	if !s.opt.SkipBatches {
		s.addBatch(s.stepRecord(rp, end, key, queued, p))
	}
}

// newRequest is workload request w as request i of a run, before it
// arrives: nothing scheduled, no replica, no closed-loop links.
func newRequest(i int, w workload.Request) request {
	return request{id: i, arrival: w.ArrivalNs, prefill: w.Prefill, decode: w.Decode, target: w.Prefill,
		scheduledAt: -1, firstToken: -1, completedAt: -1, replica: -1, firstChild: -1, lastChild: -1, nextSibling: -1, prefillReplica: -1}
}
