package workload

import (
	"math"
	"slices"
)

// Summary describes a workload before it runs: what a page or API shows
// when files are dropped.
type Summary struct {
	Requests int `json:"-"`
	// DurationS is the span of the open-loop arrivals (last minus first);
	// closed-loop arrivals are only known once simulated.
	DurationS float64 `json:"duration_s"`
	// MeanRateQPS is open-loop requests per second over DurationS (0 when
	// every request arrives at one instant).
	MeanRateQPS float64     `json:"mean_rate_qps"`
	Prompt      LengthStats `json:"prompt_tokens_stats"`
	Output      LengthStats `json:"output_tokens_stats"`
	// Sessions counts the trace's sessions (0 when it has none);
	// ClosedLoopRequests the requests released by a predecessor's completion.
	Sessions           int `json:"sessions"`
	ClosedLoopRequests int `json:"closed_loop_requests"`
	// BlockTokens is the hash_ids block size (0 without hash_ids);
	// PrefixBlocks counts all hash ids, DistinctPrefixBlocks the different ones.
	BlockTokens          int   `json:"block_tokens"`
	PrefixBlocks         int64 `json:"prefix_blocks"`
	DistinctPrefixBlocks int   `json:"distinct_prefix_blocks"`
}

// LengthStats are nearest-rank percentiles of token counts.
type LengthStats struct {
	Mean float64 `json:"mean"`
	P50  int     `json:"p50"`
	P90  int     `json:"p90"`
	P99  int     `json:"p99"`
	Max  int     `json:"max"`
}

func lengthStats(v []int) LengthStats {
	if len(v) == 0 {
		return LengthStats{}
	}
	slices.Sort(v)
	sum := 0.0
	for _, x := range v {
		sum += float64(x)
	}
	rank := func(p float64) int { return v[max(int(math.Ceil(p*float64(len(v))))-1, 0)] }
	return LengthStats{Mean: sum / float64(len(v)), P50: rank(0.5), P90: rank(0.9), P99: rank(0.99), Max: v[len(v)-1]}
}

// Summarize computes w's Summary.
func Summarize(w *Workload) Summary {
	s := Summary{Requests: len(w.Requests), Sessions: len(w.Sessions), BlockTokens: w.BlockTokens}
	ps, ds := make([]int, 0, len(w.Requests)), make([]int, 0, len(w.Requests))
	first, last, open := int64(math.MaxInt64), int64(math.MinInt64), 0
	for _, r := range w.Requests {
		ps, ds = append(ps, r.Prefill), append(ds, r.Decode)
		if r.ClosedLoop {
			s.ClosedLoopRequests++
			continue
		}
		open++
		first, last = min(first, r.ArrivalNs), max(last, r.ArrivalNs)
	}
	if open > 0 && last > first {
		s.DurationS = float64(last-first) / 1e9
		s.MeanRateQPS = float64(open) / s.DurationS
	}
	s.Prompt, s.Output = lengthStats(ps), lengthStats(ds)
	if len(w.hashIDs) > 0 {
		ids := slices.Clone(w.hashIDs)
		slices.Sort(ids)
		s.PrefixBlocks = int64(len(ids))
		s.DistinctPrefixBlocks = len(slices.Compact(ids))
	}
	return s
}
