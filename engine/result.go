package engine

import (
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
	Batches       []BatchRecord
	// EndNs is the time of the last event.
	EndNs int64
	// Restarts counts recompute preemptions over all replicas.
	Restarts int
	// Extrapolated counts predictor lookups outside the profiled grids.
	Extrapolated int

	spans []int64
	pred  *predict.Predictor
}

// WorkloadInfo describes the workload that ran.
type WorkloadInfo struct {
	Format workload.Format `json:"format"`
	Files  []string        `json:"files"`
	Notes  []string        `json:"notes"`
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
	tokens       []int32
}

// Member is a request's share of a batch.
type Member struct {
	Request int
	Tokens  int
}

// BatchRecord is one iteration.
type BatchRecord struct {
	ID, Replica   int
	ScheduledAt   int64
	EndAt         int64
	Size          int
	Tokens        int
	PrefillTokens int
	DecodeTokens  int
	KVBlocksInUse int // after this batch's allocations
	Key           predict.Key
	ModelNs       int64 // GPU time, summed over stages
	TotalNs       int64 // including CPU overhead, summed over stages
	Members       []Member
}

// TokenTimes returns request i's output-token completion times.
func (r *Result) TokenTimes(i int) []int64 {
	tok := r.Requests[i].tokens
	out := make([]int64, len(tok))
	for k, b := range tok {
		out[k] = r.Batches[b].EndAt
	}
	return out
}

// EachToken calls f for every output token of request i, in order, without
// allocating.
func (r *Result) EachToken(i int, f func(index int, at int64)) {
	for k, b := range r.Requests[i].tokens {
		f(k, r.Batches[b].EndAt)
	}
}

// StageSpan returns when batch b ran on pipeline stage s.
func (r *Result) StageSpan(b, s int) (start, end int64) {
	pp := r.Config.Replica.NumPipelineStages
	i := 2 * (b*pp + s)
	return r.spans[i], r.spans[i+1]
}

// Breakdown returns the predicted time of batch b summed over its stages,
// by term (ms; per-layer terms are per layer, multiply by Layers).
func (r *Result) Breakdown(b int) []predict.Breakdown {
	pp := r.Config.Replica.NumPipelineStages
	out := make([]predict.Breakdown, pp)
	for s := 0; s < pp; s++ {
		out[s], _ = r.pred.Stage(r.Batches[b].Key, s) // memoized; it succeeded during the run
	}
	return out
}

func (s *sim) result(in Inputs) *Result {
	res := &Result{Config: s.cfg, Resolved: s.res, Profile: in.Profile.Meta, ProfileOrigin: in.Profile.Origin,
		Workload: WorkloadInfo{Format: in.Workload.Format, Files: in.Workload.Files, Notes: in.Workload.Notes},
		Batches:  s.batches, EndNs: s.now, Extrapolated: s.pred.Extrapolated, spans: s.spans, pred: s.pred}
	for _, rp := range s.replicas {
		res.Restarts += rp.numRestarts
	}
	res.Requests = make([]RequestResult, len(s.reqs))
	for i := range s.reqs {
		r := &s.reqs[i]
		w := in.Workload.Requests[i]
		st := StatusOK
		switch {
		case w.Rejected != "":
			st = w.Rejected
		case r.scheduledAt < 0 && r.done:
			st = StatusRejectedTooLong
		case !r.done:
			st = StatusUnfinished
		}
		res.Requests[i] = RequestResult{ID: i, PromptID: w.PromptID, Replica: r.replica, ArrivalNs: r.arrival, ScheduledNs: r.scheduledAt,
			FirstTokenNs: r.firstToken, CompletionNs: r.completedAt, Prefill: r.prefill, Decode: r.decode,
			DecodeActual: r.generated, Restarts: r.restarts, Status: st, tokens: r.tokens}
	}
	return res
}
