// Package realrun reads the results of real serving benchmarks that users
// already have, so servesim can be scored (servesim compare) and calibrated
// (servesim calibrate) against their deployment:
//
//   - `vllm bench serve --save-result` JSON (vllm/benchmarks/serve.py): the
//     parallel lists ttfts and itls (seconds), input_lens, output_lens,
//     start_times (seconds, perf_counter) and errors, one entry per request
//     in the order the requests were issued;
//   - AIPerf's profile_export.jsonl (ai-dynamo/aiperf): one record per
//     request with metadata (session_num, request_start_ns, request_end_ns,
//     was_cancelled), metrics ({"value", "unit"} by name: time_to_first_token,
//     request_latency, inter_chunk_latency, input_sequence_length,
//     output_sequence_length) and error;
//   - servesim's own metric files (request_metrics.csv, token_metrics.csv),
//     which the reference engine writes too.
//
// Requests are numbered 0, 1, … in issue order (vLLM: list order; AIPerf:
// by request_start_ns), which is the order of the workload the benchmark
// replayed, so they align with a simulation of that workload by id.
package realrun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/compare"
)

// MaxBytes bounds a result file; it is checked before the file is read.
const MaxBytes = 1 << 30

// Request is one benchmarked request. Times are ns; a failed request has OK
// false and only its lengths (when known) and start.
type Request struct {
	ID        int
	ArrivalNs int64 // since the first request started
	Prompt    int   // prompt tokens
	Output    int   // output tokens produced
	OK        bool
	TTFTNs    float64
	E2ENs     float64
	GapsNs    []float64 // time between successive output chunks (the tokens after the first)
}

// Result is a real run read from one of the supported formats.
type Result struct {
	Name     string
	Format   string // "vllm-bench-serve", "aiperf", "servesim"
	Requests []Request
	// HasArrivals is false when the file carries no start times (older
	// vLLM results): it can be compared, but not replayed as a workload.
	HasArrivals bool
	// Skipped counts records left out (warm-up phase).
	Skipped int
}

// Formats a Load path may hold.
const (
	FormatVLLM     = "vllm-bench-serve"
	FormatAIPerf   = "aiperf"
	FormatServesim = "servesim"
)

// Load reads a real run: a servesim metrics directory (request_metrics.csv),
// an AIPerf profile_export.jsonl (or a directory holding one), or a vLLM
// bench serve result JSON.
func Load(path string) (*compare.Run, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "request_metrics.csv")); err == nil {
			return compare.Load(path)
		}
		if _, err := os.Stat(filepath.Join(path, "profile_export.jsonl")); err == nil {
			path = filepath.Join(path, "profile_export.jsonl")
		} else {
			return nil, fmt.Errorf("%s: expected request_metrics.csv (servesim or the reference engine) or profile_export.jsonl (AIPerf) in the directory", path)
		}
	}
	r, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return r.Run(), nil
}

// ReadFile reads a vLLM result JSON or an AIPerf JSONL file, by content: a
// file whose first object has "metadata" and "metrics" is AIPerf's.
func ReadFile(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxBytes {
		return nil, fmt.Errorf("%s: %d bytes is over the %d-byte limit for a result file", path, st.Size(), MaxBytes)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("%s: over the %d-byte limit for a result file", path, MaxBytes)
	}
	return Parse(b, path)
}

// Parse detects the format of b and reads it; name is used in messages.
func Parse(b []byte, name string) (*Result, error) {
	first := bytes.TrimSpace(b)
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(first, &probe) == nil && probe["metadata"] != nil && probe["metrics"] != nil {
		return ParseAIPerf(b, name)
	}
	return ParseVLLM(b, name)
}

// Run is the result as compare's per-request view (successful requests).
func (r *Result) Run() *compare.Run {
	run := &compare.Run{Name: r.Name, TTFT: map[int]float64{}, E2E: map[int]float64{}}
	for _, q := range r.Requests {
		if !q.OK {
			continue
		}
		run.TTFT[q.ID], run.E2E[q.ID] = q.TTFTNs, q.E2ENs
		run.Order = append(run.Order, q.ID)
		run.TBT = append(run.TBT, q.GapsNs...)
	}
	return run
}

// StatusFailedInRealRun marks, in a workload built by Workload, a request
// that failed in the real run: it keeps its id (so ids align) but is not
// simulated.
const StatusFailedInRealRun = "failed_in_real_run"

// Workload is the benchmark's request stream (arrival, prompt and output
// lengths, in id order), to simulate what the benchmark replayed. Requests
// that failed in the real run stay, marked StatusFailedInRealRun.
func (r *Result) Workload() (*workload.Workload, error) {
	if !r.HasArrivals {
		return nil, fmt.Errorf("%s: no start times (start_times), so the arrivals are unknown; use a vLLM version that saves them, or give the workload file", r.Name)
	}
	w := &workload.Workload{Format: workload.FormatVidurTrace, Files: []string{r.Name},
		Notes: []string{fmt.Sprintf("requests of the %s result %s: arrivals from their start times, prompt and output lengths as measured", r.Format, r.Name)}}
	for _, q := range r.Requests {
		wr := workload.Request{ID: q.ID, ArrivalNs: q.ArrivalNs, Prefill: max(1, q.Prompt), Decode: max(1, q.Output)}
		if !q.OK {
			wr.Rejected = StatusFailedInRealRun
		} else if q.Prompt < 1 {
			return nil, fmt.Errorf("%s: request %d has %d prompt tokens; a workload needs >= 1", r.Name, q.ID, q.Prompt)
		}
		w.Requests = append(w.Requests, wr)
	}
	return w, nil
}

// jsonErr places a decoding error at its line and column in b.
func jsonErr(name string, b []byte, base int, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || int(off) > len(b) {
		return fmt.Errorf("%s: %w", name, err)
	}
	line := base + bytes.Count(b[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(b[:off], '\n')
	return fmt.Errorf("%s:%d:%d: %w", name, line, col, err)
}

// --- vLLM bench serve ----------------------------------------------------

type vllmDoc struct {
	TTFTs      *[]*float64  `json:"ttfts"`
	ITLs       *[][]float64 `json:"itls"`
	InputLens  *[]*float64  `json:"input_lens"`
	OutputLens *[]*float64  `json:"output_lens"`
	StartTimes *[]*float64  `json:"start_times"`
	Errors     *[]*string   `json:"errors"`
	E2ELs      *[]*float64  `json:"e2els"`
}

// ParseVLLM reads a `vllm bench serve` result JSON. A request counts as
// successful when its error is empty and it produced a token; its E2E is
// its e2els entry when the file has one, else TTFT plus its gaps.
func ParseVLLM(b []byte, name string) (*Result, error) {
	var d vllmDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, jsonErr(name, b, 1, fmt.Errorf("expected a vllm bench serve result JSON object: %w", err))
	}
	for _, k := range []struct {
		key string
		ok  bool
	}{{"ttfts", d.TTFTs != nil}, {"itls", d.ITLs != nil}, {"input_lens", d.InputLens != nil}, {"output_lens", d.OutputLens != nil}} {
		if !k.ok {
			return nil, fmt.Errorf("%s: expected a vllm bench serve result with per-request lists (ttfts, itls, input_lens, output_lens; saved with --save-result --save-detailed), no %q found", name, k.key)
		}
	}
	n := len(*d.TTFTs)
	if n == 0 {
		return nil, fmt.Errorf("%s: \"ttfts\" is empty: no requests", name)
	}
	lens := map[string]int{"itls": len(*d.ITLs), "input_lens": len(*d.InputLens), "output_lens": len(*d.OutputLens)}
	if d.StartTimes != nil {
		lens["start_times"] = len(*d.StartTimes)
	}
	if d.Errors != nil {
		lens["errors"] = len(*d.Errors)
	}
	if d.E2ELs != nil {
		lens["e2els"] = len(*d.E2ELs)
	}
	keys := make([]string, 0, len(lens))
	for k := range lens {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if lens[k] != n {
			return nil, fmt.Errorf("%s: %q has %d entries, \"ttfts\" %d: expected one per request in every list", name, k, lens[k], n)
		}
	}
	res := &Result{Name: name, Format: FormatVLLM, HasArrivals: d.StartTimes != nil}
	num := func(key string, i int, v *float64, min float64) (float64, error) {
		if v == nil {
			return 0, fmt.Errorf("%s: %q[%d]: expected a number >= %g, got null", name, key, i, min)
		}
		if math.IsNaN(*v) || math.IsInf(*v, 0) || *v < min {
			return 0, fmt.Errorf("%s: %q[%d]: expected a number >= %g, got %v", name, key, i, min, *v)
		}
		return *v, nil
	}
	count := func(key string, i int, v *float64) (int, error) {
		x, err := num(key, i, v, 0)
		if err == nil && (x != math.Trunc(x) || x > 1<<31) {
			err = fmt.Errorf("%s: %q[%d]: expected a whole token count, got %v", name, key, i, x)
		}
		return int(x), err
	}
	t0 := math.Inf(1)
	if d.StartTimes != nil {
		for i, v := range *d.StartTimes {
			if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
				return nil, fmt.Errorf("%s: \"start_times\"[%d]: expected a number (seconds)", name, i)
			}
			t0 = math.Min(t0, *v)
		}
	}
	for i := 0; i < n; i++ {
		q := Request{ID: i}
		var err error
		if q.Prompt, err = count("input_lens", i, (*d.InputLens)[i]); err != nil {
			return nil, err
		}
		if q.Output, err = count("output_lens", i, (*d.OutputLens)[i]); err != nil {
			return nil, err
		}
		if d.StartTimes != nil {
			q.ArrivalNs = int64(math.Round((*(*d.StartTimes)[i] - t0) * 1e9))
		}
		failed := d.Errors != nil && (*d.Errors)[i] != nil && *(*d.Errors)[i] != ""
		ttft := (*d.TTFTs)[i]
		if ttft != nil {
			if _, err := num("ttfts", i, ttft, 0); err != nil {
				return nil, err
			}
		}
		// vLLM writes ttft 0 and output 0 for a request that failed.
		if !failed && q.Output > 0 && ttft != nil && *ttft > 0 {
			v := *ttft
			q.OK, q.TTFTNs, q.E2ENs = true, v*1e9, v*1e9
			for k, g := range (*d.ITLs)[i] {
				if math.IsNaN(g) || math.IsInf(g, 0) || g < 0 {
					return nil, fmt.Errorf("%s: \"itls\"[%d][%d]: expected a number >= 0, got %v", name, i, k, g)
				}
				q.GapsNs = append(q.GapsNs, g*1e9)
				q.E2ENs += g * 1e9
			}
			if d.E2ELs != nil && (*d.E2ELs)[i] != nil {
				e, err := num("e2els", i, (*d.E2ELs)[i], v)
				if err != nil {
					return nil, err
				}
				q.E2ENs = e * 1e9
			}
		}
		res.Requests = append(res.Requests, q)
	}
	return res, nil
}

// --- AIPerf profile_export.jsonl ----------------------------------------

type aiperfValue struct {
	Value json.RawMessage `json:"value"`
	Unit  string          `json:"unit"`
}

type aiperfRecord struct {
	Metadata *struct {
		SessionNum     *int64  `json:"session_num"`
		TurnIndex      int64   `json:"turn_index"`
		RequestStartNs *int64  `json:"request_start_ns"`
		RequestEndNs   *int64  `json:"request_end_ns"`
		WasCancelled   bool    `json:"was_cancelled"`
		BenchmarkPhase *string `json:"benchmark_phase"`
	} `json:"metadata"`
	Metrics map[string]aiperfValue `json:"metrics"`
	Error   json.RawMessage        `json:"error"`
}

// unitNs is the ns per unit of a duration metric.
var unitNs = map[string]float64{"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "sec": 1e9}

// ParseAIPerf reads AIPerf's profile_export.jsonl. Records of a phase other
// than "profiling" (warm-up) are skipped and counted; a record with an
// error or cancelled counts as failed.
func ParseAIPerf(b []byte, name string) (*Result, error) {
	res := &Result{Name: name, Format: FormatAIPerf, HasArrivals: true}
	type rec struct {
		q             Request
		start         int64
		session, turn int64
		line          int
	}
	var recs []rec
	line := 0
	for len(b) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			l, b = b, nil
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var r aiperfRecord
		if err := json.Unmarshal(l, &r); err != nil {
			return nil, jsonErr(name, l, line, fmt.Errorf("expected an AIPerf record (JSON object with metadata, metrics, error): %w", err))
		}
		at := fmt.Sprintf("%s:%d", name, line)
		if r.Metadata == nil || r.Metadata.RequestStartNs == nil {
			return nil, fmt.Errorf("%s: expected metadata.request_start_ns in every record", at)
		}
		if p := r.Metadata.BenchmarkPhase; p != nil && *p != "profiling" {
			res.Skipped++
			continue
		}
		x := rec{start: *r.Metadata.RequestStartNs, turn: r.Metadata.TurnIndex, line: line}
		if r.Metadata.SessionNum != nil {
			x.session = *r.Metadata.SessionNum
		}
		failed := r.Metadata.WasCancelled || len(r.Error) > 0 && string(bytes.TrimSpace(r.Error)) != "null"
		scalar := func(key string, dur bool) (float64, bool, error) {
			m, ok := r.Metrics[key]
			if !ok {
				return 0, false, nil
			}
			var v float64
			if err := json.Unmarshal(m.Value, &v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return 0, false, fmt.Errorf("%s: metrics.%s.value: expected a number >= 0, got %s", at, key, clip(m.Value))
			}
			if dur {
				u, ok := unitNs[m.Unit]
				if !ok {
					return 0, false, fmt.Errorf("%s: metrics.%s.unit: expected a time unit (ns, us, ms, s), got %q", at, key, m.Unit)
				}
				v *= u
			}
			return v, true, nil
		}
		isl, ok, err := scalar("input_sequence_length", false)
		if err != nil {
			return nil, err
		}
		if !ok {
			if isl, _, err = scalar("error_isl", false); err != nil {
				return nil, err
			}
		}
		osl, ok, err := scalar("output_sequence_length", false)
		if err != nil {
			return nil, err
		}
		if !ok {
			if osl, _, err = scalar("output_token_count", false); err != nil {
				return nil, err
			}
		}
		x.q.Prompt, x.q.Output = int(isl), int(osl)
		if !failed {
			ttft, ok1, err := scalar("time_to_first_token", true)
			if err != nil {
				return nil, err
			}
			e2e, ok2, err := scalar("request_latency", true)
			if err != nil {
				return nil, err
			}
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%s: expected metrics time_to_first_token and request_latency in a successful record (streaming runs export them)", at)
			}
			if e2e < ttft {
				return nil, fmt.Errorf("%s: metrics.request_latency (%g ns) is below time_to_first_token (%g ns)", at, e2e, ttft)
			}
			x.q.OK, x.q.TTFTNs, x.q.E2ENs = true, ttft, e2e
			if m, ok := r.Metrics["inter_chunk_latency"]; ok {
				u, uok := unitNs[m.Unit]
				var gaps []float64
				if err := json.Unmarshal(m.Value, &gaps); err != nil || !uok {
					return nil, fmt.Errorf("%s: metrics.inter_chunk_latency: expected a list of numbers with a time unit, got %s %q", at, clip(m.Value), m.Unit)
				}
				for k, g := range gaps {
					if math.IsNaN(g) || math.IsInf(g, 0) || g < 0 {
						return nil, fmt.Errorf("%s: metrics.inter_chunk_latency.value[%d]: expected a number >= 0, got %v", at, k, g)
					}
					x.q.GapsNs = append(x.q.GapsNs, g*u)
				}
			}
		}
		recs = append(recs, x)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: no profiling records", name)
	}
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if a.start != b.start {
			return a.start < b.start
		}
		if a.session != b.session {
			return a.session < b.session
		}
		return a.turn < b.turn
	})
	t0 := recs[0].start
	for i, x := range recs {
		x.q.ID, x.q.ArrivalNs = i, x.start-t0
		res.Requests = append(res.Requests, x.q)
	}
	return res, nil
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "nothing"
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}
