package predict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine/csvin"
)

// EngineSpec is a profile set's engine.json: how the profiled serving engine
// runs a step (CUDA-graph capture sizes, overlap of host and GPU work) and
// which ops it fuses into others, so that mlp.csv has no column for them.
type EngineSpec struct {
	// Engine names the serving engine and its version.
	Engine string `json:"engine"`
	// Overlap is "async" (the host prepares step n+1 while the GPU runs
	// step n) or "sync" (host and GPU time add up, Vidur's composition).
	Overlap string `json:"overlap"`
	// CUDAGraphBatchSizes are the captured decode batch sizes, ascending: a
	// decode-only step is padded up to the next one.
	CUDAGraphBatchSizes []int `json:"cuda_graph_batch_sizes"`
	// MixedGraphTokenSizes are the captured token counts of the full CUDA
	// graphs of steps with prefill tokens, ascending: such a step runs its
	// token ops at the next one. Above the largest, a step runs eagerly at
	// its real token count.
	MixedGraphTokenSizes []int `json:"mixed_graph_token_sizes"`
	// SyncMs is the per-step synchronisation cost added in async mode.
	SyncMs float64 `json:"sync_ms"`
	// FusedOps are mlp.csv ops the engine fuses into others: they have no
	// column and cost nothing on their own.
	FusedOps []string `json:"fused_ops"`
	// MixedGraphLogitRows, if > 0, is the sequence bound of the mixed CUDA
	// graphs: a mixed graph of padded size s computes the LM head for
	// min(s, MixedGraphLogitRows) rows whatever the step samples. 0: the LM
	// head runs on the sequences that sample (an engine that computes
	// logits outside its graphs).
	MixedGraphLogitRows int `json:"mixed_graph_logit_rows,omitempty"`
	// MixedGraphMLPScale is, per mixed-graph token size, a factor on
	// mlp.csv's ops (token ops, embedding, LM head) of a step that runs in
	// that mixed graph: for sizes that both graph kinds capture, mlp.csv's
	// row holds the decode graph's in-graph timing and the mixed graph's
	// measured step differs from it.
	MixedGraphMLPScale map[int]float64 `json:"mixed_graph_mlp_scale,omitempty"`
	// DecodeAttentionBatched says attention.csv's attn_decode rows time the
	// whole decode batch as the engine launches it, so Vidur's
	// attention_decode_batching_overhead_fraction (an allowance for timing
	// batched decode attention from single-sequence kernels) is not added.
	DecodeAttentionBatched bool `json:"decode_attention_batched,omitempty"`
	// DecodeInRun, if set, scales the GPU time of a decode graph step by a
	// factor per captured batch size: how a served run's decode graphs of
	// that size compare with the profile's prediction for them.
	DecodeInRun *DecodeInRun `json:"decode_in_run,omitempty"`
	// DecodeGraphAttentionByKeys says the engine's decode attention splits
	// a step's keys evenly over work items bounded by the CUDA graph's
	// padded batch P, so its time follows the keys read: a decode graph
	// step of B sequences of mean context c costs attn_decode's row of
	// batch P at context B*c/P (the same keys), not the row of batch B.
	DecodeGraphAttentionByKeys bool `json:"decode_graph_attention_by_keys,omitempty"`
	// PrefillLaunch, if set, says the engine runs all of a step's prefills
	// in one attention launch of independent query tiles, each prefill
	// over its own cached context: a step of several prefills costs the
	// smallest profiled prefill's row (the launch's fixed cost) plus the
	// larger of (a) each prefill's own row less that fixed cost, scaled by
	// the share of the GPU its tiles fill alone (min(1, tiles / SMs)), and
	// summed, and (b) the longest prefill's own row less the fixed cost.
	// Without it, Vidur's single row keyed by sqrt(sum of squared chunks)
	// and the summed cached context, plus its batching overhead.
	PrefillLaunch *PrefillLaunch `json:"prefill_launch,omitempty"`
	// DecodeLaunch, if set, is the decode graphs' attention launch for a
	// wave model of it (decodewaves.go): a decode-graph step's attention is
	// the decode row plus the model's time at the batch's shape less its
	// time at the rows' spread shape.
	DecodeLaunch *DecodeLaunch `json:"decode_launch,omitempty"`
	// MixedDecode, if set, is the decode attention of steps in mixed CUDA
	// graphs, measured in them (mixeddecode.go): such a step's decode
	// attention is its graph's row, not attention.csv's decode-graph row.
	MixedDecode *MixedDecode `json:"mixed_decode,omitempty"`
	// DecodeContextGranularity, if set, is the granularity (keys) at which
	// engine timing reads the decode rows: a batch's mean and longest
	// contexts are rounded up to a multiple of it, and a context below the
	// rows' smallest is read at the smallest (a decode launch over fewer
	// keys than one profiled row costs that row's fixed cost). Without it,
	// the config's kv_cache_prediction_granularity (Vidur's 64), which
	// over-charges a batch by up to 63 keys a sequence.
	DecodeContextGranularity int `json:"decode_context_granularity,omitempty"`
	// IdleHost, if set, is the host time of a step that the host loop
	// launches after waiting idle for longer than IdleHost.AfterMs (an
	// engine that sleeps while it has no work): such a step costs this
	// instead of host_overheads.csv's busy-step time.
	IdleHost *IdleHost `json:"idle_host,omitempty"`
	// EagerLaunch, if set, is how long the host takes to launch an eager
	// step's kernels (a step above the largest CUDA graph, whose kernels
	// the host issues one by one while the GPU runs them as they come):
	// such a step cannot end before its launch has, nor can the host loop
	// go on before then, so a small eager step is bound by its launch, not
	// by its kernels.
	EagerLaunch *EagerLaunch `json:"eager_launch,omitempty"`
}

// DecodeInRun is engine.json's decode_in_run: per captured decode graph
// batch size, the factor on the set's predicted GPU time of a decode
// graph step of that size inside a served run (sizes absent: 1).
type DecodeInRun struct {
	Factors map[int]float64 `json:"factors"`
	// Source says where the factors come from.
	Source string `json:"source"`
}

// Factor is the factor on a decode graph step of padded batch size
// padded: 1 when d is nil or has none for that size.
func (d *DecodeInRun) Factor(padded int) float64 {
	if d == nil {
		return 1
	}
	if f, ok := d.Factors[padded]; ok {
		return f
	}
	return 1
}

// EagerLaunch is the launch time of an eager step: BaseMs, plus
// DecodesMs when the step holds any decode (the decode attention's own
// kernels), plus PerDecodeMs per decode, plus InRunMs, plus FirstMs for a
// token count the replica has not launched eagerly before. StartFrac is how
// much of that launch the GPU waits for before its first kernel of
// substance: the embedding, block-table writes and the first layer's
// small kernels come first, so a GPU-bound eager step from idle ends
// StartFrac x launch after its GPU time would have.
type EagerLaunch struct {
	BaseMs      float64 `json:"base_ms"`
	DecodesMs   float64 `json:"decodes_ms"`
	PerDecodeMs float64 `json:"per_decode_ms"`
	// InRunMs is how much longer a launch takes inside a served run than
	// the designed probe's launch from idle that the other terms are fitted
	// on (fitted on runs made for it; 0: none).
	InRunMs float64 `json:"in_run_ms,omitempty"`
	// Source says where the numbers come from (a designed probe, its file).
	Source string `json:"source"`
	// StartFrac, in [0, 1), is the share of the launch before the GPU's
	// work on the step can begin (0: it begins with the launch).
	StartFrac float64 `json:"start_frac,omitempty"`
	// StartSource says where StartFrac comes from.
	StartSource string `json:"start_source,omitempty"`
	// FirstMs is how much longer the launch of a token count the replica
	// has not launched eagerly before takes (Ms is a count launched
	// before; 0: no difference).
	FirstMs float64 `json:"first_ms,omitempty"`
	// FirstSource says where FirstMs comes from.
	FirstSource string `json:"first_source,omitempty"`
}

// Span is the GPU span of an eager step from idle whose kernels take
// gpuMs and whose launch takes launchMs (Ms): the GPU begins its work
// StartFrac x launchMs into the launch and cannot end before the launch
// does, max(launchMs, StartFrac x launchMs + gpuMs).
func (l *EagerLaunch) Span(gpuMs, launchMs float64) float64 {
	return max(launchMs, l.StartFrac*launchMs+gpuMs)
}

// Ms is the launch time of an eager step with decodes decodes.
func (l *EagerLaunch) Ms(decodes int) float64 {
	if decodes <= 0 {
		return l.BaseMs + l.InRunMs
	}
	return l.BaseMs + l.DecodesMs + l.PerDecodeMs*float64(decodes) + l.InRunMs
}

// EagerLaunchMs is the launch time of a step of mode mode with decodes
// decodes: EagerLaunch's for an eager step (of a token count launched
// before: without FirstMs), 0 for a graph step or without eager_launch.
func (e *EngineSpec) EagerLaunchMs(mode string, decodes int) float64 {
	if e == nil || e.EagerLaunch == nil || mode != ModeEager {
		return 0
	}
	return e.EagerLaunch.Ms(decodes)
}

// PrefillLaunch is the geometry of the engine's prefill attention launch:
// a prefill of c tokens runs ceil(c / QueryTile) * TilesPerQueryBlock
// thread blocks on a GPU of SMs multiprocessors. With BlocksPerSM set, the
// wave model (prefillwaves.go) times the launch: every prefill of a step,
// one prefill alone too, costs the launch's simulated time, scaled by the
// profiled grid's ratio to the model at each prefill's (chunk, cached KV).
type PrefillLaunch struct {
	SMs                int `json:"sms"`
	QueryTile          int `json:"query_tile"`
	TilesPerQueryBlock int `json:"tiles_per_query_block"`
	// BlocksPerSM is how many of the launch's blocks an SM holds at once
	// (its registers and shared memory over the kernel's); 0: no wave model.
	BlocksPerSM int `json:"blocks_per_sm,omitempty"`
	// FloorMs, BlockMs, KeyMs and SharedRate: the launch's fixed cost, a
	// block's work (BlockMs + KeyMs per key it reads) and the rate of a
	// block that shares its SM (1 alone).
	FloorMs    float64 `json:"floor_ms,omitempty"`
	BlockMs    float64 `json:"block_ms,omitempty"`
	KeyMs      float64 `json:"key_ms,omitempty"`
	SharedRate float64 `json:"shared_rate,omitempty"`
	// WavesSource says where the wave model's numbers come from.
	WavesSource string `json:"waves_source,omitempty"`
}

// IdleHost is the host time of a step started from idle: BaseMs +
// PerPrefillMs * prefills + PerPrefillTokenMs * prefill tokens; and, if
// GPUExtraMs is set, the GPU time such a step adds (a GPU that idled lowers
// its clocks, and its first kernels run slower): GPUExtra.
type IdleHost struct {
	// AfterMs is how long the host loop must have had no work for the
	// next step to count as started from idle.
	AfterMs           float64 `json:"after_ms"`
	BaseMs            float64 `json:"base_ms"`
	PerPrefillMs      float64 `json:"per_prefill_ms"`
	PerPrefillTokenMs float64 `json:"per_prefill_token_ms"`
	// GPUExtraMs and GPUTauMs: a step launched after the GPU idled for g ms
	// takes GPUExtraMs * (1 - exp(-g / GPUTauMs)) more GPU time than the
	// profile says. Zero GPUExtraMs: none.
	GPUExtraMs float64 `json:"gpu_extra_ms,omitempty"`
	GPUTauMs   float64 `json:"gpu_tau_ms,omitempty"`
	// Source says where the numbers come from (a designed probe, its file).
	Source string `json:"source"`
	// GPUSource says where GPUExtraMs and GPUTauMs come from.
	GPUSource string `json:"gpu_source,omitempty"`
}

// GPUExtra is the GPU time (ms) that a step launched after the GPU idled
// for idleMs adds: GPUExtraMs * (1 - exp(-idleMs / GPUTauMs)).
func (h *IdleHost) GPUExtra(idleMs float64) float64 {
	if h.GPUExtraMs == 0 || idleMs <= 0 {
		return 0
	}
	return h.GPUExtraMs * -math.Expm1(-idleMs/h.GPUTauMs)
}

// Ms is the idle-start host time of a step with prefills prefills and
// prefillTokens prefill tokens.
func (h *IdleHost) Ms(prefills, prefillTokens int) float64 {
	return h.BaseMs + h.PerPrefillMs*float64(prefills) + h.PerPrefillTokenMs*float64(prefillTokens)
}

// Overlap values of engine.json.
const (
	OverlapAsync = "async"
	OverlapSync  = "sync"
)

const (
	engineFile = "engine.json"
	hostFile   = "host_overheads.csv"
)

// HostColumns are host_overheads.csv's columns: host time per step is
// host_base_ms + host_per_prefill_ms * prefills + host_per_prefill_token_ms *
// prefill tokens, each interpolated linearly in batch_size.
var HostColumns = []string{"batch_size", "host_base_ms", "host_per_prefill_ms", "host_per_prefill_token_ms"}

// fusableOps are the ops engine.json may declare fused: the mlp.csv ops the
// predictor reads, and qk_norm (which Vidur's schema may carry).
var fusableOps = append(slices.Clone(mlpOps), "qk_norm")

// ParseEngineSpec decodes and validates an engine.json; file names it in
// errors. Unknown keys are errors, so a misspelt key is not ignored.
func ParseEngineSpec(b []byte, file string) (*EngineSpec, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e EngineSpec
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%s: %w", file, jsonPos(b, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: expected one JSON object, found more after it", file)
	}
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf("%s: "+f, append([]any{file}, a...)...)) }
	if strings.TrimSpace(e.Engine) == "" {
		bad(`"engine": expected the engine's name and version, got an empty string`)
	}
	if e.Overlap != OverlapAsync && e.Overlap != OverlapSync {
		bad(`"overlap": expected "async" or "sync", got %q`, e.Overlap)
	}
	for _, l := range []struct {
		key string
		v   []int
	}{{"cuda_graph_batch_sizes", e.CUDAGraphBatchSizes}, {"mixed_graph_token_sizes", e.MixedGraphTokenSizes}} {
		for i, x := range l.v {
			if x < 1 {
				bad("%q[%d]: expected an integer >= 1, got %d", l.key, i, x)
			} else if i > 0 && x <= l.v[i-1] {
				bad("%q[%d]: expected sizes in strictly ascending order, got %d after %d", l.key, i, x, l.v[i-1])
			}
		}
	}
	if math.IsNaN(e.SyncMs) || math.IsInf(e.SyncMs, 0) || e.SyncMs < 0 {
		bad(`"sync_ms": expected a finite number >= 0, got %v`, e.SyncMs)
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if e.MixedGraphLogitRows < 0 {
		bad(`"mixed_graph_logit_rows": expected an integer >= 0, got %d`, e.MixedGraphLogitRows)
	}
	for _, size := range slices.Sorted(maps.Keys(e.MixedGraphMLPScale)) {
		v := e.MixedGraphMLPScale[size]
		if !slices.Contains(e.MixedGraphTokenSizes, size) {
			bad(`"mixed_graph_mlp_scale": key %d is not one of mixed_graph_token_sizes`, size)
		}
		if !finite(v) || v <= 0 {
			bad(`"mixed_graph_mlp_scale"[%d]: expected a finite number > 0, got %v`, size, v)
		}
	}
	if d := e.DecodeInRun; d != nil {
		for _, size := range slices.Sorted(maps.Keys(d.Factors)) {
			v := d.Factors[size]
			if !slices.Contains(e.CUDAGraphBatchSizes, size) {
				bad(`"decode_in_run"."factors": key %d is not one of cuda_graph_batch_sizes`, size)
			}
			if !finite(v) || v < 0.5 || v > 2 {
				bad(`"decode_in_run"."factors"[%d]: expected a factor in [0.5, 2], got %v`, size, v)
			}
		}
		if strings.TrimSpace(d.Source) == "" {
			bad(`"decode_in_run"."source": expected where the factors come from, got an empty string`)
		}
	}
	if l := e.PrefillLaunch; l != nil && (l.SMs < 1 || l.QueryTile < 1 || l.TilesPerQueryBlock < 1) {
		bad(`"prefill_launch": expected sms, query_tile and tiles_per_query_block >= 1, got %d, %d, %d`, l.SMs, l.QueryTile, l.TilesPerQueryBlock)
	}
	if l := e.PrefillLaunch; l != nil {
		l.validWaves(bad)
	}
	if d := e.DecodeLaunch; d != nil {
		d.valid(bad)
	}
	if m := e.MixedDecode; m != nil {
		m.valid(&e, bad)
	}
	if e.DecodeContextGranularity < 0 || e.DecodeContextGranularity > 1<<20 {
		bad(`"decode_context_granularity": expected 0 (the config's) or 1-%d keys, got %d`, 1<<20, e.DecodeContextGranularity)
	}
	if h := e.IdleHost; h != nil {
		for _, f := range []struct {
			key string
			v   float64
		}{{"after_ms", h.AfterMs}, {"base_ms", h.BaseMs}, {"per_prefill_ms", h.PerPrefillMs}, {"per_prefill_token_ms", h.PerPrefillTokenMs},
			{"gpu_extra_ms", h.GPUExtraMs}, {"gpu_tau_ms", h.GPUTauMs}} {
			if !finite(f.v) || f.v < 0 {
				bad(`"idle_host"."%s": expected a finite number >= 0, got %v`, f.key, f.v)
			}
		}
		if h.GPUExtraMs > 0 && h.GPUTauMs <= 0 {
			bad(`"idle_host"."gpu_tau_ms": expected a number > 0 with gpu_extra_ms %v, got %v`, h.GPUExtraMs, h.GPUTauMs)
		}
		if h.GPUExtraMs > 0 && strings.TrimSpace(h.GPUSource) == "" {
			bad(`"idle_host"."gpu_source": expected where gpu_extra_ms comes from, got an empty string`)
		}
		if strings.TrimSpace(h.Source) == "" {
			bad(`"idle_host"."source": expected where the numbers come from, got an empty string`)
		}
	}
	if l := e.EagerLaunch; l != nil {
		for _, f := range []struct {
			key string
			v   float64
		}{{"base_ms", l.BaseMs}, {"decodes_ms", l.DecodesMs}, {"per_decode_ms", l.PerDecodeMs}, {"in_run_ms", l.InRunMs}, {"first_ms", l.FirstMs}} {
			if !finite(f.v) || f.v < 0 || f.v > 1e4 {
				bad(`"eager_launch"."%s": expected a finite number of ms in [0, 10000], got %v`, f.key, f.v)
			}
		}
		if strings.TrimSpace(l.Source) == "" {
			bad(`"eager_launch"."source": expected where the numbers come from, got an empty string`)
		}
		if !finite(l.StartFrac) || l.StartFrac < 0 || l.StartFrac >= 1 {
			bad(`"eager_launch"."start_frac": expected a share of the launch in [0, 1), got %v`, l.StartFrac)
		}
		if l.FirstMs > 0 && strings.TrimSpace(l.FirstSource) == "" {
			bad(`"eager_launch"."first_source": expected where first_ms comes from, got an empty string`)
		}
		if l.StartFrac > 0 && strings.TrimSpace(l.StartSource) == "" {
			bad(`"eager_launch"."start_source": expected where start_frac comes from, got an empty string`)
		}
	}
	seen := map[string]bool{}
	for i, op := range e.FusedOps {
		switch {
		case !slices.Contains(fusableOps, op):
			bad("%q[%d]: unknown op %q (expected one of %s)", "fused_ops", i, op, strings.Join(fusableOps, ", "))
		case seen[op]:
			bad("%q[%d]: %q is listed twice", "fused_ops", i, op)
		}
		seen[op] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &e, nil
}

// jsonPos adds the line and column of a JSON syntax or type error.
func jsonPos(b []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(b)) {
		return err
	}
	line := 1 + bytes.Count(b[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(b[:off], '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
}

// DecodeLaunchOrNil is e's decode_launch, nil if e is nil or has none.
func (e *EngineSpec) DecodeLaunchOrNil() *DecodeLaunch {
	if e == nil {
		return nil
	}
	return e.DecodeLaunch
}

// LaunchOrNil is e's prefill_launch, nil if e is nil or has none.
func (e *EngineSpec) LaunchOrNil() *PrefillLaunch {
	if e == nil {
		return nil
	}
	return e.PrefillLaunch
}

// Fused reports whether engine.json declares op fused.
func (e *EngineSpec) Fused(op string) bool { return e != nil && slices.Contains(e.FusedOps, op) }

// Pad returns how a step runs in this engine: its mode ("graph",
// "graph_mixed" or "eager") and the size its non-attention kernels run at.
// A decode-only step (prefills == 0) of batch decodes is padded up to the
// next CUDA-graph batch size; a step with prefills (or a decode batch above
// the largest graph) to the next mixed-graph token size if it has no more
// sequences than the mixed graphs hold (mixed_graph_logit_rows, when set);
// otherwise it runs eagerly at its real token count tokens, as the reference
// engine does.
func (e *EngineSpec) Pad(tokens, decodes, prefills int) (mode string, padded int) {
	if prefills == 0 && decodes > 0 {
		if i, ok := ceilIndex(e.CUDAGraphBatchSizes, decodes); ok {
			return ModeGraph, e.CUDAGraphBatchSizes[i]
		}
	}
	// a mixed graph holds at most its sequence bound (mixed_graph_logit_rows): a step of more sequences runs
	// eagerly, as a step of more tokens than the largest graph does
	if i, ok := ceilIndex(e.MixedGraphTokenSizes, tokens); ok && (e.MixedGraphLogitRows == 0 || decodes+prefills <= e.MixedGraphLogitRows) {
		return ModeGraphMixed, e.MixedGraphTokenSizes[i]
	}
	return ModeEager, tokens
}

// ceilIndex finds the first sizes[i] >= x in an ascending list.
func ceilIndex(sizes []int, x int) (int, bool) {
	i, _ := slices.BinarySearch(sizes, x)
	return i, i < len(sizes)
}

// HasEngineSpec reports whether the set carries engine.json.
func (s *Set) HasEngineSpec() bool { return s.Engine != nil }

// HasHostOverheads reports whether the set carries host_overheads.csv.
func (s *Set) HasHostOverheads() bool {
	_, err := fs.Stat(s.FS, hostFile)
	return err == nil
}

// loadEngineSpec reads engine.json if the set has one.
func loadEngineSpec(fsys fs.FS, origin string) (*EngineSpec, error) {
	b, err := fs.ReadFile(fsys, engineFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("profile set %s: %w", origin, err)
	}
	return ParseEngineSpec(b, path.Join(origin, engineFile))
}

// checkFused rejects an mlp.csv that times an op engine.json calls fused:
// one of the two is wrong, and using either silently would hide it.
func checkFused(set *Set) error {
	if set.Engine == nil || len(set.Engine.FusedOps) == 0 {
		return nil
	}
	f, err := set.FS.Open(mlpFile)
	if err != nil {
		return fmt.Errorf("profile %s: %w", set.Origin, err)
	}
	defer f.Close()
	t, err := csvin.ReadHeader(f, path.Join(set.Origin, mlpFile))
	if err != nil {
		return err
	}
	for _, op := range set.Engine.FusedOps {
		col := median(op)
		if i := slices.Index(t.Header(), col); i >= 0 {
			return &csvin.Error{File: t.File(), Line: 1, Col: i + 1, Column: col,
				Want: fmt.Sprintf("no column for %s, which %s lists in fused_ops", op, path.Join(set.Origin, engineFile)), Got: "a column " + strconv.Quote(col)}
		}
	}
	return nil
}

// loadHost reads host_overheads.csv: one row per batch_size (sequences in
// the step), every time a finite number >= 0.
func (p *Predictor) loadHost(set *Set) error {
	if !set.HasHostOverheads() {
		return fmt.Errorf("profile set %s has no %s; the engine timing model needs one", set.Origin, hostFile)
	}
	var xs []float64
	ys := map[string][]float64{}
	seen := map[int64]int{}
	err := scan(set.FS, set.Origin, hostFile, nil, HostColumns, func(t *csvin.Table) error {
		b, err := t.IntAtLeast("batch_size", 1)
		if err != nil {
			return err
		}
		if l, dup := seen[b]; dup {
			return t.ErrAt("batch_size", fmt.Sprintf("one row per batch_size (%d is also on line %d)", b, l), strconv.FormatInt(b, 10))
		}
		seen[b] = t.Line()
		xs = append(xs, float64(b))
		for _, c := range HostColumns[1:] {
			v, err := t.NonNegFloat(c)
			if err != nil {
				return err
			}
			ys[c] = append(ys[c], v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.host = map[string]curve{}
	for c, y := range ys {
		p.host[c] = newCurve(xs, y)
	}
	return nil
}

// MaxBatch is the most sequences one step may hold before a table keyed by
// the step's sequences runs out (0: no such bound), and which table that
// is: host_overheads.csv when the predictor loaded it, and attention.csv's
// decode rows. With Options.Extrapolate the tables are read past their
// ends and MaxBatch is 0.
func (p *Predictor) MaxBatch() (n int, table string) {
	if p.opt.Extrapolate {
		return 0, ""
	}
	if c, ok := p.host[HostColumns[1]]; ok && len(c.xs) > 0 {
		n, table = int(c.xs[len(c.xs)-1]), path.Join(p.origin, hostFile)
	}
	if o := p.decode.outer; len(o) > 0 && (n == 0 || int(o[len(o)-1]) < n) {
		n, table = int(o[len(o)-1]), path.Join(p.origin, attnFile)+" (decode rows)"
	}
	return n, table
}

// MaxTokens is the most tokens one step may hold before the rows keyed by
// a step's tokens run out (mlp.csv's, attention.csv's KV save; 0: no rows,
// or Options.Extrapolate), and the file whose rows end first.
func (p *Predictor) MaxTokens() (n int, table string) {
	if p.opt.Extrapolate {
		return 0, ""
	}
	for _, c := range p.mlp {
		if len(c.xs) > 0 && (n == 0 || int(c.xs[len(c.xs)-1]) < n) {
			n, table = int(c.xs[len(c.xs)-1]), path.Join(p.origin, mlpFile)
		}
	}
	if c := p.kvSave; len(c.xs) > 0 && (n == 0 || int(c.xs[len(c.xs)-1]) < n) {
		n, table = int(c.xs[len(c.xs)-1]), path.Join(p.origin, attnFile)+" (KV save)"
	}
	return n, table
}

// LongestContext is the longest context a decode may read before
// attention.csv's decode rows run out at every batch size (0: no decode
// rows, or Options.Extrapolate), after rounding up to the decode
// granularity, and that file.
func (p *Predictor) LongestContext() (n int, table string) {
	if p.opt.Extrapolate || len(p.decode.inner) == 0 {
		return 0, ""
	}
	g := p.decodeGranularity()
	return int(p.decode.longestInner()) / g * g, path.Join(p.origin, attnFile)
}

// Host is the host time (ms) of a step: schedule, prepare inputs and launch,
// from host_overheads.csv, keyed by the sequences in the step, its prefills
// and its prefill tokens. The predictor must have been built with
// Options.HostOverheads.
func (p *Predictor) Host(k Key) (float64, error) {
	if p.host == nil {
		return 0, errors.New("predictor: host time asked for without host_overheads.csv loaded")
	}
	key := uint64(k.NumRequests)<<40 | uint64(k.NumPrefills)<<24 | uint64(k.T-k.Bd)
	if v, ok := p.hostMemo[key]; ok {
		return v, nil
	}
	x := float64(k.NumRequests)
	at := at1("batch_size=%d", int(k.NumRequests))
	var v [3]float64
	for i, c := range HostColumns[1:] {
		y, err := p.lookup(p.host[c], x, hostFile, c, at)
		if err != nil {
			return 0, err
		}
		v[i] = y
	}
	ms := v[0] + v[1]*float64(k.NumPrefills) + v[2]*float64(k.T-k.Bd)
	p.hostMemo[key] = ms
	return ms, nil
}

// Step modes of the engine timing model (EngineSpec.Pad).
const (
	ModeGraph      = "graph"
	ModeGraphMixed = "graph_mixed"
	ModeEager      = "eager"
)

// EngineStage predicts a step's GPU time as the set's engine runs it
// (engine.json): token ops, the KV-cache save, the embedding and the TP
// all-reduce at the padded size (EngineSpec.Pad), attention at the real
// shape, the LM head at the padded batch inside a CUDA graph and at the
// sequences that need logits otherwise. It needs one pipeline stage.
func (p *Predictor) EngineStage(spec *EngineSpec, k Key) (b Breakdown, mode string, padded int, err error) {
	if p.opt.PP != 1 {
		return b, "", 0, errors.New("predictor: the engine timing model needs num_pipeline_stages 1")
	}
	mode, padded = spec.Pad(int(k.T), int(k.Bd), int(k.NumPrefills))
	b = Breakdown{Layers: p.layersPerStage}
	ops, err := p.tokens(padded)
	if err != nil {
		return b, mode, padded, err
	}
	scale := 1.0
	if mode == ModeGraphMixed {
		if f, ok := spec.MixedGraphMLPScale[padded]; ok {
			scale = f
			ops = ops.scaled(f)
		}
	}
	b.InputLN, b.PreProj, b.Rope, b.PostProj, b.PostLN = ops.inputLN, ops.preProj, ops.rope, ops.postProj, ops.postLN
	b.UpProj, b.Act, b.DownProj, b.Add, b.TPComm = ops.up, ops.act, ops.down, ops.add, ops.tp
	if b.KVSave, err = p.kv(padded); err != nil {
		return b, mode, padded, err
	}
	bd, kd := int(k.Bd), int(k.Kd)
	if mode == ModeGraph && spec.DecodeGraphAttentionByKeys && bd < padded {
		bd, kd = padded, keysPerSlot(int(k.Bd), int(k.Kd), padded)
	}
	if bd > 0 {
		// fewer keys than the smallest profiled row cost that row (a launch's
		// fixed cost): a graph's keys per slot, or a context under a fine
		// decode_context_granularity, can fall below it
		kd = max(kd, int(p.decodeMinKV))
	}
	if mode == ModeGraphMixed && spec.MixedDecode != nil && bd > 0 {
		if b.AttnDecode, err = p.mixedDecodeAttn(spec, k, padded); err != nil {
			return b, mode, padded, err
		}
	} else if b.AttnDecode, err = p.attnDecode(bd, kd, spec.DecodeAttentionBatched); err != nil {
		return b, mode, padded, err
	}
	if mode == ModeGraph && spec.DecodeLaunch != nil && k.KdMax > 0 {
		b.AttnDecode = max(b.AttnDecode+p.decodeShape(k, padded), 0)
	}
	if spec.PrefillLaunch != nil && (k.NumPrefills > 1 || k.NumPrefills == 1 && spec.PrefillLaunch.Waves()) {
		// each prefill from its own row (KeyOf); Vidur's one row at the summed
		// cached context is not read, so a sum past the grid is no error
		if k.PrefillAttn < 0 {
			return b, mode, padded, fmt.Errorf("predictor: a prefill of the batch is outside %s's attn_prefill grid", path.Join(p.origin, attnFile))
		}
		b.AttnPrefill = k.PrefillAttn
	} else if b.AttnPrefill, err = p.attnPrefill(int(k.Kp), int(k.Cp), int(k.NumPrefills)); err != nil {
		return b, mode, padded, err
	}
	if p.opt.Embedding {
		b.Embedding = ops.emb
	}
	logits := int(k.LogitSeqs)
	switch {
	case mode == ModeGraph:
		logits = padded
	case mode == ModeGraphMixed && spec.MixedGraphLogitRows > 0:
		logits = min(padded, spec.MixedGraphLogitRows)
	}
	if p.opt.LMHead && logits > 0 {
		if b.LMHead, err = p.logits(logits); err != nil {
			return b, mode, padded, err
		}
		b.LMHead *= scale
	}
	if mode == ModeGraph {
		if f := spec.DecodeInRun.Factor(padded); f != 1 {
			b = b.scaledGPU(f)
		}
	}
	return b, mode, padded, nil
}

// DecodeGranularity is e's decode_context_granularity, 0 if e is nil or has
// none.
func (e *EngineSpec) DecodeGranularity() int {
	if e == nil {
		return 0
	}
	return e.DecodeContextGranularity
}
