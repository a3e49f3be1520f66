package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/calibrate"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/profiles"
)

// manifestEntry is one workload of profiles/tools/gpu/workloads/MANIFEST.json.
type manifestEntry struct {
	Name  string `json:"name"`
	Dir   string `json:"dir"`
	Split string `json:"split"` // fit | heldout
	// FitFor names the one fit a fit run was made for (refengine's
	// "eager_launch": the eager launch's in-run term); such a run stays out
	// of every other fit, calibrateOnFit's included. "" for a general fit run.
	FitFor              string `json:"fit_for,omitempty"`
	Shape               string `json:"shape"`
	Scheduler           string `json:"scheduler"` // sarathi | vllm_v1
	Chunk               int    `json:"chunk"`
	MaxNumBatchedTokens int    `json:"max_num_batched_tokens"`
	MaxNumSeqs          int    `json:"max_num_seqs"`
	// LongPrefillTokenThreshold caps a vllm_v1 prefill's tokens per step (0: off).
	LongPrefillTokenThreshold int     `json:"long_prefill_token_threshold,omitempty"`
	Requests                  int     `json:"requests"`
	DurationS                 float64 `json:"duration_s"`
}

// readManifest accepts the manifest as {"workloads": [...], ...} or as a
// bare list.
func readManifest(path string) ([]manifestEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Workloads []manifestEntry `json:"workloads"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Workloads == nil {
		var list []manifestEntry
		if err2 := json.Unmarshal(b, &list); err2 != nil {
			return nil, fmt.Errorf("%s: expected {\"workloads\": [...]} or a list of workloads: %v", path, err)
		}
		doc.Workloads = list
	}
	for i, w := range doc.Workloads {
		if w.Name == "" || w.Split != calibrate.SplitFit && w.Split != calibrate.SplitHeldOut {
			return nil, fmt.Errorf("%s: workload %d (%q): expected a name and split \"fit\" or \"heldout\", got split %q", path, i, w.Name, w.Split)
		}
		if w.Dir == "" {
			doc.Workloads[i].Dir = w.Name
		}
	}
	return doc.Workloads, nil
}

// heldOutOptions locate the manifest, the real runs and the measured set.
type heldOutOptions struct {
	Manifest string // MANIFEST.json; workload folders beside it
	Bench    string // bench/gpu
	Card     string // h200: runs in Bench/<card>/<run>, repeats in Bench/<card>-repeat/<run>
	Profile  string // the measured set's folder
	Out      string // report path
	KeepSims string // if set, each run's simulated files go to KeepSims/<run>/
	// Calibrate, if set, first fits the measured set to the manifest's fit
	// runs (servesim calibrate: class scales and host table from their step
	// logs; the held-out runs are not given to it) and writes the fitted set
	// here; the runs are then simulated with it.
	Calibrate string
	// Skip leaves out the runs whose names start with it (a batch kept
	// blind while the timing model changes); "" skips none.
	Skip      string
	Summarize func(string)
}

// runConfig is how servesim simulates a manifest workload: engine timing
// with the measured set, the run's own scheduler settings and KV cache
// (run.json); vLLM V1 runs use servesim's vllm_v1 scheduler with the run's
// max_num_batched_tokens, max_num_seqs and long_prefill_token_threshold.
func runConfig(w manifestEntry, set *predict.Set, runJSON []byte) (engine.Config, []string, error) {
	cfg := engine.DefaultConfig()
	cfg.Replica.Device, cfg.Replica.NetworkDevice = set.Meta.Device, set.Meta.NetworkDevice
	cfg.Predictor.TimingModel = engine.TimingEngine
	cfg.Workload.MaxTokens = 16384 // no request clipped; Sarathi's batch is bounded by batch_size_cap, not by the planner's per-request reservation
	var notes []string
	switch w.Scheduler {
	case "sarathi":
		cfg.Scheduler.Type, cfg.Scheduler.ChunkSize = "sarathi", w.Chunk
	case "vllm_v1":
		cfg.Scheduler.Type, cfg.Scheduler.MaxNumBatchedTokens = "vllm_v1", w.MaxNumBatchedTokens
		cfg.Scheduler.LongPrefillTokenThreshold = w.LongPrefillTokenThreshold
	default:
		return cfg, nil, fmt.Errorf("workload %s: unknown scheduler %q (sarathi or vllm_v1)", w.Name, w.Scheduler)
	}
	if w.MaxNumSeqs > 0 {
		cfg.Scheduler.BatchSizeCap = w.MaxNumSeqs
	}
	if len(runJSON) > 0 {
		var rj struct {
			BlockSize int `json:"block_size"`
			NumBlocks int `json:"num_blocks"`
		}
		if err := json.Unmarshal(runJSON, &rj); err != nil {
			return cfg, nil, fmt.Errorf("workload %s: run.json: %w", w.Name, err)
		}
		if rj.BlockSize > 0 {
			cfg.Scheduler.BlockSize = rj.BlockSize
		}
		if rj.NumBlocks > 1 {
			// The engine's pool never hands out block 0 (padding's slots
			// point at it, as vLLM V1 keeps a null block): run.json counts it.
			cfg.Scheduler.NumBlocks = rj.NumBlocks - 1
			if cfg.Scheduler.Type == "sarathi" {
				cfg.Scheduler.WatermarkBlocksFraction = sarathiWatermark(cfg.Scheduler.WatermarkBlocksFraction, rj.NumBlocks)
			}
		}
	}
	return cfg, notes, nil
}

// sarathiWatermark is the watermark fraction that makes servesim's Sarathi
// keep the reference engine's watermark free: refengine/sched.py's Sarathi
// keeps int(fraction x run.json's num_blocks) blocks, counting block 0,
// which the simulator's pool of num_blocks - 1 leaves out, and
// int(fraction x (num_blocks - 1)) is one fewer where fraction x num_blocks
// is a whole number (1,000 blocks at 0.01: 10 against 9). The result
// times num_blocks - 1 truncates to the reference engine's count: half a
// block over it, clear of float rounding either way.
func sarathiWatermark(fraction float64, numBlocks int) float64 {
	w := int(fraction * float64(numBlocks))
	return (float64(w) + 0.5) / float64(numBlocks-1)
}

var metrics = []string{"TTFT", "time between tokens", "E2E"}
var quantiles = []string{"P50", "P90", "P99"}

// runScore is one run's signed errors and the real engine's spread, by
// "metric quantile" (fractions).
type runScore struct {
	w        manifestEntry
	err      map[string]float64
	spread   map[string]float64 // repeat / first - 1; absent without a repeat
	steps    *compare.StepReport
	atShape  *compare.StepReport // every real step predicted at its own shape
	notes    []string
	matched  int
	simSteps int
	// eager and eagerRepeat are the first run's and the repeat's eager
	// steps against eager_launch (eagerhost.go); nil under minEagerSteps.
	eager, eagerRepeat *eagerHost
}

func rowsByKey(rows []compare.Row) map[string]float64 {
	m := map[string]float64{}
	for _, r := range rows {
		m[r.Metric+" "+r.Quantile] = r.RelErr()
	}
	return m
}

// meets reports whether a run is within target: |error| <= 5% at P50 and
// <= 10% at P90 for every metric, or within the engine's own spread where
// that is larger.
func (s runScore) meets() bool {
	for _, m := range metrics {
		for q, lim := range map[string]float64{"P50": 0.05, "P90": 0.10} {
			k := m + " " + q
			if math.Abs(s.err[k]) > math.Max(lim, math.Abs(s.spread[k])) {
				return false
			}
		}
	}
	return true
}

func simSteps(res *engine.Result) []compare.SimStep {
	out := make([]compare.SimStep, len(res.Batches))
	for i, b := range res.Batches {
		out[i] = compare.SimStep{Batch: i, Replica: int(b.Replica), ScheduledNs: b.ScheduledAt, EndNs: b.EndAt, Seqs: b.Size(), Tokens: b.Tokens(),
			Prefill: b.PrefillTokens(), Decodes: b.DecodeTokens(), ModelNs: b.ModelNs, TotalNs: b.TotalNs, HasEngine: res.Engine != nil,
			Mode: b.ModeName(), Padded: int(b.Padded), HostNs: b.HostNs, GPUNs: b.ModelNs}
	}
	return out
}

// heldOut simulates every manifest run with the measured set (engine
// timing, nothing tuned) and writes the report.
func heldOut(ctx context.Context, o heldOutOptions) error {
	entries, err := readManifest(o.Manifest)
	if err != nil {
		return err
	}
	if o.Skip != "" {
		entries = slices.DeleteFunc(entries, func(w manifestEntry) bool { return strings.HasPrefix(w.Name, o.Skip) })
	}
	set, err := profiles.OpenDir(o.Profile)
	if err != nil {
		return err
	}
	if set.Engine == nil {
		return fmt.Errorf("%s has no engine.json: the held-out protocol simulates with engine timing", o.Profile)
	}
	var fitNote string
	if o.Calibrate != "" {
		if set, fitNote, err = calibrateOnFit(ctx, o, entries, set); err != nil {
			return err
		}
	}
	var scores []runScore
	for _, w := range entries {
		realDir := filepath.Join(o.Bench, o.Card, w.Name)
		runJSON, _ := os.ReadFile(filepath.Join(realDir, "run.json"))
		cfg, notes, err := runConfig(w, set, runJSON)
		if err != nil {
			return err
		}
		files, _, err := loadWorkload(o, w, cfg)
		if err != nil {
			return err
		}
		out, err := runner.Run(ctx, runner.Job{Files: files, Config: cfg, Profile: set, WorkloadName: w.Name})
		if err != nil {
			return fmt.Errorf("workload %s: %w", w.Name, err)
		}
		if o.KeepSims != "" {
			dir := filepath.Join(o.KeepSims, w.Name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := out.WriteFiles([]string{"request_metrics.csv", "token_metrics.csv", "batch_metrics.csv", "run_meta.json"}, func(n string) (io.WriteCloser, error) {
				return os.Create(filepath.Join(dir, n))
			}); err != nil {
				return err
			}
		}
		real, err := compare.Load(realDir)
		if err != nil {
			return fmt.Errorf("workload %s: %w", w.Name, err)
		}
		c, err := compare.Compare(real, calibrate.SimRun(out.Result))
		if err != nil {
			return fmt.Errorf("workload %s: %w", w.Name, err)
		}
		s := runScore{w: w, err: rowsByKey(c.Rows), notes: notes, matched: c.Matched, simSteps: len(out.Result.Batches)}
		if rep, err := compare.Load(filepath.Join(o.Bench, o.Card+"-repeat", w.Name)); err == nil {
			if rc, err := compare.Compare(real, rep); err == nil {
				s.spread = rowsByKey(rc.Rows)
			}
		}
		if p, ok := compare.StepLogPath(realDir); ok {
			steps, err := compare.LoadStepLog(p)
			if err != nil {
				return err
			}
			if s.steps, err = compare.AlignSteps(w.Name, steps, simSteps(out.Result)); err != nil {
				return err
			}
			if s.atShape, err = predictAtShapes(w.Name, set, cfg, steps); err != nil {
				return err
			}
			if l := set.Engine.EagerLaunch; l != nil {
				if s.eager, s.eagerRepeat, err = eagerHostRuns(l, steps, filepath.Join(o.Bench, o.Card+"-repeat", w.Name)); err != nil {
					return fmt.Errorf("workload %s: %w", w.Name, err)
				}
			}
		}
		scores = append(scores, s)
	}
	md := heldOutReport(o, set, scores, fitNote)
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return err
	}
	if o.Summarize != nil {
		o.Summarize(summaryLine(scores))
	}
	return os.WriteFile(o.Out, []byte(md), 0o644)
}

func pct(v float64, ok bool) string {
	if !ok || math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", v*100)
}

// medianAbs is the median over held-out runs of |error| at key.
func medianAbs(scores []runScore, key string, spread bool) (float64, int) {
	var v []float64
	for _, s := range scores {
		if s.w.Split != calibrate.SplitHeldOut {
			continue
		}
		m := s.err
		if spread {
			m = s.spread
		}
		if x, ok := m[key]; ok {
			v = append(v, math.Abs(x))
		}
	}
	if len(v) == 0 {
		return math.NaN(), 0
	}
	return report.Median(v), len(v)
}

// batchTable is the summary per batch of held-out runs (a run's batch is
// its name up to the first '-': ho, ho2, ...), in manifest order.
func batchTable(scores []runScore) string {
	var order []string
	by := map[string][]runScore{}
	for _, s := range scores {
		if s.w.Split != calibrate.SplitHeldOut {
			continue
		}
		k, _, _ := strings.Cut(s.w.Name, "-")
		if by[k] == nil {
			order = append(order, k)
		}
		by[k] = append(by[k], s)
	}
	var b strings.Builder
	b.WriteString("Per batch (median over its runs of |error|, P50 / P90):\n\n| batch | runs |")
	for _, m := range metrics {
		b.WriteString(" " + m + " |")
	}
	b.WriteString(" within target |\n|---|---:|" + strings.Repeat("---:|", len(metrics)+1) + "\n")
	for _, k := range order {
		g := by[k]
		met := 0
		for _, s := range g {
			if s.meets() {
				met++
			}
		}
		fmt.Fprintf(&b, "| %s-* | %d |", k, len(g))
		for _, m := range metrics {
			p50, _ := medianAbs(g, m+" P50", false)
			p90, _ := medianAbs(g, m+" P90", false)
			fmt.Fprintf(&b, " %.1f%% / %.1f%% |", p50*100, p90*100)
		}
		fmt.Fprintf(&b, " %d |\n", met)
	}
	return b.String()
}

func summaryLine(scores []runScore) string {
	var parts []string
	for _, m := range metrics {
		p50, _ := medianAbs(scores, m+" P50", false)
		p90, _ := medianAbs(scores, m+" P90", false)
		parts = append(parts, fmt.Sprintf("%s %.1f%% / %.1f%%", m, p50*100, p90*100))
	}
	met, held := 0, 0
	for _, s := range scores {
		if s.w.Split == calibrate.SplitHeldOut {
			held++
			if s.meets() {
				met++
			}
		}
	}
	return fmt.Sprintf("median |error| over %d held-out runs (P50 / P90): %s; %d of %d within target", held, strings.Join(parts, ", "), met, held)
}

func heldOutReport(o heldOutOptions, set *predict.Set, scores []runScore, fitNote string) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("# Held-out fidelity on a real %s\n\n", strings.ToUpper(o.Card))
	p("Generated by `go run ./bench/gpu/fidelity --heldout --card %s` from `%s`. Every workload is simulated with the\n", o.Card, o.Manifest)
	p("measured set `%s` (%s) and engine timing (`%s`: CUDA-graph padding, host table, %s overlap);\n", set.Meta.Name, o.Profile, set.Engine.Engine, set.Engine.Overlap)
	if fitNote != "" {
		p("%s\n", fitNote)
	} else {
		p("nothing is tuned here, on any run: the set's fits used only the manifest's `fit` runs (its PROVENANCE.md says how).\n")
	}
	p("Real runs: `%s/%s/<run>/`; the same workloads replayed again: `%s/%s-repeat/<run>/`.\n", o.Bench, o.Card, o.Bench, o.Card)
	p("Signed error = simulated / real - 1; spread = repeat / first run - 1 (the engine's own run-to-run difference).\n")
	p("Target: |error| <= 5%% at P50 and <= 10%% at P90 for every metric, or within the spread where that is larger.\n\n")
	for _, split := range []string{calibrate.SplitHeldOut, calibrate.SplitFit} {
		title := "Held-out runs"
		if split == calibrate.SplitFit {
			title = "Fit runs (in sample: the set's host table was fitted on them)"
		}
		p("## %s\n\n", title)
		p("| run | shape | metric | P50 error | P90 error | P99 error | P50 spread | P90 spread | P99 spread |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range scores {
			if s.w.Split != split {
				continue
			}
			for i, m := range metrics {
				name, shape := "", ""
				if i == 0 {
					verdict := "misses target"
					if s.meets() {
						verdict = "within target"
					}
					name, shape = fmt.Sprintf("%s (%s)", s.w.Name, verdict), s.w.Shape
				}
				p("| %s | %s | %s |", name, shape, m)
				for _, q := range quantiles {
					v, ok := s.err[m+" "+q]
					p(" %s |", pct(v, ok))
				}
				for _, q := range quantiles {
					v, ok := s.spread[m+" "+q]
					p(" %s |", pct(v, ok))
				}
				p("\n")
			}
		}
		p("\n")
	}
	p("## Summary over the held-out runs\n\n| metric | median abs error P50 | P90 | P99 | median abs spread P50 | P90 | P99 |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, m := range metrics {
		p("| %s |", m)
		for _, sp := range []bool{false, true} {
			for _, q := range quantiles {
				v, n := medianAbs(scores, m+" "+q, sp)
				p(" %s |", pct(v, n > 0))
			}
		}
		p("\n")
	}
	p("\n%s.\n", summaryLine(scores))
	p("\n%s", batchTable(scores))
	if t := eagerHostTable(scores); t != "" {
		p("\n%s", t)
	}
	var notes []string
	seen := map[string]bool{}
	for _, s := range scores {
		for _, n := range s.notes {
			if !seen[n] {
				seen[n] = true
				notes = append(notes, n)
			}
		}
	}
	sort.Strings(notes)
	for _, n := range notes {
		p("\n- %s.", n)
	}
	if len(notes) > 0 {
		p("\n")
	}
	var held []*compare.StepReport
	for _, s := range scores {
		if s.w.Split == calibrate.SplitHeldOut && s.steps != nil {
			held = append(held, s.steps)
		}
	}
	if len(held) > 0 {
		p("\nWhere the time goes, from the step logs of the held-out runs (real step i against simulated step i while the two\nschedules agree; predicted GPU time is the profile at the padded shape, host time the host table):\n")
		compare.WriteSteps(&b, held, 10)
		var at []*compare.StepReport
		for _, s := range scores {
			if s.w.Split == calibrate.SplitHeldOut && s.atShape != nil {
				at = append(at, s.atShape)
			}
		}
		p("\nThe schedules part after a few steps (a faster simulation sees arrivals in later steps), so the alignment above\ncovers few loaded steps. Below, every step of the held-out step logs is predicted at its own real shape (same set,\nsame padding; every step \"aligned\"), which separates the per-step model's error from the scheduling's:\n")
		compare.WriteStepsTitled(&b, "Every real step predicted at its own shape", at, 12)
	}
	var fitAt []*compare.StepReport
	for _, s := range scores {
		if s.w.Split == calibrate.SplitFit && s.atShape != nil {
			fitAt = append(fitAt, s.atShape)
		}
	}
	if len(fitAt) > 0 {
		compare.WriteStepsTitled(&b, "Fit runs: every real step predicted at its own shape (in sample)", fitAt, 12)
	}
	return b.String()
}

// loadWorkload reads a manifest workload's trace files.
func loadWorkload(o heldOutOptions, w manifestEntry, cfg engine.Config) ([]workload.File, *workload.Workload, error) {
	wdir := filepath.Join(filepath.Dir(o.Manifest), w.Dir)
	var files []workload.File
	var raw [][]byte
	for _, f := range []string{"trace_lengths.csv", "trace_intervals.csv"} {
		b, err := os.ReadFile(filepath.Join(wdir, f))
		if err != nil {
			return nil, nil, fmt.Errorf("workload %s: %w", w.Name, err)
		}
		raw = append(raw, b)
		files = append(files, workload.File{Name: f, R: strings.NewReader(string(b))})
	}
	wl, err := workload.Load([]workload.File{{Name: "trace_lengths.csv", R: strings.NewReader(string(raw[0]))},
		{Name: "trace_intervals.csv", R: strings.NewReader(string(raw[1]))}}, cfg.WorkloadOptions())
	return files, wl, err
}

// calibrateOnFit fits set to the manifest's general fit runs only (not those
// made for one other fit, FitFor) and writes the fitted set to o.Calibrate.
func calibrateOnFit(ctx context.Context, o heldOutOptions, entries []manifestEntry, set *predict.Set) (*predict.Set, string, error) {
	var runs []calibrate.Run
	for _, w := range entries {
		if w.Split != calibrate.SplitFit || w.FitFor != "" {
			continue
		}
		realDir := filepath.Join(o.Bench, o.Card, w.Name)
		runJSON, _ := os.ReadFile(filepath.Join(realDir, "run.json"))
		cfg, _, err := runConfig(w, set, runJSON)
		if err != nil {
			return nil, "", err
		}
		_, wl, err := loadWorkload(o, w, cfg)
		if err != nil {
			return nil, "", err
		}
		real, err := compare.Load(realDir)
		if err != nil {
			return nil, "", err
		}
		r := calibrate.Run{Name: w.Name, Split: calibrate.SplitFit, Real: real, Workload: wl, Config: cfg}
		if p, ok := compare.StepLogPath(realDir); ok {
			if r.Steps, err = compare.LoadStepLog(p); err != nil {
				return nil, "", err
			}
		}
		runs = append(runs, r)
	}
	out, err := calibrate.Calibrate(ctx, set, profiles.Embedded().Network(), runs, calibrate.Options{Name: set.Meta.Name + "-calibrated"})
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(o.Calibrate, 0o755); err != nil {
		return nil, "", err
	}
	for n, b := range out.Files {
		if err := os.WriteFile(filepath.Join(o.Calibrate, n), b, 0o644); err != nil {
			return nil, "", err
		}
	}
	var sc []string
	for _, c := range calibrate.Classes {
		sc = append(sc, fmt.Sprintf("%s x%.3f", c, out.Fit.Scale[c]))
	}
	note := fmt.Sprintf("The set was first calibrated (`servesim calibrate`, written to `%s`) on the manifest's fit runs only (%s: %s; %s; host table refitted); the held-out runs were not given to the fit.",
		o.Calibrate, strings.Join(out.Fit.FitRuns, ", "), out.Fit.Method, strings.Join(sc, ", "))
	return out.Set, note, nil
}

// predictAtShapes predicts every real step at its own shape.
func predictAtShapes(name string, set *predict.Set, cfg engine.Config, steps []compare.RealStep) (*compare.StepReport, error) {
	p, spec, err := engine.NewPredictor(cfg, engine.Inputs{Profile: set, Network: profiles.Embedded().Network()})
	if err != nil {
		return nil, err
	}
	if spec == nil {
		return nil, fmt.Errorf("%s: not engine timing", name)
	}
	rep := &compare.StepReport{Name: name, RealSteps: len(steps), SimSteps: len(steps), FirstMismatch: -1}
	for _, s := range steps {
		g, h, err := calibrate.PredictStep(p, spec, s)
		if err != nil {
			return nil, fmt.Errorf("%s step %d: %w", name, s.Step, err)
		}
		rep.Aligned = append(rep.Aligned, compare.AlignedStep{Step: s.Step, Shape: compare.ShapeKey(s), RealGPU: s.GPUMs, SimGPU: g,
			RealHost: s.LoopHostMs, SimHost: h, HasHost: true})
	}
	return rep, nil
}
