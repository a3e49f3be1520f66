// Package search answers a capacity planner's questions with simulations:
// the largest Poisson arrival rate a configuration serves within its SLO
// (bisection to a stated precision, with the attainment-vs-rate curve), and
// a sweep over replicas x TP x PP x scheduler x chunk size x batch cap with
// each point's max rate, goodput per GPU, cost per 1M output tokens, the
// Pareto front and the cheapest configuration meeting the SLO at a target
// rate.
//
// It is pure logic: each simulation is a Trial handed to an Evaluator (in
// process, or a servesim API endpoint: internal/searchrun). A point's
// trials run one after another, each chosen from the ones before; points
// run in parallel. Every trial is deterministic, so the answer does not
// depend on the parallelism or on where the trials ran.
package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/slo"
)

// Axes are the sweep's values per axis; an empty axis keeps the base
// configuration's value.
type Axes struct {
	Replicas  []int    `json:"replicas,omitempty"`
	TP        []int    `json:"tp,omitempty"`
	PP        []int    `json:"pp,omitempty"`
	Scheduler []string `json:"scheduler,omitempty"`
	ChunkSize []int    `json:"chunk_size,omitempty"`
	BatchCap  []int    `json:"batch_cap,omitempty"`
}

// Spec is a search. The zero value of a field means its default (Defaults).
type Spec struct {
	Axes Axes `json:"axes"`
	// Requests per trial, with the workload's lengths and Poisson arrivals.
	Requests int `json:"requests"`
	// Precision: a point's bisection stops when the smallest failing rate is
	// within Precision (relative) of the largest passing one.
	Precision float64 `json:"precision"`
	// StartQPS is the first rate tried; rates are doubled or halved from it
	// until one passes and one fails, within [MinQPS, MaxQPS].
	StartQPS float64 `json:"start_qps"`
	MinQPS   float64 `json:"min_qps"`
	MaxQPS   float64 `json:"max_qps"`
	// MaxTrials bounds one point's simulations.
	MaxTrials int `json:"max_trials"`
	// Probes is the number of rates a point tries at once per round (1:
	// bisection; k: k rates doubling or halving while bracketing, then k
	// rates evenly inside the bracket). Answers depend on it, never on the
	// parallelism.
	Probes int `json:"probes"`
	// MaxPoints caps the sweep's points, checked before any work.
	MaxPoints int `json:"max_points"`
	// GPUHourUSD is the price of one GPU-hour (an editable example, not a
	// quote) for cost per 1M output tokens.
	GPUHourUSD float64 `json:"gpu_hour_usd"`
	// TargetQPS, if > 0, asks for the cheapest point meeting the SLO there.
	TargetQPS float64 `json:"target_qps"`
	// FullTrials runs every trial to its last request. By default a trial
	// stops as soon as its objective can no longer be met
	// (engine.Options.StopOnSLOFail): the verdict, and so the answer, is the
	// same; the curve then has such a trial's attainment as an upper bound.
	FullTrials bool `json:"full_trials,omitempty"`
	// PilotRequests, when at least MinPilotRequests (and fewer than
	// Requests), first estimates each point's capacity with two bursts
	// (saturation: 3/10 of PilotRequests and PilotRequests arriving at
	// once, their marginal throughput), then searches it with trials of
	// PilotRequests requests below one step above that estimate, to
	// PilotPrecision (or Precision if coarser), then starts the full trials
	// at the step above the estimate if the pilot passed there, else one
	// pilot step below the pilot's answer, stepping by just under Precision
	// or PilotPrecision, the coarser (then 2x, 4x, ... the step, up to
	// doubling, until a passing and a failing rate bracket the answer):
	// fewer full trials to the same precision, every answer still bracketed
	// by full trials. 0: a tenth of Requests; -1: no pilot.
	PilotRequests int `json:"pilot_requests"`
}

// Defaults of a Spec's zero fields.
const (
	DefaultRequests   = 1000
	DefaultPrecision  = 0.02
	DefaultStartQPS   = 1
	DefaultMinQPS     = 0.01
	DefaultMaxQPS     = 10000
	DefaultMaxTrials  = 40
	DefaultMaxPoints  = 256
	DefaultGPUHourUSD = 2.0
	// MinPilotRequests is the smallest pilot trial worth running.
	MinPilotRequests = 100
	// PilotPrecision is the pilot's bisection precision at the finest.
	PilotPrecision = 0.02
)

// WithDefaults fills s's zero fields.
func (s Spec) WithDefaults() Spec {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defi(&s.Requests, DefaultRequests)
	def(&s.Precision, DefaultPrecision)
	def(&s.StartQPS, DefaultStartQPS)
	def(&s.MinQPS, DefaultMinQPS)
	def(&s.MaxQPS, DefaultMaxQPS)
	defi(&s.MaxTrials, DefaultMaxTrials)
	defi(&s.Probes, 1)
	defi(&s.MaxPoints, DefaultMaxPoints)
	def(&s.GPUHourUSD, DefaultGPUHourUSD)
	if s.PilotRequests == 0 {
		s.PilotRequests = s.Requests / 10
	}
	return s
}

// pilot says whether the spec searches with pilot trials first.
func (s Spec) pilot() bool {
	return s.PilotRequests >= MinPilotRequests && s.PilotRequests < s.Requests
}

// Validate checks a Spec after WithDefaults.
func (s Spec) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf("search."+f, a...)) }
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if s.Requests < 1 {
		bad("requests: must be >= 1, got %d", s.Requests)
	}
	if !(s.Precision >= 1e-4 && s.Precision <= 1) {
		bad("precision: must be in [0.0001, 1] (relative: 0.02 is 2%%), got %v", s.Precision)
	}
	if !(s.MinQPS > 0 && finite(s.MinQPS) && s.MaxQPS >= s.MinQPS && finite(s.MaxQPS)) {
		bad("min_qps, max_qps: need 0 < min_qps <= max_qps, got %v and %v", s.MinQPS, s.MaxQPS)
	} else if !(s.StartQPS >= s.MinQPS && s.StartQPS <= s.MaxQPS) {
		bad("start_qps: must be in [min_qps, max_qps] = [%v, %v], got %v", s.MinQPS, s.MaxQPS, s.StartQPS)
	}
	if s.MaxTrials < 2 {
		bad("max_trials: must be >= 2, got %d", s.MaxTrials)
	}
	if s.Probes < 1 || s.Probes > 64 {
		bad("probes: must be in [1, 64], got %d", s.Probes)
	}
	if s.PilotRequests < -1 || s.PilotRequests >= s.Requests && s.Requests >= 1 {
		bad("pilot_requests: must be below requests (%d), -1 for none or 0 for a tenth of them, got %d", s.Requests, s.PilotRequests)
	}
	if s.MaxPoints < 1 {
		bad("max_points: must be >= 1, got %d", s.MaxPoints)
	}
	if !(s.GPUHourUSD > 0 && finite(s.GPUHourUSD)) {
		bad("gpu_hour_usd: must be a positive price, got %v", s.GPUHourUSD)
	}
	if !(s.TargetQPS >= 0 && finite(s.TargetQPS)) {
		bad("target_qps: must be >= 0 (0: not asked), got %v", s.TargetQPS)
	}
	for _, ax := range []struct {
		name string
		v    []int
	}{{"replicas", s.Axes.Replicas}, {"tp", s.Axes.TP}, {"pp", s.Axes.PP}, {"chunk_size", s.Axes.ChunkSize}, {"batch_cap", s.Axes.BatchCap}} {
		for _, v := range ax.v {
			if v < 1 {
				bad("axes.%s: values must be >= 1, got %d", ax.name, v)
			}
		}
	}
	return errors.Join(errs...)
}

// Point is one configuration of the sweep.
type Point struct {
	Replicas  int    `json:"replicas"`
	TP        int    `json:"tp"`
	PP        int    `json:"pp"`
	Scheduler string `json:"scheduler"`
	ChunkSize int    `json:"chunk_size"`
	BatchCap  int    `json:"batch_cap"`
}

// GPUs is the point's GPU count.
func (p Point) GPUs() int { return p.Replicas * p.TP * p.PP }

func (p Point) String() string {
	return fmt.Sprintf("replicas %d, tp %d, pp %d, %s, chunk %d, batch cap %d", p.Replicas, p.TP, p.PP, p.Scheduler, p.ChunkSize, p.BatchCap)
}

// Apply sets the point on cfg.
func (p Point) Apply(cfg *engine.Config) {
	cfg.Cluster.NumReplicas, cfg.Replica.TensorParallelSize, cfg.Replica.NumPipelineStages = p.Replicas, p.TP, p.PP
	cfg.Scheduler.Type, cfg.Scheduler.ChunkSize, cfg.Scheduler.BatchSizeCap = p.Scheduler, p.ChunkSize, p.BatchCap
}

// NumPoints is the sweep's size: the product of the axes' lengths.
func (a Axes) NumPoints() int {
	n := 1
	for _, l := range []int{len(a.Replicas), len(a.TP), len(a.PP), len(a.Scheduler), len(a.ChunkSize), len(a.BatchCap)} {
		n *= max(l, 1)
		if n > 1<<30 {
			return n // far over any cap
		}
	}
	return n
}

// Points enumerates the sweep over base, replicas outermost, batch cap
// innermost.
func (a Axes) Points(base engine.Config) []Point {
	or := func(v []int, d int) []int {
		if len(v) == 0 {
			return []int{d}
		}
		return v
	}
	sched := a.Scheduler
	if len(sched) == 0 {
		sched = []string{base.Scheduler.Type}
	}
	var out []Point
	for _, r := range or(a.Replicas, base.Cluster.NumReplicas) {
		for _, tp := range or(a.TP, base.Replica.TensorParallelSize) {
			for _, pp := range or(a.PP, base.Replica.NumPipelineStages) {
				for _, s := range sched {
					for _, c := range or(a.ChunkSize, base.Scheduler.ChunkSize) {
						for _, b := range or(a.BatchCap, base.Scheduler.BatchSizeCap) {
							out = append(out, Point{Replicas: r, TP: tp, PP: pp, Scheduler: s, ChunkSize: c, BatchCap: b})
						}
					}
				}
			}
		}
	}
	return out
}

// Trial is one simulation: the full configuration (the point applied,
// Poisson arrivals at the rate, the search's request count).
type Trial struct {
	Config engine.Config
	// StopEarly: the trial may stop once its objective can no longer be met
	// (its Outcome.Stopped then says so).
	StopEarly bool
	// Kind is what the trial is for (TrialBurst, TrialPilot, TrialFull,
	// TrialTarget): where its outcome goes in the result. It does not
	// change the simulation.
	Kind string
}

// The kinds of trial (Trial.Kind), by where each goes in a PointResult.
const (
	// TrialBurst is a saturation burst (Saturation): requests arriving at
	// once, run to the last for the capacity estimate, not judged against
	// the SLO.
	TrialBurst = "burst"
	// TrialPilot is a pilot trial (Pilot): PilotRequests requests.
	TrialPilot = "pilot"
	// TrialFull is a full trial (Curve), which brackets the answer.
	TrialFull = "full"
	// TrialTarget is the trial at target_qps (Cheapest.Probe).
	TrialTarget = "target"
)

// TrialConfig is base with p applied and Poisson arrivals at qps.
func TrialConfig(base engine.Config, p Point, qps float64, requests int, lengthsOnly bool) engine.Config {
	c := base
	p.Apply(&c)
	w := &c.Workload
	w.IntervalGenerator, w.QPS, w.NumRequests, w.DurationS = "poisson", qps, requests, 0
	if lengthsOnly {
		w.TraceLengthsOnly = true
	}
	return c
}

// Outcome is what a search needs of a finished trial.
type Outcome struct {
	SLO slo.Report
	// Requests in the run; P90s over its finished requests (ms).
	Requests                      int
	TTFTP90Ms, TBTP90Ms, E2EP90Ms float64
	// Stopped is set when the trial stopped early: SLO.Met is false and
	// SLO.Attainment an upper bound; nothing else is computed.
	Stopped *engine.SLOStop
	// BatchCapFreeFrom is the run's engine.Result.BatchCapFreeFrom: the
	// same simulation, so the same outcome, under every batch cap from
	// this one up (0: not shown). Run shares the trial with such points.
	BatchCapFreeFrom int
}

// Evaluator runs trials; it must be safe for concurrent use and
// deterministic (the same trial, the same outcome).
type Evaluator interface {
	Eval(ctx context.Context, t Trial) (Outcome, error)
}

// Probe is one trial of a point's search.
type Probe struct {
	QPS               float64 `json:"qps"`
	Met               bool    `json:"met"`
	Attainment        float64 `json:"attainment"`
	GoodputRPS        float64 `json:"goodput_rps"`
	GoodputTokensPerS float64 `json:"goodput_tokens_per_s"`
	Overloaded        bool    `json:"overloaded"`
	E2EP90Ms          float64 `json:"e2e_p90_ms"`
	// StoppedEarly: the trial stopped as soon as the SLO could no longer be
	// met; Attainment is then an upper bound, and goodput, overload and P90
	// E2E are not computed (0).
	StoppedEarly bool `json:"stopped_early,omitempty"`
}

// PointResult is one point's answer.
type PointResult struct {
	Point Point `json:"point"`
	GPUs  int   `json:"gpus"`
	// Error says why the point could not be searched (an invalid
	// configuration, a failed run); nothing else is then set.
	Error string `json:"error,omitempty"`
	// Found: some rate in [min_qps, max_qps] meets the SLO. MaxQPS is the
	// largest passing rate found: the smallest failing one (FailQPS; 0 when
	// even max_qps passes) is within the precision above it.
	Found   bool    `json:"found"`
	MaxQPS  float64 `json:"max_qps"`
	FailQPS float64 `json:"fail_qps"`
	// At MaxQPS: goodput, the part of the rate that meets the SLO (requests:
	// max_qps x attainment; output tokens: max_qps x the good requests'
	// output tokens per request), total and per GPU; cost per 1M output
	// tokens of goodput at the spec's GPU-hour price; P90 latencies.
	GoodputRPS              float64 `json:"goodput_rps"`
	GoodputTokensPerS       float64 `json:"goodput_tokens_per_s"`
	GoodputRPSPerGPU        float64 `json:"goodput_rps_per_gpu"`
	GoodputTokensPerSPerGPU float64 `json:"goodput_tokens_per_s_per_gpu"`
	CostPer1MTokensUSD      float64 `json:"cost_per_1m_tokens_usd"`
	TTFTP90Ms               float64 `json:"ttft_p90_ms"`
	TBTP90Ms                float64 `json:"tbt_p90_ms"`
	E2EP90Ms                float64 `json:"e2e_p90_ms"`
	// Pareto: no other point has at least its goodput per GPU and at most
	// its P90 E2E at max QPS, one of them strictly.
	Pareto bool `json:"pareto"`
	// Curve is every trial, by rate: the attainment-vs-QPS curve.
	Curve []Probe `json:"curve"`
	// Pilot are the pilot trials (Spec.PilotRequests requests each), by
	// rate; PilotQPS is their answer, where the full trials started (0: no
	// pilot, or it found no passing rate).
	Pilot    []Probe `json:"pilot,omitempty"`
	PilotQPS float64 `json:"pilot_qps,omitempty"`
	// Saturation are the two bursts run before the pilot, and
	// SaturationQPS the capacity estimate they give (their marginal
	// throughput; 0 when they give none: the pilot then starts from
	// start_qps). SaturationError says why a burst could not run (a batch
	// of them all outside the profiled grid, say): the point is then
	// searched without the estimate.
	Saturation      []Burst `json:"saturation,omitempty"`
	SaturationQPS   float64 `json:"saturation_qps,omitempty"`
	SaturationError string  `json:"saturation_error,omitempty"`
}

// Burst is a saturation trial: Requests arriving at once (Poisson at the
// spec's max_qps), run to the last (never stopped early); DurationS is the
// run's, first arrival to last completion.
type Burst struct {
	Requests  int     `json:"requests"`
	QPS       float64 `json:"qps"`
	DurationS float64 `json:"duration_s"`
}

// Cheapest is the cheapest point meeting the SLO at the target rate.
type Cheapest struct {
	Index      int     `json:"index"`
	Point      Point   `json:"point"`
	GPUs       int     `json:"gpus"`
	CostPerHUS float64 `json:"cost_per_hour_usd"`
	Probe      Probe   `json:"at_target"`
}

// Result is a search's answer.
type Result struct {
	Spec   Spec          `json:"spec"`
	SLO    slo.Spec      `json:"slo"`
	Points []PointResult `json:"points"`
	// Pareto lists the Pareto points' indices by goodput per GPU, best first.
	Pareto []int `json:"pareto"`
	// Cheapest is set when target_qps is and some point meets the SLO there;
	// Note says otherwise why not.
	Cheapest *Cheapest `json:"cheapest,omitempty"`
	Note     string    `json:"note,omitempty"`
	Trials   int       `json:"trials"`
}

// NoneError is a search in which no point meets the SLO at any rate; the
// Result is still returned (its curves say how far off each point is).
type NoneError struct{ Msg string }

func (e *NoneError) Error() string { return e.Msg }

// Plan checks a search before any work and returns its points: the spec,
// the cap on points, every point's configuration.
func Plan(spec Spec, base engine.Config) ([]Point, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if n := spec.Axes.NumPoints(); n > spec.MaxPoints {
		a := spec.Axes
		return nil, fmt.Errorf("search: the sweep is %d points (replicas %d x tp %d x pp %d x scheduler %d x chunk size %d x batch cap %d), over the cap of %d: drop values or raise max_points",
			n, max(1, len(a.Replicas)), max(1, len(a.TP)), max(1, len(a.PP)), max(1, len(a.Scheduler)), max(1, len(a.ChunkSize)), max(1, len(a.BatchCap)), spec.MaxPoints)
	}
	if err := base.SLOSpec().Validate("slo."); err != nil {
		return nil, err
	}
	return spec.Axes.Points(base), nil
}

// CheckTrace checks a search against its workload trace before any work,
// as Plan checks its settings: each trial draws its requests' lengths from
// the trace's rows, each row once (pilot trials and bursts fewer), so a
// search asking for more requests than trace (the trace's file) has rows
// could only fail at every point.
func CheckTrace(spec Spec, trace string, rows int) error {
	spec = spec.WithDefaults()
	if spec.Requests > rows {
		return fmt.Errorf("search.requests: %d requests per trial, but the workload trace %s has %d rows, one per request (a trial takes each request's lengths from a row of its own): expected requests <= %d",
			spec.Requests, trace, rows, rows)
	}
	return nil
}

// MaxTrialsTotal is the most trials a search of points runs (the work
// bound a host checks before starting it).
func (s Spec) MaxTrialsTotal(points int) int {
	n := points * s.MaxTrials
	if s.TargetQPS > 0 {
		n += points
	}
	return n
}

// Run searches spec over base with eval, par points at a time (par < 1:
// one). lengthsOnly sets trace_lengths_only on each trial (a workload
// from files whose lengths are kept and arrivals replaced).
func Run(ctx context.Context, spec Spec, base engine.Config, lengthsOnly bool, eval Evaluator, par int) (*Result, error) {
	spec = spec.WithDefaults()
	points, err := Plan(spec, base)
	if err != nil {
		return nil, err
	}
	res := &Result{Spec: spec, SLO: base.SLOSpec(), Points: make([]PointResult, len(points))}
	par = max(1, par)
	// At most par trials at once, over all points; a trial another point
	// has run (or is running) under a batch cap that never bound is shared.
	eval = newShared(limited{eval, make(chan struct{}, par)})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	// Every point is searched at once (the trials still par at a time), so
	// that a point waiting for a trial it shares keeps no other idle.
	next := make(chan int)
	for range len(points) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				pr, err := searchPoint(ctx, spec, base, points[i], lengthsOnly, eval)
				if err != nil { // cancelled: the whole search stops
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
				}
				res.Points[i] = pr
			}
		}()
	}
feed:
	for i := range points {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, p := range res.Points {
		res.Trials += len(p.Curve) + len(p.Pilot) + len(p.Saturation)
	}
	markPareto(res)
	if spec.TargetQPS > 0 {
		if err := cheapest(ctx, spec, base, lengthsOnly, eval, res); err != nil {
			return nil, err
		}
	}
	found := slices.ContainsFunc(res.Points, func(p PointResult) bool { return p.Found })
	if !found {
		return res, noneError(spec, res)
	}
	return res, nil
}

func noneError(spec Spec, res *Result) error {
	var why []string
	for i, p := range res.Points {
		if i == 3 {
			why = append(why, fmt.Sprintf("and %d more", len(res.Points)-3))
			break
		}
		switch {
		case p.Error != "":
			why = append(why, fmt.Sprintf("point %d (%s): %s", i, p.Point, p.Error))
		case len(p.Curve) > 0:
			lo := p.Curve[0]
			bound := ""
			if lo.StoppedEarly {
				bound = "at most " // the trial stopped once the SLO was lost
			}
			why = append(why, fmt.Sprintf("point %d (%s): at %g QPS attainment %s%.1f%%", i, p.Point, lo.QPS, bound, 100*lo.Attainment))
		}
	}
	head := fmt.Sprintf("no point meets the SLO at any rate down to %g QPS", spec.MinQPS)
	if !slices.ContainsFunc(res.Points, func(p PointResult) bool { return p.Error == "" }) {
		head = "no point could be searched"
	}
	return &NoneError{Msg: fmt.Sprintf("search: %s (%d points): %s", head, len(res.Points), strings.Join(why, "; "))}
}

// pointError: an evaluator's error ends the point (its message kept), a
// cancelled context the search.
func pointError(ctx context.Context, err error) (string, error) {
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	return err.Error(), nil
}

// goodput at rate qps: the rate times the share of requests meeting the
// SLO, and times their output tokens per request (a finite run's own
// goodput divides by its drain time too, which a short trial exaggerates).
func goodput(qps float64, o Outcome) (rps, tokens float64) {
	if o.Requests == 0 {
		return 0, 0
	}
	return qps * o.SLO.Attainment, qps * float64(o.SLO.GoodTokens) / float64(o.Requests)
}

func probeOf(qps float64, o Outcome) Probe {
	if o.Stopped != nil {
		return Probe{QPS: qps, Attainment: o.SLO.Attainment, StoppedEarly: true}
	}
	rps, tok := goodput(qps, o)
	return Probe{QPS: qps, Met: o.SLO.Met, Attainment: o.SLO.Attainment, GoodputRPS: rps,
		GoodputTokensPerS: tok, Overloaded: o.SLO.Load.Overloaded, E2EP90Ms: o.E2EP90Ms}
}

// searchPoint finds one point's largest passing rate: with a pilot, first
// with pilot trials to PilotPrecision, then with full trials from the
// pilot's answer; without, from StartQPS. Either way the answer is a
// passing full trial with a failing full trial within the precision above
// it.
func searchPoint(ctx context.Context, spec Spec, base engine.Config, p Point, lengthsOnly bool, eval Evaluator) (PointResult, error) {
	pr := PointResult{Point: p, GPUs: p.GPUs(), Curve: []Probe{}}
	if err := TrialConfig(base, p, spec.StartQPS, spec.Requests, lengthsOnly).Validate(); err != nil {
		pr.Error = "invalid configuration: " + err.Error()
		return pr, nil
	}
	full := phase{kind: TrialFull, requests: spec.Requests, precision: spec.Precision, maxTrials: spec.MaxTrials}
	if spec.pilot() {
		pl := phase{kind: TrialPilot, requests: spec.PilotRequests, precision: max(spec.Precision, PilotPrecision), maxTrials: spec.MaxTrials / 2}
		// The pilot searches below one step above the saturation estimate
		// (no load the point cannot serve for long is a useful start).
		var top float64
		if pl.maxTrials > len(saturationSizes(spec)) {
			bursts, mu, err := saturation(ctx, spec, base, p, lengthsOnly, eval)
			pr.Saturation, pr.SaturationQPS = bursts, mu
			if err != nil {
				msg, err := pointError(ctx, err)
				if err != nil {
					return pr, err
				}
				pr.SaturationError = msg
			}
			pl.maxTrials -= len(bursts)
			if mu > 0 {
				top = math.Min(spec.MaxQPS, mu*(1+0.99*pl.precision))
				pl.est, pl.maxQPS = top, top
			}
		}
		err := pl.run(ctx, spec, base, p, lengthsOnly, eval)
		pr.Pilot = pl.curve
		if err != nil {
			msg, err := pointError(ctx, err)
			pr.Error = msg
			return pr, err
		}
		pr.PilotQPS = pl.pass
		// A pilot's shorter trials ride out more transient overload: its
		// answer runs high, so the full trials start one pilot step below;
		// one that passes at the top (the saturation estimate's step above)
		// says only that the SLO does not bind below saturation: they
		// start there.
		full.est, full.maxTrials = pl.pass/(1+pl.precision), spec.MaxTrials-len(pl.curve)-len(pr.Saturation)
		if top > 0 && pl.pass >= top {
			full.est = top
		}
	}
	err := full.run(ctx, spec, base, p, lengthsOnly, eval)
	pr.Curve = full.curve
	if err != nil {
		msg, err := pointError(ctx, err)
		pr.Error = msg
		return pr, err
	}
	pass, fail := full.pass, full.fail
	pr.FailQPS = fail
	if pass == 0 {
		return pr, nil
	}
	if fail != 0 && fail-pass > spec.Precision*pass {
		pr.Error = fmt.Sprintf("max_trials %d reached before the precision: the limit is between %g and %g QPS", spec.MaxTrials, pass, fail)
	}
	o := full.outcomes[pass]
	pr.Found, pr.MaxQPS = true, pass
	pr.GoodputRPS, pr.GoodputTokensPerS = goodput(pass, o)
	g := float64(pr.GPUs)
	pr.GoodputRPSPerGPU, pr.GoodputTokensPerSPerGPU = pr.GoodputRPS/g, pr.GoodputTokensPerS/g
	if pr.GoodputTokensPerS > 0 {
		pr.CostPer1MTokensUSD = spec.GPUHourUSD * g / 3600 / pr.GoodputTokensPerS * 1e6
	}
	pr.TTFTP90Ms, pr.TBTP90Ms, pr.E2EP90Ms = o.TTFTP90Ms, o.TBTP90Ms, o.E2EP90Ms
	return pr, nil
}

// phase is one bracketing-then-bisection search of a point with trials of
// one size. From est (0: StartQPS) it steps up while passing (down while
// failing) until it has a passing and a failing rate, then bisects until
// fail - pass <= precision x pass. Its steps double from StartQPS; from an
// estimate the first is 0.99 x the precision (so that a bracket of one
// step is already precise enough), or of PilotPrecision if finer (a
// pilot's answer is rarely closer than that), and the factor squares each
// round, up to doubling.
type phase struct {
	kind      string // TrialPilot or TrialFull
	requests  int
	precision float64
	maxTrials int
	est       float64
	maxQPS    float64 // the largest rate it tries (0: the spec's)
	outcomes  map[float64]Outcome
	curve     []Probe
	pass      float64 // the largest passing rate below the smallest failing one (0: none)
	fail      float64 // the smallest failing rate (0: none)
}

func (ph *phase) run(ctx context.Context, spec Spec, base engine.Config, p Point, lengthsOnly bool, eval Evaluator) error {
	ph.outcomes = map[float64]Outcome{}
	ph.curve = []Probe{}
	defer func() { sort.Slice(ph.curve, func(i, j int) bool { return ph.curve[i].QPS < ph.curve[j].QPS }) }()
	k := spec.Probes
	maxQPS := spec.MaxQPS
	if ph.maxQPS > 0 {
		maxQPS = math.Min(maxQPS, ph.maxQPS)
	}
	factor := 2.0
	if ph.est > 0 {
		factor = 1 + 0.99*max(ph.precision, PilotPrecision)
	}
	for round := 0; len(ph.curve)+1 <= ph.maxTrials; round++ {
		// This round's rates: k of them, from what the earlier rounds found.
		var qs []float64
		add := func(q float64) {
			q = math.Min(math.Max(q, spec.MinQPS), maxQPS)
			if !slices.Contains(qs, q) {
				if _, done := ph.outcomes[q]; !done {
					qs = append(qs, q)
				}
			}
		}
		if round > 1 && ph.est > 0 {
			factor = math.Min(2, factor*factor)
		}
		for i := range k {
			switch {
			case round == 0 && ph.est == 0:
				add(spec.StartQPS * math.Pow(2, float64(i)))
			case round == 0: // around the estimate: est, then above and below it
				add(ph.est * math.Pow(factor, float64((i+1)/2*(1-2*(i%2)))))
			case ph.pass == 0:
				add(ph.fail / math.Pow(factor, float64(i+1)))
			case ph.fail == 0:
				add(ph.pass * math.Pow(factor, float64(i+1)))
			default:
				add(ph.pass + (ph.fail-ph.pass)*float64(i+1)/float64(k+1))
			}
		}
		qs = qs[:min(len(qs), ph.maxTrials-len(ph.curve))]
		if len(qs) == 0 {
			break
		}
		trials := make([]Trial, len(qs))
		for i, q := range qs {
			trials[i] = Trial{Config: TrialConfig(base, p, q, ph.requests, lengthsOnly), StopEarly: !spec.FullTrials, Kind: ph.kind}
		}
		res, err := evalAll(ctx, eval, trials)
		if err != nil {
			return err
		}
		for i, q := range qs {
			ph.outcomes[q] = res[i]
			ph.curve = append(ph.curve, probeOf(q, res[i]))
			if !res[i].SLO.Met && (ph.fail == 0 || q < ph.fail) {
				ph.fail = q
			}
		}
		// The largest passing rate below the smallest failing one.
		for q, o := range ph.outcomes {
			if o.SLO.Met && q > ph.pass && (ph.fail == 0 || q < ph.fail) {
				ph.pass = q
			}
		}
		if ph.pass > 0 && ph.fail > 0 && ph.pass > ph.fail {
			ph.pass = 0
		}
		lo, hi := slices.Min(qs), slices.Max(qs)
		if ph.pass == 0 && lo <= spec.MinQPS || ph.fail == 0 && hi >= maxQPS || ph.pass > 0 && ph.fail > 0 && ph.fail-ph.pass <= ph.precision*ph.pass {
			break
		}
	}
	return nil
}

// limited runs at most cap(sem) trials at once.
type limited struct {
	Evaluator
	sem chan struct{}
}

func (l limited) Eval(ctx context.Context, t Trial) (Outcome, error) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
	defer func() { <-l.sem }()
	return l.Evaluator.Eval(ctx, t)
}

// evalAll runs a round's trials at once and checks each ran its request
// count (a workload that keeps its own arrivals cannot be searched).
func evalAll(ctx context.Context, eval Evaluator, trials []Trial) ([]Outcome, error) {
	out := make([]Outcome, len(trials))
	errs := make([]error, len(trials))
	var wg sync.WaitGroup
	for i, t := range trials {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := eval.Eval(ctx, t)
			if requests := t.Config.Workload.NumRequests; err == nil && o.Requests != requests {
				err = fmt.Errorf("the trial ran %d requests, not the search's %d: this workload keeps its own arrivals (a trace whose format ignores trace_lengths_only), so no rate can be set; give a length trace, a Vidur trace or the synthetic preset", o.Requests, requests)
			}
			out[i], errs[i] = o, err
		}()
	}
	wg.Wait()
	for _, err := range errs { // the first in probe order: the same whatever finished first
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// saturationSizes are the two bursts' request counts: 3/10 of the pilot's
// and the pilot's.
func saturationSizes(spec Spec) []int {
	return []int{max(1, spec.PilotRequests*3/10), spec.PilotRequests}
}

// saturation estimates a point's capacity from two bursts of n0 < n1
// requests arriving at once (at max_qps), run to the end: past the first
// requests' start and before the last ones' drain, a saturated server
// completes requests at its capacity, so the n1 - n0 more requests take
// (n1 - n0) / capacity more time, whatever the start and drain cost (the
// same in both runs). It returns the bursts and (n1 - n0) / (D1 - D0),
// within [min_qps, max_qps], or 0 when the longer burst did not take longer;
// with an error (0 and bursts without durations), none.
func saturation(ctx context.Context, spec Spec, base engine.Config, p Point, lengthsOnly bool, eval Evaluator) ([]Burst, float64, error) {
	ns := saturationSizes(spec)
	trials := make([]Trial, len(ns))
	bursts := make([]Burst, len(ns))
	for i, n := range ns {
		trials[i] = Trial{Config: TrialConfig(base, p, spec.MaxQPS, n, lengthsOnly), Kind: TrialBurst}
		bursts[i] = Burst{Requests: n, QPS: spec.MaxQPS}
	}
	res, err := evalAll(ctx, eval, trials)
	if err != nil {
		return bursts, 0, err
	}
	for i := range bursts {
		bursts[i].DurationS = res[i].SLO.Load.DurationS
	}
	d := bursts[1].DurationS - bursts[0].DurationS
	if !(d > 0) || math.IsInf(d, 0) {
		return bursts, 0, nil
	}
	return bursts, math.Min(math.Max(float64(ns[1]-ns[0])/d, spec.MinQPS), spec.MaxQPS), nil
}

// markPareto marks the points no other found point dominates (goodput
// tokens/s per GPU up, P90 E2E at max QPS down).
func markPareto(res *Result) {
	res.Pareto = []int{}
	for i := range res.Points {
		a := &res.Points[i]
		if !a.Found {
			continue
		}
		dominated := false
		for j, b := range res.Points {
			if j == i || !b.Found {
				continue
			}
			if b.GoodputTokensPerSPerGPU >= a.GoodputTokensPerSPerGPU && b.E2EP90Ms <= a.E2EP90Ms &&
				(b.GoodputTokensPerSPerGPU > a.GoodputTokensPerSPerGPU || b.E2EP90Ms < a.E2EP90Ms) {
				dominated = true
				break
			}
		}
		if !dominated {
			a.Pareto = true
			res.Pareto = append(res.Pareto, i)
		}
	}
	sort.SliceStable(res.Pareto, func(x, y int) bool {
		return res.Points[res.Pareto[x]].GoodputTokensPerSPerGPU > res.Points[res.Pareto[y]].GoodputTokensPerSPerGPU
	})
}

// cheapest runs the target rate on the points whose max QPS reaches it,
// fewest GPUs first (then sweep order), and keeps the first that meets the
// SLO there.
func cheapest(ctx context.Context, spec Spec, base engine.Config, lengthsOnly bool, eval Evaluator, res *Result) error {
	var cand []int
	best := -1
	for i, p := range res.Points {
		if p.Found && (p.MaxQPS >= spec.TargetQPS || p.FailQPS == 0) {
			cand = append(cand, i)
		}
		if p.Found && (best < 0 || p.MaxQPS > res.Points[best].MaxQPS) {
			best = i
		}
	}
	sort.SliceStable(cand, func(x, y int) bool { return res.Points[cand[x]].GPUs < res.Points[cand[y]].GPUs })
	for _, i := range cand {
		p := res.Points[i]
		o, err := eval.Eval(ctx, Trial{Config: TrialConfig(base, p.Point, spec.TargetQPS, spec.Requests, lengthsOnly), StopEarly: !spec.FullTrials, Kind: TrialTarget})
		res.Trials++
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		if o.SLO.Met {
			res.Cheapest = &Cheapest{Index: i, Point: p.Point, GPUs: p.GPUs, CostPerHUS: spec.GPUHourUSD * float64(p.GPUs), Probe: probeOf(spec.TargetQPS, o)}
			return nil
		}
	}
	switch {
	case best < 0:
		res.Note = fmt.Sprintf("no point meets the SLO at target_qps %g", spec.TargetQPS)
	default:
		res.Note = fmt.Sprintf("no point meets the SLO at target_qps %g; the highest max QPS is %g (point %d: %s)", spec.TargetQPS, res.Points[best].MaxQPS, best, res.Points[best].Point)
	}
	return nil
}
