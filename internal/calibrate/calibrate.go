// Package calibrate fits a profile set to real runs of a serving engine and
// writes the result as a new profile set.
//
// What is fitted, on the runs marked for the fit only:
//
//   - a scale per op class (gemm: the projections, MLP GEMMs and LM head;
//     attention: decode and prefill attention and the KV-cache save;
//     elementwise: norms, RoPE, activation, embedding), applied to every
//     time column of mlp.csv and attention.csv;
//   - the host table host_overheads.csv: host_ms = base(batch) +
//     per_prefill * prefills + per_prefill_token * prefill tokens, base
//     piecewise linear over powers of two in batch size; host time as the
//     engine timing model counts it (compare.RealStep.LoopHostMs: from when
//     the loop could start the step to its launch, output processing included).
//
// With step logs (the reference engine's step_log.csv) both are least-squares
// fits on the measured steps: GPU time against the base set's prediction by
// class at each step's real shape (weighted by 1/measured², i.e. relative
// error), host time directly. With request-level results only (vLLM, AIPerf)
// one GPU scale and one flat host time are searched to match the fit runs'
// TTFT, time between tokens and E2E medians by simulating them.
//
// Then every run is simulated with the new set (engine timing): the runs
// held out of the fit give the set's validated error, which its
// PROVENANCE.md states beside what it was calibrated on.
package calibrate

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing/fstest"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/profiles"
)

// Splits of a run.
const (
	SplitFit     = "fit"
	SplitHeldOut = "heldout"
)

// Run is one real run: its results, optional step log, the workload it
// replayed and the configuration that simulates it.
type Run struct {
	Name     string
	Split    string
	Real     *compare.Run
	Steps    []compare.RealStep // nil without a step log
	Workload *workload.Workload
	Config   engine.Config
}

// A fitted class scale outside [minScale, maxScale] means the classes are
// confounded on the fitted steps (one absorbing another's error): the fit
// then uses one scale for all.
const minScale, maxScale = 0.25, 4.0

// Classes are the op classes a scale is fitted for.
var Classes = []string{"gemm", "attention", "elementwise"}

// opClass maps an mlp.csv / attention.csv op to its class.
var opClass = map[string]string{
	"attn_pre_proj": "gemm", "attn_post_proj": "gemm", "mlp_up_proj": "gemm", "mlp_down_proj": "gemm", "lm_head": "gemm",
	"attn_decode": "attention", "attn_prefill": "attention", "attn_kv_cache_save": "attention",
	"input_layernorm": "elementwise", "post_attention_layernorm": "elementwise", "attn_rope": "elementwise", "qk_norm": "elementwise",
	"mlp_act": "elementwise", "add": "elementwise", "emb": "elementwise",
}

// HostRow is one host_overheads.csv row (ms).
type HostRow struct {
	Batch      int     `json:"batch_size"`
	Base       float64 `json:"host_base_ms"`
	PerPrefill float64 `json:"host_per_prefill_ms"`
	PerToken   float64 `json:"host_per_prefill_token_ms"`
}

// Fit is what calibration found.
type Fit struct {
	Method string             `json:"method"`
	Scale  map[string]float64 `json:"scale"` // by class
	Host   []HostRow          `json:"host"`
	// FitSteps counts the steps (or runs) fitted on; GPUErr and HostErr are
	// the median |relative error| over the fitted steps after the fit.
	FitSteps        int      `json:"fit_steps"`
	GPUErr, HostErr float64  `json:"-"`
	FitRuns         []string `json:"fit_runs"`
	Notes           []string `json:"notes"`
}

// Score is a run simulated with the calibrated set against its real result.
type Score struct {
	Run   string
	Split string
	Rows  []compare.Row
}

// MarshalJSON writes a score with snake_case rows and each row's signed
// relative error.
func (s Score) MarshalJSON() ([]byte, error) {
	type row struct {
		Metric   string  `json:"metric"`
		Quantile string  `json:"quantile"`
		RealNs   float64 `json:"real_ns"`
		SimNs    float64 `json:"sim_ns"`
		RelErr   float64 `json:"rel_err"`
	}
	rows := []row{}
	for _, r := range s.Rows {
		rows = append(rows, row{r.Metric, r.Quantile, r.Real, r.Sim, r.RelErr()})
	}
	return json.Marshal(struct {
		Run   string `json:"run"`
		Split string `json:"split"`
		Rows  []row  `json:"rows"`
	}{s.Run, s.Split, rows})
}

// Output is a calibration: the fit, the new set's files and the scores.
type Output struct {
	Fit    Fit
	Files  map[string][]byte // the new profile set, by file name
	Set    *predict.Set
	Scores []Score
}

// Options name the new set and bound the work.
type Options struct {
	Name string // profile.json name of the new set (default: base name + "-calibrated")
}

// Calibrate fits base to the fit runs, writes the new set and scores every
// run with it. Held-out runs are never read before the fit is done.
func Calibrate(ctx context.Context, base *predict.Set, network fs.FS, runs []Run, opt Options) (*Output, error) {
	if base.Engine == nil {
		return nil, fmt.Errorf("calibrate: base set %s has no engine.json; calibration fits engine timing (host table and GPU scales), which needs the engine's graph sizes and overlap", base.Origin)
	}
	var fit []Run
	for _, r := range runs {
		switch r.Split {
		case SplitFit:
			fit = append(fit, r)
		case SplitHeldOut:
		default:
			return nil, fmt.Errorf("calibrate: run %s: split must be %q or %q, got %q", r.Name, SplitFit, SplitHeldOut, r.Split)
		}
	}
	if len(fit) == 0 {
		return nil, errors.New("calibrate: no run marked for the fit")
	}
	withSteps := 0
	for _, r := range fit {
		if r.Steps != nil {
			withSteps++
		}
	}
	var f *Fit
	var err error
	if withSteps > 0 {
		f, err = fitSteps(base, network, fit)
	} else {
		f, err = fitRequests(ctx, base, network, fit)
	}
	if err != nil {
		return nil, err
	}
	if opt.Name == "" {
		opt.Name = base.Meta.Name + "-calibrated"
	}
	out := &Output{Fit: *f}
	// A first pass without scores, to simulate with; then the final files.
	files, err := writeSet(base, f, opt.Name, nil)
	if err != nil {
		return nil, err
	}
	set, err := openFiles(files, opt.Name)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		rows, err := score(ctx, set, network, r)
		if err != nil {
			return nil, fmt.Errorf("calibrate: scoring %s: %w", r.Name, err)
		}
		out.Scores = append(out.Scores, Score{Run: r.Name, Split: r.Split, Rows: rows})
	}
	if out.Files, err = writeSet(base, f, opt.Name, out.Scores); err != nil {
		return nil, err
	}
	if out.Set, err = openFiles(out.Files, opt.Name); err != nil {
		return nil, err
	}
	if err := profiles.Check(out.Set, network); err != nil {
		return nil, fmt.Errorf("calibrate: the written set does not load: %w", err)
	}
	return out, nil
}

func openFiles(files map[string][]byte, name string) (*predict.Set, error) {
	m := fstest.MapFS{}
	for n, b := range files {
		m[n] = &fstest.MapFile{Data: b}
	}
	return predict.Open(m, "calibrated:"+name)
}

// PredictStep predicts a real step at its real shape with p (built by
// engine.NewPredictor under engine timing): GPU and host time in ms. An
// eager step's GPU time is its span from idle (engine.json eager_launch:
// at least its launch, and its kernels' time past its start_frac of the
// launch), as for a step with nothing in flight before it.
func PredictStep(p *predict.Predictor, spec *predict.EngineSpec, s compare.RealStep) (gpuMs, hostMs float64, err error) {
	c, err := classTimes(p, spec, s)
	if err != nil {
		return 0, 0, err
	}
	gpuMs = c[0] + c[1] + c[2]
	if spec.EagerLaunch != nil {
		if mode, _ := spec.Pad(s.Tokens, s.Decodes, s.Prefills); mode == predict.ModeEager {
			gpuMs = spec.EagerLaunch.Span(gpuMs, spec.EagerLaunchMs(mode, s.Decodes))
		}
	}
	hostMs, err = p.Host(p.KeyOf(stepBatch(s)))
	return gpuMs, hostMs, err
}

func stepBatch(s compare.RealStep) predict.Batch {
	b := predict.Batch{NumRequests: s.Seqs, Tokens: s.Tokens, NumDecodes: s.Decodes, DecodeContextSum: s.DecodeCtxSum,
		DecodeContextMax: int(s.DecodeCtxMax), NewRequests: s.New, LogitSeqs: s.Seqs}
	for _, c := range s.Chunks {
		b.Prefills = append(b.Prefills, predict.Prefill{Chunk: c.Tokens, Processed: c.Cached})
	}
	return b
}

// classTimes predicts a real step on the base set at its real shape, by class (ms).
func classTimes(p *predict.Predictor, spec *predict.EngineSpec, s compare.RealStep) ([3]float64, error) {
	bd, _, _, err := p.EngineStage(spec, p.KeyOf(stepBatch(s)))
	if err != nil {
		return [3]float64{}, err
	}
	l := float64(bd.Layers)
	gemm := (bd.PreProj+bd.PostProj+bd.UpProj+bd.DownProj)*l + bd.LMHead
	attn := (bd.AttnDecode + bd.AttnPrefill + bd.KVSave) * l
	elem := (bd.InputLN+bd.PostLN+bd.Rope+bd.Act+bd.Add)*l + bd.Embedding
	return [3]float64{gemm, attn, elem}, nil
}

// fitSteps fits the class scales and the host table on the fit runs' steps.
func fitSteps(base *predict.Set, network fs.FS, runs []Run) (*Fit, error) {
	f := &Fit{Method: "least squares on the step logs of the fit runs", Scale: map[string]float64{}}
	var X [][3]float64
	var Y []float64
	type hostObs struct {
		b        int
		np, ptok float64
		y        float64
	}
	var H []hostObs
	maxB := 1
	for _, r := range runs {
		if r.Steps == nil {
			f.Notes = append(f.Notes, fmt.Sprintf("%s has no step log: not used by the step fit", r.Name))
			continue
		}
		f.FitRuns = append(f.FitRuns, r.Name)
		p, spec, err := engine.NewPredictor(r.Config, engine.Inputs{Profile: base, Network: network})
		if err != nil {
			return nil, fmt.Errorf("calibrate: %s: %w", r.Name, err)
		}
		if spec == nil {
			return nil, fmt.Errorf("calibrate: %s: the run's configuration uses vidur timing; calibration fits engine timing (set predictor.timing_model to engine or auto)", r.Name)
		}
		maxB = max(maxB, r.Config.Scheduler.BatchSizeCap)
		for _, s := range r.Steps {
			c, err := classTimes(p, spec, s)
			if err != nil {
				return nil, fmt.Errorf("calibrate: %s step %d: %w", r.Name, s.Step, err)
			}
			if s.GPUMs > 0 {
				X, Y = append(X, c), append(Y, s.GPUMs)
			}
			ptok := 0
			for _, ch := range s.Chunks {
				ptok += ch.Tokens
			}
			H = append(H, hostObs{s.Seqs, float64(s.Prefills), float64(ptok), s.LoopHostMs})
			maxB = max(maxB, s.Seqs)
		}
	}
	if len(Y) == 0 {
		return nil, errors.New("calibrate: the fit runs' step logs have no step with GPU time")
	}
	f.FitSteps = len(Y)
	// GPU: weighted least squares, weights 1/y^2 (relative error).
	var A [3][3]float64
	var bv [3]float64
	for i, x := range X {
		w := 1 / (Y[i] * Y[i])
		for j := range 3 {
			bv[j] += w * x[j] * Y[i]
			for k := range 3 {
				A[j][k] += w * x[j] * x[k]
			}
		}
	}
	sc, ok := solve3(A, bv)
	plausible := func(x float64) bool { return x >= minScale && x <= maxScale }
	if !ok || !plausible(sc[0]) || !plausible(sc[1]) || !plausible(sc[2]) {
		// The classes cannot be told apart on these steps (or one came out
		// outside a plausible range: the classes are confounded, and one
		// absorbs another's error): one common scale.
		var num, den float64
		for i, x := range X {
			w := 1 / (Y[i] * Y[i])
			t := x[0] + x[1] + x[2]
			num += w * t * Y[i]
			den += w * t * t
		}
		s := num / den
		sc = [3]float64{s, s, s}
		f.Notes = append(f.Notes, fmt.Sprintf("the per-class fit was not identifiable on these steps (singular, or scales %.3g, %.3g, %.3g outside [%g, %g]); one scale for all classes", sc[0], sc[1], sc[2], minScale, maxScale))
	}
	for i, c := range Classes {
		f.Scale[c] = sc[i]
	}
	var gerr []float64
	for i, x := range X {
		gerr = append(gerr, math.Abs((sc[0]*x[0]+sc[1]*x[1]+sc[2]*x[2])/Y[i]-1))
	}
	f.GPUErr = median(gerr)
	// Host: base on knots (powers of two, hat functions) plus common per
	// prefill and per prefill-token terms; ordinary least squares.
	knots := []int{1}
	for k := 2; k < maxB; k *= 2 {
		knots = append(knots, k)
	}
	if maxB > 1 {
		knots = append(knots, maxB)
	}
	n := len(knots) + 2
	M := make([][]float64, n)
	for i := range M {
		M[i] = make([]float64, n+1)
	}
	weight := make([]float64, len(knots))
	for _, h := range H {
		row := make([]float64, n)
		i, t := hat(knots, h.b)
		row[i] += 1 - t
		weight[i] += 1 - t
		if t > 0 {
			row[i+1] += t
			weight[i+1] += t
		}
		row[len(knots)], row[len(knots)+1] = h.np, h.ptok
		for j := range n {
			M[j][n] += row[j] * h.y
			for k := range n {
				M[j][k] += row[j] * row[k]
			}
		}
	}
	for j := range n {
		M[j][j] += 1e-9 // knots without data stay solvable; filled below
	}
	x, ok := solve(M)
	if !ok {
		return nil, errors.New("calibrate: the host fit is singular")
	}
	pp, pt := max(0, x[len(knots)]), max(0, x[len(knots)+1])
	if x[len(knots)] < 0 || x[len(knots)+1] < 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("host per-prefill and per-prefill-token terms came out %.4g and %.4g ms; clamped at 0", x[len(knots)], x[len(knots)+1]))
	}
	for i, k := range knots {
		v := x[i]
		if weight[i] < 1e-6 { // no step near this batch size: the nearest knot with data
			v = math.NaN()
			for d := 1; d < len(knots) && math.IsNaN(v); d++ {
				for _, j := range []int{i - d, i + d} {
					if j >= 0 && j < len(knots) && weight[j] >= 1e-6 {
						v = x[j]
						break
					}
				}
			}
			f.Notes = append(f.Notes, fmt.Sprintf("no step with about %d sequences: its host base copies the nearest batch size with data", k))
		}
		f.Host = append(f.Host, HostRow{Batch: k, Base: max(0, v), PerPrefill: pp, PerToken: pt})
	}
	var herr []float64
	for _, h := range H {
		if h.y > 0 {
			herr = append(herr, math.Abs(hostAt(f.Host, h.b, h.np, h.ptok)/h.y-1))
		}
	}
	f.HostErr = median(herr)
	return f, nil
}

// hat locates b among knots: the segment i and the fraction t towards i+1.
func hat(knots []int, b int) (int, float64) {
	if b <= knots[0] {
		return 0, 0
	}
	for i := 0; i+1 < len(knots); i++ {
		if b <= knots[i+1] {
			return i, float64(b-knots[i]) / float64(knots[i+1]-knots[i])
		}
	}
	return len(knots) - 1, 0
}

func hostAt(rows []HostRow, b int, np, ptok float64) float64 {
	knots := make([]int, len(rows))
	for i, r := range rows {
		knots[i] = r.Batch
	}
	i, t := hat(knots, b)
	r := rows[i]
	base := r.Base
	if t > 0 {
		base = (1-t)*r.Base + t*rows[i+1].Base
	}
	return base + r.PerPrefill*np + r.PerToken*ptok
}

// solve3 solves the 3x3 normal equations; false when they are singular or
// nearly so (classes that move together on the fitted steps: any split of
// the time between them fits equally well).
func solve3(A [3][3]float64, b [3]float64) ([3]float64, bool) {
	// Correlation-scaled determinant: 1 for independent classes, 0 for
	// collinear ones.
	var S [3][3]float64
	for i := range 3 {
		for j := range 3 {
			if A[i][i] <= 0 || A[j][j] <= 0 {
				return [3]float64{}, false
			}
			S[i][j] = A[i][j] / math.Sqrt(A[i][i]*A[j][j])
		}
	}
	det := S[0][0]*(S[1][1]*S[2][2]-S[1][2]*S[2][1]) - S[0][1]*(S[1][0]*S[2][2]-S[1][2]*S[2][0]) + S[0][2]*(S[1][0]*S[2][1]-S[1][1]*S[2][0])
	if det < 1e-9 {
		return [3]float64{}, false
	}
	M := make([][]float64, 3)
	for i := range 3 {
		M[i] = []float64{A[i][0], A[i][1], A[i][2], b[i]}
	}
	x, ok := solve(M)
	if !ok {
		return [3]float64{}, false
	}
	return [3]float64{x[0], x[1], x[2]}, true
}

// solve does Gaussian elimination with partial pivoting on an augmented
// n x (n+1) matrix.
func solve(M [][]float64) ([]float64, bool) {
	n := len(M)
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(M[r][c]) > math.Abs(M[p][c]) {
				p = r
			}
		}
		if math.Abs(M[p][c]) < 1e-300 {
			return nil, false
		}
		M[c], M[p] = M[p], M[c]
		for r := range n {
			if r == c {
				continue
			}
			k := M[r][c] / M[c][c]
			for j := c; j <= n; j++ {
				M[r][j] -= k * M[c][j]
			}
		}
	}
	x := make([]float64, n)
	for i := range n {
		x[i] = M[i][n] / M[i][i]
		if math.IsNaN(x[i]) || math.IsInf(x[i], 0) {
			return nil, false
		}
	}
	return x, true
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// fitRequests searches one GPU scale and one flat host time so that the fit
// runs' simulated medians (TTFT, time between tokens, E2E) match the real
// ones: coordinate descent of golden-section searches on the summed
// squared log errors.
func fitRequests(ctx context.Context, base *predict.Set, network fs.FS, runs []Run) (*Fit, error) {
	f := &Fit{Method: "search on the fit runs' TTFT, time-between-tokens and E2E medians (no step logs)", Scale: map[string]float64{}}
	for _, r := range runs {
		f.FitRuns = append(f.FitRuns, r.Name)
	}
	f.FitSteps = len(runs)
	maxB := 1
	for _, r := range runs {
		maxB = max(maxB, r.Config.Scheduler.BatchSizeCap)
	}
	params := func(s, h float64) *Fit {
		g := &Fit{Scale: map[string]float64{}}
		for _, c := range Classes {
			g.Scale[c] = s
		}
		g.Host = []HostRow{{Batch: 1, Base: h}, {Batch: max(2, maxB), Base: h}}
		return g
	}
	loss := func(s, h float64) (float64, error) {
		files, err := writeSet(base, params(s, h), base.Meta.Name+"-search", nil)
		if err != nil {
			return 0, err
		}
		set, err := openFiles(files, "search")
		if err != nil {
			return 0, err
		}
		sum := 0.0
		for _, r := range runs {
			rows, err := score(ctx, set, network, r)
			if err != nil {
				return 0, fmt.Errorf("calibrate: %s: %w", r.Name, err)
			}
			for _, row := range rows {
				if row.Quantile == "P50" && row.Real > 0 && row.Sim > 0 {
					e := math.Log(row.Sim / row.Real)
					sum += e * e
				}
			}
		}
		return sum, nil
	}
	s, h := 1.0, 1.0 // starting points; each is searched in turn
	var err error
	for range 3 {
		if s, err = golden(func(x float64) (float64, error) { return loss(x, h) }, 0.2, 5, 14); err != nil {
			return nil, err
		}
		if h, err = golden(func(x float64) (float64, error) { return loss(s, x) }, 0, 50, 14); err != nil {
			return nil, err
		}
	}
	g := params(s, h)
	f.Scale, f.Host = g.Scale, g.Host
	f.Notes = append(f.Notes, "request-level results carry no per-step times: one GPU scale for every class and a host time flat in batch size, without prefill terms")
	return f, nil
}

// golden minimises f on [a, b] with n golden-section steps.
func golden(f func(float64) (float64, error), a, b float64, n int) (float64, error) {
	const r = 0.6180339887498949
	c, d := b-r*(b-a), a+r*(b-a)
	fc, err := f(c)
	if err != nil {
		return 0, err
	}
	fd, err := f(d)
	if err != nil {
		return 0, err
	}
	for range n {
		if fc < fd {
			b, d, fd = d, c, fc
			c = b - r*(b-a)
			if fc, err = f(c); err != nil {
				return 0, err
			}
		} else {
			a, c, fc = c, d, fd
			d = a + r*(b-a)
			if fd, err = f(d); err != nil {
				return 0, err
			}
		}
	}
	return (a + b) / 2, nil
}

// score simulates a run with set (engine timing) and compares it with the
// real result.
func score(ctx context.Context, set *predict.Set, network fs.FS, r Run) ([]compare.Row, error) {
	cfg := r.Config
	cfg.Predictor.TimingModel = engine.TimingEngine
	res, err := engine.Run(ctx, cfg, engine.Inputs{Workload: r.Workload, Profile: set, Network: network}, engine.Options{})
	if err != nil {
		return nil, err
	}
	c, err := compare.Compare(r.Real, SimRun(res))
	if err != nil {
		return nil, err
	}
	return c.Rows, nil
}

// SimRun is a simulation result as compare's per-request view.
func SimRun(res *engine.Result) *compare.Run {
	run := &compare.Run{Name: "simulated", TTFT: map[int]float64{}, E2E: map[int]float64{}}
	var times []int64
	for i, q := range res.Requests {
		if q.Status != engine.StatusOK {
			continue
		}
		run.TTFT[q.ID] = float64(q.FirstTokenNs - q.ArrivalNs)
		run.E2E[q.ID] = float64(q.CompletionNs - q.ArrivalNs)
		run.Order = append(run.Order, q.ID)
		times = res.AppendTokenTimes(times[:0], i)
		for k := 1; k < len(times); k++ {
			run.TBT = append(run.TBT, float64(times[k]-times[k-1]))
		}
	}
	return run
}

// scaledCSV multiplies every time_stats.<op>.<stat> column of a class by
// its scale (std too: a scaled distribution), leaving other cells as they are.
func scaledCSV(b []byte, scale map[string]float64) ([]byte, error) {
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return b, nil
	}
	factor := make([]float64, len(rows[0]))
	for i, col := range rows[0] {
		factor[i] = 1
		if op, ok := strings.CutPrefix(col, "time_stats."); ok {
			if dot := strings.LastIndexByte(op, '.'); dot > 0 {
				if c, ok := opClass[op[:dot]]; ok {
					factor[i] = scale[c]
				}
			}
		}
	}
	for _, row := range rows[1:] {
		for i := range row {
			if i >= len(factor) || factor[i] == 1 || strings.TrimSpace(row[i]) == "" {
				continue
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(row[i]), 64)
			if err != nil {
				continue // not a number: left as it is (the set's own validation reports it)
			}
			row[i] = strconv.FormatFloat(v*factor[i], 'g', 8, 64)
		}
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// writeSet renders the calibrated set's files.
func writeSet(base *predict.Set, f *Fit, name string, scores []Score) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, n := range []string{"mlp.csv", "attention.csv"} {
		b, err := fs.ReadFile(base.FS, n)
		if err != nil {
			return nil, fmt.Errorf("calibrate: base set %s: %w", base.Origin, err)
		}
		if files[n], err = scaledCSV(b, f.Scale); err != nil {
			return nil, fmt.Errorf("calibrate: base set %s: %s: %w", base.Origin, n, err)
		}
	}
	eng, err := fs.ReadFile(base.FS, "engine.json")
	if err != nil {
		return nil, err
	}
	files["engine.json"] = eng
	var h strings.Builder
	h.WriteString(strings.Join(predict.HostColumns, ",") + "\n")
	for _, r := range f.Host {
		fmt.Fprintf(&h, "%d,%s,%s,%s\n", r.Batch, num(r.Base), num(r.PerPrefill), num(r.PerToken))
	}
	files["host_overheads.csv"] = []byte(h.String())
	kind := strings.ToUpper(base.Meta.Kind)
	meta := base.Meta
	meta.Name = name
	meta.CPUOverheadEngine = ""
	meta.Summary = fmt.Sprintf("%s base %s, CALIBRATED on %s (%s)", kind, base.Meta.Name, strings.Join(f.FitRuns, ", "), heldOutClause(scores))
	var mj bytes.Buffer
	enc := json.NewEncoder(&mj)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(meta); err != nil {
		return nil, err
	}
	files["profile.json"] = mj.Bytes()
	files["PROVENANCE.md"] = []byte(provenance(base, f, name, kind, scores))
	return files, nil
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }

// heldOutClause states the held-out error for profile.json's summary:
// the largest |error| at P50 and at P90 over held-out runs and metrics.
func heldOutClause(scores []Score) string {
	var p50, p90 float64
	n := 0
	for _, s := range scores {
		if s.Split != SplitHeldOut {
			continue
		}
		n++
		for _, r := range s.Rows {
			e := math.Abs(r.RelErr()) * 100
			switch r.Quantile {
			case "P50":
				p50 = math.Max(p50, e)
			case "P90":
				p90 = math.Max(p90, e)
			}
		}
	}
	if n == 0 {
		return "no run held out: error not validated"
	}
	return fmt.Sprintf("validated on %d held-out runs: worst |error| %.1f%% at P50, %.1f%% at P90 over TTFT, time between tokens and E2E", n, p50, p90)
}

func provenance(base *predict.Set, f *Fit, name, kind string, scores []Score) string {
	var b strings.Builder
	p := func(s string, a ...any) { fmt.Fprintf(&b, s, a...) }
	p("# %s\n\n%s base set `%s`, CALIBRATED by `servesim calibrate` to real runs of its engine (%s).\n\n", name, kind, base.Meta.Name, base.Engine.Engine)
	p("## Calibrated on\n\n%s: %s (%d %s).\n\n", f.Method, strings.Join(f.FitRuns, ", "), f.FitSteps, map[bool]string{true: "steps", false: "runs"}[strings.Contains(f.Method, "step")])
	p("| op class | scale applied to mlp.csv / attention.csv times |\n|---|---:|\n")
	for _, c := range Classes {
		p("| %s | %.4f |\n", c, f.Scale[c])
	}
	if !math.IsNaN(f.GPUErr) && f.GPUErr != 0 {
		p("\nMedian |error| over the fitted steps after the fit: GPU %.1f%%, host %.1f%%.\n", f.GPUErr*100, f.HostErr*100)
	}
	p("\n`host_overheads.csv`: base by batch size (linear between rows), per prefill %.4g ms, per prefill token %.4g ms.\n", f.Host[0].PerPrefill, f.Host[0].PerToken)
	for _, n := range f.Notes {
		p("\n- %s", n)
	}
	if len(f.Notes) > 0 {
		p("\n")
	}
	p("\n## Validated error\n\nEach run simulated with this set (engine timing) against its real result; held-out runs took no part in the fit. Signed error (simulated / real - 1):\n\n")
	p("| run | split | TTFT P50 | TTFT P90 | TTFT P99 | time between tokens P50 | P90 | P99 | E2E P50 | P90 | P99 |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range scores {
		cells := map[string]string{}
		for _, r := range s.Rows {
			cells[r.Metric+r.Quantile] = fmt.Sprintf("%+.1f%%", r.RelErr()*100)
		}
		p("| %s | %s |", s.Run, s.Split)
		for _, m := range []string{"TTFT", "time between tokens", "E2E"} {
			for _, q := range []string{"P50", "P90", "P99"} {
				c := cells[m+q]
				if c == "" {
					c = "n/a"
				}
				p(" %s |", c)
			}
		}
		p("\n")
	}
	p("\nSummary: %s.\n\nThe base set's provenance follows.\n\n---\n\n%s", heldOutClause(scores), base.Provenance)
	return b.String()
}
