package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/internal/calibrate"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/profiles"
)

// idleGPU is the fit of engine.json's idle_host GPU terms on designed idle
// probes: the GPU time a step started from idle takes beyond the profile's
// prediction at its shape, as a function of how long the GPU idled.
type idleGPU struct {
	ExtraMs float64 `json:"gpu_extra_ms"`
	TauMs   float64 `json:"gpu_tau_ms"`
	Source  string  `json:"gpu_source"`
}

// enginePredictor is set's predictor as the held-out protocol's engine
// timing uses it (the set's host table, no cpu_overheads.csv), for
// predicting real steps at their own shapes.
func enginePredictor(set *predict.Set) (*predict.Predictor, *predict.EngineSpec, error) {
	cfg := engine.DefaultConfig()
	cfg.Predictor.SkipCPUOverheadModeling = true
	cfg.Predictor.TimingModel = engine.TimingEngine
	cfg.Replica.Device, cfg.Replica.NetworkDevice = set.Meta.Device, set.Meta.NetworkDevice
	return engine.NewPredictor(cfg, engine.Inputs{Profile: set, Network: profiles.Embedded().Network()})
}

// idleObs is one idle-start step of a probe: the GPU's idle time before it
// and its GPU time less the set's prediction (ms).
type idleObs struct{ idleMs, extraMs float64 }

// idleObservations predicts, with set (engine timing, nothing added for
// idleness), every step of the probes' step logs that the host started after
// the previous step's GPU work had ended, and returns its idle time (launch
// less the previous end) and GPU time less the prediction.
func idleObservations(set *predict.Set, probes []string) ([]idleObs, error) {
	p, spec, err := enginePredictor(set)
	if err != nil {
		return nil, err
	}
	var obs []idleObs
	for _, dir := range probes {
		steps, err := compare.LoadStepLog(filepath.Join(dir, "step_log.csv"))
		if err != nil {
			return nil, err
		}
		for i := 1; i < len(steps); i++ {
			s, prev := steps[i], steps[i-1]
			if s.StartNs < prev.EndNs {
				continue // launched while the previous step ran: not from idle
			}
			g, _, err := calibrate.PredictStep(p, spec, s)
			if err != nil {
				return nil, fmt.Errorf("%s step %d: %w", dir, s.Step, err)
			}
			obs = append(obs, idleObs{idleMs: float64(s.LaunchNs-prev.EndNs) / 1e6, extraMs: s.GPUMs - g})
		}
	}
	if len(obs) < 3 {
		return nil, fmt.Errorf("%v: %d steps started from idle, expected at least 3", probes, len(obs))
	}
	return obs, nil
}

// fitIdleGPU fits extra = E * (1 - exp(-idle / tau)) by least squares: E in
// closed form for each tau, tau scanned over 0.1-1000 ms on a log grid and
// refined by golden-section search around the best grid point.
func fitIdleGPU(obs []idleObs) (e, tau, medRes float64) {
	sse := func(tau float64) (float64, float64) {
		var fy, ff float64
		for _, o := range obs {
			f := -math.Expm1(-o.idleMs / tau)
			fy += f * o.extraMs
			ff += f * f
		}
		e := max(fy/ff, 0)
		var s float64
		for _, o := range obs {
			r := o.extraMs - e*-math.Expm1(-o.idleMs/tau)
			s += r * r
		}
		return s, e
	}
	const n = 400
	lo, hi := math.Log(0.1), math.Log(1000)
	best, bi := math.Inf(1), 0
	for i := 0; i <= n; i++ {
		if s, _ := sse(math.Exp(lo + (hi-lo)*float64(i)/n)); s < best {
			best, bi = s, i
		}
	}
	a, b := lo+(hi-lo)*float64(max(bi-1, 0))/n, lo+(hi-lo)*float64(min(bi+1, n))/n
	g := (math.Sqrt(5) - 1) / 2
	for range 100 {
		c, d := b-g*(b-a), a+g*(b-a)
		sc, _ := sse(math.Exp(c))
		sd, _ := sse(math.Exp(d))
		if sc < sd {
			b = d
		} else {
			a = c
		}
	}
	tau = math.Exp((a + b) / 2)
	_, e = sse(tau)
	res := make([]float64, len(obs))
	for i, o := range obs {
		res[i] = math.Abs(o.extraMs - e*-math.Expm1(-o.idleMs/tau))
	}
	sort.Float64s(res)
	return e, tau, res[len(res)/2]
}

// writeIdleGPU fits the idle GPU terms on probes with the set in setDir and
// writes them to out (build_set.py merges them into engine.json's idle_host).
func writeIdleGPU(setDir string, probes []string, out string) error {
	set, err := profiles.OpenDir(setDir)
	if err != nil {
		return err
	}
	f, err := idleGPUFit(set, probes)
	if err != nil {
		return err
	}
	return writeJSON(out, f)
}

// writeJSON writes v to out as indented JSON (the fits' files that
// build_set.py reads).
func writeJSON(out string, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // sources say "->"
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}

// idleGPUFit is the fit as engine.json states it (rounded as written).
func idleGPUFit(set *predict.Set, probes []string) (idleGPU, error) {
	// the set's own idle terms must not enter its predictions: PredictStep
	// predicts GPU time at the shape, which idle_host does not change
	obs, err := idleObservations(set, probes)
	if err != nil {
		return idleGPU{}, err
	}
	e, tau, med := fitIdleGPU(obs)
	var rel []string
	for _, p := range probes {
		rel = append(rel, filepath.ToSlash(p))
	}
	return idleGPU{ExtraMs: round6(e), TauMs: round6(tau),
		Source: fmt.Sprintf("designed idle probes (%s: %d steps started from idle, GPU idle %.1f-%.1f ms): least squares of each step's GPU time less the set's prediction at its shape on E * (1 - exp(-idle / tau)); median |residual| %.3f ms",
			strings.Join(rel, ", "), len(obs), minIdle(obs), maxIdle(obs), med)}, nil
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func minIdle(obs []idleObs) float64 {
	m := math.Inf(1)
	for _, o := range obs {
		m = min(m, o.idleMs)
	}
	return m
}

func maxIdle(obs []idleObs) float64 {
	m := 0.0
	for _, o := range obs {
		m = max(m, o.idleMs)
	}
	return m
}

// idleProbes are the designed idle probes of a card: bench/<card>/engine/idleprobe*.
func idleProbes(bench, card string) []string {
	m, _ := filepath.Glob(filepath.Join(bench, card, "engine", "idleprobe*"))
	sort.Strings(m)
	return m
}
