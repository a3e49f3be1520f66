// Package runner is the one path from "files, preset and config" to a
// finished run and its output files, shared by the CLI, the HTTP API and
// the browser so that all three produce the same bytes.
package runner

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/realrun"
	"github.com/servesim/servesim/presets"
	"github.com/servesim/servesim/profiles"
)

// Version is the engine version recorded in run_meta.json.
const Version = "servesim 0.1.0"

// Job is one simulation request.
type Job struct {
	// Preset names an embedded workload (and its config changes); it is used
	// when Files is empty. Empty Files and Preset means the default preset.
	Preset string
	Files  []workload.File
	Config engine.Config
	// Profile overrides the set named by Config.Predictor.Profile (a user
	// directory, say).
	Profile *predict.Set
	// ProfileNamed says that the caller named Config.Predictor.Profile (a
	// flag, a config key): otherwise a model or device other than the
	// default set's chooses a set (ChooseProfile).
	ProfileNamed bool
	// WorkloadName is recorded in run_meta.json; derived if empty.
	WorkloadName string
	Options      engine.Options
	// Check, if set, vets the loaded workload before it runs.
	Check func(*workload.Workload) error
	// Cache, if set, keeps preset workloads parsed across jobs.
	Cache *Cache
	// Limits bound the work; each is checked before the work it bounds
	// (from the configuration alone where it can be) and as the work grows.
	Limits Limits
}

// Limits bound one job (a public server's). The zero value limits only
// what the engine and workload packages always bound.
type Limits struct {
	MaxRequests int   // requests in the workload (0: workload.MaxRequests)
	MaxTokens   int64 // prompt+output tokens over all requests (0: none)
	MaxReplicas int   // cluster.num_replicas (0: engine.MaxReplicas)
	// MemoryBudget bounds the bytes of records a run keeps (0: none); see
	// engine.Options.MemoryBudget.
	MemoryBudget int64
}

// Preflight refuses, from the configuration alone and before any workload
// is read or generated, work that is surely past lim: too many replicas, or
// a synthetic workload whose request count or least token count is over.
// files says whether the workload comes from files (then only the replica
// count and the number of requests asked for are known up front).
func Preflight(cfg engine.Config, files bool, lim Limits) error {
	if lim.MaxReplicas > 0 && cfg.Cluster.NumReplicas > lim.MaxReplicas {
		return &workload.LimitError{Msg: fmt.Sprintf("num_replicas %d is over the limit of %d", cfg.Cluster.NumReplicas, lim.MaxReplicas)}
	}
	maxReq := lim.MaxRequests
	if maxReq <= 0 {
		maxReq = workload.MaxRequests
	}
	w := cfg.Workload
	if w.NumRequests > maxReq {
		return &workload.LimitError{Msg: fmt.Sprintf("num_requests %d is over the limit of %d", w.NumRequests, maxReq)}
	}
	// Requests expected: the count asked for, or duration x rate.
	n := float64(w.NumRequests)
	if w.DurationS > 0 && (w.IntervalGenerator == "poisson" || w.IntervalGenerator == "gamma") {
		n = w.DurationS * w.QPS
		if n > float64(maxReq) {
			return &workload.LimitError{Msg: fmt.Sprintf("duration_s %v at qps %v is about %.3g requests, over the limit of %d", w.DurationS, w.QPS, n, maxReq)}
		}
	}
	if files {
		return nil
	}
	if n == 0 && w.DurationS == 0 {
		n = workload.DefaultNumRequests
	}
	least := 0.0 // tokens per request, at least
	switch w.LengthGenerator {
	case "fixed":
		least = float64(w.PrefillTokens) + float64(w.DecodeTokens)
	case "uniform", "zipf":
		least = float64(w.MinTokens)
	}
	if t := n * least; lim.MaxTokens > 0 && t > float64(lim.MaxTokens) {
		return &workload.LimitError{Msg: fmt.Sprintf("the synthetic workload is about %.3g requests of at least %v tokens, over the limit of %d simulated tokens", n, least, lim.MaxTokens)}
	}
	return nil
}

// Config returns the default config with the preset's changes applied: the
// base that user settings go on top of.
func Config(preset string) (engine.Config, error) {
	cfg := engine.DefaultConfig()
	if preset == "" {
		return cfg, nil
	}
	p, err := presets.Lookup(preset)
	if err != nil {
		return cfg, &engine.ConfigError{Err: err}
	}
	p.Apply(&cfg)
	return cfg, nil
}

// Output is a finished run.
type Output struct {
	Result   *engine.Result
	Workload *workload.Workload
	Meta     report.Meta
	// Real is the real benchmark's result when the workload was one (a
	// vllm bench serve JSON or an AIPerf profile_export.jsonl): the ground
	// truth of the same requests (nil otherwise).
	Real *realrun.Result
}

// LoadWorkload loads the job's workload (its files or its preset) without
// running it, within the job's limits.
func LoadWorkload(ctx context.Context, job Job) (*workload.Workload, error) {
	files, _, err := jobFiles(job)
	if err != nil {
		return nil, err
	}
	w, _, err := load(ctx, job, files)
	return w, err
}

// load validates the configuration, checks the limits that need no
// workload, then loads the workload and checks the rest. real is the real
// benchmark's result when the workload is one.
func load(ctx context.Context, job Job, files []workload.File) (w *workload.Workload, real *realrun.Result, err error) {
	if err := job.Config.Validate(); err != nil {
		return nil, nil, &engine.ConfigError{Err: err}
	}
	if w := job.Config.Workload; len(files) > 0 && (w.SystemPromptTokens > 0 || w.SessionTurns > 1) {
		return nil, nil, &engine.ConfigError{Err: fmt.Errorf("workload.system_prompt_tokens and workload.session_turns shape generated workloads only (the synthetic preset); this run reads %s, whose hash_ids and sessions say what it shares", files[0].Name)}
	}
	if err := Preflight(job.Config, len(files) > 0, job.Limits); err != nil {
		return nil, nil, err
	}
	// The memory planner is cheap and needs no workload: a max_tokens that
	// cannot fit is refused before lengths are generated up to it.
	if _, err := job.Config.Resolve(); err != nil {
		return nil, nil, &engine.ConfigError{Err: err}
	}
	opt := job.Config.WorkloadOptions()
	opt.Limits = workload.Limits{MaxRequests: job.Limits.MaxRequests, MaxTokens: job.Limits.MaxTokens}
	if len(files) == 1 && files[0].Parsed == nil && files[0].R != nil {
		files = append([]workload.File(nil), files...) // the caller's stay as given
		w, real, files[0], err = realResult(files[0])
	}
	if w == nil && err == nil {
		w, err = workload.LoadContext(ctx, files, opt)
	}
	if err != nil {
		var ie *csvin.Error
		var le *workload.LimitError
		if !errors.As(err, &ie) && !errors.As(err, &le) && ctx.Err() == nil {
			// Anything else is about the settings (a generator's).
			err = &engine.ConfigError{Err: err}
		}
		return nil, nil, err
	}
	if err := opt.Limits.Check(w); err != nil {
		return nil, nil, err
	}
	if n := unusedArrivalNote(job.Config.Workload, w, opt.LengthsOnly); n != "" {
		w.Notes = append(w.Notes, n)
	}
	if job.Check != nil {
		if err := job.Check(w); err != nil {
			return nil, nil, err
		}
	}
	return w, real, nil
}

// unusedArrivalNote says which of the config's arrival settings a workload
// that keeps its own arrival times (a trace replay, a real result) does not
// read, when any differs from the default: a config carries every key (a
// reopened run file too), so this is a note in the run's notes, not an
// error as the CLI's flags are (cmd/servesim's unusedWorkloadFlags).
func unusedArrivalNote(c engine.WorkloadConfig, w *workload.Workload, lengthsOnly bool) string {
	if w.ArrivalsGenerated(lengthsOnly) {
		return ""
	}
	d := engine.DefaultConfig().Workload
	var keys []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"num_requests", c.NumRequests != d.NumRequests}, {"duration_s", c.DurationS != d.DurationS},
		{"interval_generator", c.IntervalGenerator != d.IntervalGenerator}, {"qps", c.QPS != d.QPS}, {"cv", c.CV != d.CV},
		{"truncate_poisson", c.TruncatePoisson != d.TruncatePoisson}} {
		if k.set {
			keys = append(keys, "workload."+k.name)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	fix := ""
	if w.Format == workload.FormatVidurTrace {
		fix = " (set workload.trace_lengths_only to replay its lengths with generated arrivals)"
	}
	return fmt.Sprintf("%s not used: the arrival times of %s are replayed as given%s", strings.Join(keys, ", "), strings.Join(w.Files, ", "), fix)
}

// realResult reads f as a real benchmark's result when it is one (a
// `vllm bench serve` result JSON, or AIPerf's profile_export.jsonl: see
// internal/realrun): its requests, arrivals and measured lengths are then the
// workload (requests that failed in the real run are kept, not simulated).
// Otherwise it returns a nil workload and f, still readable from the start.
func realResult(f workload.File) (*workload.Workload, *realrun.Result, workload.File, error) {
	br := bufio.NewReaderSize(f.R, 64<<10)
	f.R = br
	head, _ := br.Peek(64 << 10)
	head = bytes.TrimSpace(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}))
	if len(head) == 0 || head[0] != '{' {
		return nil, nil, f, nil
	}
	line := head
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	has := func(b []byte, keys ...string) bool {
		for _, k := range keys {
			if !bytes.Contains(b, []byte(`"`+k+`"`)) {
				return false
			}
		}
		return true
	}
	aiperf := has(line, "metadata", "metrics") && has(line, "request_start_ns")
	// vLLM writes its keys in its own order (ttfts early); a file whose
	// keys were sorted (jq -S) has the long itls list before ttfts, so any
	// of the per-request lists in the head counts.
	vllm := has(head, "ttfts") || has(head, "itls") || has(head, "input_lens", "output_lens") || has(head, "backend", "num_prompts")
	if !aiperf && !vllm {
		return nil, nil, f, nil
	}
	b, err := io.ReadAll(io.LimitReader(br, realrun.MaxBytes+1))
	if err != nil {
		return nil, nil, f, fmt.Errorf("read %s: %w", f.Name, err)
	}
	if len(b) > realrun.MaxBytes {
		return nil, nil, f, &csvin.Error{File: f.Name, Want: fmt.Sprintf("a result file of at most %d bytes", realrun.MaxBytes), Got: "a larger one"}
	}
	res, err := realrun.Parse(b, f.Name)
	if err != nil {
		var ie *csvin.Error
		if !errors.As(err, &ie) {
			err = &csvin.Error{File: f.Name, Want: "a vllm bench serve result JSON or an AIPerf profile_export.jsonl", Got: err.Error()}
		}
		return nil, nil, f, err
	}
	w, err := res.Workload()
	if err != nil {
		return nil, nil, f, &csvin.Error{File: f.Name, Want: "a result with per-request start times", Got: err.Error()}
	}
	w.Format = workload.FormatRealResult
	return w, res, f, nil
}

func jobFiles(job Job) ([]workload.File, string, error) {
	files, name := job.Files, job.WorkloadName
	if len(files) == 0 {
		pn := job.Preset
		if pn == "" {
			pn = presets.Default
		}
		p, err := presets.Lookup(pn)
		if err != nil {
			return nil, "", &engine.ConfigError{Err: err}
		}
		if files, err = job.Cache.presetFiles(p, job.Config.WorkloadOptions().LengthsOnly); err != nil {
			return nil, "", err
		}
		if name == "" {
			name = "preset:" + pn
		}
	}
	if name == "" {
		name = fmt.Sprint(workload.Names(files))
	}
	return files, name, nil
}

// Cache keeps embedded preset workloads parsed and embedded profile sets
// open (so their tables are parsed once, see predict.Set), for a long-lived
// host (the API server, the page's worker) that runs them again and again.
// Safe for concurrent use; the zero value is ready, and a nil *Cache
// parses every time.
type Cache struct {
	mu     sync.Mutex
	parsed map[string]*workload.Parsed // by preset, file and lengths_only
	sets   map[string]*predict.Set     // embedded profile sets by name
	// estimates are roofline estimates by model, GPU and grid (at most 64).
	estimates map[string]*predict.Set
}

// ProfileSet opens an embedded profile set (never a directory), once.
func (c *Cache) ProfileSet(name string) (*predict.Set, error) {
	if c == nil {
		return profiles.Embedded().Open(name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if set, ok := c.sets[name]; ok {
		return set, nil
	}
	set, err := profiles.Embedded().Open(name)
	if err != nil {
		return nil, err
	}
	if c.sets == nil {
		c.sets = map[string]*predict.Set{}
	}
	c.sets[name] = set
	return set, nil
}

// presetFiles returns the preset's files, parsed once when c is not nil.
func (c *Cache) presetFiles(p presets.Preset, lengthsOnly bool) ([]workload.File, error) {
	if c == nil {
		return p.Open()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := func(f string) string { return fmt.Sprintf("%s|%s|%t", p.Name, path.Base(f), lengthsOnly) }
	files := make([]workload.File, len(p.Files))
	hit := true
	for i, f := range p.Files {
		files[i] = workload.File{Name: path.Base(f), Parsed: c.parsed[key(f)]}
		hit = hit && files[i].Parsed != nil
	}
	if hit {
		return files, nil
	}
	opened, err := p.Open() // a first run: read and keep
	if err != nil {
		return nil, err
	}
	if c.parsed == nil {
		c.parsed = map[string]*workload.Parsed{}
	}
	for i, f := range opened {
		parsed, err := workload.ParseFile(f, lengthsOnly)
		if err != nil {
			return nil, err
		}
		c.parsed[key(p.Files[i])] = parsed
		files[i] = workload.File{Name: f.Name, Parsed: parsed}
	}
	return files, nil
}

// Run loads the workload and profile and simulates.
func Run(ctx context.Context, job Job) (*Output, error) {
	files, name, err := jobFiles(job)
	if err != nil {
		return nil, err
	}
	w, real, err := load(ctx, job, files)
	if err != nil {
		return nil, err
	}
	reg := profiles.Embedded()
	set := job.Profile
	if set == nil {
		if set, _, err = job.Cache.ChooseProfile(&job.Config, job.ProfileNamed); err != nil {
			return nil, err
		}
	}
	network := reg.Network()
	if set.Network != nil {
		network = set.Network
	}
	opt := job.Options
	if job.Limits.MemoryBudget > 0 {
		opt.MemoryBudget = job.Limits.MemoryBudget
	}
	res, err := engine.Run(ctx, job.Config, engine.Inputs{Workload: w, Profile: set, Network: network}, opt)
	if err != nil {
		return nil, err
	}
	if job.Config.Predictor.Profile == ProfileEstimate {
		res.BatchCapFreeFrom = 0 // the estimate's tables are generated for the cap (MaxBatch): another cap, another set
	}
	return &Output{Result: res, Workload: w, Meta: report.Meta{EngineVersion: Version, WorkloadName: name}, Real: real}, nil
}

// OpenProfile opens cfg's profile set: an embedded name, or a directory
// (a full set with profile.json, or a user's folder of Vidur-schema CSVs,
// which is then for cfg's model and device). A directory's tables are read
// at once: a broken file is an input error naming file, line and column.
func OpenProfile(cfg engine.Config) (*predict.Set, error) {
	name := cfg.Predictor.Profile
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		set, err := profiles.OpenUserDir(name, UserProfileFor(cfg))
		var ie *csvin.Error
		if err != nil && !errors.As(err, &ie) {
			return nil, &engine.ConfigError{Err: err}
		}
		return set, err
	}
	set, err := profiles.Embedded().Open(name)
	if err != nil {
		return nil, &engine.ConfigError{Err: err}
	}
	return set, nil
}

// UserProfileFor is what a user's profile folder is taken to be for: the
// run's model, device and network node.
func UserProfileFor(cfg engine.Config) profiles.For {
	return profiles.For{Model: cfg.Replica.Model, Device: cfg.Replica.Device, NetworkDevice: cfg.Replica.NetworkDevice}
}

// Kind classifies an error for exit codes and HTTP statuses.
type Kind int

// Error kinds.
const (
	KindConfig   Kind = iota // bad configuration or usage
	KindInput                // a user file is malformed (file:line:col)
	KindRun                  // the run could not finish (grid miss, stall, cancel)
	KindInternal             // a bug
	KindLimit                // the work is past a limit (a server's, or the engine's own)
)

// Classify says what kind of error err is.
func Classify(err error) Kind {
	var ce *engine.ConfigError
	var ie *csvin.Error
	var in *engine.InternalError
	var le *workload.LimitError
	switch {
	case errors.As(err, &in):
		return KindInternal
	case errors.As(err, &le):
		return KindLimit
	case errors.As(err, &ce):
		return KindConfig
	case errors.As(err, &ie):
		return KindInput
	}
	return KindRun
}

// Files lists the output files in order; ChromeTrace may be skipped.
func Files(withTrace bool) []string {
	var out []string
	for _, f := range report.Files {
		if f == "chrome_trace.json" && !withTrace {
			continue
		}
		out = append(out, f)
	}
	return out
}

// Outputs are the short names of the output files (--outputs, the API's
// outputs parameter), in report.Files order.
var Outputs = []string{"request", "token", "batch", "meta", "summary", "trace"}

// ParseOutputs turns a comma-separated list of Outputs names (or file
// names) into the files to write, in report.Files order. An empty list is
// every file.
func ParseOutputs(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return Files(true), nil
	}
	want := map[string]bool{}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		i := slices.Index(Outputs, f)
		if i < 0 {
			i = slices.Index(report.Files, f)
		}
		if i < 0 {
			return nil, &engine.ConfigError{Err: fmt.Errorf("unknown output %q (valid: %s, or the file names)", f, strings.Join(Outputs, ", "))}
		}
		want[report.Files[i]] = true
	}
	var out []string
	for _, f := range report.Files {
		if want[f] {
			out = append(out, f)
		}
	}
	return out, nil
}

// KeepFor sets what the engine keeps for writing files: batch members for
// chrome_trace.json, and no per-iteration records at all when neither
// batch_metrics.csv nor chrome_trace.json is among them (memory then no
// longer grows with iterations; plots and every other file are the same).
func KeepFor(opt *engine.Options, files []string) {
	batches, trace := slices.Contains(files, "batch_metrics.csv"), slices.Contains(files, "chrome_trace.json")
	opt.KeepMembers = trace
	opt.SkipBatches = !batches && !trace
}

// Keys is report.Compute of the run, computed once: run_meta.json,
// summary.md and a host's own summary all need it.
func (o *Output) Keys() report.KeyResults {
	if o.Meta.Keys == nil {
		k := report.Compute(o.Result)
		o.Meta.Keys = &k
	}
	return *o.Meta.Keys
}

// WriteFiles writes every output file through open.
func (o *Output) WriteFiles(names []string, open func(name string) (io.WriteCloser, error)) error {
	if slices.Contains(names, "run_meta.json") || slices.Contains(names, "summary.md") {
		o.Keys()
	}
	for _, n := range names {
		w, err := open(n)
		if err != nil {
			return err
		}
		if err := report.Write(n, w, o.Result, o.Meta); err != nil {
			w.Close()
			return fmt.Errorf("write %s: %w", n, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("write %s: %w", n, err)
		}
	}
	return nil
}

// File renders one output file to bytes.
func (o *Output) File(name string) ([]byte, error) {
	var b bytes.Buffer
	err := report.Write(name, &b, o.Result, o.Meta)
	return b.Bytes(), err
}

// Zip writes the named output files into one zip archive with fixed
// timestamps, so the archive's bytes depend only on the run.
func (o *Output) Zip(w io.Writer, names []string) error {
	if slices.Contains(names, "run_meta.json") || slices.Contains(names, "summary.md") {
		o.Keys()
	}
	zw := zip.NewWriter(w)
	for _, n := range names {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err != nil {
			return err
		}
		if err := report.Write(n, fw, o.Result, o.Meta); err != nil {
			return err
		}
	}
	return zw.Close()
}
