package report

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/slo"
)

// SchemaVersion of run_meta.json.
const SchemaVersion = 1

// Meta is what the caller knows that the engine does not. The engine reads
// no clock: StartedAt/EndedAt are written only when the caller sets them, so
// outputs stay byte-identical by default.
type Meta struct {
	EngineVersion string
	OutputDir     string // for summary.md's file list; may be empty
	WorkloadName  string // e.g. "embedded:seed" or a path
	StartedAt     string // RFC 3339, optional
	EndedAt       string
	// Keys, if set, is Compute(res) done once for every file that needs it
	// (run_meta.json and summary.md each compute it otherwise).
	Keys *KeyResults
}

// keys is meta.Keys, or Compute(res) when it is not set.
func (meta Meta) keys(res *engine.Result) KeyResults {
	if meta.Keys != nil {
		return *meta.Keys
	}
	return Compute(res)
}

// WorkloadHash identifies the simulated request stream (ids, arrivals and
// lengths after scaling and clipping), independent of file formatting.
func WorkloadHash(res *engine.Result) string {
	h := sha256.New()
	var b [8 * 4]byte
	for _, r := range res.Requests {
		binary.LittleEndian.PutUint64(b[0:], uint64(r.ID))
		binary.LittleEndian.PutUint64(b[8:], uint64(r.ArrivalNs))
		binary.LittleEndian.PutUint64(b[16:], uint64(r.Prefill))
		binary.LittleEndian.PutUint64(b[24:], uint64(r.Decode))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// RunID is a deterministic name for a run: a hash of config and workload.
func RunID(res *engine.Result) string {
	c, _ := json.Marshal(res.Config)
	h := sha256.Sum256(append(c, WorkloadHash(res)...))
	return "servesim_" + hex.EncodeToString(h[:5])
}

// RunMeta writes run_meta.json.
func RunMeta(w io.Writer, res *engine.Result, meta Meta) error {
	counts := map[string]int{}
	for _, r := range res.Requests {
		counts[r.Status]++
	}
	opt := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	doc := struct {
		SchemaVersion  int             `json:"schema_version"`
		RunID          string          `json:"run_id"`
		StartedAt      any             `json:"started_at"`
		EndedAt        any             `json:"ended_at"`
		EngineVersion  string          `json:"engine_version"`
		Model          string          `json:"model"`
		Hardware       map[string]any  `json:"hardware"`
		Profile        map[string]any  `json:"profile"`
		Workload       map[string]any  `json:"workload"`
		Config         engine.Config   `json:"config"`
		Resolved       engine.Resolved `json:"resolved"`
		Results        map[string]any  `json:"results"`
		Timing         map[string]any  `json:"timing,omitempty"`
		SLO            slo.Report      `json:"slo"`
		PrefixCache    map[string]any  `json:"prefix_cache,omitempty"`
		Routing        map[string]any  `json:"routing,omitempty"`
		Disaggregation map[string]any  `json:"disaggregation,omitempty"`
	}{
		SchemaVersion: SchemaVersion, RunID: RunID(res), StartedAt: opt(meta.StartedAt), EndedAt: opt(meta.EndedAt),
		EngineVersion: meta.EngineVersion, Model: res.Config.Replica.Model,
		Hardware: map[string]any{"device": res.Resolved.Device, "network_device": res.Resolved.Node,
			"tensor_parallel_size": res.Config.Replica.TensorParallelSize, "num_pipeline_stages": res.Config.Replica.NumPipelineStages,
			"num_replicas": res.Config.Cluster.NumReplicas},
		Profile: map[string]any{"name": res.Profile.Name, "origin": res.ProfileOrigin, "kind": res.Profile.Kind,
			"summary": res.Profile.Summary, "cpu_overhead_engine": res.Profile.CPUOverheadEngine,
			"cpu_overhead_modelled": !res.Config.Predictor.SkipCPUOverheadModeling},
		Workload: map[string]any{"name": meta.WorkloadName, "format": res.Workload.Format, "files": res.Workload.Files,
			"notes": nonNil(res.Workload.Notes), "num_requests": len(res.Requests), "sha256": WorkloadHash(res)},
		Config: res.Config, Resolved: res.Resolved,
		Results: map[string]any{"simulated_duration_ns": res.EndNs, "num_batches": res.NumBatches, "restarts": res.Restarts,
			"extrapolated_lookups": res.Extrapolated, "status_counts": counts},
		SLO: meta.keys(res).SLO,
	}
	if res.Profile.Choice != "" { // absent when the set was named: files stay as they were
		doc.Profile["choice"] = res.Profile.Choice
	}
	if res.Engine != nil { // vidur timing writes no "timing" key (its files stay as they were)
		why := "predictor.timing_model is engine"
		if tm := res.Config.Predictor.TimingModel; tm == "" || tm == engine.TimingAuto {
			why = "the profile set has engine.json (predictor.timing_model auto)"
		}
		doc.Timing = map[string]any{"model": res.TimingModel, "why": why, "engine": res.Engine,
			"charged": "GPU at the padded size (attention at the real shape), embedding and LM head; host time from host_overheads.csv"}
	}
	// Each absent when its feature is off: the seed's file stays as it was.
	sv := ServingOf(res)
	doc.PrefixCache, doc.Routing, doc.Disaggregation = sv.PrefixCache, sv.Routing, sv.Disaggregation
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// KeyResults are the headline numbers of a run (summary.md "Key results").
type KeyResults struct {
	Requests         int     `json:"requests"`
	OK               int     `json:"ok"`
	PrefillTokens    int64   `json:"prefill_tokens"`
	DecodeTokens     int64   `json:"decode_tokens"`
	TTFT             Stats   `json:"ttft"` // ns
	E2E              Stats   `json:"e2e"`
	TokenLatency     Stats   `json:"token_latency"` // over token_index > 0
	MaxCompletionNs  int64   `json:"max_completion_ns"`
	DecodeThroughput float64 `json:"decode_throughput"` // decode tokens / s over [0, max completion]
	// SLO judges the run against its configuration's objective (engine/slo):
	// attainment, goodput, offered vs achieved load, the overload verdict.
	SLO slo.Report `json:"slo"`
	// Stopped is set when the run stopped as soon as its objective could no
	// longer be met (engine.Options.StopOnSLOFail, a capacity search's
	// trial): only Requests, SLO.Spec, SLO.Met (false) and SLO.Attainment (an
	// upper bound) are then set.
	Stopped *engine.SLOStop `json:"stopped_early,omitempty"`
	// BatchCapFreeFrom is engine.Result's: the run is the same simulation
	// under every batch_size_cap from this one up, all else equal (0: not
	// shown). A capacity search shares such a trial between the points
	// that differ from it only in such a cap.
	BatchCapFreeFrom int `json:"batch_cap_free_from,omitempty"`
}

// Compute derives KeyResults from a run. Only requests with status ok count
// toward latencies.
func Compute(res *engine.Result) KeyResults {
	if st := res.Stopped; st != nil {
		return KeyResults{Requests: len(res.Requests), Stopped: st, BatchCapFreeFrom: res.BatchCapFreeFrom,
			SLO: slo.Report{Spec: res.Config.SLOSpec(), Met: false, Attainment: st.AttainmentBound()}}
	}
	return keyResults(res, collect(res, false))
}

// Analyze returns a run's KeyResults and Plots, collecting and sorting the
// latency samples once for both.
func Analyze(res *engine.Result) (KeyResults, Plots) {
	l := collect(res, true)
	return keyResults(res, l), plotData(res, l)
}

func keyResults(res *engine.Result, l latencies) KeyResults {
	k := KeyResults{Requests: len(res.Requests), BatchCapFreeFrom: res.BatchCapFreeFrom}
	for _, r := range res.Requests {
		k.PrefillTokens += int64(r.Prefill)
		k.DecodeTokens += int64(r.DecodeActual)
		if r.Status != engine.StatusOK {
			continue
		}
		k.OK++
		k.MaxCompletionNs = max(k.MaxCompletionNs, r.CompletionNs)
	}
	k.TTFT, k.E2E, k.TokenLatency = statsSorted(l.ttft), statsSorted(l.e2e), l.tok.stats()
	k.SLO = slo.EvaluateSample(res.Config.SLOSpec(), l.reqs, l.tok)
	if k.MaxCompletionNs > 0 {
		k.DecodeThroughput = float64(k.DecodeTokens) / (float64(k.MaxCompletionNs) / 1e9)
	}
	return k
}

// commas renders an integer with thousands separators.
func commas(v int64) string {
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func nsText(v float64) string {
	if v != math.Trunc(v) {
		whole := math.Trunc(v)
		return fmt.Sprintf("`%s%s ns` (`%.3f ms`)", commas(int64(whole)), strconv.FormatFloat(v-whole, 'f', 1, 64)[1:], v/1e6)
	}
	return fmt.Sprintf("`%s ns` (`%.3f ms`)", commas(int64(v)), v/1e6)
}

// Summary writes summary.md in the layout of the seed's run summary.
func Summary(w io.Writer, res *engine.Result, meta Meta) error {
	k := meta.keys(res)
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("# servesim run summary: `%s`\n\n## Overview\n\n", RunID(res))
	p("- **Model**: `%s`\n- **Hardware preset**: `%s` (TP %d, PP %d, %d replica(s), network `%s`)\n",
		res.Config.Replica.Model, res.Resolved.Device.Name, res.Config.Replica.TensorParallelSize, res.Config.Replica.NumPipelineStages,
		res.Config.Cluster.NumReplicas, res.Resolved.Node.Name)
	p("- **Scheduler**: `%s` (global `%s`, batch cap %d, block size %d, chunk size %d)\n", res.Config.Scheduler.Type,
		res.Config.Cluster.GlobalScheduler, res.Config.Scheduler.BatchSizeCap, res.Config.Scheduler.BlockSize, res.Config.Scheduler.ChunkSize)
	p("- **Workload**: `%s` (%s, %d requests, sha256 `%s`)\n", meta.WorkloadName, res.Workload.Format, len(res.Requests), WorkloadHash(res)[:16])
	p("- **Profile set**: `%s` (%s) — %s\n", res.Profile.Name, strings.ToUpper(res.Profile.Kind), res.Profile.Summary)
	if res.Profile.Choice != "" {
		p("- **Profile choice**: %s\n", res.Profile.Choice)
	}
	cpu := "not modelled (Vidur default)"
	if !res.Config.Predictor.SkipCPUOverheadModeling {
		cpu = "modelled: " + res.Profile.CPUOverheadEngine
	}
	p("- **CPU overhead**: %s\n", cpu)
	if meta.OutputDir != "" {
		p("- **Run output**: `%s`\n", meta.OutputDir)
	}
	p("\n## Environment (from `run_meta.json`)\n\n- **Engine**: `%s`\n", meta.EngineVersion)
	if meta.StartedAt != "" {
		p("- **Started at**: `%s`\n- **Ended at**: `%s`\n", meta.StartedAt, meta.EndedAt)
	}
	p("\n## Outputs\n\n")
	for _, f := range Files {
		if f != "summary.md" {
			p("- `%s`\n", f)
		}
	}
	p("\n## Key results (this run)\n\nAll timing fields below are **integer nanoseconds** relative to run start.\n\n")
	p("- These metrics are produced by servesim's simulation from profiled per-op times, not by running the model. Every token's time is simulated (no interpolation).\n\n")
	p("- **Requests**: `%d` (`%d` ok)\n", k.Requests, k.OK)
	verdict := "MET"
	if !k.SLO.Met {
		verdict = "NOT MET"
	}
	load := "load not judged (too few requests)"
	switch {
	case k.SLO.Load.Overloaded:
		load = "**OVERLOADED**: the queue grew through the run (achieved below offered)"
	case k.SLO.Load.Judged:
		load = "keeping up with the offered load"
	}
	p("- **SLO**: **%s**, attainment `%.2f%%`; %s (see SLO and load)\n", verdict, 100*k.SLO.Attainment, load)
	p("- **Total prefill tokens**: `%s`\n- **Total decode tokens**: `%s`\n", commas(k.PrefillTokens), commas(k.DecodeTokens))
	stat := func(name, field string, s Stats) {
		if s.N == 0 {
			p("- **%s** (`%s`): no samples\n", name, field)
			return
		}
		if s.Min == s.Max {
			p("- **%s** (`%s`): %s (min/median/max all the same)\n", name, field, nsText(s.P50))
			return
		}
		p("- **%s** (`%s`):\n  - mean: %s\n  - median: %s\n  - P90 / P99: %s / %s\n  - min/max: %s / %s\n", name, field,
			nsText(s.Mean), nsText(s.P50), nsText(s.P90), nsText(s.P99), nsText(s.Min), nsText(s.Max))
	}
	stat("TTFT", "ttft_ns", k.TTFT)
	stat("E2E", "completion_time_ns - arrival_time_ns", k.E2E)
	stat("Per-token decode latency", "token_latency_ns, token_index>0", k.TokenLatency)
	p("- **Approx decode throughput**: `~%.1f tokens/s` over `%.6f s` (max completion time window)\n", k.DecodeThroughput, float64(k.MaxCompletionNs)/1e9)
	p("- **Iterations**: `%d`; **restarts (preemptions)**: `%d`", res.NumBatches, res.Restarts)
	if res.Extrapolated > 0 {
		p("; **lookups outside the profiled grid (extrapolated)**: `%d`", res.Extrapolated)
	}
	p("\n")
	counts := map[string]int{}
	for _, r := range res.Requests {
		counts[r.Status]++
	}
	if len(counts) > 1 || counts[engine.StatusOK] != len(res.Requests) {
		var ks []string
		for s, n := range counts {
			ks = append(ks, fmt.Sprintf("`%s`: %d", s, n))
		}
		sort.Strings(ks)
		p("- **Status counts**: %s\n", strings.Join(ks, ", "))
	}
	sloSection(p, k.SLO, k.Requests)
	if len(res.Workload.Notes) > 0 {
		p("\n## Workload changes (reported, never silent)\n\n")
		for _, n := range res.Workload.Notes {
			p("- %s\n", n)
		}
	}
	p("\n## Per-request snapshot\n\n| request_id | num_prefill_tokens | num_decode_tokens_actual | ttft_ms | e2e_ms | status |\n|-----------:|-------------------:|-------------------------:|--------:|-------:|:-------|\n")
	for i, r := range res.Requests {
		if i == 20 {
			p("\n(first 20 of %d requests; all are in `request_metrics.csv`)\n", len(res.Requests))
			break
		}
		ttft, e2e := "", ""
		if r.FirstTokenNs >= 0 {
			ttft = fmt.Sprintf("%.3f", float64(r.FirstTokenNs-r.ArrivalNs)/1e6)
		}
		if r.CompletionNs >= 0 {
			e2e = fmt.Sprintf("%.3f", float64(r.CompletionNs-r.ArrivalNs)/1e6)
		}
		p("| %d | %d | %d | %s | %s | %s |\n", r.ID, r.Prefill, r.DecodeActual, ttft, e2e, r.Status)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sloSection writes summary.md's SLO and load section.
func sloSection(p func(string, ...any), r slo.Report, requests int) {
	p("\n## SLO and load (`run_meta.json` `slo`)\n\n")
	var obj, res []string
	metric := func(name string, m *slo.Metric, how string) {
		if m == nil {
			return
		}
		obj = append(obj, fmt.Sprintf("%s ≤ %g ms at P%g%s", name, m.ThresholdMs, m.Percentile, how))
		v := "never reached"
		if m.ValueMs != nil {
			v = fmt.Sprintf("%.3f ms", *m.ValueMs)
		}
		ok := "met"
		if !m.Met {
			ok = "missed"
		}
		res = append(res, fmt.Sprintf("%s P%g %s, %.2f%% within (%s)", name, m.Percentile, v, 100*m.Within, ok))
	}
	metric("TTFT", r.TTFT, "")
	metric("time between tokens", r.TBT, " (per token, gaps pooled; a request passes on its own gap at that percentile)")
	metric("E2E", r.E2E, "")
	verdict := "**MET**"
	if !r.Met {
		verdict = "**NOT MET**"
	}
	p("- **Objective**: %s\n- **SLO**: %s: %s\n", strings.Join(obj, "; "), verdict, strings.Join(res, "; "))
	p("- **Attainment**: `%.2f%%` of requests meet every threshold (`%d` of `%d`)\n", 100*r.Attainment, r.GoodRequests, requests)
	l := r.Load
	p("- **Goodput**: `%.3f requests/s`, `%.1f output tokens/s` (requests meeting the SLO, over `%.6f s` from first arrival to last completion)\n", r.GoodputRPS, r.GoodputTokensPerS, l.DurationS)
	offered := fmt.Sprintf("`%.3f requests/s` (`%.1f output tokens/s`, over the arrival span)", l.OfferedRPS, l.OfferedTokensPerS)
	if l.OfferedRPS == 0 {
		offered = "not a rate (every request arrives at once)"
	}
	p("- **Load**: offered %s, achieved `%.3f requests/s` (`%.1f output tokens/s`)\n", offered, l.AchievedRPS, l.AchievedTokensPerS)
	if l.Overloaded {
		p("- **Overload**: **%s**\n", l.Verdict)
	} else {
		p("- **Overload**: %s\n", l.Verdict)
	}
}

// prefixCacheBuckets is the number of time buckets of run_meta.json's
// prefix-cache hit rate over time.
const prefixCacheBuckets = 20

// prefixCacheMeta is run_meta.json's prefix_cache: totals, the hit rate
// (hit tokens over prompt tokens of admitted requests) and the hit rate over
// time: per bucket of simulated time, the prompt tokens hit over the prompt
// tokens hit or prefilled in the batches scheduled in it.
func prefixCacheMeta(res *engine.Result, st *engine.PrefixCacheStats) map[string]any {
	rate := func(hit, all int64) float64 {
		if all == 0 {
			return 0
		}
		return float64(hit) / float64(all)
	}
	end := max(res.EndNs, 1)
	width := (end + prefixCacheBuckets - 1) / prefixCacheBuckets
	var hit, all [prefixCacheBuckets]int64
	for _, b := range res.PrefixPoints {
		k := min(int(b.At/width), prefixCacheBuckets-1)
		hit[k] += int64(b.Hit)
		all[k] += int64(b.Hit) + int64(b.Prefill)
	}
	series := make([]map[string]any, prefixCacheBuckets)
	for k := range series {
		series[k] = map[string]any{"start_ns": int64(k) * width, "hit_tokens": hit[k], "prompt_tokens": all[k], "hit_rate": rate(hit[k], all[k])}
	}
	return map[string]any{"block_tokens_of_trace": res.Workload.BlockTokens, "block_size": res.Config.Scheduler.BlockSize,
		"hit_tokens": st.HitTokens, "prompt_tokens": st.PromptTokens, "hit_rate": rate(st.HitTokens, st.PromptTokens),
		"prefill_tokens_saved": st.PrefillTokensSaved, "evicted_blocks": st.EvictedBlocks, "hit_rate_over_time": series}
}

// routingMeta is run_meta.json's routing under a load-aware global
// scheduler: per replica, the requests routed to it (under disaggregation,
// to its prefill replica; the decode pool's are in disaggregation), their prompt and
// output tokens, the prompt tokens they found cached, and the largest
// queued tokens a batch of it saw (batch_metrics.csv's queued_tokens has the
// series).
func routingMeta(res *engine.Result) map[string]any {
	n := res.Config.Cluster.NumReplicas
	type rep struct {
		Replica         int   `json:"replica"`
		Requests        int   `json:"requests"`
		PromptTokens    int64 `json:"prompt_tokens"`
		OutputTokens    int64 `json:"output_tokens"`
		CachedTokens    int64 `json:"cached_prefill_tokens"`
		MaxQueuedTokens int64 `json:"max_queued_tokens"`
	}
	reps := make([]rep, n)
	for k := range reps {
		reps[k].Replica = k
	}
	for _, r := range res.Requests {
		k := r.Replica
		if r.PrefillReplica >= 0 { // disaggregated: the router chose its prefill replica
			k = r.PrefillReplica
		}
		if k < 0 {
			continue
		}
		p := &reps[k]
		p.Requests++
		p.PromptTokens += int64(r.Prefill)
		p.OutputTokens += int64(r.DecodeActual)
		p.CachedTokens += int64(r.CachedPrefill)
	}
	for k, st := range res.Replicas {
		reps[k].MaxQueuedTokens = st.MaxQueuedTokens
	}
	m := map[string]any{"global_scheduler": res.Config.Cluster.GlobalScheduler, "replicas": reps}
	if res.Config.Cluster.GlobalScheduler == "prefix_affinity" {
		lc := res.Config.Cluster.PrefixAffinityLoadCap
		if lc == 0 {
			lc = engine.DefaultPrefixAffinityLoadCap
		}
		m["load_cap_tokens"] = lc
	}
	return m
}

// disaggMeta is run_meta.json's disaggregation: the link, the KV bytes per
// token, the transfers, and per pool its replicas, tensor parallelism, KV
// blocks, batches, busy time and tokens.
func disaggMeta(res *engine.Result) map[string]any {
	d := res.Disagg
	type pool struct {
		Replicas           int   `json:"replicas"`
		TensorParallelSize int   `json:"tensor_parallel_size"`
		NumBlocks          int   `json:"num_blocks_per_replica"`
		Batches            int   `json:"batches"`
		BusyNs             int64 `json:"busy_ns"`
		PrefillTokens      int64 `json:"prefill_tokens"`
		DecodeTokens       int64 `json:"decode_tokens"`
	}
	dtp := res.Config.Cluster.DecodeTensorParallelSize
	if dtp == 0 {
		dtp = res.Config.Replica.TensorParallelSize
	}
	pools := [2]pool{{Replicas: d.DecodeFrom, TensorParallelSize: res.Config.Replica.TensorParallelSize, NumBlocks: d.PrefillNumBlocks},
		{Replicas: res.Config.Cluster.NumReplicas - d.DecodeFrom, TensorParallelSize: dtp, NumBlocks: d.DecodeNumBlocks}}
	for k, st := range res.Replicas {
		p := &pools[0]
		if k >= d.DecodeFrom {
			p = &pools[1]
		}
		p.Batches += st.Batches
		p.BusyNs += st.BusyNs
		p.PrefillTokens += st.PrefillTokens
		p.DecodeTokens += st.DecodeTokens
	}
	link := res.Config.Cluster.KVTransferLink
	if res.Config.Cluster.KVTransferGBps > 0 {
		link = "custom"
	} else if link == "" {
		link = engine.DefaultKVLink
	}
	mean := 0.0
	if d.Transfers > 0 {
		mean = float64(d.TotalTransferNs) / float64(d.Transfers)
	}
	return map[string]any{"prefill": pools[0], "decode": pools[1], "link": link, "link_gbps": d.LinkGBps,
		"link_presets_gbps": engine.KVLinks, "kv_bytes_per_token": d.KVBytesPerToken,
		"transfers": d.Transfers, "transfer_bytes": d.Bytes, "mean_transfer_ns": mean, "max_transfer_ns": d.MaxTransferNs}
}
