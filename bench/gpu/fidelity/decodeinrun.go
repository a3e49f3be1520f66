package main

import (
	"fmt"
	stdmaps "maps"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/internal/calibrate"
	"github.com/servesim/servesim/internal/compare"
)

// minDecodeInRunSteps is how many fit-run steps a decode_in_run factor
// rests on at least: a size with fewer shares one with its neighbours.
const minDecodeInRunSteps = 200

// decodeObs is one decode graph step of a fit run: its captured size, its
// measured GPU time and the set's prediction at its shape (ms).
type decodeObs struct {
	padded          int
	measured, model float64
}

// withoutDecodeInRun is set with engine.json's decode_in_run left out, so
// that a fit of it reads the set's own prediction however often it runs.
func withoutDecodeInRun(set *predict.Set) *predict.Set {
	s, e := *set, *set.Engine
	e.DecodeInRun = nil
	s.Engine = &e
	return &s
}

// fitForDecodeInRun is the manifest's fit_for of the fit runs made for
// decode_in_run alone.
const fitForDecodeInRun = "decode_in_run"

// decodeObservations predicts, with set (its decode_in_run left out),
// every decode graph step of the manifest's general fit runs (split fit,
// no fit_for) and of those made for it (fit_for decode_in_run) in each of
// dirs that the host launched while the step before it was still on the
// GPU (a step from idle carries idle_host's terms).
func decodeObservations(set *predict.Set, entries []manifestEntry, dirs []string) (obs []decodeObs, runs []string, err error) {
	p, spec, err := enginePredictor(withoutDecodeInRun(set))
	if err != nil {
		return nil, nil, err
	}
	keep := func(w manifestEntry) bool { return w.FitFor == "" || w.FitFor == fitForDecodeInRun }
	runs, err = eachFitRunLog(entries, dirs, keep, func(path string, steps []compare.RealStep) error {
		var prevEnd int64
		for i, s := range steps {
			busy := i > 0 && s.LaunchNs <= prevEnd
			prevEnd = s.EndNs
			if !busy || s.Prefills > 0 || s.Decodes == 0 {
				continue
			}
			mode, padded := spec.Pad(s.Tokens, s.Decodes, s.Prefills)
			if mode != predict.ModeGraph {
				continue
			}
			g, _, err := calibrate.PredictStep(p, spec, s)
			if err != nil {
				return fmt.Errorf("%s step %d: %w", path, s.Step, err)
			}
			obs = append(obs, decodeObs{padded: padded, measured: s.GPUMs, model: g})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(obs) == 0 {
		return nil, nil, fmt.Errorf("no decode graph step in the manifest's fit runs for decode_in_run under %s", strings.Join(dirs, ", "))
	}
	return obs, runs, nil
}

// decodeGroup is a run of consecutive captured sizes, lo to hi, that
// share one factor: steps observations, summed measured over summed
// predicted GPU time.
type decodeGroup struct {
	lo, hi, steps int
	factor        float64
}

// fitDecodeInRun groups the observed captured sizes, ascending, into runs
// of consecutive sizes of at least minSteps observations each (a size
// with that many alone; a last run short of it joins the one before) and
// gives every size of a group the group's summed measured GPU time over
// its summed prediction (rounded to 1e-4). Nothing when all together have
// fewer than minSteps.
func fitDecodeInRun(obs []decodeObs, minSteps int) (factors map[int]float64, groups []decodeGroup) {
	measured, model := map[int]float64{}, map[int]float64{}
	n := map[int]int{}
	for _, o := range obs {
		measured[o.padded] += o.measured
		model[o.padded] += o.model
		n[o.padded]++
	}
	type acc struct {
		g        decodeGroup
		sizes    []int
		meas, md float64
	}
	add := func(a *acc, sizes []int, steps int, meas, md float64) {
		a.g.hi, a.g.steps = sizes[len(sizes)-1], a.g.steps+steps
		a.sizes, a.meas, a.md = append(a.sizes, sizes...), a.meas+meas, a.md+md
	}
	var closed []acc
	var cur *acc
	for _, size := range slices.Sorted(stdmaps.Keys(n)) {
		if cur == nil {
			cur = &acc{g: decodeGroup{lo: size}}
		}
		add(cur, []int{size}, n[size], measured[size], model[size])
		if cur.g.steps >= minSteps {
			closed, cur = append(closed, *cur), nil
		}
	}
	if cur != nil && len(closed) > 0 {
		add(&closed[len(closed)-1], cur.sizes, cur.g.steps, cur.meas, cur.md)
	}
	factors = map[int]float64{}
	for _, a := range closed {
		if a.md <= 0 {
			continue
		}
		a.g.factor = math.Round(a.meas/a.md*1e4) / 1e4
		groups = append(groups, a.g)
		for _, size := range a.sizes {
			factors[size] = a.g.factor
		}
	}
	return factors, groups
}

// decodeProbeShift is the median signed error over a decode probe's
// graphs of the listed sizes, before and after the factors.
func decodeProbeShift(set *predict.Set, probe string, factors map[int]float64) (n int, before, after float64, err error) {
	rows, _, err := scoreDecodeProbeSet(withoutDecodeInRun(set), probe)
	if err != nil {
		return 0, 0, 0, err
	}
	var b, a []float64
	for _, r := range rows {
		mode, padded := set.Engine.Pad(r.batch, r.batch, 0)
		f, ok := factors[padded]
		if mode != predict.ModeGraph || !ok {
			continue
		}
		b, a = append(b, r.model/r.measured-1), append(a, r.model*f/r.measured-1)
	}
	if len(b) == 0 {
		return 0, 0, 0, nil
	}
	return len(b), median(b), median(a), nil
}

// writeDecodeInRun fits engine.json's decode_in_run on its fit runs and
// their repeats, scores it on the designed decode probes (not
// fitted) and writes it to out.
func writeDecodeInRun(setDir, manifest, bench, card, out string) error {
	set, entries, err := setAndManifest(setDir, manifest)
	if err != nil {
		return err
	}
	obs, runs, err := decodeObservations(set, entries, []string{filepath.Join(bench, card), filepath.Join(bench, card+"-repeat")})
	if err != nil {
		return err
	}
	factors, groups := fitDecodeInRun(obs, minDecodeInRunSteps)
	if len(factors) == 0 {
		return fmt.Errorf("the fit runs hold fewer than %d decode graph steps", minDecodeInRunSteps)
	}
	var per []string
	for _, g := range groups {
		sizes := fmt.Sprint(g.lo)
		if g.hi > g.lo {
			sizes = fmt.Sprintf("%d-%d", g.lo, g.hi)
		}
		per = append(per, fmt.Sprintf("%s: %.4f (%d steps)", sizes, g.factor, g.steps))
	}
	src := fmt.Sprintf("fitted by go run ./bench/gpu/fidelity -decode_in_run on the manifest's general fit runs and those for decode_in_run, and their repeats (%s): "+
		"their %d decode graph steps launched behind a busy GPU, predicted at their shapes without decode_in_run; per captured size, or run of consecutive sizes "+
		"with at least %d steps together, the summed measured GPU time over the summed prediction: %s", strings.Join(runs, ", "), len(obs), minDecodeInRunSteps, strings.Join(per, "; "))
	probes, _ := filepath.Glob(filepath.Join(bench, card, "engine", "decodeprobe*.json"))
	for _, pr := range probes {
		k, before, after, err := decodeProbeShift(set, pr, factors)
		if err != nil {
			return err
		}
		if k > 0 {
			src += fmt.Sprintf("; scored on %s (a designed probe, not fitted): its %d graphs of those sizes, median error %+.1f%% -> %+.1f%%", pr, k, 100*before, 100*after)
		}
	}
	return writeJSON(out, predict.DecodeInRun{Factors: factors, Source: src})
}
