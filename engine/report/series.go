package report

import (
	"sort"

	"github.com/servesim/servesim/engine"
)

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

// Iterations are per-iteration series, downsampled by a fixed stride.
type Iterations struct {
	Stride   int       `json:"stride"`
	T        []float64 `json:"t"` // iteration start, s
	Size     []int     `json:"batch_size"`
	Tokens   []int     `json:"num_tokens"`
	Prefill  []int     `json:"num_prefill_tokens"`
	KVBlocks []int     `json:"kv_blocks_in_use"`
	KVTotal  int       `json:"kv_blocks_total"`
	TimeMs   []float64 `json:"time_ms"`
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
	Breakdown    Breakdown     `json:"breakdown"`
}

const (
	maxCDFPoints  = 400
	timeBuckets   = 200
	maxIterPoints = 2000
)

func cdfOf(v []float64) CDF {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	var c CDF
	if n == 0 {
		return c
	}
	step := max(1, n/maxCDFPoints)
	for i := 0; i < n; i += step {
		c.X = append(c.X, s[i]/1e6)
		c.P = append(c.P, float64(i+1)/float64(n))
	}
	if last := s[n-1] / 1e6; c.X[len(c.X)-1] != last || c.P[len(c.P)-1] != 1 {
		c.X, c.P = append(c.X, last), append(c.P, 1)
	}
	return c
}

func pct(name string, v []float64) Percentiles {
	s := StatsOf(v)
	return Percentiles{Metric: name, N: s.N, Mean: s.Mean / 1e6, P50: s.P50 / 1e6, P90: s.P90 / 1e6, P95: s.P95 / 1e6, P99: s.P99 / 1e6, Max: s.Max / 1e6}
}

// PlotData computes the page's plots from a run.
func PlotData(res *engine.Result) Plots {
	var ttft, e2e, tok []float64
	for i, r := range res.Requests {
		if r.Status != engine.StatusOK {
			continue
		}
		ttft = append(ttft, float64(r.FirstTokenNs-r.ArrivalNs))
		e2e = append(e2e, float64(r.CompletionNs-r.ArrivalNs))
		var prev int64
		res.EachToken(i, func(k int, at int64) {
			if k > 0 {
				tok = append(tok, float64(at-prev))
			}
			prev = at
		})
	}
	p := Plots{TTFT: cdfOf(ttft), TokenLatency: cdfOf(tok), E2E: cdfOf(e2e),
		Percentiles: []Percentiles{pct("TTFT", ttft), pct("time between tokens", tok), pct("end-to-end latency", e2e)}}
	p.Timeline = timeline(res)
	p.Iterations = iterations(res)
	p.Breakdown = breakdown(res)
	return p
}

func timeline(res *engine.Result) Timeline {
	end := res.EndNs
	if end <= 0 {
		end = 1
	}
	width := (end + timeBuckets - 1) / timeBuckets
	var tl Timeline
	completed := make([]int, timeBuckets)
	tokens := make([]float64, timeBuckets)
	running := make([]int, timeBuckets+1) // difference arrays
	queued := make([]int, timeBuckets+1)
	bucket := func(t int64) int { return min(int(t/width), timeBuckets-1) }
	// A bucket counts a request as running if it was scheduled at or before
	// the bucket start and not yet finished then.
	after := func(t int64) int { return min(int((t+width-1)/width), timeBuckets) }
	for i, r := range res.Requests {
		if r.CompletionNs >= 0 {
			completed[bucket(r.CompletionNs)]++
		}
		res.EachToken(i, func(_ int, at int64) { tokens[bucket(at)]++ })
		stop := int64(end + width)
		if r.CompletionNs >= 0 {
			stop = r.CompletionNs
		}
		if r.ScheduledNs >= 0 {
			queued[after(r.ArrivalNs)]++
			queued[after(r.ScheduledNs)]--
			running[after(r.ScheduledNs)]++
			running[after(stop)]--
		} else if r.Status != engine.StatusRejectedTooLong {
			queued[after(r.ArrivalNs)]++
		}
	}
	rc, qc := 0, 0
	for b := 0; b < timeBuckets; b++ {
		rc += running[b]
		qc += queued[b]
		tl.T = append(tl.T, float64(int64(b)*width)/1e9)
		tl.Completed = append(tl.Completed, completed[b])
		tl.TokensPS = append(tl.TokensPS, tokens[b]/(float64(width)/1e9))
		tl.Running = append(tl.Running, rc)
		tl.Queued = append(tl.Queued, qc)
	}
	return tl
}

func iterations(res *engine.Result) Iterations {
	n := len(res.Batches)
	it := Iterations{Stride: max(1, (n+maxIterPoints-1)/maxIterPoints), KVTotal: res.Resolved.NumBlocks}
	for i := 0; i < n; i += it.Stride {
		b := res.Batches[i]
		it.T = append(it.T, float64(b.ScheduledAt)/1e9)
		it.Size = append(it.Size, b.Size())
		it.Tokens = append(it.Tokens, b.Tokens())
		it.Prefill = append(it.Prefill, b.PrefillTokens())
		it.KVBlocks = append(it.KVBlocks, int(b.KVBlocksInUse))
		it.TimeMs = append(it.TimeMs, float64(b.TotalNs)/1e6)
	}
	return it
}

func breakdown(res *engine.Result) Breakdown {
	br := Breakdown{Terms: BatchColumns, Ms: make([]float64, len(BatchColumns))}
	for i := range res.Batches {
		for _, bd := range res.Breakdown(i) {
			for k, v := range terms(bd) {
				br.Ms[k] += v
			}
		}
	}
	return br
}
