package workload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/servesim/servesim/engine/csvin"
)

// Request is one inference request as the workload describes it, after the
// configured scaling and clipping.
type Request struct {
	ID        int    // 0-based, in file (or generation) order
	PromptID  string // from trace_lengths.csv; empty otherwise
	ArrivalNs int64  // ns since run start
	Prefill   int    // prompt tokens
	Decode    int    // output tokens
	// Rejected is non-empty when the request can never be served under the
	// configuration (for example longer than max_tokens even after
	// clipping). Such requests stay in the workload and in every output.
	Rejected string
	// Session is the 1-based index of the request's session in
	// Workload.Sessions; 0 when the format has no sessions.
	Session int
	// Turn is the request's 1-based turn within its session (0: none).
	Turn int
	// Parent is 1 + the ID of the previous turn of the same conversation
	// (Bailian's parent_chat_id, AIPerf's previous line of the session);
	// 0 when there is none. Parent < ID+1 always: a parent comes first.
	Parent int
	// ClosedLoop requests (AIPerf multi-turn sessions) arrive DelayNs after
	// their Parent completes, and not before ArrivalNs: the engine releases
	// them when the parent finishes (a rejected parent releases them at its
	// own arrival). Open-loop requests arrive at ArrivalNs.
	ClosedLoop bool
	DelayNs    int64
}

// Format names a workload input format.
type Format string

// The formats Load detects.
const (
	FormatServesim    Format = "servesim-trace" // trace_lengths.csv + trace_intervals.csv (+ prompts.jsonl)
	FormatVidurTrace  Format = "vidur-trace"    // arrived_at,num_prefill_tokens,num_decode_tokens
	FormatLengthTrace Format = "length-trace"   // lengths only; arrivals from a synthetic process
	FormatSynthetic   Format = "synthetic"      // lengths and arrivals generated
	FormatMooncake    Format = "mooncake-trace" // Mooncake / AIPerf trace JSONL (timestamp ms, hash_ids of 512 tokens, sessions)
	FormatBailian     Format = "bailian-trace"  // Alibaba Bailian (Qwen) trace JSONL (timestamp s, hash_ids of 16 tokens)
	FormatVLLMCustom  Format = "vllm-custom"    // vLLM bench serve custom JSONL with prompt_len + output_tokens
	FormatBurstGPT    Format = "burstgpt"       // BurstGPT CSV
	FormatAzure       Format = "azure-llm"      // Azure LLM inference trace 2023/2024 CSV
	FormatSplitwise   Format = "splitwise"      // Splitwise CSV
	// FormatRealResult is a real benchmark's result (vllm bench serve JSON,
	// AIPerf profile_export.jsonl) replayed as a workload; hosts read those
	// (internal/realrun), Load does not.
	FormatRealResult Format = "real-result"
)

// MaxRequests bounds how many requests one workload may hold, so that a
// runaway file ends in an error naming its row instead of exhausting memory.
const MaxRequests = 2_000_000

// RejectedTooLong is the Rejected reason for a request that does not fit
// max_tokens.
const RejectedTooLong = "rejected_too_long"

// File is one named input stream.
type File struct {
	Name string
	R    io.Reader
	// Parsed, if set, is this file already read by ParseFile; Load uses it
	// instead of reading R (R may be nil).
	Parsed *Parsed
}

// Parsed is a workload file read once and reusable by any number of Loads
// (an embedded preset's trace, read by a long-lived server or page). It is
// read-only.
type Parsed struct {
	p           parsed
	lengthsOnly bool
}

// ParseFile reads f as Load would, for Options.LengthsOnly = lengthsOnly.
func ParseFile(f File, lengthsOnly bool) (*Parsed, error) {
	p, err := parseFile(f, lengthsOnly)
	if err != nil {
		return nil, err
	}
	p.memo = &lengthsMemo{}
	return &Parsed{p: p, lengthsOnly: lengthsOnly}, nil
}

// lengthsMemo keeps the length pairs generateFromLengths last made from a
// file read once (Parsed), shared by every copy of its parsed: a capacity
// search's trials (and a server's runs of one preset) draw the same pairs
// every time (the same rows, scales, max_tokens and seed; only their
// arrivals and count differ), so they are scaled, clipped and shuffled
// once (2-3% of a search's CPU under GOOS=js, the shuffle's swap a call per
// row there).
type lengthsMemo struct {
	mu               sync.Mutex
	key              lengthsKey
	pairs            [][2]int // read-only once kept
	floored, clipped int
}

// lengthsKey is what the pairs depend on besides the rows.
type lengthsKey struct {
	prefillScale, decodeScale float64
	maxTokens                 int
	seed                      uint64
}

// Options say how lengths and times are scaled and clipped, and how
// arrivals and lengths are generated when the files do not give them.
// The zero value is not useful: start from DefaultOptions.
type Options struct {
	MaxTokens    int     // Vidur's max_tokens (context limit per request); 0 disables clipping
	PrefillScale float64 // Vidur's prefill_scale_factor
	DecodeScale  float64 // Vidur's decode_scale_factor
	TimeScale    float64 // Vidur's time_scale_factor (trace arrivals are multiplied by it)
	// LengthsOnly treats a Vidur trace (with arrived_at) as a length-only
	// trace: its arrival times are ignored, arrivals are generated.
	LengthsOnly bool
	// Model keeps only the rows of this model of a BurstGPT trace (its
	// Model column, e.g. ChatGPT or GPT-4); empty keeps every row.
	Model string
	// HashBlockTokens, if set, is the number of prompt tokens per hash_ids
	// block of a trace with hash_ids, instead of its format's (Mooncake
	// 512, Bailian 16): vLLM's timed_trace is Mooncake-shaped with 16-token
	// blocks by default.
	HashBlockTokens int
	Synthetic       Synthetic
	// Limits bound the workload (checked as it is generated).
	Limits Limits
}

// DefaultOptions are Vidur's defaults: max_tokens 4096, scale factors 1.
func DefaultOptions() Options {
	return Options{MaxTokens: 4096, PrefillScale: 1, DecodeScale: 1, TimeScale: 1, Synthetic: DefaultSynthetic()}
}

// Workload is a request stream ready to simulate.
type Workload struct {
	Format   Format
	Files    []string
	Requests []Request
	// Notes lists, in words, every change made to what the user gave
	// (scaling, clipping, shuffling) and how many requests it touched.
	Notes []string
	// Sessions names the sessions (AIPerf session_id, Bailian root
	// chat_id, BurstGPT session column) that Request.Session indexes.
	Sessions []string
	// BlockTokens is the number of prompt tokens per hash_ids block (512
	// for Mooncake/AIPerf, 16 for Bailian); 0 when the format has none.
	BlockTokens int
	// hashOff[i]..hashOff[i+1] are request i's entries of hashIDs (nil when
	// no request has hash_ids).
	hashOff []int32
	hashIDs []int64
}

// ArrivalsGenerated reports whether w's arrival times (and request count)
// come from the interval generator rather than from its files: a synthetic
// workload, a length trace, a vLLM custom dataset, or a Vidur trace read
// with lengthsOnly (workload.trace_lengths_only). A trace replay and a real
// result keep their own.
func (w *Workload) ArrivalsGenerated(lengthsOnly bool) bool {
	switch w.Format {
	case FormatSynthetic, FormatLengthTrace, FormatVLLMCustom:
		return true
	case FormatRealResult:
		return false
	}
	return lengthsOnly
}

// HashIDs returns request i's prefix block ids (one per BlockTokens prompt
// tokens, as the trace gives them; shared ids mean a shared prefix), or nil.
// The slice is shared: do not modify it.
func (w *Workload) HashIDs(i int) []int64 {
	if w.hashOff == nil {
		return nil
	}
	return w.hashIDs[w.hashOff[i]:w.hashOff[i+1]:w.hashOff[i+1]]
}

// Validate checks the options themselves.
func (o Options) Validate() error {
	var errs []error
	if o.MaxTokens < 0 {
		errs = append(errs, fmt.Errorf("max_tokens: must be >= 0, got %d", o.MaxTokens))
	}
	if o.MaxTokens > MaxRequestTokens {
		errs = append(errs, fmt.Errorf("max_tokens: must be <= %d, got %d", MaxRequestTokens, o.MaxTokens))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"prefill_scale_factor", o.PrefillScale}, {"decode_scale_factor", o.DecodeScale}, {"time_scale_factor", o.TimeScale}} {
		if !(f.v >= MinScale && f.v <= MaxScale) {
			errs = append(errs, fmt.Errorf("%s: must be a number in [%g, %g], got %v", f.name, MinScale, MaxScale, f.v))
		}
	}
	if err := o.Synthetic.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

type fileKind int

const (
	kindLengths    fileKind = iota // request_id,prompt_id,num_prefill_tokens,num_decode_tokens
	kindIntervals                  // request_id,inter_arrival_ns,arrival_time_ns
	kindVidur                      // arrived_at,num_prefill_tokens,num_decode_tokens
	kindLengthOnly                 // num_prefill_tokens,num_decode_tokens (no arrivals)
	kindPrompts                    // prompts.jsonl
	kindMooncake                   // Mooncake / AIPerf trace JSONL
	kindBailian                    // Alibaba Bailian trace JSONL
	kindVLLMCustom                 // vLLM bench serve custom JSONL (lengths only)
	kindBurstGPT                   // BurstGPT CSV
	kindAzure                      // Azure LLM inference trace CSV
	kindSplitwise                  // Splitwise CSV
)

func (k fileKind) String() string {
	return [...]string{"trace_lengths (request_id,prompt_id,num_prefill_tokens,num_decode_tokens)",
		"trace_intervals (request_id,inter_arrival_ns,arrival_time_ns)",
		"Vidur trace (arrived_at,num_prefill_tokens,num_decode_tokens)",
		"length-only trace (num_prefill_tokens,num_decode_tokens)",
		"prompts.jsonl",
		"Mooncake/AIPerf trace JSONL (timestamp,input_length,output_length,hash_ids)",
		"Bailian trace JSONL (chat_id,parent_chat_id,timestamp,input_length,output_length)",
		"vLLM custom JSONL (prompt,prompt_len,output_tokens)",
		"BurstGPT CSV (Timestamp,Model,Request tokens,Response tokens)",
		"Azure LLM inference trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens)",
		"Splitwise CSV (arrival_timestamp,prompt_size,token_size)"}[k]
}

// format is the Format a file of this kind loads as (alone).
func (k fileKind) format() Format {
	switch k {
	case kindMooncake:
		return FormatMooncake
	case kindBailian:
		return FormatBailian
	case kindVLLMCustom:
		return FormatVLLMCustom
	case kindBurstGPT:
		return FormatBurstGPT
	case kindAzure:
		return FormatAzure
	case kindSplitwise:
		return FormatSplitwise
	}
	return ""
}

const expectedFormats = "one of: trace_lengths.csv + trace_intervals.csv [+ prompts.jsonl]; " +
	"a Vidur trace CSV (arrived_at,num_prefill_tokens,num_decode_tokens); " +
	"a length-only CSV (num_prefill_tokens,num_decode_tokens) with a synthetic arrival process; " +
	"a BurstGPT, Azure LLM inference or Splitwise CSV; a Mooncake/AIPerf, Bailian or vLLM custom JSONL"

// csvFormats are the CSV headers Load recognises, in the order they are
// tried: the first whose columns are all present wins.
var csvFormats = []struct {
	kind fileKind
	cols []string
}{
	{kindIntervals, []string{"request_id", "inter_arrival_ns", "arrival_time_ns"}},
	{kindVidur, []string{"arrived_at", "num_prefill_tokens", "num_decode_tokens"}},
	{kindLengths, []string{"request_id", "num_prefill_tokens", "num_decode_tokens"}},
	{kindLengthOnly, []string{"num_prefill_tokens", "num_decode_tokens"}},
	{kindBurstGPT, []string{"Timestamp", "Model", "Request tokens", "Response tokens"}},
	{kindAzure, []string{"TIMESTAMP", "ContextTokens", "GeneratedTokens"}},
	{kindSplitwise, []string{"arrival_timestamp", "prompt_size", "token_size"}},
}

func classify(t *csvin.Table, lengthsOnly bool) (fileKind, error) {
	for _, f := range csvFormats {
		ok := true
		for _, c := range f.cols {
			ok = ok && t.Has(c)
		}
		if ok {
			if f.kind == kindVidur && lengthsOnly {
				return kindLengthOnly, nil
			}
			return f.kind, nil
		}
	}
	return 0, &csvin.Error{File: t.File(), Line: 1, Want: "a header of " + expectedFormats,
		Got: csvin.Quote(strings.Join(t.Header(), ",")) + "; " + closestCSV(t.Header())}
}

// closestCSV names the known CSV format sharing most columns with header
// and what it lacks.
func closestCSV(header []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", " ", "", "-", "").Replace(strings.ToLower(s))
	}
	byNorm := map[string]string{}
	exact := map[string]bool{}
	for _, h := range header {
		byNorm[norm(h)] = h
		exact[h] = true
	}
	best, bestScore := -1, 0
	for i, f := range csvFormats {
		score := 0
		for _, c := range f.cols {
			if exact[c] {
				score += 2
			} else if _, ok := byNorm[norm(c)]; ok {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return "no column of any known format"
	}
	f := csvFormats[best]
	var miss []string
	for _, c := range f.cols {
		if exact[c] {
			continue
		}
		m := fmt.Sprintf("missing column %q", c)
		if h, ok := byNorm[norm(c)]; ok {
			m += fmt.Sprintf(" (the header has %q: names are matched exactly)", h)
		}
		miss = append(miss, m)
	}
	return "closest format: " + f.kind.String() + ": " + strings.Join(miss, ", ")
}

// rawRow is one parsed request, kept compact: a trace may have millions.
type rawRow struct {
	promptID string
	p, d     int64
	arrival  int64 // ns
	delay    int64 // ns; closed-loop rows
	parent   int32 // 1 + index of the previous turn; 0: none
	session  int32 // 1-based index into parsed.sessions; 0: none
	turn     int32
	model    int32 // index into parsed.models (BurstGPT)
	line     int32 // for messages after parsing
	closed   bool
}

type parsed struct {
	kind  fileKind
	name  string
	rows  []rawRow
	lines int // prompts.jsonl lines
	// keys are the first object's keys of a prompts.jsonl, for messages.
	keys        []string
	hashOff     []int32 // len(rows)+1 entries when any row has hash_ids
	hashIDs     []int64
	blockTokens int
	sessions    []string
	models      []string
	notes       []string
	memo        *lengthsMemo // set by ParseFile: see generateFromLengths
}

// MaxHashBlockTokens bounds Options.HashBlockTokens.
const MaxHashBlockTokens = 1 << 20

// MinScale and MaxScale bound the scale factors: a length or time scaled
// by them stays far inside int64, and nothing is scaled to nothing.
const MinScale, MaxScale = 1e-6, 1e6

// Load detects the format of the given files by their headers and builds
// the workload. With no files it generates a synthetic workload.
func Load(files []File, opt Options) (*Workload, error) {
	return LoadContext(context.Background(), files, opt)
}

// LoadContext is Load, stopping with ctx's error when ctx ends and with a
// *LimitError as soon as opt.Limits are crossed.
func LoadContext(ctx context.Context, files []File, opt Options) (*Workload, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return GenerateContext(ctx, opt)
	}
	var ps []parsed
	for _, f := range files {
		if f.Parsed != nil && f.Parsed.lengthsOnly == opt.LengthsOnly {
			ps = append(ps, f.Parsed.p)
			continue
		}
		if f.R == nil {
			return nil, fmt.Errorf("workload: %s: no data (parsed for another lengths_only setting)", f.Name)
		}
		p, err := parseFile(f, opt.LengthsOnly)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	for i, p := range ps {
		if p.kind.format() == "" {
			continue
		}
		if len(ps) > 1 {
			j := 0
			if i == 0 {
				j = 1
			}
			return nil, &csvin.Error{File: ps[j].name, Want: fmt.Sprintf("no other file beside %s (a %s: one drop holds one workload format)", p.name, p.kind), Got: "a " + ps[j].kind.String()}
		}
		return loadTrace(ctx, &ps[0], opt)
	}
	if len(ps) == 1 && ps[0].kind == kindPrompts {
		p := ps[0]
		return nil, &csvin.Error{File: p.name, Line: 1, Want: "a trace JSONL: Mooncake/AIPerf (timestamp,input_length,output_length[,hash_ids,session_id,delay]), " +
			"Bailian (chat_id,parent_chat_id,timestamp,input_length,output_length) or vLLM custom (prompt,prompt_len,output_tokens); " +
			"a prompts.jsonl is only read beside trace_lengths.csv + trace_intervals.csv",
			Got: "an object with keys " + strings.Join(p.keys, ",")}
	}
	byKind := map[fileKind][]parsed{}
	var names []string
	for _, p := range ps {
		byKind[p.kind] = append(byKind[p.kind], p)
		names = append(names, p.name)
	}
	for _, k := range []fileKind{kindLengths, kindIntervals, kindVidur, kindLengthOnly, kindPrompts} {
		if v := byKind[k]; len(v) > 1 {
			return nil, &csvin.Error{File: v[1].name, Want: fmt.Sprintf("one file of kind %s", k), Got: fmt.Sprintf("a second one beside %s", v[0].name)}
		}
	}
	one := func(k fileKind) *parsed {
		if v := byKind[k]; len(v) == 1 {
			return &v[0]
		}
		return nil
	}
	lengths, intervals, vidur, lonly, prompts := one(kindLengths), one(kindIntervals), one(kindVidur), one(kindLengthOnly), one(kindPrompts)
	describe := func() string {
		var ks []string
		for _, p := range ps {
			ks = append(ks, p.name+": "+p.kind.String())
		}
		return strings.Join(ks, "; ")
	}
	switch {
	case lengths != nil && intervals != nil && vidur == nil && lonly == nil:
		w, err := joinServesim(lengths, intervals, prompts, opt)
		if err != nil {
			return nil, err
		}
		w.Files = names
		return w, nil
	case vidur != nil && len(ps) == 1:
		w, err := traceReplay(vidur.name, vidur.rows, opt)
		if err != nil {
			return nil, err
		}
		w.Format, w.Files = FormatVidurTrace, names
		return w, nil
	case (lonly != nil || lengths != nil) && len(ps) == 1 || lengths != nil && prompts != nil && len(ps) == 2:
		src := lonly
		if src == nil {
			src = lengths
		}
		w, err := generateFromLengths(ctx, src, opt)
		if err != nil {
			return nil, err
		}
		w.Files = names
		return w, nil
	case intervals != nil && lengths == nil:
		return nil, &csvin.Error{File: intervals.name, Want: "trace_lengths.csv beside it (it gives arrivals only; need both)", Got: "no trace_lengths.csv"}
	}
	return nil, &csvin.Error{File: strings.Join(names, ", "), Want: expectedFormats, Got: "files that cannot be combined (" + describe() + ")"}
}

// readTable reads a CSV file's header, or a packed CSV's (csvin.Pack: the
// embedded traces), which reads as the CSV it encodes without its text.
func readTable(br *bufio.Reader, name string) (*csvin.Table, error) {
	if b, _ := br.Peek(csvin.PackedPrefix); csvin.IsPacked(b) {
		data, err := io.ReadAll(br)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		return csvin.ReadPacked(data, name)
	}
	return csvin.ReadHeader(br, name)
}

func parseFile(f File, lengthsOnly bool) (parsed, error) {
	br := bufio.NewReaderSize(f.R, 1<<16)
	if isJSONL(br, f.Name) {
		return parseJSONL(br, f.Name)
	}
	t, err := readTable(br, f.Name)
	if err != nil {
		return parsed{}, err
	}
	kind, err := classify(t, lengthsOnly)
	if err != nil {
		return parsed{}, err
	}
	p := parsed{kind: kind, name: f.Name}
	switch kind {
	case kindBurstGPT, kindAzure, kindSplitwise:
		return p, parseTraceCSV(t, &p)
	}
	for {
		err := t.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return p, err
		}
		r := rawRow{line: int32(t.Line())}
		var id int64
		switch kind {
		case kindIntervals:
			if id, err = t.IntAtLeast("request_id", 0); err != nil {
				return p, err
			}
			var ia int64
			if ia, err = t.IntAtLeast("inter_arrival_ns", 0); err != nil {
				return p, err
			}
			if r.arrival, err = t.IntBetween("arrival_time_ns", 0, MaxTimeNs); err != nil {
				return p, err
			}
			if n := len(p.rows); n > 0 {
				prev := p.rows[n-1].arrival
				if r.arrival < prev {
					return p, t.ErrAt("arrival_time_ns", fmt.Sprintf("non-decreasing arrival times (previous row: %d)", prev), fmt.Sprint(r.arrival))
				}
				if r.arrival-prev != ia {
					return p, t.ErrAt("inter_arrival_ns", fmt.Sprintf("arrival_time_ns minus the previous row's (%d)", r.arrival-prev), fmt.Sprint(ia))
				}
			} else if ia != r.arrival && ia != 0 {
				return p, t.ErrAt("inter_arrival_ns", fmt.Sprintf("0 or arrival_time_ns (%d) on the first row", r.arrival), fmt.Sprint(ia))
			}
		default:
			if kind == kindLengths {
				if id, err = t.IntAtLeast("request_id", 0); err != nil {
					return p, err
				}
				if t.Has("prompt_id") {
					r.promptID, _ = t.Field("prompt_id")
				}
			}
			if r.p, err = t.IntBetween("num_prefill_tokens", 1, MaxRequestTokens); err != nil {
				return p, err
			}
			if r.d, err = t.IntBetween("num_decode_tokens", 1, MaxRequestTokens); err != nil {
				return p, err
			}
			if kind == kindVidur {
				s, err := t.NonNegFloat("arrived_at")
				if err != nil {
					return p, err
				}
				if s > MaxTimeS {
					return p, t.ErrAt("arrived_at", fmt.Sprintf("an arrival time in seconds <= %g", MaxTimeS), fmt.Sprint(s))
				}
				r.arrival = int64(math.Round(s * 1e9))
				if n := len(p.rows); n > 0 && r.arrival < p.rows[n-1].arrival {
					return p, t.ErrAt("arrived_at", fmt.Sprintf("non-decreasing arrival times (previous row: %v s)", float64(p.rows[n-1].arrival)/1e9), fmt.Sprint(s))
				}
			}
		}
		if kind == kindLengths || kind == kindIntervals {
			if want := int64(len(p.rows)); id != want {
				return p, t.ErrAt("request_id", fmt.Sprintf("request_id %d (rows numbered 0,1,2,… in order, no duplicates)", want), fmt.Sprint(id))
			}
		}
		if len(p.rows) == MaxRequests {
			return p, &csvin.Error{File: f.Name, Line: t.Line(), Want: fmt.Sprintf("at most %d requests in one workload", MaxRequests), Got: "more rows"}
		}
		p.rows = append(p.rows, r)
	}
	if len(p.rows) == 0 {
		return p, &csvin.Error{File: f.Name, Line: 2, Want: "at least one data row", Got: "only a header"}
	}
	return p, nil
}

func joinServesim(lengths, intervals, prompts *parsed, opt Options) (*Workload, error) {
	if len(lengths.rows) != len(intervals.rows) {
		return nil, &csvin.Error{File: intervals.name, Line: len(intervals.rows) + 1,
			Want: fmt.Sprintf("%d rows, one per request in %s", len(lengths.rows), lengths.name), Got: fmt.Sprintf("%d rows", len(intervals.rows))}
	}
	rows := make([]rawRow, len(lengths.rows))
	for i, l := range lengths.rows {
		l.arrival = intervals.rows[i].arrival
		rows[i] = l
	}
	w, err := traceReplay(lengths.name, rows, opt)
	if err != nil {
		return nil, err
	}
	w.Format = FormatServesim
	if prompts != nil && prompts.lines != len(rows) {
		w.Notes = append(w.Notes, fmt.Sprintf("%s has %d prompts for %d requests (prompt texts are not simulated)", prompts.name, prompts.lines, len(rows)))
	}
	return w, nil
}

// traceReplay applies Vidur's trace-replay rules (§2.4): scale lengths,
// truncate, keep each >= 1, clip the prompt so P+D <= max_tokens, scale
// arrival times. Unlike Vidur, a request whose decode alone reaches
// max_tokens is kept and marked rejected_too_long instead of getting P <= 0.
func traceReplay(name string, rows []rawRow, opt Options) (*Workload, error) {
	w := &Workload{Requests: make([]Request, len(rows))}
	var floored, clipped, rejected int
	for i, r := range rows {
		p, d, err := scalePair(name, r, opt, &floored)
		if err != nil {
			return nil, err
		}
		at, err := scaleTime(name, int(r.line), r.arrival, opt.TimeScale)
		if err != nil {
			return nil, err
		}
		delay, err := scaleTime(name, int(r.line), r.delay, opt.TimeScale)
		if err != nil {
			return nil, err
		}
		req := Request{ID: i, PromptID: r.promptID, ArrivalNs: at, Prefill: p, Decode: d,
			Session: int(r.session), Turn: int(r.turn), Parent: int(r.parent), ClosedLoop: r.closed, DelayNs: delay}
		if opt.MaxTokens > 0 && p+d > opt.MaxTokens {
			if d >= opt.MaxTokens {
				req.Rejected = RejectedTooLong
				rejected++
			} else {
				req.Prefill = opt.MaxTokens - d
				clipped++
			}
		}
		w.Requests[i] = req
	}
	w.Notes = scaleNotes(opt, floored)
	if clipped > 0 {
		w.Notes = append(w.Notes, fmt.Sprintf("%d of %d requests had their prompt clipped so that prompt+output <= max_tokens %d (Vidur trace-replay rule)", clipped, len(rows), opt.MaxTokens))
	}
	if rejected > 0 {
		w.Notes = append(w.Notes, fmt.Sprintf("%d of %d requests have output length >= max_tokens %d and are marked %s", rejected, len(rows), opt.MaxTokens, RejectedTooLong))
	}
	return w, nil
}

// scalePair scales a row's lengths, refusing a result past MaxRequestTokens
// (rows are at most that, scale factors at most MaxScale: no overflow).
func scalePair(name string, r rawRow, opt Options, floored *int) (int, int, error) {
	p, okp := scaleLen(r.p, opt.PrefillScale, floored)
	d, okd := scaleLen(r.d, opt.DecodeScale, floored)
	if !okp || !okd {
		col, v, f := "num_prefill_tokens", r.p, opt.PrefillScale
		if okp {
			col, v, f = "num_decode_tokens", r.d, opt.DecodeScale
		}
		return 0, 0, &csvin.Error{File: name, Line: int(r.line), Column: col,
			Want: fmt.Sprintf("a token count that stays <= %d when scaled by %v", MaxRequestTokens, f), Got: fmt.Sprint(v)}
	}
	return p, d, nil
}

func scaleLen(v int64, f float64, floored *int) (int, bool) {
	if f == 1 {
		return int(v), true
	}
	x := math.Trunc(float64(v) * f)
	if x > MaxRequestTokens {
		return 0, false
	}
	s := int(x)
	if s < 1 {
		*floored++
		s = 1
	}
	return s, true
}

func scaleTime(name string, line int, ns int64, f float64) (int64, error) {
	if f == 1 {
		return ns, nil
	}
	x := math.Round(float64(ns) * f)
	if x > float64(MaxTimeNs) {
		return 0, &csvin.Error{File: name, Line: line, Want: fmt.Sprintf("an arrival time that stays <= %g s when scaled by time_scale_factor %v", MaxTimeS, f), Got: fmt.Sprintf("%g s", x/1e9)}
	}
	return int64(x), nil
}

func scaleNotes(opt Options, floored int) []string {
	var n []string
	if opt.PrefillScale != 1 || opt.DecodeScale != 1 {
		n = append(n, fmt.Sprintf("token counts scaled (prefill x%v, decode x%v) and truncated to integers", opt.PrefillScale, opt.DecodeScale))
	}
	if floored > 0 {
		n = append(n, fmt.Sprintf("%d scaled token counts fell below 1 and were raised to 1", floored))
	}
	if opt.TimeScale != 1 {
		n = append(n, fmt.Sprintf("arrival times scaled x%v", opt.TimeScale))
	}
	return n
}

// generateFromLengths takes (P, D) pairs from a length-only trace (Vidur's
// trace length generator, §2.3: scale, proportional clip to max_tokens,
// seeded shuffle) and arrivals from the synthetic interval process.
func generateFromLengths(ctx context.Context, src *parsed, opt Options) (*Workload, error) {
	syn := opt.Synthetic
	key := lengthsKey{prefillScale: opt.PrefillScale, decodeScale: opt.DecodeScale, maxTokens: opt.MaxTokens, seed: syn.Seed}
	if m := src.memo; m != nil {
		m.mu.Lock()
		pairs, floored, clipped, ok := m.pairs, m.floored, m.clipped, m.pairs != nil && m.key == key
		m.mu.Unlock()
		if ok {
			return generatePairs(ctx, src, opt, pairs, floored, clipped)
		}
	}
	pairs, floored, clipped, err := lengthPairs(src, opt)
	if err != nil {
		return nil, err
	}
	if m := src.memo; m != nil {
		m.mu.Lock()
		m.key, m.pairs, m.floored, m.clipped = key, pairs, floored, clipped
		m.mu.Unlock()
	}
	return generatePairs(ctx, src, opt, pairs, floored, clipped)
}

// lengthPairs scales and clips src's rows and shuffles them with the
// generator's seed (Vidur's trace length generator).
func lengthPairs(src *parsed, opt Options) (pairs [][2]int, floored, clipped int, err error) {
	pairs = make([][2]int, len(src.rows))
	for i, r := range src.rows {
		p, d, err := scalePair(src.name, r, opt, &floored)
		if err != nil {
			return nil, 0, 0, err
		}
		if opt.MaxTokens > 0 && p+d > opt.MaxTokens {
			diff := p + d - opt.MaxTokens
			tot := float64(p + d)
			p0, d0 := p, d
			p -= int(math.Ceil(float64(diff) * float64(p0) / tot))
			d -= int(math.Ceil(float64(diff) * float64(d0) / tot))
			p, d = max(p, 1), max(d, 1)
			clipped++
		}
		pairs[i] = [2]int{p, d}
	}
	rng := rand.New(rand.NewPCG(opt.Synthetic.Seed, streamShuffle))
	rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	return pairs, floored, clipped, nil
}

// generatePairs generates the workload drawing its lengths from pairs in
// order (read only).
func generatePairs(ctx context.Context, src *parsed, opt Options, pairs [][2]int, floored, clipped int) (*Workload, error) {
	syn := opt.Synthetic
	next := 0
	lengths := func() (int, int, error) {
		if next >= len(pairs) {
			return 0, 0, fmt.Errorf("workload: %s has %d rows but %d requests were asked for (num_requests)", src.name, len(pairs), syn.NumRequests)
		}
		next++
		return pairs[next-1][0], pairs[next-1][1], nil
	}
	n := syn.NumRequests
	if n == 0 && syn.DurationS == 0 {
		n = len(pairs)
	}
	w, err := generate(ctx, syn, n, lengths, opt.Limits)
	if err != nil {
		return nil, err
	}
	w.Format = FormatLengthTrace
	w.Notes = append(scaleNotes(opt, floored), w.Notes...)
	w.Notes = append(w.Notes, fmt.Sprintf("lengths from %s shuffled with seed %d (Vidur trace length generator)", src.name, syn.Seed))
	w.Notes = append(w.Notes, "arrivals are synthetic: "+syn.Intervals.describe()+" ("+src.name+" gives lengths only; trace_intervals.csv or a Vidur trace's arrived_at gives real arrivals)")
	if clipped > 0 {
		w.Notes = append(w.Notes, fmt.Sprintf("%d of %d length rows clipped proportionally to max_tokens %d (Vidur trace length-generator rule)", clipped, len(pairs), opt.MaxTokens))
	}
	return w, nil
}

// Names returns the base names of the files, sorted, for messages.
func Names(files []File) []string {
	var n []string
	for _, f := range files {
		n = append(n, path.Base(f.Name))
	}
	sort.Strings(n)
	return n
}
