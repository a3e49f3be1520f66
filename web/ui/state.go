package ui

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine/report/plots"
)

// Preset is an entry of GET /api/presets.
type Preset struct {
	Name        string   `json:"name"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Config      settings `json:"config"` // what a run of it starts from
}

// Profile is an entry of GET /api/profiles.
type Profile struct {
	Name       string `json:"name"`
	Model      string `json:"model"`
	Device     string `json:"device"`
	Network    string `json:"network_device"`
	Kind       string `json:"kind"`
	Summary    string `json:"summary"`
	Provenance string `json:"provenance"`
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
		Requests         int     `json:"requests"`
		OK               int     `json:"ok"`
		PrefillTokens    int64   `json:"prefill_tokens"`
		DecodeTokens     int64   `json:"decode_tokens"`
		TTFT             Stats   `json:"ttft"`
		E2E              Stats   `json:"e2e"`
		TokenLatency     Stats   `json:"token_latency"`
		MaxCompletionNs  int64   `json:"max_completion_ns"`
		DecodeThroughput float64 `json:"decode_throughput"`
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
	WorkloadName string      `json:"workload_name"`
	Config       settings    `json:"config"`
	Plots        plots.Plots `json:"plots"`
	Files        []string    `json:"files"`
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
	Options []string // a select's fixed choices
}

// Fields are the config panel's settings.
var Fields = []Field{
	{"scheduler.type", "scheduler", "select", []string{"sarathi", "vllm", "orca", "faster_transformer", "lightllm"}},
	{"scheduler.chunk_size", "chunk size (Sarathi)", "number", nil},
	{"scheduler.batch_size_cap", "batch cap", "number", nil},
	{"scheduler.block_size", "KV block size", "number", nil},
	{"scheduler.watermark_blocks_fraction", "watermark fraction", "number", nil},
	{"cluster.num_replicas", "replicas", "number", nil},
	{"cluster.global_scheduler", "global scheduler", "select", []string{"round_robin", "random", "lor"}},
	{"replica.tensor_parallel_size", "tensor parallel", "number", nil},
	{"replica.num_pipeline_stages", "pipeline stages", "number", nil},
	{"workload.qps", "QPS (synthetic arrivals)", "number", nil},
	{"workload.num_requests", "requests (synthetic)", "number", nil},
	{"seed", "seed", "number", nil},
	{"predictor.profile", "profile set", "select", nil}, // options: the embedded sets (OptionsOf)
	{"predictor.skip_cpu_overhead_modeling", "skip CPU overhead (Vidur default)", "checkbox", nil},
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
		var f Field
		for _, x := range Fields {
			if x.Key == k {
				f = x
			}
		}
		var val any = v
		switch f.Kind {
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

// ms renders ns as milliseconds.
func ms(ns float64) string { return strconv.FormatFloat(ns/1e6, 'f', 3, 64) + " ms" }

// num renders an integer with thousands separators.
func num(v int64) string {
	s := strconv.FormatInt(v, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func msf(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
