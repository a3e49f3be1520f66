package report

import (
	"cmp"
	"slices"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report/plots"
)

// Plots is the page's plot data (see package plots).
type Plots = plots.Plots

const (
	maxCDFPoints = 400
	timeBuckets  = 200
	maxScatter   = 5000
)

func pct[T int64 | uint32](name string, s []T) plots.Percentiles {
	return pctOf(name, statsSorted(s))
}

func pctOf(name string, st Stats) plots.Percentiles {
	return plots.Percentiles{Metric: name, N: st.N, Mean: st.Mean / 1e6, P50: st.P50 / 1e6, P90: st.P90 / 1e6, P95: st.P95 / 1e6, P99: st.P99 / 1e6, Max: st.Max / 1e6}
}

// PlotData computes the page's plots from a run.
func PlotData(res *engine.Result) Plots { return plotData(res, collect(res, true)) }

func plotData(res *engine.Result, l latencies) Plots {
	p := Plots{TTFT: cdfSorted(l.ttft), TokenLatency: l.tok.cdf(), E2E: cdfSorted(l.e2e),
		Percentiles: []plots.Percentiles{pct("TTFT", l.ttft), pctOf("time between tokens", l.tok.stats()), pct("end-to-end latency", l.e2e)}}
	p.Timeline = timeline(res)
	p.Iterations = iterations(res)
	p.Requests = requestPoints(res)
	p.Breakdown = breakdown(res)
	p.ReplicaLoad = replicaLoad(res)
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
	if n := res.NumBatches; n > 0 {
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
	var times []int64
	for i, r := range res.Requests {
		if r.CompletionNs >= 0 {
			completed[bucket(r.CompletionNs)]++
		}
		times = countTokens(tokens, res, i, width, times)
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

// countTokens adds request i's output tokens to tokens, buckets of width
// ns (the last one open-ended), reusing times. It is a function of its own,
// never inlined, because of the page: V8 runs a wasm function in baseline
// code until it is next called, so timeline, called once per result, ran
// its loop over every output token (~0.2 s of a 1,000-request result in a
// fresh page); this one, called per request, is optimized after the first
// ones.
//
//go:noinline
func countTokens(tokens []float64, res *engine.Result, i int, width int64, times []int64) []int64 {
	times = res.AppendTokenTimes(times[:0], i)
	last := len(tokens) - 1
	for _, at := range times {
		tokens[min(int(at/width), last)]++
	}
	return times
}

func iterations(res *engine.Result) plots.Iterations {
	st := &res.Iterations
	n := res.NumBatches
	it := plots.Iterations{Total: n, KVTotal: res.Resolved.NumBlocks}
	if n == 0 {
		return it
	}
	series := []*plots.Agg{&it.Size, &it.Tokens, &it.Prefill, &it.KVBlocks}
	if n <= len(st.First) { // every iteration its own point, in time order (replicas interleave)
		pts := slices.Clone(st.First)
		slices.SortStableFunc(pts, func(a, b engine.IterPoint) int { return cmp.Compare(a.At, b.At) })
		for _, p := range pts {
			it.T, it.N = append(it.T, float64(p.At)/1e9), append(it.N, 1)
			for k, v := range p.V {
				a, f := series[k], float64(v)
				a.Min, a.Max, a.Mean = append(a.Min, f), append(a.Max, f), append(a.Mean, f)
			}
		}
		return it
	}
	for j, c := range st.Count {
		if c == 0 {
			continue
		}
		it.T, it.N = append(it.T, float64(int64(j)*st.Width)/1e9), append(it.N, int(c))
		for k, a := range series {
			a.Min, a.Max, a.Mean = append(a.Min, float64(st.Min[j][k])), append(a.Max, float64(st.Max[j][k])), append(a.Mean, float64(st.Sum[j][k])/float64(c))
		}
	}
	return it
}

// requestPoints are the scatter points of the ok requests.
func requestPoints(res *engine.Result) plots.Requests {
	var p plots.Requests
	for _, r := range res.Requests {
		if r.Status == engine.StatusOK {
			p.Total++
		}
	}
	p.Stride = max(1, (p.Total+maxScatter-1)/maxScatter)
	k := 0
	for _, r := range res.Requests {
		if r.Status != engine.StatusOK {
			continue
		}
		if k%p.Stride == 0 {
			p.Prompt = append(p.Prompt, r.Prefill)
			p.Output = append(p.Output, r.DecodeActual)
			p.TTFT = append(p.TTFT, float64(r.FirstTokenNs-r.ArrivalNs)/1e6)
			p.E2E = append(p.E2E, float64(r.CompletionNs-r.ArrivalNs)/1e6)
		}
		k++
	}
	return p
}

func breakdown(res *engine.Result) plots.Breakdown {
	return plots.Breakdown{Terms: BatchColumns, Ms: slices.Clone(res.TermMs[:])}
}
