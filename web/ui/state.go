package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/servesim/servesim/engine/report/plots"
	"github.com/servesim/servesim/engine/slo"
)

// Preset is an entry of GET /api/presets.
type Preset struct {
	Name        string   `json:"name"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Files       []string `json:"files"`  // none: a synthetic workload
	Config      settings `json:"config"` // what a run of it starts from
}

// Profile is an entry of GET /api/profiles.
type Profile struct {
	Name            string `json:"name"`
	Model           string `json:"model"`
	Device          string `json:"device"`
	Network         string `json:"network_device"`
	Kind            string `json:"kind"`
	Summary         string `json:"summary"`
	Provenance      string `json:"provenance"`
	HasCPUOverheads bool   `json:"has_cpu_overheads"`
	EngineTiming    bool   `json:"engine_timing"`
	TensorParallel  []int  `json:"tensor_parallel_sizes"`
	// Choice says why the set was chosen for the model and GPU (a run's,
	// or POST /api/profile's); WeightDtype and KVCacheDtype its dtypes
	// ("": bf16).
	Choice       string `json:"choice"`
	WeightDtype  string `json:"weight_dtype"`
	KVCacheDtype string `json:"kv_cache_dtype"`
}

// File is an uploaded workload file.
type File struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// profileFileNames are the files of a profile set of the user's own (as
// profiles.UserFiles; the page does not link that package, which embeds
// every set): dropped with workload files, they go to profile_files.
var profileFileNames = []string{"mlp.csv", "attention.csv", "cpu_overheads.csv", "all_reduce.csv", "send_recv.csv",
	"engine.json", "host_overheads.csv", "profile.json", "PROVENANCE.md", "PROVENANCE.txt", "provenance.md", "provenance.txt"}

func isProfileFile(name string) bool {
	if i := strings.LastIndexAny(name, "/\\"); i >= 0 {
		name = name[i+1:]
	}
	for _, n := range profileFileNames {
		if n == name {
			return true
		}
	}
	return false
}

// Stats mirror the API's latency statistics (ns).
type Stats struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
}

// Result is the part of the API's result the page shows.
type Result struct {
	RunID   string   `json:"run_id"`
	Summary struct { // the API's snake_case keys (api/openapi.json)
		Requests         int         `json:"requests"`
		OK               int         `json:"ok"`
		PrefillTokens    int64       `json:"prefill_tokens"`
		DecodeTokens     int64       `json:"decode_tokens"`
		TTFT             Stats       `json:"ttft"`
		E2E              Stats       `json:"e2e"`
		TokenLatency     Stats       `json:"token_latency"`
		MaxCompletionNs  int64       `json:"max_completion_ns"`
		DecodeThroughput float64     `json:"decode_throughput"`
		SLO              *slo.Report `json:"slo"` // engine/slo's judgement (slo.go shows it)
	} `json:"summary"`
	StatusCounts map[string]int `json:"status_counts"`
	Iterations   int            `json:"iterations"`
	Restarts     int            `json:"restarts"`
	Extrapolated int            `json:"extrapolated_lookups"`
	SimulatedNs  int64          `json:"simulated_duration_ns"`
	Profile      Profile        `json:"profile"`
	Workload     struct {
		Format string   `json:"format"`
		Files  []string `json:"files"`
		Notes  []string `json:"notes"`
	} `json:"workload"`
	WorkloadName string        `json:"workload_name"`
	Serving      ServingResult `json:"serving"`
	Real         *RealResult   `json:"real"`
	Config       settings      `json:"config"`
	Plots        ResultPlots   `json:"plots"`
	Files        []string      `json:"files"`
}

// Problem is an API error (problem+json).
type Problem struct {
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Field    string `json:"field"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
}

// Where renders the problem's position, if it has one.
func (p *Problem) Where() string {
	if p == nil || p.File == "" {
		return ""
	}
	s := p.File
	if p.Line > 0 {
		s += fmt.Sprintf(", line %d", p.Line)
	}
	if p.Column > 0 {
		s += fmt.Sprintf(", column %d", p.Column)
		if p.Field != "" {
			s += " (" + p.Field + ")"
		}
	}
	return s
}

// Message is what went wrong, without the position Where already shows.
func (p *Problem) Message() string {
	if p.Where() != "" && p.Expected != "" {
		return "expected " + p.Expected + ", got " + p.Got // Got comes quoted
	}
	return p.Detail
}

// Field is one setting of the config panel.
type Field struct {
	Key     string // JSON path "section.key"
	Label   string
	Kind    string   // select | number | checkbox
	Options []string // a select's fixed choices (nil: from the catalogs, OptionsOf)
	// Schedulers the setting applies to (nil: all).
	Schedulers []string
	// Arrivals: applies only where arrivals are generated (synthetic
	// workloads, length-only traces), not to trace replays.
	Arrivals bool
	Help     string // what it does, as the input's title
}

// Fields are the config panel's settings (the serving features' last).
var Fields = append(coreFields, servingFields...)

var coreFields = []Field{
	{Key: "scheduler.type", Label: "scheduler", Kind: "select", Options: []string{"sarathi", "vllm", "vllm_v1", "orca", "faster_transformer", "lightllm"}},
	{Key: "scheduler.chunk_size", Label: "chunk size", Kind: "number", Schedulers: []string{"sarathi"}, Help: "prompt tokens per iteration (Sarathi's chunked prefill)"},
	{Key: "scheduler.max_tokens_in_batch", Label: "max tokens in batch", Kind: "number", Schedulers: []string{"vllm", "lightllm"}},
	{Key: "scheduler.max_waiting_iters", Label: "max waiting iterations", Kind: "number", Schedulers: []string{"lightllm"}},
	{Key: "scheduler.max_num_batched_tokens", Label: "token budget per step", Kind: "number", Schedulers: []string{"vllm_v1"}, Help: "vLLM V1's max_num_batched_tokens (empty or 0: 2048)"},
	{Key: "scheduler.long_prefill_token_threshold", Label: "long prefill threshold", Kind: "number", Schedulers: []string{"vllm_v1"}, Help: "caps a prefill's tokens per step (empty or 0: off)"},
	{Key: "scheduler.enable_prefix_caching", Label: "prefix caching", Kind: "checkbox", Schedulers: []string{"sarathi", "vllm_v1"},
		Help: "reuse the KV blocks of prompt prefixes already cached (traces with hash_ids, shared system prompts)"},
	{Key: "scheduler.batch_size_cap", Label: "batch cap", Kind: "number"},
	{Key: "scheduler.block_size", Label: "KV block size", Kind: "number", Schedulers: []string{"sarathi", "vllm", "vllm_v1", "orca", "faster_transformer"}},
	{Key: "scheduler.watermark_blocks_fraction", Label: "watermark fraction", Kind: "number", Schedulers: []string{"sarathi", "vllm"}},
	{Key: "cluster.num_replicas", Label: "replicas", Kind: "number"},
	{Key: "cluster.global_scheduler", Label: "global scheduler", Kind: "select", Options: []string{"round_robin", "random", "lor", "least_loaded", "power_of_two", "prefix_affinity"}},
	{Key: "replica.tensor_parallel_size", Label: "tensor parallel", Kind: "select"}, // the profile set's TP sizes
	{Key: "replica.num_pipeline_stages", Label: "pipeline stages", Kind: "number"},
	{Key: "workload.qps", Label: "QPS (generated arrivals)", Kind: "number", Arrivals: true},
	{Key: "workload.num_requests", Label: "requests (generated)", Kind: "number", Arrivals: true},
	{Key: "seed", Label: "seed", Kind: "number"},
	{Key: "predictor.profile", Label: "profile set", Kind: "select"}, // the embedded sets
	{Key: "predictor.skip_cpu_overhead_modeling", Label: "skip CPU overhead (Vidur default)", Kind: "checkbox"},
	{Key: "predictor.extrapolate", Label: "extrapolate beyond the profiled grid", Kind: "checkbox",
		Help: "look-ups outside the profile's measured sizes are extrapolated (and counted) instead of failing the run"},
}

// field is the panel field with that key (zero Field if none).
func field(key string) Field {
	for _, f := range append(append(append(Fields[:len(Fields):len(Fields)], SLOFields...), gpuFields...), dtypeFields...) {
		if f.Key == key {
			return f
		}
	}
	return Field{}
}

// settings is a configuration flattened to "section.key" -> value as the
// panel shows it, decoded once when the JSON arrives (not per render).
type settings map[string]string

// UnmarshalJSON flattens a configuration object.
func (s *settings) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*s = settings{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(prefix+k+".", x)
			}
		case nil:
		case float64:
			(*s)[strings.TrimSuffix(prefix, ".")] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			(*s)[strings.TrimSuffix(prefix, ".")] = strconv.FormatBool(v)
		default:
			(*s)[strings.TrimSuffix(prefix, ".")] = fmt.Sprint(v)
		}
	}
	walk("", m)
	return nil
}

// configJSON turns the panel's overrides into the API's nested config.
func configJSON(overrides map[string]string) (map[string]any, error) {
	out := map[string]any{}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := overrides[k]
		f := field(k)
		var val any = v
		kind := f.Kind
		if numericSelect(k) {
			kind = "number" // a select of numbers
		}
		switch kind {
		case "number":
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, fmt.Errorf("%s: expected a number, got %q", f.Label, v)
			}
			val = n
		case "checkbox":
			val = v == "true"
		}
		parts := strings.Split(k, ".")
		cur := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		cur[parts[len(parts)-1]] = val
	}
	return out, nil
}

// dur renders a duration given in ms with the unit its magnitude needs
// (µs, ms, s) and four significant digits: "850.0 µs", "2.216 ms", "86.71 s".
func dur(ms float64) string {
	a := math.Abs(ms)
	switch {
	case a == 0:
		return "0 ms"
	case a < 1:
		return sig4(ms*1000) + " µs"
	case a < 1000:
		return sig4(ms) + " ms"
	}
	return sig4(ms/1000) + " s"
}

// sig4 renders v with four significant digits (more for large integers).
func sig4(v float64) string {
	a := math.Abs(v)
	decimals := 0
	if a > 0 {
		decimals = max(0, 3-int(math.Floor(math.Log10(a))))
	}
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if decimals == 0 {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return num(n)
		}
	}
	return s
}

// ms renders ns as a duration (see dur).
func ms(ns float64) string { return dur(ns / 1e6) }

// num renders an integer with thousands separators.
func num(v int64) string {
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// ResultPlots is a result's plot data. Its three large series (timeline,
// iterations and requests: ~110 of the default run's ~145 KB of JSON) are
// kept as they came and decoded the first time a chart asks for them (All),
// so the key results and the first charts do not wait for them: in a fresh
// page, before V8 has optimized the UI's code, decoding the whole result
// was ~0.3-0.5 s of its first plotted result. The embedded plots.Plots has
// the others (those three empty).
type ResultPlots struct {
	plots.Plots
	later *laterSeries
}

// laterSeries are the large series as received, decoded once.
type laterSeries struct {
	once                           sync.Once
	timeline, iterations, requests json.RawMessage
	all                            plots.Plots
	err                            error
}

// UnmarshalJSON decodes all but the large series, which it keeps raw (the
// decoder has checked that they are well-formed JSON).
func (p *ResultPlots) UnmarshalJSON(b []byte) error {
	var w struct {
		plots.Plots
		// These shadow the embedded fields of the same JSON names.
		Timeline   json.RawMessage `json:"timeline"`
		Iterations json.RawMessage `json:"iterations"`
		Requests   json.RawMessage `json:"requests"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	p.Plots = w.Plots
	p.later = &laterSeries{timeline: w.Timeline, iterations: w.Iterations, requests: w.Requests}
	return nil
}

// All returns the plots with every series, decoding the large ones on the
// first call. A series that does not decode (a worker of another version)
// stays empty, its charts blank, and the error is kept (Err).
func (p ResultPlots) All() plots.Plots {
	l := p.later
	if l == nil {
		return p.Plots
	}
	l.once.Do(func() {
		l.all = p.Plots
		for _, f := range []struct {
			raw json.RawMessage
			to  any
		}{{l.timeline, &l.all.Timeline}, {l.iterations, &l.all.Iterations}, {l.requests, &l.all.Requests}} {
			if len(f.raw) == 0 || string(f.raw) == "null" {
				continue
			}
			if err := json.Unmarshal(f.raw, f.to); err != nil && l.err == nil {
				l.err = err
			}
		}
		l.timeline, l.iterations, l.requests = nil, nil, nil
	})
	return l.all
}

// Err is the error of decoding the large series, once All has run.
func (p ResultPlots) Err() error {
	if p.later == nil {
		return nil
	}
	return p.later.err
}
