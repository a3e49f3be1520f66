package engine

import (
	"fmt"
	"slices"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/workload"
)

// Result is everything a run produced. Times are ns since run start.
type Result struct {
	Config   Config
	Resolved Resolved
	Profile  predict.Meta
	// ProfileOrigin says where the profile set came from.
	ProfileOrigin string
	Workload      WorkloadInfo
	Requests      []RequestResult
	// Batches are the iterations' records, nil with Options.SkipBatches.
	Batches []BatchRecord
	// NumBatches counts the iterations (batches built).
	NumBatches int
	// Replicas are per-replica totals over the batches.
	Replicas []ReplicaStats
	// Iterations are the iterations' sizes for plots, kept whether or not
	// Batches are.
	Iterations IterStats
	// TermMs sums every stage's predicted time by term (predict.TermNames),
	// in ms.
	TermMs [predict.NumTerms]float64
	// PrefixPoints are, under prefix caching, the batches that hit the cache
	// or prefilled, in batch order.
	PrefixPoints []PrefixPoint
	// EndNs is the time of the last event.
	EndNs int64
	// Restarts counts recompute preemptions over all replicas.
	Restarts int
	// PrefixCache holds the prefix-cache totals; nil when prefix caching is off.
	PrefixCache *PrefixCacheStats
	// Disagg holds the disaggregation totals; nil when off.
	Disagg *DisaggStats
	// Extrapolated counts predictor lookups outside the profiled grids.
	Extrapolated int
	// TimingModel is the timing model the run used ("vidur" or "engine"),
	// and Engine the profile set's engine.json under engine timing.
	TimingModel string
	Engine      *predict.EngineSpec
	// Stopped is set when Options.StopOnSLOFail ended the run early.
	Stopped *SLOStop
	// BatchCapFreeFrom: every simulated time and count of the run (its
	// requests', tokens' and iterations' records, stopped or not) is the
	// same under every batch_size_cap from this one up, all else equal; 0
	// when not shown (the cap bound, or a scheduler other than sarathi and
	// vllm, or disaggregation). A capacity search reuses such a run for the
	// points that differ from it only in a cap from there up.
	BatchCapFreeFrom int

	spans                []int64 // PP > 1 only: per batch and stage, start and end
	memberOff            []int32 // KeepMembers only: batch b's members are [memberOff[b], memberOff[b+1])
	memberReq, memberTok []int32
	bigGaps              map[uint64]int64 // token times whose gap is gapEscape, by request<<32 | token index
	pred                 *predict.Predictor
	decodePred           *predict.Predictor // disaggregation: the decode pool's
}

// WorkloadInfo describes the workload that ran.
type WorkloadInfo struct {
	Format workload.Format `json:"format"`
	Files  []string        `json:"files"`
	Notes  []string        `json:"notes"`
	// BlockTokens is the workload's hash_ids block size (0: none).
	BlockTokens int `json:"-"`
}

// RequestResult is one request's outcome. Times are -1 when they never
// happened (a rejected or unfinished request).
type RequestResult struct {
	ID           int
	PromptID     string
	Replica      int
	ArrivalNs    int64
	ScheduledNs  int64
	FirstTokenNs int64
	CompletionNs int64
	Prefill      int // as given (after the workload's scaling/clipping)
	Decode       int
	DecodeActual int // output tokens actually produced
	Restarts     int
	Status       string
	// CachedPrefill is the prompt tokens found in the prefix cache at the
	// request's first admission (not prefilled); 0 without prefix caching.
	CachedPrefill int
	// PrefillReplica is the prefill replica of a disaggregated request (its
	// Replica is the decode replica), -1 otherwise; TransferNs its KV
	// transfer time.
	PrefillReplica int
	TransferNs     int64
	tokens         []uint32
}

// ReplicaStats are one replica's totals over its batches.
type ReplicaStats struct {
	Batches         int
	BusyNs          int64 // sum of EndAt - ScheduledAt
	PrefillTokens   int64
	DecodeTokens    int64
	MaxQueuedTokens int64 // the largest BatchRecord.QueuedTokens
	// Queued is BatchRecord.QueuedTokens over time (by ScheduledAt).
	Queued PeakSeries
}

// IterBuckets is the most time buckets IterStats keeps, and the most
// iterations it keeps one by one (about a chart's width in pixels).
const IterBuckets = 1000

// IterStats are a run's iterations, for plots, in memory independent of
// their number: the first IterBuckets one by one, and all of them in time
// buckets by when they were scheduled. Bucket j holds the iterations
// scheduled in [j*Width, (j+1)*Width); Width is the least power of two
// (ns) that puts every iteration in one of IterBuckets buckets. Each value
// (IterValues) is kept as min, max and sum over the bucket.
type IterStats struct {
	First []IterPoint
	Width int64
	Count [IterBuckets]int32
	Min   [IterBuckets]IterValues
	Max   [IterBuckets]IterValues
	Sum   [IterBuckets]IterValues
	shift uint // Width is 1 << shift
}

// IterValues are an iteration's batch size, tokens, prefill tokens and KV
// blocks in use (or their min, max or sum over a bucket).
type IterValues [4]int64

// IterPoint is one iteration: when it was scheduled and its values.
type IterPoint struct {
	At int64
	V  IterValues
}

func (it *IterStats) add(at int64, v IterValues) {
	if len(it.First) < IterBuckets {
		it.First = append(it.First, IterPoint{At: at, V: v})
	}
	if it.Width == 0 {
		it.Width = 1
	}
	for at>>it.shift >= IterBuckets { // double the width: bucket j into j/2
		for j := 0; j < IterBuckets; j++ {
			c := it.Count[j]
			if c == 0 {
				continue
			}
			k := j / 2
			if k != j {
				it.merge(k, c, it.Min[j], it.Max[j], it.Sum[j])
				it.Count[j] = 0
			}
		}
		it.shift++
		it.Width = 1 << it.shift
	}
	// merge(k, 1, v, v, v), without passing three copies of v (calls and
	// their arguments are dear under GOOS=js; this runs every iteration).
	k := int(at >> it.shift)
	if it.Count[k] == 0 {
		it.Min[k], it.Max[k], it.Sum[k] = v, v, v
	} else {
		lo, hi, sum := &it.Min[k], &it.Max[k], &it.Sum[k]
		for i, x := range v {
			lo[i] = min(lo[i], x)
			hi[i] = max(hi[i], x)
			sum[i] += x
		}
	}
	it.Count[k]++
}

// merge adds c iterations of min lo, max hi and sum sum to bucket k.
func (it *IterStats) merge(k int, c int32, lo, hi, sum IterValues) {
	if it.Count[k] == 0 {
		it.Min[k], it.Max[k], it.Sum[k] = lo, hi, sum
	} else {
		for i := range lo {
			it.Min[k][i] = min(it.Min[k][i], lo[i])
			it.Max[k][i] = max(it.Max[k][i], hi[i])
			it.Sum[k][i] += sum[i]
		}
	}
	it.Count[k] += c
}

// LoadBuckets is the number of time buckets of PeakSeries.
const LoadBuckets = 200

// PeakSeries is a value's largest sample per time bucket, in memory
// independent of the number of samples: bucket j covers [j*Width,
// (j+1)*Width), Width the least power of two (ns) that puts every sample in
// one of LoadBuckets buckets.
type PeakSeries struct {
	Width int64
	Seen  [LoadBuckets]bool
	Max   [LoadBuckets]int32
}

func (p *PeakSeries) add(at int64, v int32) {
	if p.Width == 0 {
		p.Width = 1
	}
	for at/p.Width >= LoadBuckets {
		for j := 1; j < LoadBuckets; j++ {
			if !p.Seen[j] {
				continue
			}
			k := j / 2
			if !p.Seen[k] || p.Max[j] > p.Max[k] {
				p.Max[k], p.Seen[k] = p.Max[j], true
			}
			p.Seen[j] = false
		}
		p.Width *= 2
	}
	j := at / p.Width
	if !p.Seen[j] || v > p.Max[j] {
		p.Max[j], p.Seen[j] = v, true
	}
}

// PrefixPoint is a batch's prefix-cache use: when it was scheduled, the
// prompt tokens its admissions found cached and the prompt tokens it
// prefilled.
type PrefixPoint struct {
	At           int64
	Hit, Prefill int32
}

// Member is a request's share of a batch.
type Member struct {
	Request int
	Tokens  int
}

// BatchRecord is one iteration; its id is its index in Result.Batches.
// It is kept compact: a light-load run of 100k requests has ~10M of them.
type BatchRecord struct {
	ScheduledAt   int64
	EndAt         int64
	ModelNs       int64 // GPU time, summed over stages
	TotalNs       int64 // including CPU overhead, summed over stages (engine timing: host + GPU + sync)
	HostNs        int64 // engine timing: host time to schedule, prepare and launch the step
	Key           predict.Key
	Replica       int32
	KVBlocksInUse int32 // after this batch's allocations
	Padded        int32 // engine timing: the size its non-attention kernels ran at
	// PrefixHitTokens are the prompt tokens that requests admitted in this
	// batch found in the prefix cache (prefix caching only).
	PrefixHitTokens int32
	// QueuedTokens is the replica's queued tokens when the batch was built
	// (prompt tokens still to prefill plus output tokens still to generate
	// of the requests routed to it; saturated at 2^31-1).
	QueuedTokens int32
	Mode         uint8 // engine timing: graph, graph_mixed or eager (ModeName)
}

// LaunchedAt is when the host finished launching the step (engine timing;
// ScheduledAt under vidur timing).
func (b BatchRecord) LaunchedAt() int64 { return b.ScheduledAt + b.HostNs }

// Size is the number of requests in the batch.
func (b BatchRecord) Size() int { return int(b.Key.NumRequests) }

// Tokens is the number of tokens processed.
func (b BatchRecord) Tokens() int { return int(b.Key.T) }

// DecodeTokens counts members whose prefill was complete (one token each).
func (b BatchRecord) DecodeTokens() int { return int(b.Key.Bd) }

// PrefillTokens counts prompt tokens processed.
func (b BatchRecord) PrefillTokens() int { return int(b.Key.T - b.Key.Bd) }

// Members returns batch b's members, in batch order, if the run kept them
// (Options.KeepMembers); nil otherwise.
func (r *Result) Members(b int) []Member {
	if r.memberOff == nil {
		return nil
	}
	lo, hi := r.memberOff[b], r.memberOff[b+1]
	out := make([]Member, hi-lo)
	for i := lo; i < hi; i++ {
		out[i-lo] = Member{Request: int(r.memberReq[i]), Tokens: int(r.memberTok[i])}
	}
	return out
}

// TokenTimes returns request i's output-token completion times.
func (r *Result) TokenTimes(i int) []int64 { return r.AppendTokenTimes(nil, i) }

// AppendTokenTimes appends request i's output-token completion times to
// dst: TokenTimes without the allocation when dst has room.
func (r *Result) AppendTokenTimes(dst []int64, i int) []int64 {
	q := &r.Requests[i]
	return appendTokenTimes(dst, q.tokens, q.FirstTokenNs, i, r.bigGaps)
}

// appendTokenTimes appends the token times of request i from its stored
// gaps, its first token's time and the escaped gaps' times.
func appendTokenTimes(dst []int64, tokens []uint32, first int64, i int, bigGaps map[uint64]int64) []int64 {
	t := first
	for k, g := range tokens {
		switch {
		case k == 0:
		case g == gapEscape:
			t = bigGaps[uint64(i)<<32|uint64(k)]
		default:
			t += int64(g)
		}
		dst = append(dst, t)
	}
	return dst
}

// TokenGaps returns request i's gaps (ns) between consecutive output
// tokens as the run stored them, without copying, and true; or nil and
// false when one of them does not fit in 32 bits (then AppendTokenTimes
// has them). The slice is the result's own storage: read it, do not keep
// or change it.
func (r *Result) TokenGaps(i int) ([]uint32, bool) {
	t := r.Requests[i].tokens
	if len(t) < 2 {
		return nil, true
	}
	t = t[1:]
	if len(r.bigGaps) > 0 && slices.Contains(t, gapEscape) {
		return nil, false
	}
	return t, true
}

// tokenAt is token k's time of request i from its gap g and the previous
// token's time prev (the first token's time for k = 0).
func (r *Result) tokenAt(i, k int, prev int64, g uint32) int64 {
	switch {
	case k == 0:
		return prev
	case g == gapEscape:
		return r.bigGaps[uint64(i)<<32|uint64(k)]
	}
	return prev + int64(g)
}

// EachToken calls f for every output token of request i, in order, without
// allocating.
func (r *Result) EachToken(i int, f func(index int, at int64)) {
	q := &r.Requests[i]
	t := q.FirstTokenNs
	for k, g := range q.tokens {
		t = r.tokenAt(i, k, t, g)
		f(k, t)
	}
}

// StageSpan returns when batch b ran on pipeline stage s.
func (r *Result) StageSpan(b, s int) (start, end int64) {
	pp := r.Config.Replica.NumPipelineStages
	if pp == 1 { // one stage: it starts when the batch is built
		return r.Batches[b].ScheduledAt, r.Batches[b].EndAt
	}
	i := 2 * (b*pp + s)
	return r.spans[i], r.spans[i+1]
}

// StageBreakdown returns the predicted time of batch b on pipeline stage s,
// by term (ms; per-layer terms are per layer, multiply by Layers).
func (r *Result) StageBreakdown(b, s int) predict.Breakdown {
	if r.Engine != nil {
		p := r.pred
		if r.Disagg != nil && int(r.Batches[b].Replica) >= r.Disagg.DecodeFrom {
			p = r.decodePred
		}
		bd, _, _, _ := p.EngineStage(r.Engine, r.Batches[b].Key) // memoized; it succeeded during the run
		return bd
	}
	p := r.pred
	if r.Disagg != nil && int(r.Batches[b].Replica) >= r.Disagg.DecodeFrom {
		p = r.decodePred
	}
	bd, _ := p.Stage(r.Batches[b].Key, s) // memoized; it succeeded during the run
	return bd
}

func (s *sim) result(in Inputs) *Result {
	res := &Result{Config: s.cfg, Resolved: s.res, Profile: in.Profile.Meta, ProfileOrigin: in.Profile.Origin,
		Workload:   WorkloadInfo{Format: in.Workload.Format, Files: in.Workload.Files, Notes: append(append([]string(nil), in.Workload.Notes...), s.notes...), BlockTokens: in.Workload.BlockTokens},
		Iterations: s.iters, TermMs: s.termSums(), Batches: s.batches, NumBatches: s.nBatches, Replicas: s.stats, PrefixPoints: s.prefixPts, bigGaps: s.bigGaps, EndNs: s.now, Extrapolated: s.pred.Extrapolated, spans: s.spans, pred: s.pred, TimingModel: TimingVidur, Stopped: s.stopped, BatchCapFreeFrom: s.capFreeFrom()}
	if s.timing != nil {
		res.TimingModel, res.Engine = TimingEngine, s.timing.spec
	}
	if s.opt.KeepMembers {
		res.memberOff = append(s.memberOff, int32(len(s.memberReq)))
		res.memberReq, res.memberTok = s.memberReq, s.memberTok
	}
	for _, rp := range s.replicas {
		res.Restarts += rp.numRestarts
	}
	if d := s.disagg; d != nil {
		res.Extrapolated += d.pred.Extrapolated
		res.decodePred = d.pred
		res.Disagg = &DisaggStats{DecodeFrom: d.decodeFrom, Decode: d.res, KVBytesPerToken: d.bytesPerTok, LinkGBps: d.gbps,
			Transfers: d.transfers, Bytes: d.bytes, TotalTransferNs: d.transferNs, MaxTransferNs: d.maxNs,
			DecodeNumBlocks: d.res.NumBlocks, PrefillNumBlocks: s.res.NumBlocks}
	}
	if s.cfg.Scheduler.EnablePrefixCaching {
		st := &PrefixCacheStats{}
		for _, rp := range s.replicas {
			st.PrefillTokensSaved += rp.prefillSaved
			st.EvictedBlocks += rp.evicted
		}
		for i := range s.reqs {
			if r := &s.reqs[i]; r.scheduledAt >= 0 {
				st.HitTokens += int64(r.cachedPrefill)
				st.PromptTokens += int64(r.prefill)
			}
		}
		res.PrefixCache = st
	}
	res.Requests = make([]RequestResult, len(s.reqs))
	for i := range s.reqs {
		res.Requests[i] = s.requestResult(i)
	}
	return res
}

// requestResult is request i's RequestResult as it stands.
func (s *sim) requestResult(i int) RequestResult {
	r := &s.reqs[i]
	w := &s.wl[i]
	st := StatusOK
	switch {
	case w.Rejected != "":
		st = w.Rejected
	case r.scheduledAt < 0 && r.done:
		st = StatusRejectedTooLong
	case !r.done:
		st = StatusUnfinished
	}
	return RequestResult{ID: i, PromptID: w.PromptID, Replica: r.replica, ArrivalNs: r.arrival, ScheduledNs: r.scheduledAt,
		FirstTokenNs: r.firstToken, CompletionNs: r.completedAt, Prefill: r.prefill, Decode: r.decode,
		DecodeActual: r.generated, Restarts: r.restarts, Status: st, CachedPrefill: r.cachedPrefill,
		PrefillReplica: r.prefillReplica, TransferNs: r.transferNs, tokens: r.tokens}
}

// Sink receives a run's per-request results while it runs (Options.Sink),
// for files written as they are produced: request i once every request
// before it has been handed over and its own result is final (it finished
// or was rejected), the rest when the run ends; so in request order, each
// request exactly once, with the same RequestResult and token times as the
// run's Result holds.
type Sink interface {
	// Start is called once, before any Request, with the run's configuration.
	Start(cfg Config) error
	// Request hands over one request's result and its output tokens' times
	// (ns; the slice is reused after the call returns). An error ends the
	// run with it.
	Request(r *RequestResult, tokenTimes []int64) error
}

// emit hands the requests that are now final, in order, to Options.Sink;
// all that are left when the run is over (end).
func (s *sim) emit(end bool) {
	if s.opt.Sink == nil || s.sinkErr != nil || s.holding { // held: stamped emits
		return
	}
	for s.emitted < len(s.reqs) && (end || s.reqs[s.emitted].done) {
		rr := s.requestResult(s.emitted)
		s.sinkTimes = appendTokenTimes(s.sinkTimes[:0], rr.tokens, rr.FirstTokenNs, rr.ID, s.bigGaps)
		if err := s.opt.Sink.Request(&rr, s.sinkTimes); err != nil {
			s.sinkErr = fmt.Errorf("engine: sink: request %d: %w", rr.ID, err)
			return
		}
		s.emitted++
	}
}
