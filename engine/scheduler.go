package engine

import (
	"fmt"

	"github.com/servesim/servesim/engine/predict"
)

// replica is one model instance's scheduler state (Vidur's ReplicaScheduler
// with its block allocator and stage schedulers).
type replica struct {
	id    int
	cfg   *SchedulerConfig
	res   *Resolved
	sched replicaScheduler

	waiting queue // FIFO; restarted requests go to the front
	running queue // Vidur's "running"/preempted list

	numBlocks, allocated int
	numAllocated         int // requests holding blocks (len(allocation_map))
	numRunningBatches    int
	numRestarts          int
	stages               []stage
	// faster_transformer: batches waiting to continue; lightllm: counter.
	ftBatches        [][]*request
	numWaitingIters  int
	prefillBuf       []*request // vllm_v1 scratch
	prefillIDs       []int32    // sarathi scratch
	dec              decodeSums // the batch being built's leading decodes, summed by nextBatch (sarathi)
	memo             predMemo   // predictions by key (stagePrediction)
	preds            predStore
	lastKey          stageKey // the latest prediction's key, its hash and index (-1: none)
	lastHash         uint64
	lastPred         int32
	scratch          prediction                // a prediction past maxPredictions, not memoized
	scratchBD        predict.Breakdown         // its breakdown
	extraTerms       [predict.NumTerms]float64 // the terms of the stages that took one
	step, admissions int64                     // vllm_v1: steps built, requests admitted
	// Engine timing: the host loop is running or waiting (hostBusy), the
	// step launched and not yet advanced, and finished requests whose
	// blocks are freed when their step's outputs are processed.
	hostBusy, deferFree bool
	idleSince, wokeAt   int64 // when the host loop last went idle, and last woke from idle (ns)
	launched            *batch
	// eagerLaunched are the token counts this replica has launched as eager
	// steps (engine.json eager_launch first_ms: a count's first launch
	// costs more); nil until the first.
	eagerLaunched map[int32]struct{}
	deferred      []*request
	// Prefix caching (prefix.go): nil when off.
	pc                    *prefixCache
	prefillSaved, evicted int64
	// load is the replica's queued tokens (routing.go).
	load int64
	// Disaggregation (disagg.go): a prefill replica hands requests off when
	// their prefill completes; a decode replica admits transferred ones
	// from incoming. pred is the replica's predictor (its pool's TP).
	prefillOnly bool
	incoming    queue
	pred        *predict.Predictor
	reqs        []request // the run's requests, which queues and members index
	// The largest values compared with the batch cap (capfree.go).
	capAlloc, capMicro int
	// The decodes carried from step to step (decodegroup.go), and the
	// run's sim.bigGaps, where settling a member may write.
	grp     decodeGroup
	bigGaps *map[uint64]int64
}

// decodeSums are the first n members of a batch that nextBatch returns,
// each a decode of one token (prefill done), summed as buildBatch sums
// them: their contexts' sum and longest. A scheduler that fills it sums
// them as it takes them, so that buildBatch need not pass over them again;
// n 0: none summed.
type decodeSums struct {
	n   int
	sum int64
	max int
	// g: the replica's decode group (decodegroup.go) was taken too, g
	// members ahead of the batch's members, not among them (sum includes
	// their contexts; max does not: the group is only carried where the
	// key does not read it).
	g int
}

type stage struct {
	queue []int32 // batches by event.b
	busy  bool
}

// replicaScheduler builds the next batch and reacts to batch ends.
type replicaScheduler interface {
	nextBatch(rp *replica, buf []member) []member
	onBatchEnd(rp *replica, b *batch)
}

// member is one request's share of a batch: its index into the run's
// requests (not a pointer, for the reason queue gives) and its tokens.
type member struct {
	id int32
	n  int // tokens processed for the request in this batch
}

func memberOf(r *request, n int) member { return member{int32(r.id), n} }

// setReqs points the replica's queues at the run's requests.
func (rp *replica) setReqs(reqs []request) {
	rp.reqs = reqs
	rp.waiting.reqs, rp.running.reqs, rp.incoming.reqs = reqs, reqs, reqs
}

// schedulers is the one table of replica schedulers.
var schedulers = map[string]func() replicaScheduler{
	"sarathi":            func() replicaScheduler { return sarathi{} },
	"vllm_v1":            func() replicaScheduler { return vllmV1{} },
	"vllm":               func() replicaScheduler { return vllm{} },
	"orca":               func() replicaScheduler { return orca{} },
	"faster_transformer": func() replicaScheduler { return fasterTransformer{} },
	"lightllm":           func() replicaScheduler { return lightLLM{} },
}

// --- request queues -----------------------------------------------------

// queue is a deque of requests that reuses its backing array: popping the
// front moves a head index instead of re-slicing, so steady-state pushes and
// pops allocate nothing. It holds the requests' indices into reqs (the
// run's requests), not pointers: a pointer stored in the heap costs a GC
// write barrier while a collection runs, dear under GOOS=js, and the
// running list is pushed and popped once per decode token.
type queue struct {
	s    []int32
	h    int
	reqs []request
}

func (q *queue) len() int        { return len(q.s) - q.h }
func (q *queue) front() *request { return &q.reqs[q.s[q.h]] }
func (q *queue) ids() []int32    { return q.s[q.h:] }

func (q *queue) popFront() *request {
	id := q.s[q.h]
	q.h++
	if q.h == len(q.s) {
		q.s, q.h = q.s[:0], 0
	}
	return &q.reqs[id]
}

func (q *queue) popBack() *request {
	n := len(q.s) - 1
	id := q.s[n]
	q.s = q.s[:n]
	if q.h == len(q.s) {
		q.s, q.h = q.s[:0], 0
	}
	return &q.reqs[id]
}

func (q *queue) pushBack(r *request) {
	if q.h > 0 && len(q.s) == cap(q.s) {
		n := copy(q.s, q.s[q.h:])
		q.s, q.h = q.s[:n], 0
	}
	q.s = append(q.s, int32(r.id))
}

func (q *queue) pushFront(r *request) {
	if q.h > 0 {
		q.h--
		q.s[q.h] = int32(r.id)
		return
	}
	q.s = append(q.s, 0)
	copy(q.s[1:], q.s)
	q.s[0] = int32(r.id)
}

func (q *queue) clear() {
	q.s, q.h = q.s[:0], 0
}

// --- block allocator (Vidur §5.1) ----------------------------------------

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// canAllocate is Vidur's admission test: a new request needs its prompt's
// blocks above the watermark; one that holds blocks needs one free block.
func (rp *replica) canAllocate(r *request) bool {
	if r.blocks == 0 {
		return rp.canAdmit(r, 0, 0)
	}
	return rp.numBlocks-rp.allocated >= 1
}

// canAdmit is canAllocate for a new request that would reuse hit cached
// blocks, unref of them unreferenced (they stop being evictable).
func (rp *replica) canAdmit(r *request, hit, unref int) bool {
	return rp.numBlocks-rp.allocated-(ceilDiv(r.target, rp.cfg.BlockSize)-hit+unref) >= rp.res.WatermarkBlocks
}

// allocateRequest reserves a new request's prompt blocks, or the one block
// a decode step may need.
func (rp *replica) allocateRequest(r *request) {
	if r.blocks == 0 {
		rp.allocate(r, ceilDiv(r.target, rp.cfg.BlockSize))
		return
	}
	need := r.processed - r.blocks*rp.cfg.BlockSize
	if need < 0 {
		need = 0
	}
	if need > 1 {
		panic(fmt.Sprintf("engine: request %d needs %d tokens of new KV in one step", r.id, need))
	}
	if need == 1 {
		rp.allocate(r, 1)
	}
}

func (rp *replica) allocate(r *request, n int) {
	if r.blocks == 0 {
		rp.numAllocated++
	}
	if rp.pc != nil {
		rp.makeRoom(n)
	}
	r.blocks += n
	rp.allocated += n
	if rp.allocated > rp.numBlocks {
		panic(fmt.Sprintf("engine: replica %d over-allocated KV blocks (%d > %d)", rp.id, rp.allocated, rp.numBlocks))
	}
}

// release frees a finished request's blocks, or, while the engine timing
// model advances a step that is still running, when its outputs are
// processed (freeBlocks). Either way the request stops counting against
// batch_size_cap at once: an engine scheduling one step ahead treats the
// step in flight as done, so a sequence finishing in it leaves the running
// set that the next step is scheduled from (the reference engine's
// Scheduler._retire) while its blocks are still held.
func (rp *replica) release(r *request) {
	if rp.deferFree {
		if r.blocks > 0 {
			rp.numAllocated--
			rp.deferred = append(rp.deferred, r)
		}
		return
	}
	rp.free(r)
}

func (rp *replica) free(r *request) {
	if r.blocks == 0 {
		return
	}
	rp.freeBlocks(r)
	rp.numAllocated--
}

// freeBlocks returns r's blocks to the pool (to the prefix cache when there
// is one).
func (rp *replica) freeBlocks(r *request) {
	if r.blocks == 0 {
		return
	}
	if rp.pc != nil {
		rp.freeHeld(r)
	} else {
		rp.allocated -= r.blocks
	}
	r.blocks = 0
}

// admitOrPreempt runs Vidur's decode admission loop: while r cannot get a
// block, evict the latest-arrived running request (restart it); if none is
// left, restart r itself. It reports whether r may run.
func (rp *replica) admitOrPreempt(r *request) bool {
	for !rp.canAllocate(r) {
		if rp.running.len() > 0 {
			rp.restart(rp.running.popBack())
			continue
		}
		rp.restart(r)
		return false
	}
	return true
}

// admitDecode is admitOrPreempt then allocateRequest for a decode, with
// the common case (the request holds blocks and one is free) inline: it runs
// once per decode token, the engine's hottest path.
func (rp *replica) admitDecode(r *request) bool {
	if r.blocks > 0 && rp.numBlocks-rp.allocated >= 1 {
		switch need := r.processed - r.blocks*rp.cfg.BlockSize; {
		case need == 1:
			if rp.pc != nil {
				rp.makeRoom(1)
			}
			r.blocks++
			rp.allocated++
		case need > 1:
			rp.allocateRequest(r) // reports the broken invariant
		}
		return true
	}
	if !rp.admitOrPreempt(r) {
		return false
	}
	rp.allocateRequest(r)
	return true
}

// restart is recompute preemption: free the KV and re-queue the request at
// the front, to re-prefill its prompt plus the tokens it has generated.
func (rp *replica) restart(r *request) {
	rp.numRestarts++
	rp.load -= r.work()
	r.restart()
	rp.load += r.work()
	rp.free(r)
	rp.waiting.pushFront(r)
}

// sortRunning orders the running list by arrival (ties by id). The list is
// almost always sorted already, so insertion sort is linear in practice.
func (rp *replica) sortRunning() {
	if rp.running.len() > 1 { // inlined: every Sarathi and vLLM step calls it, most with one running request or none (the decode group's are apart)
		rp.sortAll()
	}
}

func (rp *replica) sortAll() {
	s, reqs := rp.running.ids(), rp.reqs // reqs held: the swaps below could alias rp's fields, so rp.reqs would be loaded again for every comparison
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && reqs[s[j]].before(&reqs[s[j-1]]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// defaultOnBatchEnd frees finished requests and re-queues the rest as running.
func defaultOnBatchEnd(rp *replica, b *batch) {
	for _, m := range b.members {
		r := &rp.reqs[m.id]
		if r.done {
			rp.release(r)
		} else if !r.leaving {
			rp.running.pushBack(r)
		}
	}
}

// nextTokens is the default next-token count: 1 for a decode, else the rest
// of the prompt (schedulers without chunking).
func nextTokens(r *request) int {
	if r.prefillDone {
		return 1
	}
	return r.target - r.processed
}
