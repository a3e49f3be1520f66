// Package presets embeds the workloads servesim ships (the seed run, the
// spaced-2s run, Vidur's public traces) and names ready-made runs on them.
package presets

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/workload"
)

// The traces are embedded as their packed forms (engine/csvin: lossless, columnar), which the workload
// loader reads without splitting or parsing text; FS serves their CSVs'
// bytes (TestEmbedded_Packed checks both against the committed CSVs).
// Regenerate them after a trace changes:
//
//go:generate go run ../profiles/internal/packcsv data/traces/splitwise_conv.csv data/traces/splitwise_code.csv data/traces/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv
//go:embed data/README.md data/seed data/spaced-2s data/traces/LICENSE-vidur data/traces/*.pack
var embedded embed.FS

// data is the embedded files, a packed CSV served as its CSV too.
var data = csvin.PackedFS(embedded)

// Preset is a named workload plus the configuration changes it needs.
type Preset struct {
	Name        string   `json:"name"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Files       []string `json:"files"` // paths under data/
	apply       func(*engine.Config)
}

// Apply sets the preset's configuration on cfg.
func (p Preset) Apply(cfg *engine.Config) {
	if p.apply != nil {
		p.apply(cfg)
	}
}

func lengthsAtQPS(n int, qps float64) func(*engine.Config) {
	return func(c *engine.Config) {
		c.Workload.TraceLengthsOnly = true
		c.Workload.NumRequests = n
		c.Workload.IntervalGenerator = "poisson"
		c.Workload.QPS = qps
	}
}

// all is the one table of presets, in the order they are listed (the CLI,
// the API and the page): the default first, the recorded runs, the public
// traces by trace and load, then the synthetic generators.
var all = []Preset{
	{Name: "seed", Title: "Seed run: 4 requests at t=0", Files: []string{"seed/vidur_trace.csv"},
		Description: "The Vidur run servesim started from: Qwen3-0.6B on A100, Sarathi, 4 requests (12/10/15/16 prompt tokens, 64 output tokens) arriving together."},
	{Name: "spaced-2s", Title: "Spaced 2 s: 8 lone requests", Files: []string{"spaced-2s/trace_lengths.csv", "spaced-2s/trace_intervals.csv"},
		Description: "8 requests 2 s apart (batch size 1 throughout), the workload of the real A100 Sarathi-Serve reference run."},
	{Name: "spaced-2s-sarathi-serve", Title: "Spaced 2 s with Sarathi-Serve host overhead", Files: []string{"spaced-2s/trace_lengths.csv", "spaced-2s/trace_intervals.csv"},
		Description: "The spaced-2s workload with the profile's Sarathi-Serve CPU-overhead model on, to compare with the real A100 run.",
		apply:       func(c *engine.Config) { c.Predictor.SkipCPUOverheadModeling = false }},
	{Name: "splitwise-conv-2qps", Title: "Splitwise conversation lengths, Poisson 2 QPS", Files: []string{"traces/splitwise_conv.csv"},
		Description: "1,000 requests with lengths from Splitwise's conversation trace, Poisson arrivals at 2 QPS.", apply: lengthsAtQPS(1000, 2)},
	{Name: "splitwise-conv-8qps", Title: "Splitwise conversation lengths, Poisson 8 QPS", Files: []string{"traces/splitwise_conv.csv"},
		Description: "1,000 requests with lengths from Splitwise's conversation trace, Poisson arrivals at 8 QPS.", apply: lengthsAtQPS(1000, 8)},
	{Name: "splitwise-conv-replay", Title: "Splitwise conversation trace replay (19,366 requests)", Files: []string{"traces/splitwise_conv.csv"},
		Description: "The whole Splitwise conversation trace replayed with its own arrival times (about 1 hour, 5.5 QPS)."},
	{Name: "splitwise-code-2qps", Title: "Splitwise code lengths, Poisson 2 QPS", Files: []string{"traces/splitwise_code.csv"},
		Description: "1,000 requests with lengths from Splitwise's code trace (long prompts, short outputs), Poisson 2 QPS.", apply: lengthsAtQPS(1000, 2)},
	{Name: "arxiv-1qps", Title: "arXiv summarization lengths, Poisson 1 QPS", Files: []string{"traces/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv"},
		Description: "500 requests with arXiv-summarization lengths (long prompts), Poisson arrivals at 1 QPS.", apply: lengthsAtQPS(500, 1)},
	{Name: "arxiv-4qps", Title: "arXiv summarization lengths, Poisson 4 QPS", Files: []string{"traces/arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv"},
		Description: "500 requests with arXiv-summarization lengths, Poisson arrivals at 4 QPS (overload).", apply: lengthsAtQPS(500, 4)},
	{Name: "synthetic", Title: "Synthetic: generated lengths and arrivals",
		Description: "No file: lengths and arrivals come from the synthetic generators (Vidur's defaults: 128 requests, fixed 2048+512 tokens, Poisson 0.5 QPS; change them in the config)."},
}

// All returns every preset, the default first.
func All() []Preset { return append([]Preset(nil), all...) }

// Default is the preset used when no workload is given.
const Default = "seed"

// Lookup finds a preset by name.
func Lookup(name string) (Preset, error) {
	var names []string
	for _, p := range all {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Preset{}, fmt.Errorf("unknown preset %q (valid: %s)", name, strings.Join(names, ", "))
}

// Open opens the preset's workload files.
func (p Preset) Open() ([]workload.File, error) {
	var out []workload.File
	for _, f := range p.Files {
		// A packed trace goes to the loader as it is (it reads packs).
		file, err := embedded.Open(path.Join("data", f) + csvin.PackSuffix)
		if err != nil {
			file, err = data.Open(path.Join("data", f))
		}
		if err != nil {
			return nil, fmt.Errorf("preset %s: %w", p.Name, err)
		}
		out = append(out, workload.File{Name: path.Base(f), R: file})
	}
	return out, nil
}

// FS exposes the embedded workload files (for the web page's downloads).
func FS() fs.FS {
	sub, _ := fs.Sub(data, "data")
	return sub
}
