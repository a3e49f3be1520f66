package predict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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

// Fused reports whether engine.json declares op fused.
func (e *EngineSpec) Fused(op string) bool { return e != nil && slices.Contains(e.FusedOps, op) }

// Pad returns how a step runs in this engine: its mode ("graph",
// "graph_mixed" or "eager") and the size its non-attention kernels run at.
// A decode-only step (prefills == 0) of batch decodes is padded up to the
// next CUDA-graph batch size; a step with prefills (or a decode batch above
// the largest graph) to the next mixed-graph token size; above that it runs
// eagerly at its real token count tokens. (A decode batch above the largest
// captured batch size is a case the reference engine's spec leaves open: it
// takes the mixed graphs here, as an engine with graph-safe attention can.)
func (e *EngineSpec) Pad(tokens, decodes, prefills int) (mode string, padded int) {
	if prefills == 0 && decodes > 0 {
		if i, ok := ceilIndex(e.CUDAGraphBatchSizes, decodes); ok {
			return ModeGraph, e.CUDAGraphBatchSizes[i]
		}
	}
	if i, ok := ceilIndex(e.MixedGraphTokenSizes, tokens); ok {
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
	at := fmt.Sprintf("batch_size=%d", k.NumRequests)
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
	b.InputLN, b.PreProj, b.Rope, b.PostProj, b.PostLN = ops.inputLN, ops.preProj, ops.rope, ops.postProj, ops.postLN
	b.UpProj, b.Act, b.DownProj, b.Add, b.TPComm = ops.up, ops.act, ops.down, ops.add, ops.tp
	if b.KVSave, err = p.kv(padded); err != nil {
		return b, mode, padded, err
	}
	if b.AttnDecode, err = p.attnDecode(int(k.Bd), int(k.Kd)); err != nil {
		return b, mode, padded, err
	}
	if b.AttnPrefill, err = p.attnPrefill(int(k.Kp), int(k.Cp), int(k.NumPrefills)); err != nil {
		return b, mode, padded, err
	}
	if p.opt.Embedding {
		b.Embedding = ops.emb
	}
	logits := int(k.LogitSeqs)
	if mode == ModeGraph {
		logits = padded
	}
	if p.opt.LMHead && logits > 0 {
		if b.LMHead, err = p.logits(logits); err != nil {
			return b, mode, padded, err
		}
	}
	return b, mode, padded, nil
}
