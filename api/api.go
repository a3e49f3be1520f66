// Package api is servesim's HTTP API: one stateless net/http handler,
// hosted natively (servesim serve), in the browser's Web Worker and on
// Cloudflare Workers (both through github.com/syumai/workers). It imports
// no syscall/js and is tested with httptest. openapi.json documents it.
package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/strictjson"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/presets"
	"github.com/servesim/servesim/profiles"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API's OpenAPI document.
func OpenAPI() []byte { return openAPI }

// Version is the API's version (api/openapi.json's info.version), also in
// every simulation result as api_version.
const Version = "0.2.0"

// Limits keep a public endpoint from being a free CPU furnace. Each is
// checked before the work it bounds: from the configuration alone where it
// can be (422 before any workload is generated), and as the work grows.
type Limits struct {
	MaxBodyBytes int64         // request body (413 beyond)
	MaxRequests  int           // requests per simulation (422 beyond)
	MaxTokens    int64         // simulated prompt+output tokens per simulation (422 beyond)
	MaxReplicas  int           // cluster.num_replicas (422 beyond)
	MemoryBudget int64         // bytes of records one run keeps, checked as it runs (422 beyond)
	Timeout      time.Duration // wall clock per simulation (503 beyond)
	// MaxConcurrent simulations (and workload inspections) run at once;
	// up to MaxQueued more wait for a slot (at most Timeout). Beyond, or
	// after waiting that long: 503 with Retry-After.
	MaxConcurrent int
	MaxQueued     int
	// A search (POST /api/search) runs at most MaxSearchPoints points and
	// MaxSearchRequests simulated requests (its most trials x requests per
	// trial, refused before any work beyond), within SearchTimeout; 0: the
	// defaults. It holds one simulation slot and runs its trials in turn.
	MaxSearchPoints   int
	MaxSearchRequests int64
	SearchTimeout     time.Duration
}

// DefaultLimits: 32 MiB body, 200k requests, 500M tokens, 64 replicas, a
// 512 MiB memory budget per run, 60 s; as many simulations at once as the
// process has CPUs (GOMAXPROCS), 16 more queued; searches of at most 64
// points and 5M simulated requests within 5 minutes.
func DefaultLimits() Limits {
	return Limits{MaxBodyBytes: 32 << 20, MaxRequests: 200_000, MaxTokens: 500_000_000, MaxReplicas: 64,
		MemoryBudget: 512 << 20, Timeout: 60 * time.Second, MaxConcurrent: runtime.GOMAXPROCS(0), MaxQueued: 16,
		MaxSearchPoints: DefaultMaxSearchPoints, MaxSearchRequests: DefaultMaxSearchRequests, SearchTimeout: DefaultSearchTimeout}
}

func (l Limits) runner() runner.Limits {
	return runner.Limits{MaxRequests: l.MaxRequests, MaxTokens: l.MaxTokens, MaxReplicas: l.MaxReplicas, MemoryBudget: l.MemoryBudget}
}

// Options configure the handler.
type Options struct {
	Limits Limits
	// AllowOrigin, if set, is the one origin allowed cross-origin requests
	// (CORS). Empty means same-origin only.
	AllowOrigin string
	// Static, if set, serves every path outside /api/ (the page in dist/).
	Static http.Handler
	// Yield, if set, is called after each progress line is flushed; in the
	// browser it lets the JavaScript event loop deliver the line.
	Yield func()
	// ProgressInterval is the least wall-clock time between two progress
	// lines of a streamed run (default 100 ms).
	ProgressInterval time.Duration
	// Preload, if set, parses the default profile set's tables in the
	// background when the handler is made, so that the first run does not
	// (the page's worker, which starts while the page loads).
	Preload bool
	// OnIdle, if set, is called when the last simulation in flight ends
	// (a native server returns freed memory to the OS there).
	OnIdle func()
	// SearchPool, if set and answering a transport, runs POST /api/search's
	// trials as POST /api/simulate?format=summary through that transport
	// (the page: a pool of Web Workers), up to the given number at once,
	// instead of in this process. Answers do not depend on it.
	SearchPool func() (http.RoundTripper, int)
}

type handler struct {
	opt   Options
	mux   *http.ServeMux
	cache runner.Cache  // embedded profile sets and preset workloads, parsed once
	users userSets      // the caller's own profile sets last sent (profile_files), opened once
	slots chan struct{} // MaxConcurrent; nil: no limit
	mu    sync.Mutex
	queue int // waiting for a slot
	busy  int // holding a slot
	// openBase opens calibration base sets (nil: the embedded ones; tests
	// give a fixture).
	openBase func(name string) (*predict.Set, error)
}

// endpoints lists each API path's methods (for 405 and Allow).
var endpoints = map[string]string{
	"/api/profiles": "GET", "/api/presets": "GET", "/api/openapi.json": "GET", "/api/models": "GET", "/api/gpus": "GET", "/api/profile": "POST",
	"/api/workload": "POST", "/api/simulate": "GET, POST", "/api/calibrate": "POST", "/api/search": "POST",
}

var _ http.Handler = (*handler)(nil)

// NewHandler returns the API handler.
func NewHandler(opt Options) http.Handler {
	if opt.Limits == (Limits{}) {
		opt.Limits = DefaultLimits()
	}
	if opt.ProgressInterval <= 0 {
		opt.ProgressInterval = 100 * time.Millisecond
	}
	h := &handler{opt: opt, mux: http.NewServeMux()}
	if opt.Limits.MaxConcurrent > 0 {
		h.slots = make(chan struct{}, opt.Limits.MaxConcurrent)
	}
	h.mux.HandleFunc("GET /api/profiles", h.profiles)
	h.mux.HandleFunc("GET /api/presets", h.presets)
	h.mux.HandleFunc("GET /api/models", h.models)
	h.mux.HandleFunc("GET /api/gpus", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, model.GPUs()) })
	h.mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	h.mux.HandleFunc("POST /api/workload", h.inspect)
	h.mux.HandleFunc("POST /api/profile", h.profileChoice)
	h.mux.HandleFunc("POST /api/simulate", h.simulate)
	h.mux.HandleFunc("GET /api/simulate", h.simulate)
	h.mux.HandleFunc("POST /api/calibrate", h.calibrate)
	h.mux.HandleFunc("POST /api/search", h.search)
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if allow, ok := endpoints[r.URL.Path]; ok {
			w.Header().Set("Allow", allow)
			problem(w, http.StatusMethodNotAllowed, "method not allowed", fmt.Sprintf("%s takes %s, not %s", r.URL.Path, allow, clip(r.Method)))
			return
		}
		problem(w, http.StatusNotFound, "not found", fmt.Sprintf("no endpoint %s %s (see /api/openapi.json)", clip(r.Method), clip(r.URL.Path)))
	})
	if opt.Static != nil {
		h.mux.Handle("/", opt.Static)
	}
	if opt.Preload {
		go h.preload()
	}
	return h
}

// preload warms the default profile set's table cache. A failure is left
// for the first run that needs the set to report.
func (h *handler) preload() {
	cfg, err := runner.Config(presets.Default) // what the first run uses
	if err != nil {
		return
	}
	if set, err := h.cache.ProfileSet(cfg.Predictor.Profile); err == nil {
		_ = engine.Prepare(cfg, engine.Inputs{Profile: set})
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler { // an answer cut off on purpose (fileAnswer)
				panic(p)
			}
			problem(w, http.StatusInternalServerError, "internal error", fmt.Sprintf("internal error (please report): %v", p))
		}
	}()
	if strings.HasPrefix(r.URL.Path, "/api/") {
		// Answers (cacheable ones included) differ by Origin when CORS is
		// on: a cache must key them by it, matching or not.
		w.Header().Add("Vary", "Origin")
	}
	if o := r.Header.Get("Origin"); o != "" && h.opt.AllowOrigin != "" && o == h.opt.AllowOrigin {
		w.Header().Set("Access-Control-Allow-Origin", o)
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// ProfileInfo describes an embedded profile set.
type ProfileInfo struct {
	predict.Meta
	HasCPUOverheads bool `json:"has_cpu_overheads"`
	// TensorParallelSizes are the tensor-parallel degrees the set was
	// profiled at (the page offers only these).
	TensorParallelSizes []int  `json:"tensor_parallel_sizes"`
	Provenance          string `json:"provenance"`
	// EngineTiming: the set describes its serving engine (engine.json), so
	// runs use engine timing by default and the set can be calibrated.
	EngineTiming bool `json:"engine_timing"`
}

func (h *handler) profiles(w http.ResponseWriter, r *http.Request) {
	reg := profiles.Embedded()
	out := []ProfileInfo{}
	for _, n := range reg.Names() {
		set, err := reg.Open(n)
		if err != nil {
			problem(w, http.StatusInternalServerError, "internal error", err.Error())
			return
		}
		tp, err := set.TensorParallelSizes()
		if err != nil {
			problem(w, http.StatusInternalServerError, "internal error", err.Error())
			return
		}
		out = append(out, ProfileInfo{Meta: set.Meta, HasCPUOverheads: set.HasCPUOverheads(), TensorParallelSizes: tp, Provenance: set.Provenance, EngineTiming: set.HasEngineSpec()})
	}
	writeJSON(w, http.StatusOK, out)
}

// ProfileChoice is POST /api/profile's answer: the profile set a run of the
// request would use (chosen as a run chooses it: its choice says why) and
// whether each of the set's tensor-parallel degrees can run the request's
// configuration (the memory planner's verdict), before anything is
// simulated.
type ProfileChoice struct {
	Profile        ProfileInfo `json:"profile"`
	TensorParallel []TPFit     `json:"tensor_parallel"`
}

// TPFit is one tensor-parallel degree of a ProfileChoice: Why is empty
// where the configuration runs at it, else the configuration's or the
// memory planner's error.
type TPFit struct {
	Size int    `json:"size"`
	Why  string `json:"why,omitempty"`
}

// profileChoice answers POST /api/profile: the body is a simulation
// request's (preset, config, model_config, profile_files); nothing runs.
func (h *handler) profileChoice(w http.ResponseWriter, r *http.Request) {
	job, err := h.parse(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	set := job.Profile
	tps, err := set.TensorParallelSizes()
	if err != nil {
		writeError(w, &engine.ConfigError{Err: err})
		return
	}
	out := ProfileChoice{Profile: ProfileInfo{Meta: set.Meta, HasCPUOverheads: set.HasCPUOverheads(), Provenance: set.Provenance, EngineTiming: set.HasEngineSpec()},
		TensorParallel: []TPFit{}}
	for _, tp := range tps {
		cfg := job.Config
		cfg.Replica.TensorParallelSize = tp
		fit := TPFit{Size: tp}
		if _, err := cfg.Resolve(); err != nil {
			fit.Why = err.Error()
		} else {
			out.Profile.TensorParallelSizes = append(out.Profile.TensorParallelSizes, tp)
		}
		out.TensorParallel = append(out.TensorParallel, fit)
	}
	writeJSON(w, http.StatusOK, out)
}

// ModelInfo is a catalogue model with the source of its numbers.
type ModelInfo struct {
	model.Model
	Source string `json:"source"`
}

func (h *handler) models(w http.ResponseWriter, r *http.Request) {
	out := []ModelInfo{}
	for _, e := range model.Catalog() {
		out = append(out, ModelInfo{e.Model, e.Source})
	}
	writeJSON(w, http.StatusOK, out)
}

// PresetInfo is an embedded workload preset with the configuration a run of
// it starts from (a request's config goes on top).
type PresetInfo struct {
	presets.Preset
	Config engine.Config `json:"config"`
}

func (h *handler) presets(w http.ResponseWriter, r *http.Request) {
	var out []PresetInfo
	for _, p := range presets.All() {
		cfg, err := runner.Config(p.Name)
		if err != nil {
			writeError(w, err)
			return
		}
		out = append(out, PresetInfo{Preset: p, Config: cfg})
	}
	writeJSON(w, http.StatusOK, out)
}

// File is a workload file sent inline in a JSON request.
type File struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// SimulateRequest is POST /api/simulate's JSON body (the multipart form has
// the same fields: preset, config, and file parts named "workload").
type SimulateRequest struct {
	Preset string          `json:"preset"`
	Config json.RawMessage `json:"config"`
	Files  []File          `json:"files"`
	// ProfileFiles, if any, are a profile set of the caller's own (Vidur's
	// mlp.csv and attention.csv, …) used instead of config's profile.
	ProfileFiles []File `json:"profile_files,omitempty"`
	// ModelConfig, if given, is a Hugging Face config.json (a dense
	// decoder), as a JSON object or as the file's text in a JSON string
	// (errors then give the file's line and column), whose shape becomes
	// config's replica.model_spec and name its replica.model_name.
	ModelConfig json.RawMessage `json:"model_config,omitempty"`
}

// Result is the JSON answer of a simulation.
type Result struct {
	APIVersion   string              `json:"api_version"`
	RunID        string              `json:"run_id"`
	Summary      report.KeyResults   `json:"summary"`
	StatusCounts map[string]int      `json:"status_counts"`
	Iterations   int                 `json:"iterations"`
	Restarts     int                 `json:"restarts"`
	Extrapolated int                 `json:"extrapolated_lookups"`
	SimulatedNs  int64               `json:"simulated_duration_ns"`
	Profile      predict.Meta        `json:"profile"`
	Workload     engine.WorkloadInfo `json:"workload"`
	WorkloadName string              `json:"workload_name"`
	Config       engine.Config       `json:"config"`
	Resolved     engine.Resolved     `json:"resolved"`
	// Serving: run_meta.json's prefix_cache, routing and disaggregation
	// sections, each present when its feature is on.
	Serving report.Serving `json:"serving"`
	// Real scores the run against the real benchmark result it replays
	// (present when the workload was one).
	Real  *RealComparison `json:"real,omitempty"`
	Plots report.Plots    `json:"plots"`
	Files []string        `json:"files"`
}

// SummaryResult is a simulation's answer with ?format=summary: the key
// results (a search's trial needs no plot series).
type SummaryResult struct {
	APIVersion string            `json:"api_version"`
	RunID      string            `json:"run_id"`
	Summary    report.KeyResults `json:"summary"`
}

// outputOf checks ?format, ?file and ?outputs (cheap, so before anything
// else). names are the files the answer holds: outputs' (every file by
// default) for a zip, the one file, none for a JSON result.
func outputOf(r *http.Request) (format, file string, names []string, err error) {
	q := r.URL.Query()
	format, file = q.Get("format"), q.Get("file")
	switch format {
	case "", "json", "ndjson", "zip", "summary":
	default:
		return "", "", nil, &engine.ConfigError{Err: fmt.Errorf("format %q: expected json, ndjson, zip or summary", clip(format))}
	}
	if q.Has("outputs") {
		if format != "zip" {
			return "", "", nil, &engine.ConfigError{Err: fmt.Errorf("outputs selects the files of a zip: give it with format=zip")}
		}
		if names, err = runner.ParseOutputs(q.Get("outputs")); err != nil {
			return "", "", nil, &engine.ConfigError{Err: fmt.Errorf("outputs: %w", err)}
		}
	} else if format == "zip" {
		names = runner.Files(true)
	}
	if file != "" {
		if format != "" {
			return "", "", nil, &engine.ConfigError{Err: fmt.Errorf("give format or file, not both")}
		}
		ok := false
		for _, f := range report.Files {
			ok = ok || f == file
		}
		if !ok {
			return "", "", nil, &engine.ConfigError{Err: fmt.Errorf("no output file %q (valid: %s)", clip(file), strings.Join(report.Files, ", "))}
		}
		names = []string{file}
	}
	return format, file, names, nil
}

// acquire takes a simulation slot, waiting in a bounded queue for at most
// the timeout. release must be called once the work is done.
func (h *handler) acquire(ctx context.Context) (release func(), err error) {
	lim := h.opt.Limits
	full := func(why string) error {
		return &limitError{status: http.StatusServiceUnavailable, retryAfter: retryAfter(lim.Timeout),
			msg: "the server is busy (" + why + "); try again later"}
	}
	done := func() {
		h.mu.Lock()
		h.busy--
		idle := h.busy == 0 && h.queue == 0
		h.mu.Unlock()
		if h.slots != nil {
			<-h.slots
		}
		if idle && h.opt.OnIdle != nil {
			h.opt.OnIdle()
		}
	}
	if h.slots == nil {
		h.mu.Lock()
		h.busy++
		h.mu.Unlock()
		return done, nil
	}
	select {
	case h.slots <- struct{}{}:
		h.mu.Lock()
		h.busy++
		h.mu.Unlock()
		return done, nil
	default:
	}
	h.mu.Lock()
	if h.queue >= lim.MaxQueued {
		h.mu.Unlock()
		return nil, full(fmt.Sprintf("%d simulations running and %d queued", lim.MaxConcurrent, lim.MaxQueued))
	}
	h.queue++
	h.mu.Unlock()
	t := time.NewTimer(lim.Timeout)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		h.mu.Lock()
		h.queue--
		h.busy++
		h.mu.Unlock()
		return done, nil
	case <-t.C:
		err = full(fmt.Sprintf("no simulation slot within %v", lim.Timeout))
	case <-ctx.Done():
		err = ctx.Err()
	}
	h.mu.Lock()
	h.queue--
	h.mu.Unlock()
	return nil, err
}

// retryAfter suggests a wait before retrying a busy server: a tenth of the
// wall-clock budget (a slot frees within it), at least a second.
func retryAfter(timeout time.Duration) int {
	return max(1, int((timeout/10+time.Second-1)/time.Second))
}

func (h *handler) simulate(w http.ResponseWriter, r *http.Request) {
	lim := h.opt.Limits
	format, file, names, err := outputOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	stop := r.URL.Query().Get("stop")
	if r.URL.Query().Has("stop") && (stop != "slo" || format != "summary") {
		writeError(w, &engine.ConfigError{Err: fmt.Errorf("stop %q: the only value is slo, with format=summary (a search's trial)", clip(stop))})
		return
	}
	job, err := h.parse(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	job.Options.StopOnSLOFail = stop == "slo"
	release, err := h.acquire(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), lim.Timeout)
	defer cancel()
	stream := format == "ndjson"
	var enc *json.Encoder
	flush := func() {}
	if stream {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		enc = json.NewEncoder(w)
		if f, ok := w.(http.Flusher); ok {
			flush = f.Flush
		}
		// The engine reports every 256 batch ends; a line goes out for the
		// first report, then at most every ProgressInterval, and for the
		// last. (In the browser each line also costs a yield to the event
		// loop, which timers clamp to ~4 ms, and a page render.)
		job.Options.ProgressEvery = 256
		var last time.Time
		job.Options.OnProgress = func(p engine.Progress) {
			now := time.Now()
			if !last.IsZero() && p.Done < p.Total && now.Sub(last) < h.opt.ProgressInterval {
				return
			}
			last = now
			enc.Encode(map[string]any{"progress": p})
			flush()
			if h.opt.Yield != nil {
				h.opt.Yield()
			}
		}
	}
	// Only the files asked for decide what the run keeps: a JSON result's
	// plots need no per-iteration records.
	runner.KeepFor(&job.Options, names)
	// One file is written as it is produced (fileAnswer).
	var fa *fileAnswer
	if file != "" {
		fa = newFileAnswer(w, file, r.Method == http.MethodGet)
		if fa.stream != nil {
			job.Options.Sink = fa.stream
		}
	}
	out, err := runner.Run(ctx, job)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = &limitError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("the simulation ran past the %v wall-clock budget", lim.Timeout)}
		}
		if fa != nil {
			fa.fail(err)
			return
		}
		if stream {
			p := toProblem(err)
			enc.Encode(map[string]any{"error": p})
			return
		}
		writeError(w, err)
		return
	}
	if r.Method == http.MethodGet {
		w.Header().Set("Cache-Control", "public, max-age=86400")
	}
	switch {
	case stream:
		enc.Encode(map[string]any{"result": resultOf(out)})
	case format == "zip": // written as it is compressed (fileAnswer)
		newFileAnswer(w, report.RunID(out.Result)+".zip", r.Method == http.MethodGet).finishWith(func(w io.Writer) error { return out.Zip(w, names) })
	case fa != nil:
		fa.finish(out)
	case format == "summary": // a search's trial: the key results, no plot series
		writeJSON(w, http.StatusOK, SummaryResult{APIVersion: Version, RunID: report.RunID(out.Result), Summary: report.Compute(out.Result)})
	default: // "" or json (outputOf checked it)
		writeJSON(w, http.StatusOK, resultOf(out))
	}
}

// WorkloadInfo is what POST /api/workload detected in the given files.
type WorkloadInfo struct {
	Format        workload.Format `json:"format"`
	Files         []string        `json:"files"`
	NumRequests   int             `json:"num_requests"`
	PrefillTokens int64           `json:"prefill_tokens"`
	DecodeTokens  int64           `json:"decode_tokens"`
	FirstArrivalS float64         `json:"first_arrival_s"`
	LastArrivalS  float64         `json:"last_arrival_s"`
	Notes         []string        `json:"notes"`
	// Summary: duration, mean rate, length percentiles, sessions and
	// prefix blocks (fields inline).
	workload.Summary
}

// inspect parses a workload (same body as /api/simulate) without running it.
func (h *handler) inspect(w http.ResponseWriter, r *http.Request) {
	job, err := h.parse(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	release, err := h.acquire(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), h.opt.Limits.Timeout)
	defer cancel()
	wl, err := runner.LoadWorkload(ctx, job)
	if errors.Is(err, context.DeadlineExceeded) {
		err = &limitError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("reading the workload ran past the %v wall-clock budget", h.opt.Limits.Timeout)}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	info := WorkloadInfo{Format: wl.Format, Files: wl.Files, NumRequests: len(wl.Requests), Notes: wl.Notes, Summary: workload.Summarize(wl)}
	if info.Notes == nil {
		info.Notes = []string{}
	}
	for _, q := range wl.Requests {
		info.PrefillTokens = workload.SatAdd(info.PrefillTokens, int64(q.Prefill))
		info.DecodeTokens = workload.SatAdd(info.DecodeTokens, int64(q.Decode))
	}
	info.FirstArrivalS = float64(wl.Requests[0].ArrivalNs) / 1e9
	info.LastArrivalS = float64(wl.Requests[len(wl.Requests)-1].ArrivalNs) / 1e9
	writeJSON(w, http.StatusOK, info)
}

func resultOf(o *runner.Output) Result {
	counts := map[string]int{}
	for _, r := range o.Result.Requests {
		counts[r.Status]++
	}
	summary, plots := report.Analyze(o.Result)
	return Result{APIVersion: Version, RunID: report.RunID(o.Result), Summary: summary, StatusCounts: counts,
		Iterations: o.Result.NumBatches, Restarts: o.Result.Restarts, Extrapolated: o.Result.Extrapolated, SimulatedNs: o.Result.EndNs,
		Profile: o.Result.Profile, Workload: o.Result.Workload, WorkloadName: o.Meta.WorkloadName,
		Config: o.Result.Config, Resolved: o.Result.Resolved, Serving: report.ServingOf(o.Result), Real: realComparison(o), Plots: plots, Files: report.Files}
}

// parse reads a simulation request: query parameters (GET), a JSON body,
// or a multipart form.
func (h *handler) parse(w http.ResponseWriter, r *http.Request) (runner.Job, error) {
	var req SimulateRequest
	q := r.URL.Query()
	req.Preset = q.Get("preset")
	if c := q.Get("config"); c != "" {
		req.Config = json.RawMessage(c)
	}
	var files []workload.File
	profileFiles := map[string][]byte{}
	addProfile := func(name string, b []byte) error {
		if _, dup := profileFiles[name]; dup {
			return &csvin.Error{File: name, Want: "each profile file once", Got: "a second one"}
		}
		profileFiles[name] = b
		return nil
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, h.opt.Limits.MaxBodyBytes)
		ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch ct {
		case "application/json":
			if err := decodeBody(r, &req, "a JSON body {preset, config, files}", "a JSON body {preset, config, files}"); err != nil {
				return runner.Job{}, err
			}
		case "multipart/form-data":
			if params["boundary"] == "" {
				return runner.Job{}, &engine.ConfigError{Err: errors.New("multipart body without a boundary")}
			}
			if err := r.ParseMultipartForm(h.opt.Limits.MaxBodyBytes); err != nil {
				return runner.Job{}, bodyError(err, "a multipart form")
			}
			if v := r.FormValue("preset"); v != "" {
				req.Preset = v
			}
			if v := r.FormValue("config"); v != "" {
				req.Config = json.RawMessage(v)
			}
			if v := r.FormValue("model_config"); v != "" {
				req.ModelConfig = json.RawMessage(v)
			}
			for _, fh := range r.MultipartForm.File["model_config"] {
				f, err := fh.Open()
				if err != nil {
					return runner.Job{}, err
				}
				b, err := io.ReadAll(io.LimitReader(f, model.MaxHFConfigBytes+1))
				f.Close()
				if err != nil {
					return runner.Job{}, err
				}
				req.ModelConfig = b
			}
			for _, fh := range r.MultipartForm.File["workload"] {
				f, err := fh.Open()
				if err != nil {
					return runner.Job{}, err
				}
				b, err := io.ReadAll(f)
				f.Close()
				if err != nil {
					return runner.Job{}, err
				}
				files = append(files, workload.File{Name: fh.Filename, R: bytes.NewReader(b)})
			}
			for _, fh := range r.MultipartForm.File["profile"] {
				f, err := fh.Open()
				if err != nil {
					return runner.Job{}, err
				}
				b, err := io.ReadAll(f)
				f.Close()
				if err != nil {
					return runner.Job{}, err
				}
				if err := addProfile(fh.Filename, b); err != nil {
					return runner.Job{}, err
				}
			}
		case "":
		default:
			return runner.Job{}, &engine.ConfigError{Err: fmt.Errorf("content type %q: expected application/json or multipart/form-data", ct)}
		}
	}
	for _, f := range req.Files {
		files = append(files, workload.File{Name: f.Name, R: strings.NewReader(f.Content)})
	}
	for _, f := range req.ProfileFiles {
		if err := addProfile(f.Name, []byte(f.Content)); err != nil {
			return runner.Job{}, err
		}
	}
	cfg, err := runner.Config(req.Preset)
	if err != nil {
		return runner.Job{}, err
	}
	named := false
	if len(req.Config) > 0 && string(req.Config) != "null" {
		if err := engine.DecodeConfigJSON(req.Config, &cfg); err != nil {
			return runner.Job{}, jsonError("config", err, "a configuration object (keys as in run_meta.json's config)")
		}
		named = namesProfile(req.Config)
	}
	if err := applyModelConfig(&cfg, req.ModelConfig); err != nil {
		return runner.Job{}, err
	}
	// Cheap checks first: the configuration and the limits it alone decides.
	if err := cfg.Validate(); err != nil {
		return runner.Job{}, &engine.ConfigError{Err: err}
	}
	if err := runner.Preflight(cfg, len(files) > 0, h.opt.Limits.runner()); err != nil {
		return runner.Job{}, err
	}
	// Only embedded profiles over HTTP (a profile path would read the
	// server's disk), or the caller's own files.
	var set *predict.Set
	if len(profileFiles) > 0 {
		if set, err = h.openUserProfile(profileFiles, cfg); err != nil {
			return runner.Job{}, err
		}
	} else if set, _, err = h.cache.ChooseProfile(&cfg, named); err != nil {
		return runner.Job{}, err
	}
	return runner.Job{Preset: req.Preset, Files: files, Config: cfg, Profile: set, Cache: &h.cache, Limits: h.opt.Limits.runner()}, nil
}

// openUserProfile opens a request's profile files (by name) as the
// profile set of cfg's model and device, or finds them opened by an earlier
// request (a search's trials all carry the same files; see userSets): a
// file's error names its file, line and column, anything else is the
// configuration's.
func (h *handler) openUserProfile(files map[string][]byte, cfg engine.Config) (*predict.Set, error) {
	set, err := h.users.get(files, runner.UserProfileFor(cfg))
	if err != nil {
		var ie *csvin.Error
		if !errors.As(err, &ie) {
			err = &engine.ConfigError{Err: err}
		}
		return nil, err
	}
	return set, nil
}

// applyModelConfig makes a request's model_config, if any, cfg's model:
// its shape replica.model_spec, its name replica.model_name.
func applyModelConfig(cfg *engine.Config, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	text := []byte(raw)
	if text[0] == '"' { // the file's text as a JSON string (the page's): positions are the file's
		var str string
		if err := json.Unmarshal(text, &str); err != nil {
			return &engine.ConfigError{Err: fmt.Errorf("model_config: %w", err)}
		}
		text = []byte(str)
	}
	m, err := model.ParseHFConfig("model_config", text, "")
	if err != nil {
		return &engine.ConfigError{Err: err}
	}
	cfg.Replica.Model, cfg.Replica.ModelSpec = m.Name, &m
	return nil
}

// namesProfile reports whether a config object sets predictor.profile:
// otherwise a model or device other than the default set's chooses one.
func namesProfile(config []byte) bool {
	var top struct {
		Predictor map[string]json.RawMessage `json:"predictor"`
	}
	_ = json.Unmarshal(config, &top)
	_, ok := top.Predictor["profile"]
	return ok
}

// inputError is a problem in a JSON text the request gave (its body, or
// its config), with the position.
type inputError struct {
	what string
	err  *strictjson.Error
	want string
}

func (e *inputError) Error() string { return fmt.Sprintf("%s: %v", e.what, e.err) }

func jsonError(what string, err error, want string) error {
	var se *strictjson.Error
	if errors.As(err, &se) {
		return &inputError{what: what, err: se, want: want}
	}
	return &engine.ConfigError{Err: fmt.Errorf("%s: expected %s: %w", what, want, err)}
}

func bodyError(err error, want string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &limitError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("the request body is over the %d-byte limit", mbe.Limit)}
	}
	return &engine.ConfigError{Err: fmt.Errorf("expected %s: %w", want, err)}
}

type limitError struct {
	status     int
	retryAfter int // seconds, for 503
	msg        string
}

func (e *limitError) Error() string { return e.msg }

// Problem is an RFC 9457 problem document, with the input position when the
// problem is in a user's file.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Field    string `json:"field,omitempty"`
	Expected string `json:"expected,omitempty"`
	Got      string `json:"got,omitempty"`

	retryAfter int // seconds: a Retry-After header
}

func toProblem(err error) Problem {
	var le *limitError
	var wle *workload.LimitError
	var ie *csvin.Error
	var je *inputError
	switch {
	case errors.As(err, &le):
		return Problem{Type: "about:blank", Title: "limit exceeded", Status: le.status, Detail: le.msg, retryAfter: le.retryAfter}
	case errors.As(err, &wle):
		return Problem{Type: "about:blank", Title: "limit exceeded", Status: http.StatusUnprocessableEntity, Detail: "over this server's limits: " + wle.Msg}
	case errors.As(err, &je):
		return Problem{Type: "about:blank", Title: "bad request", Status: http.StatusBadRequest, Detail: err.Error(),
			File: je.what, Line: je.err.Line, Column: je.err.Column, Expected: je.want}
	case errors.As(err, &ie):
		return Problem{Type: "about:blank", Title: "bad input file", Status: http.StatusBadRequest, Detail: err.Error(),
			File: ie.File, Line: ie.Line, Column: ie.Col, Field: ie.Column, Expected: ie.Want, Got: ie.Got}
	case errors.As(err, new(*runInputError)): // a calibration run's result file (JSON positions are in the detail)
		return Problem{Type: "about:blank", Title: "bad input file", Status: http.StatusBadRequest, Detail: err.Error()}
	}
	switch runner.Classify(err) {
	case runner.KindConfig:
		return Problem{Type: "about:blank", Title: "bad configuration", Status: http.StatusBadRequest, Detail: err.Error()}
	case runner.KindInternal:
		return Problem{Type: "about:blank", Title: "internal error", Status: http.StatusInternalServerError, Detail: err.Error()}
	}
	return Problem{Type: "about:blank", Title: "simulation failed", Status: http.StatusUnprocessableEntity, Detail: err.Error()}
}

func writeError(w http.ResponseWriter, err error) {
	p := toProblem(err)
	writeProblem(w, p)
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	writeProblem(w, Problem{Type: "about:blank", Title: title, Status: status, Detail: detail})
}

// maxEcho bounds any user-given text echoed in a problem document.
const maxEcho = 1024

// clip shortens a user-given value before it is echoed.
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	return strings.ToValidUTF8(s[:maxEcho], "") + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

func writeProblem(w http.ResponseWriter, p Problem) {
	p.Detail, p.File, p.Field, p.Expected, p.Got = clip(p.Detail), clip(p.File), clip(p.Field), clip(p.Expected), clip(p.Got)
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		problem(w, http.StatusInternalServerError, "internal error", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decodeBody reads a request's body (already bounded by http.MaxBytesReader)
// and decodes it as strict JSON into dst; readWant and jsonWant say what was
// expected when the body cannot be read or is not that JSON.
func decodeBody(r *http.Request, dst any, readWant, jsonWant string) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err, readWant)
	}
	if err := strictjson.Decode(b, dst); err != nil {
		return jsonError("request body", err, jsonWant)
	}
	return nil
}
