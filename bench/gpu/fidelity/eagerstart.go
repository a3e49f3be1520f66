package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/internal/calibrate"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/profiles"
)

// eagerStart is the fit of engine.json's eager_launch start_frac: how much
// of an eager step's launch its GPU work waits for (build_set.py merges it
// into eager_launch).
type eagerStart struct {
	StartFrac float64 `json:"start_frac"`
	Source    string  `json:"start_source"`
}

// eagerObs is one eager step started from idle: its kernels' predicted time
// (the set at its shape, plus idle_host's GPU terms), its measured host
// time (schedule + prepare + launch) and its measured GPU span, in ms.
type eagerObs struct{ gpuMs, launchMs, spanMs float64 }

// spanAt is the span the start term predicts for o with start_frac f
// (predict.EagerLaunch.Span with the measured launch).
func (o eagerObs) spanAt(f float64) float64 { return max(o.launchMs, f*o.launchMs+o.gpuMs) }

// gpuBound says whether o's kernels outlast its launch (the steps the term
// is about).
func (o eagerObs) gpuBound() bool { return o.gpuMs > o.launchMs }

// eagerStartMaxFrac bounds the fit's scan of start_frac.
const eagerStartMaxFrac = 0.5

// fitEagerStart is the start_frac in [0, eagerStartMaxFrac] (a grid of
// 1e-5) that minimises the summed squared relative error of spanAt.
func fitEagerStart(obs []eagerObs) float64 {
	best, bf := math.Inf(1), 0.0
	for i := 0; i <= int(eagerStartMaxFrac*1e5); i++ {
		f := float64(i) / 1e5
		var s float64
		for _, o := range obs {
			r := o.spanAt(f)/o.spanMs - 1
			s += r * r
		}
		if s < best {
			best, bf = s, f
		}
	}
	return bf
}

// eagerStartErrors is the median |relative error| and median signed error
// of spanAt(f) over obs.
func eagerStartErrors(obs []eagerObs, f float64) (medAbs, med float64) {
	if len(obs) == 0 {
		return math.NaN(), math.NaN()
	}
	e := make([]float64, len(obs))
	a := make([]float64, len(obs))
	for i, o := range obs {
		e[i] = o.spanAt(f)/o.spanMs - 1
		a[i] = math.Abs(e[i])
	}
	return median(a), median(e)
}

// pureGPU predicts a step's kernels alone: the set's GPU time at its shape
// with no eager launch bound.
func pureGPU(p *predict.Predictor, spec *predict.EngineSpec, s compare.RealStep) (float64, error) {
	bare := *spec
	bare.EagerLaunch = nil
	g, _, err := calibrate.PredictStep(p, &bare, s)
	return g, err
}

// eachFitRunLog calls visit with the step log of each fit run of entries
// that keep accepts, in each of dirs (a run's folder and its repeat's)
// that holds one, and returns those runs' folders (slash-separated).
func eachFitRunLog(entries []manifestEntry, dirs []string, keep func(manifestEntry) bool, visit func(path string, steps []compare.RealStep) error) (runs []string, err error) {
	for _, w := range entries {
		if w.Split != calibrate.SplitFit || !keep(w) {
			continue
		}
		for _, d := range dirs {
			path, ok := compare.StepLogPath(filepath.Join(d, w.Name))
			if !ok {
				continue
			}
			steps, err := compare.LoadStepLog(path)
			if err != nil {
				return nil, err
			}
			runs = append(runs, filepath.ToSlash(filepath.Join(d, w.Name)))
			if err := visit(path, steps); err != nil {
				return nil, err
			}
		}
	}
	return runs, nil
}

// fitRunEagerObs are the eager steps started from idle (the previous step
// ended before the host started this one) of the manifest's fit runs made
// for eager_launch, in each of dirs (a run's folder and its repeat's).
func fitRunEagerObs(set *predict.Set, entries []manifestEntry, dirs []string) (obs []eagerObs, runs []string, err error) {
	p, spec, err := enginePredictor(set)
	if err != nil {
		return nil, nil, err
	}
	runs, err = eachFitRunLog(entries, dirs, func(w manifestEntry) bool { return w.FitFor == "eager_launch" }, func(path string, steps []compare.RealStep) error {
		for i := 1; i < len(steps); i++ {
			s, prev := steps[i], steps[i-1]
			if s.Mode != predict.ModeEager || s.StartNs < prev.EndNs {
				continue
			}
			g, err := pureGPU(p, spec, s)
			if err != nil {
				return fmt.Errorf("%s step %d: %w", path, s.Step, err)
			}
			if ih := spec.IdleHost; ih != nil {
				g += ih.GPUExtra(float64(s.LaunchNs-prev.EndNs) / 1e6)
			}
			obs = append(obs, eagerObs{gpuMs: g, launchMs: s.HostMs, spanMs: s.GPUMs})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(obs) < 3 {
		return nil, nil, fmt.Errorf("fit runs for eager_launch in %v: %d eager steps started from idle, expected at least 3", dirs, len(obs))
	}
	return obs, runs, nil
}

// eagerProbeRow is one step of a designed eager probe (refengine
// eagerprobe.py's rows; shapeprobe.py's have no prompt or decode count: one
// prompt, no decode).
type eagerProbeRow struct {
	Mode        string   `json:"mode"`
	NumTokens   int      `json:"num_tokens"`
	NumDecodes  int      `json:"num_decodes"`
	NumPrefills *int     `json:"num_prefills"`
	DecodeCtx   *int     `json:"decode_ctx"`
	HostMs      float64  `json:"host_ms"`
	GPUMs       float64  `json:"gpu_ms"`
	Prev        *string  `json:"prev"`
	TailMs      *float64 `json:"tail_ms"`
}

// probeEagerObs are the eager steps of a designed probe file launched from
// idle, each predicted at its shape (prompts of equal length, as
// eagerprobe.py splits them, beside decodes at its decode context) with
// idle_host's GPU terms at their saturation (a probe step follows a
// synchronisation and the set-up of its requests; its idle time is not
// recorded).
func probeEagerObs(p *predict.Predictor, spec *predict.EngineSpec, path string) ([]eagerObs, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Rows []eagerProbeRow `json:"rows"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	extra := 0.0
	if ih := spec.IdleHost; ih != nil {
		extra = ih.GPUExtraMs
	}
	var obs []eagerObs
	for i, r := range doc.Rows {
		if r.Mode != predict.ModeEager || r.Prev != nil && *r.Prev != "idle" {
			continue
		}
		np, ctx := 1, 512
		if r.NumPrefills != nil {
			np = *r.NumPrefills
		}
		if r.DecodeCtx != nil {
			ctx = *r.DecodeCtx
		}
		n := r.NumTokens - r.NumDecodes
		if np < 1 || n < np || r.NumDecodes < 0 {
			return nil, fmt.Errorf("%s: row %d: %d tokens, %d decodes, %d prompts: expected at least a token per prompt", path, i, r.NumTokens, r.NumDecodes, np)
		}
		s := compare.RealStep{Mode: predict.ModeEager, Seqs: np + r.NumDecodes, Decodes: r.NumDecodes, Prefills: np, New: np,
			Tokens: r.NumTokens, DecodeCtxSum: int64(r.NumDecodes * ctx)}
		if r.NumDecodes > 0 {
			s.DecodeCtxMax = int64(ctx)
		}
		for j := range np {
			c := n / np
			if j < n%np {
				c++
			}
			s.Chunks = append(s.Chunks, compare.Chunk{Tokens: c})
		}
		g, err := pureGPU(p, spec, s)
		if err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", path, i, err)
		}
		obs = append(obs, eagerObs{gpuMs: g + extra, launchMs: r.HostMs, spanMs: r.GPUMs})
	}
	return obs, nil
}

// eagerStartFit fits start_frac on the fit runs (runDirs: the card's runs
// and repeats) with set and scores it on the designed probes (not fitted).
func eagerStartFit(set *predict.Set, entries []manifestEntry, runDirs, probes []string) (eagerStart, error) {
	obs, runs, err := fitRunEagerObs(set, entries, runDirs)
	if err != nil {
		return eagerStart{}, err
	}
	f := round6(fitEagerStart(obs))
	a0, _ := eagerStartErrors(obs, 0)
	a1, _ := eagerStartErrors(obs, f)
	var gb []eagerObs
	for _, o := range obs {
		if o.gpuBound() {
			gb = append(gb, o)
		}
	}
	g0a, g0 := eagerStartErrors(gb, 0)
	g1a, g1 := eagerStartErrors(gb, f)
	src := fmt.Sprintf("fitted on the manifest's fit runs for eager_launch (%s): %d eager steps started from idle; least squares of the relative error of max(host, start_frac x host + GPU) against each step's GPU span, host its measured host time (schedule + prepare + launch), GPU the set's prediction at its shape plus idle_host's GPU terms; median |error| %.1f%% -> %.1f%% (the %d whose GPU outlasts the host: %.1f%% -> %.1f%%, median %+.1f%% -> %+.1f%%)",
		strings.Join(runs, ", "), len(obs), 100*a0, 100*a1, len(gb), 100*g0a, 100*g1a, 100*g0, 100*g1)
	p, spec, err := enginePredictor(set)
	if err != nil {
		return eagerStart{}, err
	}
	var scored []string
	for _, path := range probes {
		po, err := probeEagerObs(p, spec, path)
		if err != nil {
			return eagerStart{}, err
		}
		var pg []eagerObs
		for _, o := range po {
			if o.gpuBound() {
				pg = append(pg, o)
			}
		}
		if len(pg) == 0 {
			continue
		}
		_, e0 := eagerStartErrors(pg, 0)
		_, e1 := eagerStartErrors(pg, f)
		scored = append(scored, fmt.Sprintf("%s %d of %d, median %+.1f%% -> %+.1f%%", filepath.ToSlash(path), len(pg), len(po), 100*e0, 100*e1))
	}
	if len(scored) > 0 {
		src += "; scored on the designed eager probes (not fitted; idle_host's GPU terms at saturation), their steps whose GPU outlasts the host: " + strings.Join(scored, "; ")
	}
	return eagerStart{StartFrac: f, Source: src}, nil
}

// eagerProbes are a card's designed eager probes from idle:
// bench/<card>/engine/eagerprobe*.json and shapeprobe*.json.
func eagerProbes(bench, card string) []string {
	var out []string
	for _, g := range []string{"eagerprobe*.json", "shapeprobe*.json"} {
		m, _ := filepath.Glob(filepath.Join(bench, card, "engine", g))
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

// setAndManifest opens the profile set in setDir and reads the workload
// manifest, for a fit on its fit runs.
func setAndManifest(setDir, manifest string) (*predict.Set, []manifestEntry, error) {
	set, err := profiles.OpenDir(setDir)
	if err != nil {
		return nil, nil, err
	}
	entries, err := readManifest(manifest)
	if err != nil {
		return nil, nil, err
	}
	return set, entries, nil
}

// writeEagerStart fits start_frac with the set in setDir and writes it to
// out (build_set.py merges it into engine.json's eager_launch).
func writeEagerStart(setDir, manifest, bench, card, out string) error {
	set, entries, err := setAndManifest(setDir, manifest)
	if err != nil {
		return err
	}
	f, err := eagerStartFit(set, entries, []string{filepath.Join(bench, card), filepath.Join(bench, card+"-repeat")}, eagerProbes(bench, card))
	if err != nil {
		return err
	}
	return writeJSON(out, f)
}
