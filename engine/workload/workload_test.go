package workload_test

import (
	"context"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/workload"
)

func load(t *testing.T, opt workload.Options, files ...string) (*workload.Workload, error) {
	t.Helper()
	var in []workload.File
	for i := 0; i < len(files); i += 2 {
		in = append(in, workload.File{Name: files[i], R: strings.NewReader(files[i+1])})
	}
	return workload.Load(in, opt)
}

const (
	lengths   = "request_id,prompt_id,num_prefill_tokens,num_decode_tokens\n0,p0,9,64\n1,p1,14,64\n"
	intervals = "request_id,inter_arrival_ns,arrival_time_ns\n0,0,0\n1,2000000000,2000000000\n"
)

func TestLoad_Formats(t *testing.T) {
	opt := workload.DefaultOptions()
	tests := []struct {
		name    string
		files   []string
		format  workload.Format
		want    []workload.Request
		noteHas string
	}{{
		name:   "servesim trace pair",
		files:  []string{"trace_lengths.csv", lengths, "trace_intervals.csv", intervals},
		format: workload.FormatServesim,
		want:   []workload.Request{{ID: 0, PromptID: "p0", ArrivalNs: 0, Prefill: 9, Decode: 64}, {ID: 1, PromptID: "p1", ArrivalNs: 2e9, Prefill: 14, Decode: 64}},
	}, {
		name:   "pair in either order with prompts.jsonl",
		files:  []string{"trace_intervals.csv", intervals, "prompts.jsonl", "{\"prompt_id\":\"p0\"}\n{\"prompt_id\":\"p1\"}\n", "trace_lengths.csv", lengths},
		format: workload.FormatServesim,
		want:   []workload.Request{{ID: 0, PromptID: "p0", Prefill: 9, Decode: 64}, {ID: 1, PromptID: "p1", ArrivalNs: 2e9, Prefill: 14, Decode: 64}},
	}, {
		name:   "vidur trace, CRLF and BOM",
		files:  []string{"t.csv", "\uFEFFarrived_at,num_prefill_tokens,num_decode_tokens\r\n0.0,12,64\r\n0.5,10,3\r\n"},
		format: workload.FormatVidurTrace,
		want:   []workload.Request{{ID: 0, Prefill: 12, Decode: 64}, {ID: 1, ArrivalNs: 5e8, Prefill: 10, Decode: 3}},
	}, {
		// max_tokens 4096: 4000+200 is 104 over, so the prompt loses 104 (Vidur rule).
		name:    "vidur trace clipping is applied and reported",
		files:   []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens,extra\n0,4000,200,x\n"},
		format:  workload.FormatVidurTrace,
		want:    []workload.Request{{ID: 0, Prefill: 3896, Decode: 200}},
		noteHas: "1 of 1 requests had their prompt clipped",
	}, {
		name:    "an output longer than max_tokens is kept and rejected",
		files:   []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,10,5000\n"},
		format:  workload.FormatVidurTrace,
		want:    []workload.Request{{ID: 0, Prefill: 10, Decode: 5000, Rejected: workload.RejectedTooLong}},
		noteHas: "marked rejected_too_long",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := load(t, opt, tc.files...)
			if err != nil {
				t.Fatal(err)
			}
			if w.Format != tc.format {
				t.Errorf("format %s, want %s", w.Format, tc.format)
			}
			if len(w.Requests) != len(tc.want) {
				t.Fatalf("got %d requests, want %d", len(w.Requests), len(tc.want))
			}
			for i, r := range w.Requests {
				if r != tc.want[i] {
					t.Errorf("request %d: got %+v, want %+v", i, r, tc.want[i])
				}
			}
			if tc.noteHas != "" && !strings.Contains(strings.Join(w.Notes, "\n"), tc.noteHas) {
				t.Errorf("notes %q lack %q", w.Notes, tc.noteHas)
			}
			// The same files parsed once (ParseFile) load to the same
			// workload, again and again.
			var pre []workload.File
			for i := 0; i < len(tc.files); i += 2 {
				p, err := workload.ParseFile(workload.File{Name: tc.files[i], R: strings.NewReader(tc.files[i+1])}, opt.LengthsOnly)
				if err != nil {
					t.Fatal(err)
				}
				pre = append(pre, workload.File{Name: tc.files[i], Parsed: p})
			}
			for range 2 {
				w2, err := workload.Load(pre, opt)
				if err != nil || !reflect.DeepEqual(w2, w) {
					t.Fatalf("from parsed files: %+v, %v; want %+v", w2, err, w)
				}
			}
			other := opt
			other.LengthsOnly = !opt.LengthsOnly
			if _, err := workload.Load(pre, other); err == nil || !strings.Contains(err.Error(), "parsed for another lengths_only") {
				t.Errorf("parsed files under another lengths_only: %v", err)
			}
		})
	}
}

// TestLoad_BadInput: every malformed input names file, line, column and what
// was expected.
func TestLoad_BadInput(t *testing.T) {
	tests := []struct {
		name       string
		files      []string
		line, col  int
		wantSubstr string
	}{
		{"empty file", []string{"t.csv", ""}, 1, 0, "a CSV header line"},
		{"header only", []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n"}, 2, 0, "at least one data row"},
		{"unknown header", []string{"t.csv", "a,b,c\n1,2,3\n"}, 1, 0, "a header of one of"},
		{"missing column in a row", []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1\n"}, 2, 0, "3 fields"},
		{"extra column in a row", []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,2,3\n"}, 2, 0, "3 fields"},
		{"non-numeric tokens", []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,abc,2\n"}, 2, 2, "an integer >= 1"},
		{"negative tokens", []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,5,-2\n"}, 2, 3, "an integer >= 1"},
		{"zero tokens", []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,0,2\n"}, 2, 2, "an integer >= 1"},
		{"NaN arrival", []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\nNaN,5,2\n"}, 2, 1, "a finite number >= 0"},
		{"negative arrival", []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n-1,5,2\n"}, 2, 1, "a finite number >= 0"},
		{"non-monotonic arrivals", []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n1,5,2\n0.5,5,2\n"}, 3, 1, "non-decreasing"},
		{"duplicate request id", []string{"trace_lengths.csv", "request_id,prompt_id,num_prefill_tokens,num_decode_tokens\n0,a,1,1\n0,b,1,1\n", "trace_intervals.csv", intervals}, 3, 1, "request_id 1"},
		{"intervals disagree with arrivals", []string{"trace_lengths.csv", lengths, "trace_intervals.csv", "request_id,inter_arrival_ns,arrival_time_ns\n0,0,0\n1,5,2000000000\n"}, 3, 2, "arrival_time_ns minus the previous row's"},
		{"quote error", []string{"t.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,\"5,2\n"}, 2, 0, "well-formed CSV"},
		{"bad jsonl", []string{"trace_lengths.csv", lengths, "trace_intervals.csv", intervals, "prompts.jsonl", "{\"a\":1}\nnot json\n"}, 2, 0, "one JSON object per line"},
		{"row count mismatch", []string{"trace_lengths.csv", lengths, "trace_intervals.csv", "request_id,inter_arrival_ns,arrival_time_ns\n0,0,0\n"}, 2, 0, "2 rows, one per request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, workload.DefaultOptions(), tc.files...)
			var ie *csvin.Error
			if !errors.As(err, &ie) {
				t.Fatalf("got %v (%T), want a *csvin.Error", err, err)
			}
			if ie.Line != tc.line || ie.Col != tc.col || !strings.Contains(err.Error(), tc.wantSubstr) {
				t.Errorf("got %q at line %d col %d; want line %d col %d containing %q", err, ie.Line, ie.Col, tc.line, tc.col, tc.wantSubstr)
			}
			if !strings.HasPrefix(err.Error(), ie.File+":") {
				t.Errorf("message %q does not start with the file name", err)
			}
		})
	}
}

func TestLoad_CombinationErrors(t *testing.T) {
	for _, files := range [][]string{
		{"trace_intervals.csv", intervals},
		{"a.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,1\n", "b.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,1\n"},
		{"a.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,1\n", "trace_intervals.csv", intervals},
	} {
		if _, err := load(t, workload.DefaultOptions(), files...); err == nil {
			t.Errorf("%v: want an error", files[0])
		}
	}
}

// TestLengthTrace_SyntheticArrivals: a length-only trace gets seeded Poisson
// arrivals; asking for more requests than rows is an error (Vidur crashes).
func TestLengthTrace_SyntheticArrivals(t *testing.T) {
	opt := workload.DefaultOptions()
	opt.Synthetic.NumRequests = 3
	opt.Synthetic.Intervals.QPS = 10
	csv := "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n100,10,110,10\n200,20,220,10\n300,30,330,10\n"
	w, err := load(t, opt, "arxiv.csv", csv)
	if err != nil {
		t.Fatal(err)
	}
	if w.Format != workload.FormatLengthTrace || len(w.Requests) != 3 {
		t.Fatalf("format %s, %d requests", w.Format, len(w.Requests))
	}
	seen := map[int]bool{}
	var prev int64 = -1
	for _, r := range w.Requests {
		seen[r.Prefill] = true
		if r.ArrivalNs <= prev || r.Decode*10 != r.Prefill {
			t.Errorf("bad request %+v", r)
		}
		prev = r.ArrivalNs
	}
	if len(seen) != 3 {
		t.Errorf("rows not used once each: %v", seen)
	}
	opt.Synthetic.NumRequests = 4
	if _, err := load(t, opt, "arxiv.csv", csv); err == nil || !strings.Contains(err.Error(), "has 3 rows but 4 requests") {
		t.Errorf("got %v", err)
	}
	opt.Synthetic.NumRequests = 0 // every row
	if w, err := load(t, opt, "arxiv.csv", csv); err != nil || len(w.Requests) != 3 {
		t.Errorf("num_requests 0: %v", err)
	}
}

func TestGenerate_Deterministic(t *testing.T) {
	for _, iv := range []string{"poisson", "gamma", "static"} {
		for _, ln := range []string{"fixed", "uniform", "zipf"} {
			opt := workload.DefaultOptions()
			opt.Synthetic.Intervals.Type, opt.Synthetic.Lengths.Type = iv, ln
			a, err := workload.Generate(opt)
			if err != nil {
				t.Fatalf("%s/%s: %v", iv, ln, err)
			}
			b, _ := workload.Generate(opt)
			for i := range a.Requests {
				if a.Requests[i] != b.Requests[i] {
					t.Fatalf("%s/%s: request %d differs", iv, ln, i)
				}
				r := a.Requests[i]
				if r.Prefill < 1 || r.Decode < 1 || (ln != "fixed" && r.Prefill+r.Decode > opt.Synthetic.Lengths.MaxTokens+1) {
					t.Fatalf("%s/%s: bad lengths %+v", iv, ln, r)
				}
			}
		}
	}
}

// TestPoisson_MeanRate: property check of the arrival process.
func TestPoisson_MeanRate(t *testing.T) {
	opt := workload.DefaultOptions()
	opt.Synthetic.NumRequests = 20000
	opt.Synthetic.Intervals.QPS = 5
	w, err := workload.Generate(opt)
	if err != nil {
		t.Fatal(err)
	}
	span := float64(w.Requests[len(w.Requests)-1].ArrivalNs) / 1e9
	if rate := float64(len(w.Requests)) / span; rate < 4.8 || rate > 5.2 {
		t.Errorf("mean rate %.3f, want about 5", rate)
	}
}

// bigTrace streams a Vidur trace of n rows without holding it in memory.
type bigTrace struct {
	n, i int
	buf  []byte
}

func (b *bigTrace) Read(p []byte) (int, error) {
	for len(b.buf) < len(p) && b.i <= b.n {
		if b.i == 0 {
			b.buf = append(b.buf, "arrived_at,num_prefill_tokens,num_decode_tokens\n"...)
		} else {
			b.buf = append(b.buf, "1.0,100,10\n"...)
		}
		b.i++
	}
	if len(b.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

// TestLoad_HugeFileIsBounded: a 10-million-row file ends in an error at the
// first row over the request limit, not in an out-of-memory crash.
func TestLoad_HugeFileIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("parses 2M rows")
	}
	opt := workload.DefaultOptions()
	_, err := workload.Load([]workload.File{{Name: "huge.csv", R: &bigTrace{n: 10_000_000}}}, opt)
	var ie *csvin.Error
	if !errors.As(err, &ie) || ie.Line != workload.MaxRequests+2 {
		t.Fatalf("got %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("arrived_at,num_prefill_tokens,num_decode_tokens\n0.0,12,64\n", "")
	f.Add(lengths, intervals)
	f.Add("num_prefill_tokens,num_decode_tokens\n1,2\n", "")
	f.Add("\uFEFFrequest_id,prompt_id,num_prefill_tokens,num_decode_tokens\r\n0,\"p,0\",1,1\r\n", "request_id,inter_arrival_ns,arrival_time_ns\n0,0,0\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		// The first bytes of a pick the file names and options, so that
		// names (.csv, .jsonl, none) and scalings are fuzzed too.
		var sel [4]byte
		copy(sel[:], a)
		names := []string{"a.csv", "trace_lengths.csv", "trace_intervals.csv", "prompts.jsonl", "t.jsonl", "noext"}
		files := []workload.File{{Name: names[int(sel[0])%len(names)], R: strings.NewReader(a)}}
		if b != "" {
			files = append(files, workload.File{Name: names[int(sel[1])%len(names)] + "2", R: strings.NewReader(b)})
			if sel[1]%7 == 0 {
				files[1].Name = "b.csv"
			}
		}
		opt := workload.DefaultOptions()
		opt.Synthetic.NumRequests = 0
		opt.LengthsOnly = sel[2]&1 != 0
		opt.MaxTokens = []int{4096, 1, 2, 1 << 20, workload.MaxRequestTokens}[int(sel[2]>>1)%5]
		opt.PrefillScale = []float64{1, 0.5, 3, workload.MaxScale, workload.MinScale}[int(sel[3])%5]
		opt.TimeScale = []float64{1, 2, workload.MaxScale}[int(sel[3]>>3)%3]
		opt.Limits = workload.Limits{MaxRequests: 1000, MaxTokens: 1 << 30}
		w, err := workload.Load(files, opt)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		for i, r := range w.Requests {
			if r.ID != i || r.Prefill < 1 || r.Decode < 1 || r.ArrivalNs < 0 || r.ArrivalNs > workload.MaxTimeNs {
				t.Fatalf("bad request %+v", r)
			}
			if r.Prefill > workload.MaxRequestTokens || r.Decode > workload.MaxRequestTokens {
				t.Fatalf("request %+v past MaxRequestTokens", r)
			}
			if r.Rejected == "" && r.Prefill+r.Decode > opt.MaxTokens && r.Prefill > 1 && r.Decode > 1 {
				t.Fatalf("request %+v exceeds max_tokens and is not rejected", r)
			}
		}
	})
}

// FuzzPromptsJSONL: a prompts.jsonl beside the seed's pair loads or ends in
// an error naming the file and line, whatever its bytes.
func FuzzPromptsJSONL(f *testing.F) {
	f.Add("{\"prompt_id\":\"p0\"}\n{\"prompt_id\":\"p1\"}\n")
	f.Add("\uFEFF{}\r\n\r\n[1]\n")
	f.Add("{\"a\":")
	f.Fuzz(func(t *testing.T, prompts string) {
		files := []workload.File{{Name: "trace_lengths.csv", R: strings.NewReader(lengths)}, {Name: "trace_intervals.csv", R: strings.NewReader(intervals)},
			{Name: "prompts.jsonl", R: strings.NewReader(prompts)}}
		w, err := workload.Load(files, workload.DefaultOptions())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "prompts.jsonl:") && !strings.HasPrefix(err.Error(), "workload: prompts.jsonl") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(w.Requests) != 2 {
			t.Fatalf("%d requests", len(w.Requests))
		}
	})
}

// TestGenerate_Bounded: generators stop when the context ends (the zipf
// normaliser sums over every length up to max_tokens) and as soon as a
// limit is crossed, counting tokens without overflow.
func TestGenerate_Bounded(t *testing.T) {
	opt := workload.DefaultOptions()
	opt.Synthetic.Lengths = workload.Lengths{Type: "zipf", MinTokens: 2, MaxTokens: workload.MaxRequestTokens, PrefillToDecode: 20, Theta: 0.6}
	opt.MaxTokens = workload.MaxRequestTokens
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := workload.GenerateContext(ctx, opt); !errors.Is(err, context.Canceled) {
		t.Errorf("zipf with a cancelled context: %v", err)
	}
	opt = workload.DefaultOptions()
	opt.Synthetic.DurationS, opt.Synthetic.Intervals.QPS = 1e6, 1e6 // 1e12 requests asked
	opt.Limits = workload.Limits{MaxRequests: 1000}
	var le *workload.LimitError
	if _, err := workload.Generate(opt); !errors.As(err, &le) || !strings.Contains(le.Msg, "more than 1000 requests") {
		t.Errorf("1e12 requests: %v", err)
	}
	opt.Limits = workload.Limits{MaxTokens: 10 * (2048 + 512)}
	if _, err := workload.Generate(opt); !errors.As(err, &le) || !strings.Contains(le.Msg, "after 11 requests") {
		t.Errorf("token limit: %v", err)
	}
	if workload.SatAdd(1<<62, 1<<62) != math.MaxInt64 || workload.SatAdd(2, 3) != 5 {
		t.Error("SatAdd")
	}
}
