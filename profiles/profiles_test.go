package profiles_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/sharedtest"
	"github.com/servesim/servesim/profiles"
)

// TestEmbeddedSets: every embedded set loads, validates, builds a predictor
// and states its provenance.
func TestEmbeddedSets(t *testing.T) {
	reg := profiles.Embedded()
	if len(reg.Names()) == 0 {
		t.Fatal("no embedded sets")
	}
	for _, name := range reg.Names() {
		set, err := reg.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		kind := strings.ToUpper(set.Meta.Kind)
		if !strings.Contains(set.Provenance, kind) || !strings.Contains(set.Meta.Summary, kind) {
			t.Errorf("%s: provenance and summary must say %s", name, kind)
		}
		// A measured set states its error against real runs (bench/gpu/fidelity writes it).
		if set.Meta.Kind == "measured" && (!strings.Contains(set.Provenance, "\n## Validated error\n") || !strings.Contains(set.Meta.Summary, "validated on real runs")) {
			t.Errorf("%s: a measured set's PROVENANCE.md and summary must give its validated error (go run ./bench/gpu/fidelity --card %s)", name, set.Meta.Device)
		}
		if err := profiles.Check(set, reg.Network()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := reg.Open("nope"); err == nil || !strings.Contains(err.Error(), "a100/qwen3-0.6b") {
		t.Errorf("unknown set error should list the valid ones: %v", err)
	}
}

type medians struct{ ttft, perTok, e2e float64 }

func fromRows(arr, first, done []float64, dec []int) medians {
	var t, p, e []float64
	for i := range arr {
		t, e = append(t, first[i]-arr[i]), append(e, done[i]-arr[i])
		p = append(p, (done[i]-first[i])/float64(dec[i]-1))
	}
	return medians{report.Median(t), report.Median(p), report.Median(e)}
}

func readRef(t *testing.T, path string) medians {
	f := sharedtest.Open(t, "reference-runs/"+path)
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	var a, fi, d []float64
	var dec []int
	for _, r := range rows[1:] {
		x, _ := strconv.ParseFloat(r[col["arrival_time_ns"]], 64)
		y, _ := strconv.ParseFloat(r[col["first_token_time_ns"]], 64)
		z, _ := strconv.ParseFloat(r[col["completion_time_ns"]], 64)
		n, _ := strconv.Atoi(r[col["num_decode_tokens_actual"]])
		a, fi, d, dec = append(a, x), append(fi, y), append(d, z), append(dec, n)
	}
	return fromRows(a, fi, d, dec)
}

func simulate(t *testing.T, cpu bool, files ...string) medians {
	cfg := engine.DefaultConfig()
	cfg.Predictor.SkipCPUOverheadModeling = !cpu
	var in []workload.File
	for _, p := range files {
		f := sharedtest.Open(t, "reference-runs/"+p)
		in = append(in, workload.File{Name: filepath.Base(p), R: f})
	}
	w, err := workload.Load(in, cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	reg := profiles.Embedded()
	set, err := reg.Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set, Network: reg.Network()}, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var a, f, d []float64
	var dec []int
	for _, r := range res.Requests {
		a, f, d, dec = append(a, float64(r.ArrivalNs)), append(f, float64(r.FirstTokenNs)), append(d, float64(r.CompletionNs)), append(dec, r.DecodeActual)
	}
	return fromRows(a, f, d, dec)
}

// TestA100Acceptance pins issue #3's acceptance numbers: the simulator with
// the embedded set and the default (seed) config against the reference runs.
// The reference numbers are read from shared/ at test time.
func TestA100Acceptance(t *testing.T) {
	spaced := []string{"qwen3-a100-sarathi-real-spaced-2s/workload/trace_lengths.csv", "qwen3-a100-sarathi-real-spaced-2s/workload/trace_intervals.csv"}
	tests := []struct {
		name     string
		sim, ref medians
		tol      float64 // relative
		checkE2E bool
	}{
		{"seed vs Vidur", simulate(t, false, "qwen3-a100-vidur-seed-4req/vidur_trace.csv"), readRef(t, "qwen3-a100-vidur-seed-4req/request_metrics.csv"), 0.03, true},
		{"spaced-2s vs Vidur", simulate(t, false, spaced...), readRef(t, "qwen3-a100-sarathi-real-spaced-2s/vidur_run/request_metrics.csv"), 0.05, true},
		{"spaced-2s with Sarathi-Serve overhead vs real A100", simulate(t, true, spaced...), readRef(t, "qwen3-a100-sarathi-real-spaced-2s/real_run/request_metrics.csv"), 0.10, false},
	}
	for _, tc := range tests {
		check := func(what string, sim, ref float64) {
			e := sim/ref - 1
			t.Logf("%s %s: sim %.0f ns, ref %.0f ns, %+.2f%%", tc.name, what, sim, ref, e*100)
			if math.Abs(e) > tc.tol {
				t.Errorf("%s %s off by %+.2f%% (tolerance %.0f%%)", tc.name, what, e*100, tc.tol*100)
			}
		}
		check("median TTFT", tc.sim.ttft, tc.ref.ttft)
		check("median per-token latency", tc.sim.perTok, tc.ref.perTok)
		if tc.checkE2E {
			check("median E2E", tc.sim.e2e, tc.ref.e2e)
		}
	}
}

// TestEngineLayoutSet: a set in the reference engine's layout (engine.json,
// host_overheads.csv, no add column) passes the same checks as the
// embedded sets.
func TestEngineLayoutSet(t *testing.T) {
	set, err := profiles.OpenDir("testdata/engine-set")
	if err != nil {
		t.Fatal(err)
	}
	if !set.HasEngineSpec() || !set.HasHostOverheads() || set.HasCPUOverheads() {
		t.Fatalf("fixture layout: engine.json %t, host_overheads.csv %t, cpu_overheads.csv %t", set.HasEngineSpec(), set.HasHostOverheads(), set.HasCPUOverheads())
	}
	if err := profiles.Check(set, profiles.Embedded().Network()); err != nil {
		t.Fatal(err)
	}
}

// h200Engine is the measured H200 set and its predictor as engine timing
// uses it (host table, LM head, embedding, the decode launch's shape).
func h200Engine(t *testing.T) (*predict.Set, *predict.Predictor) {
	t.Helper()
	set, err := profiles.Embedded().Open("h200/qwen3-0.6b")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := model.Lookup("Qwen/Qwen3-0.6B")
	n, _ := model.LookupNode("h100_pairwise_nvlink")
	p, err := predict.New(set, nil, predict.Options{Model: m, Node: n, TP: 1, PP: 1, HeadDim: 128, KVCachePredictionGranularity: 64,
		AttentionDecodeBatchingOverhead: 0.1, AttentionPrefillBatchingOverhead: 0.1, HostOverheads: true, LMHead: true, Embedding: true, DecodeShape: true})
	if err != nil {
		t.Fatal(err)
	}
	return set, p
}

// TestH200InSitu: the measured H200 set, as engine timing reads it,
// reproduces the engine's own whole-graph measurements it was built from
// (bench/gpu/h200/engine): every decode graph at contexts spread over
// [0.5, 1.5] x the mean and at a uniform context of 512 (the decode
// launch model's shape correction tells the two apart), and every mixed
// graph holding one fresh prefill that fills it. A wrong in-situ factor, attention shift, logit
// row count or mixed-graph scale moves these by more than the bounds.
func TestH200InSitu(t *testing.T) {
	set, p := h200Engine(t)
	stage := func(b predict.Batch) float64 {
		t.Helper()
		bd, _, _, err := p.EngineStage(set.Engine, p.KeyOf(b))
		if err != nil {
			t.Fatal(err)
		}
		return bd.ModelMs()
	}
	var ictx struct {
		Uniform512 map[string]float64            `json:"uniform512"`
		Spread     map[string]map[string]float64 `json:"spread"`
	}
	var insitu struct {
		Mixed map[string]float64 `json:"mixed"`
	}
	for f, v := range map[string]any{"insitu_ctx.json": &ictx, "insitu.json": &insitu} {
		b, err := fs.ReadFile(set.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got/want-1) > tol {
			t.Errorf("%s: predicted %.3f ms, measured %.3f ms (%+.1f%%, bound %.0f%%)", what, got, want, 100*(got/want-1), 100*tol)
		}
	}
	// decode is a graph of b sequences whose contexts, as the probes'
	// (insitu_ctx.py) over their timed steps, have mean ctx and longest
	// longest.
	// A context past the rows' last (4096 at batch 160) is read at the
	// listed one.
	decode := func(b, ctx, longest int) float64 {
		t.Helper()
		for _, d := range []int{6, 0} {
			bd, _, _, err := p.EngineStage(set.Engine, p.KeyOf(predict.Batch{NumRequests: b, Tokens: b, NumDecodes: b,
				DecodeContextSum: int64(b * (ctx + d)), DecodeContextMax: longest + d, LogitSeqs: b}))
			if err == nil {
				return bd.ModelMs()
			}
			if d == 0 {
				t.Fatal(err)
			}
		}
		return 0
	}
	if len(ictx.Uniform512) < 10 || len(insitu.Mixed) < 10 {
		t.Fatalf("in-situ files hold %d decode and %d mixed graphs", len(ictx.Uniform512), len(insitu.Mixed))
	}
	for bs, want := range ictx.Uniform512 {
		b, _ := strconv.Atoi(bs)
		// 12 timed steps from the listed contexts, each one more a step:
		// read 6 keys on
		check(fmt.Sprintf("decode graph %d at a uniform context of 512", b), decode(b, 512, 512), want, 0.04)
		for cs, want := range ictx.Spread[bs] {
			c, _ := strconv.Atoi(cs)
			longest := c
			if b > 1 {
				longest = int(math.RoundToEven(1.5 * float64(c)))
			}
			check(fmt.Sprintf("decode graph %d at mean context %d", b, c), decode(b, c, longest), want, 0.04)
		}
	}
	for ss, want := range insitu.Mixed {
		s, _ := strconv.Atoi(ss)
		check(fmt.Sprintf("mixed graph %d", s), stage(predict.Batch{NumRequests: 1, Tokens: s, Prefills: []predict.Prefill{{Chunk: s}}, NewRequests: 1, LogitSeqs: 1}), want, 0.03)
	}
}

// TestH200DecodeProbe: engine timing on the measured H200 set predicts the
// designed decode probe's graphs (bench/gpu/h200/engine/decodeprobe.json: 8
// to 256 sequences, mean contexts 256-4096, five shapes of contexts each;
// the decode launch model is fitted on differences between its shapes, the
// set's level on insitu.json) from each batch's mean and longest context:
// the median |error| of every graph size within 1.5%, and of all graphs
// within 1.2% (-v prints them). With decode_context_granularity 64 (Vidur's
// rounding) sizes 32-256 are at 2.0-4.1% and all graphs at 2.4%; with the
// decode rows at the grid's 15 batch sizes only (before
// attn_decode_fill.csv), 56 and 72 sequences were at 1.8% and 1.1%.
func TestH200DecodeProbe(t *testing.T) {
	set, p := h200Engine(t)
	// the probe's graphs are timed apart from a served run: the tables are
	// scored without decode_in_run, the factors served runs' decode graphs
	// need over them (fitted on the fit runs; bench/gpu/fidelity -decode_in_run
	// scores them on this probe too)
	spec := *set.Engine
	if spec.DecodeInRun == nil {
		t.Fatal("h200 set: no decode_in_run")
	}
	spec.DecodeInRun = nil
	b, err := os.ReadFile("../bench/gpu/h200/engine/decodeprobe.json")
	if err != nil {
		t.Fatal(err)
	}
	var probe struct {
		Rows []struct {
			Batch    int     `json:"batch"`
			Contexts []int   `json:"contexts"`
			GPUMs    float64 `json:"gpu_ms"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		t.Fatal(err)
	}
	bySize := map[int][]float64{}
	var all []float64
	outside := 0
	for _, r := range probe.Rows {
		// the median of 12 steps from the listed contexts, each one more a step
		var sum int64
		longest := 0
		for _, c := range r.Contexts {
			sum += int64(c + 6)
			longest = max(longest, c+6)
		}
		bd, _, _, err := p.EngineStage(&spec, p.KeyOf(predict.Batch{NumRequests: r.Batch, Tokens: r.Batch, NumDecodes: r.Batch,
			DecodeContextSum: sum, DecodeContextMax: longest, LogitSeqs: r.Batch}))
		var ge *predict.GridError
		if errors.As(err, &ge) {
			outside++ // past the rows' last context (4096 keys at 160 sequences)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		e := math.Abs(bd.ModelMs()/r.GPUMs - 1)
		bySize[r.Batch] = append(bySize[r.Batch], e)
		all = append(all, e)
	}
	med := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	if len(bySize) < 10 || len(all) < 200 || outside > len(probe.Rows)/10 {
		t.Fatalf("probe: %d graphs of %d sizes predicted, %d outside the rows", len(all), len(bySize), outside)
	}
	for _, size := range slices.Sorted(maps.Keys(bySize)) {
		v := bySize[size]
		t.Logf("graph of %d sequences: median |error| %.1f%% over %d probe graphs", size, 100*med(v), len(v))
		if e := med(v); e > 0.015 {
			t.Errorf("graph of %d sequences: median |error| %.1f%% over %d probe graphs, bound 1.5%%", size, 100*e, len(v))
		}
	}
	t.Logf("all %d probe graphs: median |error| %.1f%%, %d outside the rows", len(all), 100*med(all), outside)
	if e := med(all); e > 0.012 {
		t.Errorf("median |error| %.1f%% over %d probe graphs, bound 1.2%%", 100*e, len(all))
	}
}

// TestH200MixedProbe: engine timing on the measured H200 set against the
// designed probe of mixed graphs holding decodes
// (bench/gpu/h200/engine/mixedprobe.json: 256-2048-token mixed graphs, 0-64
// decodes at 512 or 2048 keys, one chunk over 0-3 chunks of cached
// context; no fit reads it, and it is a different design from the
// mixed_decode rows' probe, mixeddecode.json: uniform contexts, real
// prefill chunks over cached context). With attn_decode's decode-graph rows
// for the mixed graphs' decodes it missed by -8% to +11% by decode count and
// context (median |error| 1.9%, P90 7.4%); with mixed_decode 1.4% and 3.1%,
// and with the prefill rows' in-graph growth over cache (prefillctx.json)
// 0.8% and 2.0%, which the bounds hold; -v prints them.
func TestH200MixedProbe(t *testing.T) {
	set, p := h200Engine(t)
	b, err := os.ReadFile("../bench/gpu/h200/engine/mixedprobe.json")
	if err != nil {
		t.Fatal(err)
	}
	var probe struct {
		Rows []struct {
			Size         int     `json:"size"`
			K            int     `json:"k"`
			Decodes      int     `json:"decodes"`
			DecodeCtxSum int64   `json:"decode_ctx_sum"`
			DecodeCtxMax int     `json:"decode_ctx_max"`
			Chunk        int     `json:"chunk"`
			Cached       int     `json:"cached"`
			GPUMs        float64 `json:"gpu_ms"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		t.Fatal(err)
	}
	var all []float64
	for _, r := range probe.Rows {
		nr, logits := 0, r.Decodes
		if r.Cached == 0 {
			nr = 1
		}
		if r.Cached+r.Chunk >= 4*(r.Size-r.K) { // the prompt's last chunk samples
			logits++
		}
		bd, _, _, err := p.EngineStage(set.Engine, p.KeyOf(predict.Batch{NumRequests: r.Decodes + 1, Tokens: r.Decodes + r.Chunk,
			NumDecodes: r.Decodes, DecodeContextSum: r.DecodeCtxSum, DecodeContextMax: r.DecodeCtxMax,
			Prefills: []predict.Prefill{{Chunk: r.Chunk, Processed: r.Cached}}, NewRequests: nr, LogitSeqs: logits}))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, math.Abs(bd.ModelMs()/r.GPUMs-1))
	}
	if len(all) < 500 {
		t.Fatalf("probe: %d steps", len(all))
	}
	slices.Sort(all)
	m, p90 := all[len(all)/2], all[len(all)*9/10]
	t.Logf("%d mixed-graph steps: median |error| %.1f%%, P90 %.1f%%", len(all), 100*m, 100*p90)
	if m > 0.015 || p90 > 0.035 {
		t.Errorf("median |error| %.1f%% (bound 1.5%%), P90 %.1f%% (bound 3.5%%)", 100*m, 100*p90)
	}
}

// TestH200PrefillContext: engine timing on the measured H200 set against the
// designed probe of prefill chunks over cached context
// (bench/gpu/h200/engine/prefillctx.json: one ~8k-token prompt served alone
// in chunks of c). build_set.py shifts attn_prefill's rows by the graphs'
// growth with cache at the chunk sizes marked grid; the off-grid chunks (48,
// 100, 384, 700) are read only here. With attention.csv's isolated prefill
// rows they missed by a median |error| of 9.8% (P90 13.5%: a 64-token chunk
// over 2k cached tokens -14%, a 700-token one +14%); the bounds hold today's
// 1.4% and 4.6%. A prompt's first chunk is left out: it follows an idle GPU
// (idle_host's terms, which the fidelity runs apply). -v prints both sets.
func TestH200PrefillContext(t *testing.T) {
	set, p := h200Engine(t)
	b, err := os.ReadFile("../bench/gpu/h200/engine/prefillctx.json")
	if err != nil {
		t.Fatal(err)
	}
	var probe struct {
		Rows []struct {
			Chunk  int     `json:"chunk"`
			Cached int     `json:"cached"`
			Grid   bool    `json:"grid"`
			GPUMs  float64 `json:"gpu_ms"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		t.Fatal(err)
	}
	errs := map[bool][]float64{}
	for _, r := range probe.Rows {
		if r.Cached == 0 {
			continue
		}
		bd, _, _, err := p.EngineStage(set.Engine, p.KeyOf(predict.Batch{NumRequests: 1, Tokens: r.Chunk,
			Prefills: []predict.Prefill{{Chunk: r.Chunk, Processed: r.Cached}}}))
		if err != nil {
			t.Fatal(err)
		}
		errs[r.Grid] = append(errs[r.Grid], math.Abs(bd.ModelMs()/r.GPUMs-1))
	}
	for _, grid := range []bool{true, false} {
		e := errs[grid]
		if len(e) < 500 {
			t.Fatalf("grid %v: %d steps", grid, len(e))
		}
		slices.Sort(e)
		m, p90 := e[len(e)/2], e[len(e)*9/10]
		t.Logf("grid chunks %v: %d steps, median |error| %.1f%%, P90 %.1f%%", grid, len(e), 100*m, 100*p90)
		if !grid && (m > 0.02 || p90 > 0.06) {
			t.Errorf("off-grid chunks: median |error| %.1f%% (bound 2%%), P90 %.1f%% (bound 6%%)", 100*m, 100*p90)
		}
	}
}
