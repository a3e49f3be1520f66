// Package report writes a run's output files: request_metrics.csv and
// token_metrics.csv in the seed's exact schema, batch_metrics.csv,
// chrome_trace.json (Perfetto), run_meta.json and summary.md.
//
// Every writer takes an io.Writer and writes the same bytes for the same
// Result, natively and in wasm. Times are integer ns since run start.
package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/predict"
)

// Files lists the output files in the order they are written.
var Files = []string{"request_metrics.csv", "token_metrics.csv", "batch_metrics.csv", "run_meta.json", "summary.md", "chrome_trace.json"}

// Write writes the named file.
func Write(name string, w io.Writer, res *engine.Result, meta Meta) error {
	switch name {
	case "request_metrics.csv":
		return RequestMetrics(w, res)
	case "token_metrics.csv":
		return TokenMetrics(w, res)
	case "batch_metrics.csv":
		return BatchMetrics(w, res)
	case "run_meta.json":
		return RunMeta(w, res, meta)
	case "summary.md":
		return Summary(w, res, meta)
	case "chrome_trace.json":
		return ChromeTrace(w, res)
	}
	return fmt.Errorf("report: unknown file %q", name)
}

// ErrNoBatches says a file needs the per-iteration records that the run did
// not keep (engine.Options.SkipBatches).
var ErrNoBatches = errors.New("report: the run kept no per-iteration records (batch_metrics.csv and chrome_trace.json need them: ask for the batch or trace output)")

func hasBatches(res *engine.Result) error {
	if res.Batches == nil && res.NumBatches > 0 {
		return ErrNoBatches
	}
	return nil
}

// ns renders a time, or an empty cell when it never happened (-1).
func ns(b []byte, v int64) []byte {
	if v < 0 {
		return b
	}
	return strconv.AppendInt(b, v, 10)
}

// RequestMetrics writes one row per request (the seed's columns; with
// prefix caching on, num_cached_prefill_tokens is added as the last column).
func RequestMetrics(w io.Writer, res *engine.Result) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	cached := res.PrefixCache != nil
	bw.WriteString(requestHeader(cached))
	var b []byte
	for i := range res.Requests {
		b = appendRequestRow(b[:0], &res.Requests[i], cached)
		bw.Write(b)
	}
	return bw.Flush()
}

func requestHeader(cached bool) string {
	h := "request_id,arrival_time_ns,first_token_time_ns,ttft_ns,completion_time_ns,num_prefill_tokens,num_decode_tokens,num_decode_tokens_actual,status"
	if cached {
		h += ",num_cached_prefill_tokens"
	}
	return h + "\n"
}

// appendRequestRow appends r's request_metrics.csv row.
func appendRequestRow(b []byte, r *engine.RequestResult, cached bool) []byte {
	b = strconv.AppendInt(b, int64(r.ID), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.ArrivalNs, 10)
	b = append(b, ',')
	b = ns(b, r.FirstTokenNs)
	b = append(b, ',')
	if r.FirstTokenNs >= 0 {
		b = strconv.AppendInt(b, r.FirstTokenNs-r.ArrivalNs, 10)
	}
	b = append(b, ',')
	b = ns(b, r.CompletionNs)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.Prefill), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.Decode), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.DecodeActual), 10)
	b = append(b, ',')
	b = append(b, r.Status...)
	if cached {
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.CachedPrefill), 10)
	}
	return append(b, '\n')
}

const tokenHeader = "request_id,token_index,token_time_ns,token_latency_ns\n"

// TokenMetrics writes one row per output token with its simulated
// completion time (no interpolation) and the gap to the previous token.
func TokenMetrics(w io.Writer, res *engine.Result) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString(tokenHeader)
	var b []byte
	var times []int64
	for i := range res.Requests {
		times = res.AppendTokenTimes(times[:0], i)
		b = appendTokenRows(b[:0], bw, i, times)
		bw.Write(b)
	}
	return bw.Flush()
}

// appendTokenRows appends request i's token_metrics.csv rows, writing them
// to w every 32 KiB; it returns what is left to write.
func appendTokenRows(b []byte, w io.Writer, i int, times []int64) []byte {
	var prev int64
	var idb [24]byte
	id := append(strconv.AppendInt(idb[:0], int64(i), 10), ',')
	var kb [24]byte // token_index in decimal, counted up digit by digit
	k := append(kb[:0], '0')
	for j, at := range times {
		if j > 0 {
			k = incDecimal(k)
		}
		b = append(b, id...)
		b = append(b, k...)
		b = append(b, ',')
		b = strconv.AppendInt(b, at, 10)
		b = append(b, ',')
		if j > 0 {
			b = strconv.AppendInt(b, at-prev, 10)
		} else {
			b = append(b, '0')
		}
		b = append(b, '\n')
		prev = at
		if len(b) >= 32<<10 {
			w.Write(b)
			b = b[:0]
		}
	}
	return b
}

// incDecimal adds one to the decimal number d (digits, no sign).
func incDecimal(d []byte) []byte {
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] != '9' {
			d[i]++
			return d
		}
		d[i] = '0'
	}
	d = append(d, '0')
	d[0] = '1'
	return d
}

// Stream writes request_metrics.csv and token_metrics.csv as a run produces
// them: an engine.Sink (Options.Sink) whose files are byte-identical to
// RequestMetrics and TokenMetrics of the run's Result. Either writer may be
// nil (that file is not written). Close flushes them.
type Stream struct {
	req, tok *bufio.Writer
	cached   bool
	b        []byte
}

// NewStream returns a Stream writing to req and tok.
func NewStream(req, tok io.Writer) *Stream {
	s := &Stream{}
	if req != nil {
		s.req = bufio.NewWriterSize(req, 1<<16)
	}
	if tok != nil {
		s.tok = bufio.NewWriterSize(tok, 1<<16)
	}
	return s
}

// Start writes the headers.
func (s *Stream) Start(cfg engine.Config) error {
	s.cached = cfg.Scheduler.EnablePrefixCaching // the run's Result has PrefixCache then
	if s.req != nil {
		if _, err := s.req.WriteString(requestHeader(s.cached)); err != nil {
			return err
		}
	}
	if s.tok != nil {
		if _, err := s.tok.WriteString(tokenHeader); err != nil {
			return err
		}
	}
	return nil
}

// Request writes r's rows.
func (s *Stream) Request(r *engine.RequestResult, times []int64) error {
	if s.req != nil {
		s.b = appendRequestRow(s.b[:0], r, s.cached)
		if _, err := s.req.Write(s.b); err != nil {
			return err
		}
	}
	if s.tok != nil {
		s.b = appendTokenRows(s.b[:0], s.tok, r.ID, times)
		if _, err := s.tok.Write(s.b); err != nil {
			return err
		}
	}
	return nil
}

// Close flushes what is buffered.
func (s *Stream) Close() error {
	for _, w := range []*bufio.Writer{s.req, s.tok} {
		if w != nil {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// BatchColumns are batch_metrics.csv's per-term columns: predicted time in
// ns per iteration, summed over layers and pipeline stages.
var BatchColumns = predict.TermNames[:]

// terms lists a stage's predicted time by BatchColumns, in ms per stage.
func terms(bd predict.Breakdown) [predict.NumTerms]float64 { return bd.Terms() }

// EngineBatchColumns are added to batch_metrics.csv under engine timing:
// the step's mode (graph, graph_mixed, eager), the size its non-attention
// kernels ran at, its host and GPU time and when the host launched it.
var EngineBatchColumns = []string{"mode", "padded", "host_time_ns", "gpu_time_ns", "launched_at_ns"}

// BatchMetrics writes one row per iteration with its per-term breakdown
// (and, under engine timing, EngineBatchColumns).
func BatchMetrics(w io.Writer, res *engine.Result) error {
	if err := hasBatches(res); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString("batch_id,replica_id,scheduled_at_ns,completed_at_ns,batch_size,num_tokens,num_prefill_tokens,num_decode_tokens,kv_blocks_in_use,kv_blocks_total,model_time_ns,total_time_ns")
	for _, c := range BatchColumns {
		bw.WriteString("," + c + "_ns")
	}
	eng := res.Engine != nil
	if eng {
		bw.WriteString("," + strings.Join(EngineBatchColumns, ","))
	}
	// Under load-aware routing, each row also has its replica's queued
	// tokens (a per-replica load series); under prefix caching, the prompt
	// tokens its admissions found cached.
	queued := engine.LoadAwareRouting(res.Config.Cluster.GlobalScheduler)
	cached := res.PrefixCache != nil
	if queued {
		bw.WriteString(",queued_tokens")
	}
	if cached {
		bw.WriteString(",prefix_hit_tokens")
	}
	bw.WriteString("\n")
	var b []byte
	sum := make([]float64, len(BatchColumns))
	for i, rec := range res.Batches {
		for k := range sum {
			sum[k] = 0
		}
		for s := range res.Config.Replica.NumPipelineStages {
			for k, v := range terms(res.StageBreakdown(i, s)) {
				sum[k] += v
			}
		}
		b = b[:0]
		for _, v := range []int64{int64(i), int64(rec.Replica), rec.ScheduledAt, rec.EndAt, int64(rec.Size()), int64(rec.Tokens()),
			int64(rec.PrefillTokens()), int64(rec.DecodeTokens()), int64(rec.KVBlocksInUse), int64(res.Resolved.NumBlocks), rec.ModelNs, rec.TotalNs} {
			b = strconv.AppendInt(b, v, 10)
			b = append(b, ',')
		}
		for _, v := range sum {
			b = strconv.AppendInt(b, int64(v*1e6+0.5), 10)
			b = append(b, ',')
		}
		if eng {
			b = append(b, rec.ModeName()...)
			for _, v := range []int64{int64(rec.Padded), rec.HostNs, rec.ModelNs, rec.LaunchedAt()} {
				b = append(b, ',')
				b = strconv.AppendInt(b, v, 10)
			}
			b = append(b, ',')
		}
		if queued {
			b = strconv.AppendInt(b, int64(rec.QueuedTokens), 10)
			b = append(b, ',')
		}
		if cached {
			b = strconv.AppendInt(b, int64(rec.PrefixHitTokens), 10)
			b = append(b, ',')
		}
		b[len(b)-1] = '\n'
		bw.Write(b)
	}
	return bw.Flush()
}

// ChromeTrace writes one complete event per batch stage, Vidur style
// (§8.6), loadable in Perfetto or chrome://tracing. ts and dur are µs.
func ChromeTrace(w io.Writer, res *engine.Result) error {
	if err := hasBatches(res); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString(`{"traceEvents":[`)
	pp := res.Config.Replica.NumPipelineStages
	first := true
	var b []byte
	us := func(b []byte, ns int64) []byte { return strconv.AppendFloat(b, float64(ns)/1e3, 'f', 3, 64) }
	for i, rec := range res.Batches {
		for s := 0; s < pp; s++ {
			start, end := res.StageSpan(i, s)
			b = b[:0]
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, "\n{\"name\":\"["...)
			for k, m := range res.Members(i) {
				if k > 0 {
					b = append(b, ", "...)
				}
				b = strconv.AppendInt(b, int64(m.Request), 10)
			}
			b = append(b, "]\",\"ph\":\"X\",\"ts\":"...)
			b = us(b, start)
			b = append(b, ",\"dur\":"...)
			b = us(b, end-start)
			b = append(b, ",\"pid\":"...)
			b = strconv.AppendInt(b, int64(rec.Replica), 10)
			b = append(b, ",\"tid\":"...)
			b = strconv.AppendInt(b, int64(s), 10)
			b = append(b, ",\"args\":{\"batch_id\":"...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, ",\"batch_size\":"...)
			b = strconv.AppendInt(b, int64(rec.Size()), 10)
			b = append(b, ",\"num_tokens\":"...)
			b = strconv.AppendInt(b, int64(rec.Tokens()), 10)
			b = append(b, "}}"...)
			bw.Write(b)
		}
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

// Stats are order statistics of a sample.
type Stats struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
}

// StatsOf computes exact statistics (nearest-rank on the sorted sample,
// with linear interpolation between ranks as numpy's default does).
func StatsOf(v []float64) Stats {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return statsSorted(s)
}

// statsSorted is StatsOf for an ascending sample.
func statsSorted[T int64 | uint32 | float64](s []T) Stats {
	if len(s) == 0 {
		return Stats{}
	}
	sum := 0.0
	for _, x := range s {
		sum += float64(x)
	}
	return Stats{N: len(s), Min: float64(s[0]), Max: float64(s[len(s)-1]), Mean: sum / float64(len(s)),
		P50: quantile(s, 0.5), P90: quantile(s, 0.9), P95: quantile(s, 0.95), P99: quantile(s, 0.99)}
}

// Median of an unsorted sample (the mean of the middle two for an even
// count); NaN for an empty one.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return Quantile(s, 0.5)
}

// Quantile of a sorted sample, linear between closest ranks.
func Quantile(sorted []float64, q float64) float64 { return quantile(sorted, q) }

func quantile[T int64 | uint32 | float64](sorted []T, q float64) float64 {
	return quantileAt(len(sorted), func(k int) float64 { return float64(sorted[k]) }, q)
}

// quantileAt is quantile of the ascending sample of n values whose k-th
// smallest is at(k) (quantileRanks lists the ks it reads).
func quantileAt(n int, at func(int) float64, q float64) float64 {
	if n == 0 {
		return 0
	}
	pos := q * float64(n-1)
	lo := int(pos)
	if lo+1 >= n {
		return at(n - 1)
	}
	f := pos - float64(lo)
	return at(lo) + (at(lo+1)-at(lo))*f
}
