// Package searchrun runs internal/search's trials: in this process
// (Local, through internal/runner) or on servesim API endpoints (Remote:
// `servesim serve` instances or a Workers deployment, POST /api/simulate),
// with the same outcome for the same trial either way.
package searchrun

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/internal/search"
	"github.com/servesim/servesim/presets"
)

// OutcomeOf is what a search keeps of a run's key results.
func OutcomeOf(k report.KeyResults) search.Outcome {
	return search.Outcome{SLO: k.SLO, Requests: k.Requests, TTFTP90Ms: k.TTFT.P90 / 1e6, TBTP90Ms: k.TokenLatency.P90 / 1e6, E2EP90Ms: k.E2E.P90 / 1e6, Stopped: k.Stopped, BatchCapFreeFrom: k.BatchCapFreeFrom}
}

// LengthsOnly says whether a search's trials take only the lengths of the
// workload (files given, or a preset with files): its arrivals are always
// the search's Poisson process, never the trace's own times.
func LengthsOnly(preset string, files int) bool {
	if files > 0 {
		return true
	}
	if preset == "" {
		preset = presets.Default
	}
	p, err := presets.Lookup(preset)
	return err == nil && len(p.Files) > 0
}

// CheckTrace checks, before any trial, that a search's trials can draw
// their requests from the workload trace (search.CheckTrace): for a search
// whose trials take only the trace's lengths (lengthsOnly: files, or a
// preset with files), the trace is loaded once as a trial loads it, with
// every row. A malformed file is reported here too. A point whose own
// configuration cannot load (the memory planner's refusal, say) is left to
// its trials to report; a trace that keeps its own arrivals is not
// checked. cache may be nil.
func CheckTrace(ctx context.Context, spec search.Spec, base engine.Config, preset string, files []File, lengthsOnly bool, cache *runner.Cache) error {
	if !lengthsOnly {
		return nil
	}
	spec = spec.WithDefaults()
	points, err := search.Plan(spec, base)
	if err != nil {
		return &engine.ConfigError{Err: err}
	}
	parsed := make([]workload.File, len(files))
	for i, f := range files {
		p, err := workload.ParseFile(workload.File{Name: f.Name, R: strings.NewReader(f.Content)}, lengthsOnly)
		if err != nil {
			return err
		}
		parsed[i] = workload.File{Name: f.Name, Parsed: p}
	}
	for _, p := range points {
		// every row (num_requests 0), arriving at the highest rate a trial
		// may have (so that a long trace's arrivals stay within bounds)
		c := search.TrialConfig(base, p, spec.MaxQPS, 0, lengthsOnly)
		w, err := runner.LoadWorkload(ctx, runner.Job{Preset: preset, Files: append([]workload.File(nil), parsed...), Config: c, Cache: cache})
		var ce *engine.ConfigError
		if errors.As(err, &ce) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			return err
		}
		if !w.ArrivalsGenerated(lengthsOnly) {
			return nil
		}
		trace := strings.Join(w.Files, ", ")
		if len(files) == 0 {
			trace += " (preset " + cmp.Or(preset, presets.Default) + ")"
		}
		if err := search.CheckTrace(spec, trace, len(w.Requests)); err != nil {
			return &engine.ConfigError{Err: err}
		}
		return nil
	}
	return nil
}

// File is a workload file's name and bytes.
type File struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// Local runs trials in process. Preset names an embedded workload when
// Files is empty.
type Local struct {
	Preset  string
	Files   []File
	Profile *predict.Set // nil: the trial configuration's embedded set
	Limits  runner.Limits
	// Cache, if set, is shared (a server's); else the Local keeps its own.
	Cache  *runner.Cache
	cache  runner.Cache
	parsed []workload.File
}

// NewLocal parses the files once (lengthsOnly as each trial reads them).
func NewLocal(preset string, files []File, profile *predict.Set, lim runner.Limits, lengthsOnly bool) (*Local, error) {
	l := &Local{Preset: preset, Files: files, Profile: profile, Limits: lim}
	for _, f := range files {
		p, err := workload.ParseFile(workload.File{Name: f.Name, R: strings.NewReader(f.Content)}, lengthsOnly)
		if err != nil {
			return nil, err
		}
		l.parsed = append(l.parsed, workload.File{Name: f.Name, Parsed: p})
	}
	return l, nil
}

// Eval runs one trial.
func (l *Local) Eval(ctx context.Context, t search.Trial) (search.Outcome, error) {
	cache := l.Cache
	if cache == nil {
		cache = &l.cache
	}
	// Lean: no per-iteration records (the key results come from per-replica
	// totals, the same numbers), stopped once the verdict is lost if asked.
	job := runner.Job{Preset: l.Preset, Files: append([]workload.File(nil), l.parsed...), Config: t.Config, Profile: l.Profile,
		Cache: cache, Limits: l.Limits, Options: engine.Options{SkipBatches: true, StopOnSLOFail: t.StopEarly}}
	out, err := runner.Run(ctx, job)
	if err != nil {
		return search.Outcome{}, err
	}
	return OutcomeOf(report.Compute(out.Result)), nil
}

// TrialPath is the API path and query a trial is sent to: the key results
// only (format=summary), stopped once its objective is lost if the trial
// may be (stop=slo).
func TrialPath(t search.Trial) string {
	if t.StopEarly {
		return "/api/simulate?format=summary&stop=slo"
	}
	return "/api/simulate?format=summary"
}

// Remote sends trials to servesim API endpoints (POST
// /api/simulate?format=summary: the key results only) (base URLs such as
// http://127.0.0.1:8080), spreading them round robin; a trial that fails
// for a reason of the endpoint (no answer, a 5xx, 429) is sent to the next
// one after a pause, up to Attempts times in all. An answer about the
// trial itself (a 4xx: a bad configuration, a limit) is its outcome.
type Remote struct {
	Endpoints []string
	Preset    string
	Files     []File
	// ProfileFiles, if any, are a profile set of the caller's own, sent
	// with every trial (POST /api/simulate's profile_files).
	ProfileFiles []File
	Client       *http.Client // nil: one with a 10-minute timeout
	// Attempts per trial (0: 3 per endpoint, at least 4).
	Attempts int
	// Backoff before the k-th retry is k x Backoff (0: 200 ms).
	Backoff time.Duration
	// Log, if set, hears about every retry.
	Log     func(string)
	next    atomic.Uint64
	Retries atomic.Int64
}

// TrialError is an endpoint's answer refusing a trial (its problem
// document's detail).
type TrialError struct {
	Status int
	Detail string
}

func (e *TrialError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Detail) }

// Eval runs one trial on an endpoint.
func (r *Remote) Eval(ctx context.Context, t search.Trial) (search.Outcome, error) {
	if len(r.Endpoints) == 0 {
		return search.Outcome{}, errors.New("searchrun: no endpoints")
	}
	body, err := trialBody(r.Preset, t, r.Files, r.ProfileFiles)
	if err != nil {
		return search.Outcome{}, err
	}
	attempts := r.Attempts
	if attempts <= 0 {
		attempts = max(4, 3*len(r.Endpoints))
	}
	backoff := r.Backoff
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Minute}
	}
	start := r.next.Add(1) - 1
	var last error
	for k := range attempts {
		if k > 0 {
			r.Retries.Add(1)
			select {
			case <-ctx.Done():
				return search.Outcome{}, ctx.Err()
			case <-time.After(time.Duration(k) * backoff):
			}
		}
		ep := strings.TrimRight(r.Endpoints[(start+uint64(k))%uint64(len(r.Endpoints))], "/")
		o, retry, err := r.post(ctx, client, ep+TrialPath(t), body)
		if err == nil || !retry {
			return o, err
		}
		if ctx.Err() != nil {
			return search.Outcome{}, ctx.Err()
		}
		last = fmt.Errorf("%s: %w", ep, err)
		if r.Log != nil {
			r.Log(fmt.Sprintf("retrying a trial after %v", last))
		}
	}
	return search.Outcome{}, fmt.Errorf("searchrun: a trial failed %d times, last: %w", attempts, last)
}

func (r *Remote) post(ctx context.Context, client *http.Client, ep string, body []byte) (search.Outcome, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep, bytes.NewReader(body))
	if err != nil {
		return search.Outcome{}, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return search.Outcome{}, true, err
	}
	return readAnswer(resp)
}

// trialBody is a trial's POST /api/simulate body: its workload, its whole
// configuration and the caller's profile files, if any.
func trialBody(preset string, t search.Trial, files, profileFiles []File) ([]byte, error) {
	req := map[string]any{"preset": preset, "config": t.Config, "files": files}
	if len(profileFiles) > 0 {
		req["profile_files"] = profileFiles
	}
	return json.Marshal(req)
}

// readAnswer reads a trial's answer: its outcome, or why not and whether
// another attempt may succeed (no answer, 5xx, 429, 408).
func readAnswer(resp *http.Response) (search.Outcome, bool, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return search.Outcome{}, true, err
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(b, &p)
		if p.Detail == "" {
			p.Detail = strings.TrimSpace(string(b[:min(len(b), 512)]))
		}
		retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout
		return search.Outcome{}, retry, &TrialError{Status: resp.StatusCode, Detail: p.Detail}
	}
	var res struct {
		Summary *report.KeyResults `json:"summary"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Summary == nil {
		return search.Outcome{}, true, fmt.Errorf("not a simulation result: %v", err)
	}
	return OutcomeOf(*res.Summary), false, nil
}

// Pool runs trials through a RoundTripper, one host's pool of workers (the
// page's Web Workers: wasm/worker/pool_js.go): the same request and answer
// as Remote's, with no http.Client (whose default transport would link TLS
// into the page's wasm). A trial that fails for a reason of the pool (no
// answer, a 5xx) is tried again, Attempts times in all (0: 3).
type Pool struct {
	Preset string
	Files  []File
	// ProfileFiles, if any, are a profile set of the caller's own, sent
	// with every trial (POST /api/simulate's profile_files).
	ProfileFiles []File
	Transport    http.RoundTripper
	Attempts     int
}

// TrialKindHeader is the request header by which a Pool's trial says its
// search.Trial.Kind to the transport (the page's progress table shows a
// saturation burst, a pilot trial, a full one or the target's as such).
const TrialKindHeader = "Servesim-Trial-Kind"

// Eval runs one trial on the pool.
func (p *Pool) Eval(ctx context.Context, t search.Trial) (search.Outcome, error) {
	body, err := trialBody(p.Preset, t, p.Files, p.ProfileFiles)
	if err != nil {
		return search.Outcome{}, err
	}
	attempts := p.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	var last error
	for range attempts {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://pool"+TrialPath(t), bytes.NewReader(body))
		if err != nil {
			return search.Outcome{}, err
		}
		req.Header.Set("Content-Type", "application/json")
		if t.Kind != "" {
			req.Header.Set(TrialKindHeader, t.Kind)
		}
		resp, err := p.Transport.RoundTrip(req)
		if err == nil {
			var o search.Outcome
			var retry bool
			if o, retry, err = readAnswer(resp); err == nil || !retry {
				return o, err
			}
		}
		if ctx.Err() != nil {
			return search.Outcome{}, ctx.Err()
		}
		last = err
	}
	return search.Outcome{}, fmt.Errorf("searchrun: a trial failed %d times in the pool, last: %w", attempts, last)
}
