package report

import (
	"sort"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report/plots"
)

// Plots is the page's plot data (see package plots).
type Plots = plots.Plots

const (
	maxCDFPoints  = 400
	timeBuckets   = 200
	maxIterPoints = 2000
)

func cdfOf(v []float64) plots.CDF {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	var c plots.CDF
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

func pct(name string, v []float64) plots.Percentiles {
	s := StatsOf(v)
	return plots.Percentiles{Metric: name, N: s.N, Mean: s.Mean / 1e6, P50: s.P50 / 1e6, P90: s.P90 / 1e6, P95: s.P95 / 1e6, P99: s.P99 / 1e6, Max: s.Max / 1e6}
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
		Percentiles: []plots.Percentiles{pct("TTFT", ttft), pct("time between tokens", tok), pct("end-to-end latency", e2e)}}
	p.Timeline = timeline(res)
	p.Iterations = iterations(res)
	p.Breakdown = breakdown(res)
	return p
}

func timeline(res *engine.Result) plots.Timeline {
	end := res.EndNs
	if end <= 0 {
		end = 1
	}
	// Buckets span at least ~5 iterations, so rates do not alias with the
	// iteration period on short runs.
	buckets := timeBuckets
	if n := len(res.Batches); n > 0 {
		buckets = max(1, min(timeBuckets, n/5))
	}
	width := (end + int64(buckets) - 1) / int64(buckets)
	var tl plots.Timeline
	completed := make([]int, buckets)
	tokens := make([]float64, buckets)
	running := make([]int, buckets+1) // difference arrays
	queued := make([]int, buckets+1)
	bucket := func(t int64) int { return min(int(t/width), buckets-1) }
	// A bucket counts a request as running if it was scheduled at or before
	// the bucket start and not yet finished then.
	after := func(t int64) int { return min(int((t+width-1)/width), buckets) }
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
	for b := 0; b < buckets; b++ {
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

func iterations(res *engine.Result) plots.Iterations {
	n := len(res.Batches)
	it := plots.Iterations{Stride: max(1, (n+maxIterPoints-1)/maxIterPoints), KVTotal: res.Resolved.NumBlocks}
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

func breakdown(res *engine.Result) plots.Breakdown {
	br := plots.Breakdown{Terms: BatchColumns, Ms: make([]float64, len(BatchColumns))}
	for i := range res.Batches {
		for _, bd := range res.Breakdown(i) {
			for k, v := range terms(bd) {
				br.Ms[k] += v
			}
		}
	}
	return br
}
