// Package plots holds the data the page plots, as plain types with no
// dependencies, so the UI wasm can decode it without linking the engine.
package plots

// CDF is a sample's empirical distribution, downsampled to at most
// maxCDFPoints evenly spaced ranks (values in ms).
type CDF struct {
	X []float64 `json:"x"` // ms
	P []float64 `json:"p"` // cumulative probability, (rank+1)/n
}

// Percentiles of one metric, ms.
type Percentiles struct {
	Metric string  `json:"metric"`
	N      int     `json:"n"`
	Mean   float64 `json:"mean"`
	P50    float64 `json:"p50"`
	P90    float64 `json:"p90"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

// Timeline is the run in time buckets.
type Timeline struct {
	T         []float64 `json:"t"`         // bucket start, s
	Completed []int     `json:"completed"` // requests finished in the bucket
	TokensPS  []float64 `json:"tokens_ps"` // output tokens per second in the bucket
	Running   []int     `json:"running"`   // scheduled, not finished, at bucket start
	Queued    []int     `json:"queued"`    // arrived, never scheduled yet, at bucket start
}

// Iterations are per-iteration series for charts about as wide as
// len(T) pixels. With at most that many iterations each is its own point
// (N[i] = 1, min = max = mean); otherwise the run is cut into equal time
// buckets and each keeps the min, max and mean of the iterations that start
// in it (N[i] of them), so no spike is skipped. Empty buckets are left out.
type Iterations struct {
	Total    int       `json:"total"` // iterations in the run
	T        []float64 `json:"t"`     // bucket (or iteration) start, s
	N        []int     `json:"n"`     // iterations in the bucket
	Size     Agg       `json:"batch_size"`
	Tokens   Agg       `json:"num_tokens"`
	Prefill  Agg       `json:"num_prefill_tokens"`
	KVBlocks Agg       `json:"kv_blocks_in_use"`
	KVTotal  int       `json:"kv_blocks_total"`
}

// Agg is one series' per-bucket aggregate.
type Agg struct {
	Min  []float64 `json:"min"`
	Max  []float64 `json:"max"`
	Mean []float64 `json:"mean"`
}

// Requests are per-request points of the ok requests, in arrival order:
// all of them up to a cap, beyond it an evenly spaced sample of Stride.
type Requests struct {
	Total  int       `json:"total"`  // ok requests in the run
	Stride int       `json:"stride"` // 1: every ok request; k: every k-th by arrival
	Prompt []int     `json:"prompt_tokens"`
	Output []int     `json:"output_tokens"`
	TTFT   []float64 `json:"ttft_ms"`
	E2E    []float64 `json:"e2e_ms"`
}

// Breakdown is the run's predicted time by term, summed over iterations.
type Breakdown struct {
	Terms []string  `json:"terms"`
	Ms    []float64 `json:"ms"`
}

// Plots is everything the page draws, computed natively and in the browser
// by the same code.
type Plots struct {
	TTFT         CDF           `json:"ttft_cdf"`
	TokenLatency CDF           `json:"token_latency_cdf"`
	E2E          CDF           `json:"e2e_cdf"`
	Percentiles  []Percentiles `json:"percentiles"`
	Timeline     Timeline      `json:"timeline"`
	Iterations   Iterations    `json:"iterations"`
	Requests     Requests      `json:"requests"`
	Breakdown    Breakdown     `json:"breakdown"`
	// ReplicaLoad is set under a load-aware router only.
	ReplicaLoad *ReplicaLoad `json:"replica_load,omitempty"`
}

// ReplicaLoad is each replica's queued tokens over time under a load-aware
// router (batch_metrics.csv's queued_tokens): per replica, the largest
// value its batches saw in each of about 200 time buckets (buckets where it
// ran no batch are left out).
type ReplicaLoad struct {
	Replicas []ReplicaSeries `json:"replicas"`
}

// ReplicaSeries is one replica's load series.
type ReplicaSeries struct {
	T   []float64 `json:"t"`   // bucket start, s
	Max []float64 `json:"max"` // queued tokens, the bucket's largest
}
