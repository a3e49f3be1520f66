package workload_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/workload"
)

func fixture(t testing.TB, name string) workload.File {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return workload.File{Name: name, R: strings.NewReader(string(b))}
}

const ms, s = int64(1_000_000), int64(1_000_000_000)

// TestTraceFormats: every shared format, read from its fixture, with the
// arrivals, lengths, sessions and hash_ids computed by hand from the rows.
func TestTraceFormats(t *testing.T) {
	tests := []struct {
		file     string
		rename   string // load under this name (content detection)
		model    string
		format   workload.Format
		want     []workload.Request
		sessions []string
		block    int
		hash     map[int][]int64
		noteHas  string
	}{{
		file: "mooncake.jsonl", format: workload.FormatMooncake, block: 512,
		want: []workload.Request{{ID: 0, Prefill: 655, Decode: 52}, {ID: 1, ArrivalNs: 10535 * ms, Prefill: 672, Decode: 26},
			{ID: 2, ArrivalNs: 27482 * ms, Prefill: 1100, Decode: 52}},
		hash: map[int][]int64{0: {46, 47}, 2: {46, 47, 48}},
	}, {
		// Detected by content whatever the name.
		file: "mooncake.jsonl", rename: "upload.txt", format: workload.FormatMooncake, block: 512,
		want: []workload.Request{{ID: 0, Prefill: 655, Decode: 52}, {ID: 1, ArrivalNs: 10535 * ms, Prefill: 672, Decode: 26},
			{ID: 2, ArrivalNs: 27482 * ms, Prefill: 1100, Decode: 52}},
	}, {
		// Session a: t=0, then 1000 ms after its completion; b: t=500 ms, then 250.5 ms after.
		file: "aiperf_sessions.jsonl", format: workload.FormatMooncake, block: 512, sessions: []string{"a", "b"},
		want: []workload.Request{
			{ID: 0, Prefill: 300, Decode: 20, Session: 1, Turn: 1},
			{ID: 1, ArrivalNs: 500 * ms, Prefill: 200, Decode: 10, Session: 2, Turn: 1},
			{ID: 2, Prefill: 600, Decode: 20, Session: 1, Turn: 2, Parent: 1, ClosedLoop: true, DelayNs: 1000 * ms},
			{ID: 3, Prefill: 700, Decode: 10, Session: 2, Turn: 2, Parent: 2, ClosedLoop: true, DelayNs: 250_500_000},
		},
		hash: map[int][]int64{3: {2, 4}},
	}, {
		file: "bailian.jsonl", format: workload.FormatBailian, block: 16, sessions: []string{"0", "1"},
		want: []workload.Request{
			{ID: 0, Prefill: 40, Decode: 12, Session: 1, Turn: 1},
			{ID: 1, ArrivalNs: 512 * ms, Prefill: 20, Decode: 5, Session: 2, Turn: 1},
			{ID: 2, ArrivalNs: 3250 * ms, Prefill: 70, Decode: 9, Session: 1, Turn: 2, Parent: 1},
		},
		hash: map[int][]int64{2: {0, 1, 2, 5, 6}},
	}, {
		// Timestamps 5, 45, 118 s: the replay starts at the first.
		file: "burstgpt.csv", format: workload.FormatBurstGPT, noteHas: "arrivals are Timestamp minus the first row's (5 s)",
		want: []workload.Request{{ID: 0, Prefill: 472, Decode: 18}, {ID: 1, ArrivalNs: 40 * s, Prefill: 1087, Decode: 231},
			{ID: 2, ArrivalNs: 113 * s, Prefill: 417, Decode: 276}},
	}, {
		file: "burstgpt.csv", model: "GPT-4", format: workload.FormatBurstGPT, noteHas: "kept the 1 of 3 rows with Model GPT-4",
		want: []workload.Request{{ID: 0, ArrivalNs: 113 * s, Prefill: 417, Decode: 276}},
	}, {
		// BurstGPT_3's columns; 19440161.0 - 19440110.0 = 51 s, 19440250.5 - 19440110.0 = 140.5 s.
		file: "burstgpt_sessions.csv", format: workload.FormatBurstGPT,
		sessions: []string{"6f1c2a8e-0b7d-4e53-9a41-2d8c7f6b1e90", "b2e94d17-5c3a-4f08-8e6d-71a0c9d3f254"},
		want: []workload.Request{{ID: 0, Prefill: 906, Decode: 446, Session: 1, Turn: 1},
			{ID: 1, ArrivalNs: 51 * s, Prefill: 36, Decode: 29, Session: 2, Turn: 1},
			{ID: 2, ArrivalNs: 140_500 * ms, Prefill: 1400, Decode: 120, Session: 1, Turn: 2, Parent: 1}},
	}, {
		// 50.9951690 - 46.6805900 = 4.3145790 s; 51.3485720 - 46.6805900 = 4.6679820 s.
		file: "azure_2023.csv", format: workload.FormatAzure, noteHas: "minus the first row's (2023-11-16T18:15:46.68059Z)",
		want: []workload.Request{{ID: 0, Prefill: 374, Decode: 44}, {ID: 1, ArrivalNs: 4_314_579_000, Prefill: 396, Decode: 109},
			{ID: 2, ArrivalNs: 4_667_982_000, Prefill: 879, Decode: 31}},
	}, {
		// 0.014894 - 0.009930 = 0.004964 s; 1.25 - 0.009930 = 1.240070 s.
		file: "azure_2024.csv", format: workload.FormatAzure,
		want: []workload.Request{{ID: 0, Prefill: 2162, Decode: 5}, {ID: 1, ArrivalNs: 4_964_000, Prefill: 3567, Decode: 7},
			{ID: 2, ArrivalNs: 1_240_070_000, Prefill: 1500, Decode: 240}},
	}, {
		file: "splitwise.csv", format: workload.FormatSplitwise,
		want: []workload.Request{{ID: 0, Prefill: 1020, Decode: 129}, {ID: 1, ArrivalNs: 710 * ms, Prefill: 250, Decode: 20},
			{ID: 2, ArrivalNs: 1900 * ms, Prefill: 4000, Decode: 80}},
	}}
	for _, tc := range tests {
		name := tc.file
		if tc.rename != "" || tc.model != "" {
			name += "/" + tc.rename + tc.model
		}
		t.Run(name, func(t *testing.T) {
			f := fixture(t, tc.file)
			if tc.rename != "" {
				f.Name = tc.rename
			}
			opt := workload.DefaultOptions()
			opt.Model = tc.model
			w, err := workload.Load([]workload.File{f}, opt)
			if err != nil {
				t.Fatal(err)
			}
			if w.Format != tc.format {
				t.Errorf("format %s, want %s", w.Format, tc.format)
			}
			if !reflect.DeepEqual(w.Requests, tc.want) {
				t.Errorf("requests\n got %+v\nwant %+v", w.Requests, tc.want)
			}
			if !reflect.DeepEqual(w.Sessions, tc.sessions) {
				t.Errorf("sessions %q, want %q", w.Sessions, tc.sessions)
			}
			if tc.hash != nil && w.BlockTokens != tc.block {
				t.Errorf("block tokens %d, want %d", w.BlockTokens, tc.block)
			}
			for i, h := range tc.hash {
				if got := w.HashIDs(i); !reflect.DeepEqual(got, h) {
					t.Errorf("request %d hash_ids %v, want %v", i, got, h)
				}
			}
			if tc.noteHas != "" && !strings.Contains(strings.Join(w.Notes, "\n"), tc.noteHas) {
				t.Errorf("notes %q lack %q", w.Notes, tc.noteHas)
			}
		})
	}
}

// TestVLLMCustom: explicit token counts, arrivals from the synthetic process.
func TestVLLMCustom(t *testing.T) {
	opt := workload.DefaultOptions()
	w, err := workload.Load([]workload.File{fixture(t, "vllm_custom.jsonl")}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if w.Format != workload.FormatVLLMCustom || len(w.Requests) != 2 {
		t.Fatalf("format %s, %d requests", w.Format, len(w.Requests))
	}
	got := map[[2]int]bool{}
	for _, r := range w.Requests {
		got[[2]int{r.Prefill, r.Decode}] = true
	}
	if !got[[2]int{8, 20}] || !got[[2]int{9, 120}] || w.Requests[1].ArrivalNs <= w.Requests[0].ArrivalNs {
		t.Errorf("requests %+v", w.Requests)
	}
}

// TestTraceFormats_BadInput: every problem names file and line (and the
// field), never a silent drop or reorder.
func TestTraceFormats_BadInput(t *testing.T) {
	mc := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	const azureHdr = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
	tests := []struct {
		name, file, content string
		line                int
		want                string
	}{
		{"hash_ids not integers", "t.jsonl", mc(`{"timestamp":0,"input_length":5,"output_length":1,"hash_ids":[1,"x"]}`), 1, `(hash_ids): expected a list of integers`},
		{"hash_ids fractional", "t.jsonl", mc(`{"timestamp":0,"input_length":5,"output_length":1}`, `{"timestamp":1,"input_length":5,"output_length":1,"hash_ids":[1.5]}`), 2, "a list of integers"},
		{"hash_ids not a list", "t.jsonl", mc(`{"timestamp":0,"input_length":5,"output_length":1,"hash_ids":7}`), 1, "a list of integers"},
		{"length not a number", "t.jsonl", mc(`{"timestamp":0,"input_length":"5","output_length":1}`), 1, "(input_length): expected an integer"},
		{"negative length", "t.jsonl", mc(`{"timestamp":0,"input_length":5,"output_length":-3}`), 1, "(output_length): expected an integer >= 1, got -3"},
		{"missing field", "t.jsonl", mc(`{"timestamp":0,"input_length":5}`), 1, "(output_length): expected a field output_length"},
		{"timestamp backwards", "t.jsonl", mc(`{"timestamp":1000,"input_length":5,"output_length":1}`, `{"timestamp":998,"input_length":5,"output_length":1}`), 2, "non-decreasing timestamp (within 1 ms of the previous arrival, 1000 ms at line 1)"},
		{"negative timestamp", "t.jsonl", mc(`{"timestamp":-1,"input_length":5,"output_length":1}`), 1, "a finite number >= 0"},
		{"text_input only", "t.jsonl", mc(`{"timestamp":0,"text_input":"hi","output_length":1}`), 1, "text_input needs an explicit input_length"},
		{"delay without session", "t.jsonl", mc(`{"timestamp":0,"input_length":5,"output_length":1}`, `{"delay":10,"input_length":5,"output_length":1}`), 2, "delay only on a later turn"},
		{"first turn without timestamp", "t.jsonl", mc(`{"session_id":"x","input_length":5,"output_length":1}`), 1, `timestamp (ms) on the first turn of session "x"`},
		{"timestamp and delay", "t.jsonl", mc(`{"session_id":"x","timestamp":0,"input_length":5,"output_length":1}`, `{"session_id":"x","timestamp":5,"delay":1,"input_length":5,"output_length":1}`), 2, "timestamp or delay, not both"},
		{"mixed lines", "t.jsonl", mc(`{"timestamp":0,"input_length":5,"output_length":1}`, `{"chat_id":1,"parent_chat_id":-1,"timestamp":0,"input_length":5,"output_length":1}`), 2, "one format per file"},
		{"not json", "t.jsonl", mc(`{"timestamp":0,"input_length":5,"output_length":1}`, `{"timestamp":`), 2, "one JSON object per line"},
		{"parent never appears", "b.jsonl", mc(`{"chat_id":1,"parent_chat_id":-1,"timestamp":0,"input_length":5,"output_length":1}`, `{"chat_id":2,"parent_chat_id":9,"timestamp":1,"input_length":5,"output_length":1}`), 2, "(parent_chat_id): expected the chat_id of a line before this one (a turn's parent comes first), got 9, which no earlier line has"},
		{"duplicate chat_id", "b.jsonl", mc(`{"chat_id":1,"parent_chat_id":-1,"timestamp":0,"input_length":5,"output_length":1}`, `{"chat_id":1,"parent_chat_id":-1,"timestamp":1,"input_length":5,"output_length":1}`), 2, "a chat_id not seen before"},
		{"bailian seconds backwards", "b.jsonl", mc(`{"chat_id":1,"parent_chat_id":-1,"timestamp":2,"input_length":5,"output_length":1}`, `{"chat_id":2,"parent_chat_id":-1,"timestamp":1.5,"input_length":5,"output_length":1}`), 2, "non-decreasing timestamp"},
		{"vllm prompt without count", "v.jsonl", mc(`{"prompt":"hi","output_tokens":3}`), 1, "a prompt needs its token count"},
		{"unknown jsonl", "u.jsonl", mc(`{"foo":1,"bar":2}`), 1, "got an object with keys bar,foo"},
		{"csv closest azure", "a.csv", "timestamp,ContextTokens,GeneratedTokens\n0,1,1\n", 1, `closest format: Azure LLM inference trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens): missing column "TIMESTAMP" (the header has "timestamp": names are matched exactly)`},
		{"csv closest burstgpt", "a.csv", "Timestamp,Model,Request tokens\n0,x,1\n", 1, `closest format: BurstGPT CSV (Timestamp,Model,Request tokens,Response tokens): missing column "Response tokens"`},
		{"burstgpt failed request", "a.csv", "Timestamp,Model,Request tokens,Response tokens\n0,ChatGPT,10,0\n", 2, "BurstGPT_without_fails"},
		{"burstgpt total", "a.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens\n0,ChatGPT,10,5,16\n", 2, "(Total tokens): expected Request tokens + Response tokens (15), got 16"},
		{"burstgpt backwards", "a.csv", "Timestamp,Model,Request tokens,Response tokens\n10,ChatGPT,10,5\n9,ChatGPT,10,5\n", 3, "non-decreasing arrival times"},
		{"azure bad time", "a.csv", azureHdr + "yesterday,1,1\n", 2, "a time like 2023-11-16"},
		{"azure backwards", "a.csv", azureHdr + "2023-11-16 18:15:46.68,1,1\n2023-11-16 18:15:40.00,1,1\n", 3, "non-decreasing"},
		{"splitwise not a number", "a.csv", "arrival_timestamp,prompt_size,token_size\n0,abc,2\n", 2, "(prompt_size): expected an integer >= 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := workload.Load([]workload.File{{Name: tc.file, R: strings.NewReader(tc.content)}}, workload.DefaultOptions())
			var ie *csvin.Error
			if !errors.As(err, &ie) {
				t.Fatalf("got %v (%T), want a *csvin.Error", err, err)
			}
			if ie.File != tc.file || ie.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q at %s:%d; want %s:%d containing %q", err, ie.File, ie.Line, tc.file, tc.line, tc.want)
			}
		})
	}
}

// TestTraceFormats_Tolerance: a timestamp back by less than
// BackwardsTolerance is kept in place at the previous time, and said so.
func TestTraceFormats_Tolerance(t *testing.T) {
	in := `{"timestamp":1000,"input_length":5,"output_length":1}` + "\n" + `{"timestamp":999.5,"input_length":6,"output_length":1}` + "\n"
	w, err := workload.Load([]workload.File{{Name: "t.jsonl", R: strings.NewReader(in)}}, workload.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if w.Requests[1].ArrivalNs != 1000*ms || w.Requests[1].Prefill != 6 {
		t.Errorf("requests %+v", w.Requests)
	}
	if !strings.Contains(strings.Join(w.Notes, "\n"), "1 arrivals went back in time by at most 1 ms") {
		t.Errorf("notes %q", w.Notes)
	}
}

// TestTraceFormats_IntegralFloats: 655.0 is the integer 655 (pandas writes
// ints so when a column held a NaN); 1.5 is refused.
func TestTraceFormats_IntegralFloats(t *testing.T) {
	in := `{"timestamp":0,"input_length":655.0,"output_length":5e1,"hash_ids":[46.0,47]}` + "\n"
	w, err := workload.Load([]workload.File{{Name: "t.jsonl", R: strings.NewReader(in)}}, workload.DefaultOptions())
	if err != nil || w.Requests[0].Prefill != 655 || w.Requests[0].Decode != 50 || !reflect.DeepEqual(w.HashIDs(0), []int64{46, 47}) {
		t.Fatalf("%v %+v", err, w)
	}
	in = `{"timestamp":0,"input_length":655.5,"output_length":5}` + "\n"
	if _, err := workload.Load([]workload.File{{Name: "t.jsonl", R: strings.NewReader(in)}}, workload.DefaultOptions()); err == nil || !strings.Contains(err.Error(), "(input_length): expected an integer (Mooncake/AIPerf trace), got number 655.5") {
		t.Errorf("655.5: %v", err)
	}
}

// TestTraceFormats_HashCountNote: hash_ids are kept as given, but a count
// other than one per block is said (line 2: 1100 tokens are 3 blocks of 512).
func TestTraceFormats_HashCountNote(t *testing.T) {
	in := `{"timestamp":0,"input_length":1024,"output_length":1,"hash_ids":[1,2]}` + "\n" + `{"timestamp":1,"input_length":1100,"output_length":1,"hash_ids":[1,2]}` + "\n"
	w, err := workload.Load([]workload.File{{Name: "t.jsonl", R: strings.NewReader(in)}}, workload.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(w.Notes, "\n"), "1 requests (the first at line 2) have a hash_ids count other than one per 512 prompt tokens") || len(w.HashIDs(1)) != 2 {
		t.Errorf("notes %q", w.Notes)
	}
	// The fixtures are consistent: no note.
	w, _ = workload.Load([]workload.File{fixture(t, "mooncake.jsonl")}, workload.DefaultOptions())
	if strings.Contains(strings.Join(w.Notes, "\n"), "hash_ids count") {
		t.Errorf("mooncake fixture: %q", w.Notes)
	}
}

func TestTraceFormats_MixedDrop(t *testing.T) {
	for _, pair := range [][2]string{{"mooncake.jsonl", "burstgpt.csv"}, {"azure_2023.csv", "splitwise.csv"}, {"bailian.jsonl", "mooncake.jsonl"}} {
		_, err := workload.Load([]workload.File{fixture(t, pair[0]), fixture(t, pair[1])}, workload.DefaultOptions())
		if err == nil || !strings.Contains(err.Error(), pair[0]) || !strings.Contains(err.Error(), pair[1]) || !strings.Contains(err.Error(), "one drop holds one workload format") {
			t.Errorf("%v: got %v", pair, err)
		}
	}
	// A model filter on a format without models is refused, not ignored.
	opt := workload.DefaultOptions()
	opt.Model = "GPT-4"
	if _, err := workload.Load([]workload.File{fixture(t, "azure_2023.csv")}, opt); err == nil || !strings.Contains(err.Error(), "BurstGPT traces only") {
		t.Errorf("model filter on Azure: %v", err)
	}
	opt.Model = "Llama"
	if _, err := workload.Load([]workload.File{fixture(t, "burstgpt.csv")}, opt); err == nil || !strings.Contains(err.Error(), "models in the file: ChatGPT, GPT-4") {
		t.Errorf("unknown model: %v", err)
	}
}

// TestSummarize: hand-computed from the fixtures.
func TestSummarize(t *testing.T) {
	load := func(name string) *workload.Workload {
		w, err := workload.Load([]workload.File{fixture(t, name)}, workload.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	// Mooncake: 3 requests over 27.482 s; hash ids 46,47 | 46,47 | 46,47,48:
	// 7 in all, 3 distinct. Prompts 655, 672, 1100: p50 672, p90 = p99 = max 1100.
	got := workload.Summarize(load("mooncake.jsonl"))
	want := workload.Summary{Requests: 3, DurationS: 27.482, MeanRateQPS: 3 / 27.482,
		Prompt:      workload.LengthStats{Mean: (655 + 672 + 1100) / 3.0, P50: 672, P90: 1100, P99: 1100, Max: 1100},
		Output:      workload.LengthStats{Mean: (52 + 26 + 52) / 3.0, P50: 52, P90: 52, P99: 52, Max: 52},
		BlockTokens: 512, PrefixBlocks: 7, DistinctPrefixBlocks: 3}
	if got != want {
		t.Errorf("mooncake\n got %+v\nwant %+v", got, want)
	}
	// AIPerf sessions: 2 open-loop arrivals 0.5 s apart, 2 closed-loop turns,
	// 2 sessions; hash ids 1 | 2 | 1,3 | 2,4: 6 in all, 4 distinct.
	got = workload.Summarize(load("aiperf_sessions.jsonl"))
	if got.Requests != 4 || got.DurationS != 0.5 || got.MeanRateQPS != 4 || got.Sessions != 2 || got.ClosedLoopRequests != 2 ||
		got.PrefixBlocks != 6 || got.DistinctPrefixBlocks != 4 || got.Prompt.P50 != 300 || got.Prompt.Max != 700 {
		t.Errorf("aiperf %+v", got)
	}
	// No hash ids, no sessions.
	got = workload.Summarize(load("splitwise.csv"))
	if got.BlockTokens != 0 || got.DistinctPrefixBlocks != 0 || got.Sessions != 0 || got.DurationS != 1.9 {
		t.Errorf("splitwise %+v", got)
	}
}

// TestTraceFormats_HashBlockTokens: a vLLM timed_trace (Mooncake-shaped,
// 16-token hash blocks by vLLM's default) read with HashBlockTokens 16:
// its ids match its lengths (no count note), the block size is the given
// one and said; read as Mooncake's 512 it gets the count note; a negative
// size is refused.
func TestTraceFormats_HashBlockTokens(t *testing.T) {
	in := `{"timestamp":0,"input_length":40,"output_length":1,"hash_ids":[1,2,3]}` + "\n" + `{"timestamp":5,"input_length":32,"output_length":2,"hash_ids":[1,2]}` + "\n"
	load := func(bt int) (*workload.Workload, error) {
		o := workload.DefaultOptions()
		o.HashBlockTokens = bt
		return workload.Load([]workload.File{{Name: "timed.jsonl", R: strings.NewReader(in)}}, o)
	}
	w, err := load(16)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(w.Notes, "\n")
	if w.BlockTokens != 16 || strings.Contains(notes, "hash_ids count") || !strings.Contains(notes, "hash_ids read as blocks of 16 prompt tokens (hash_block_tokens; the format's own: 512)") {
		t.Errorf("block tokens %d, notes %q", w.BlockTokens, w.Notes)
	}
	if w, err = load(0); err != nil || w.BlockTokens != 512 || !strings.Contains(strings.Join(w.Notes, "\n"), "2 requests (the first at line 1) have a hash_ids count other than one per 512 prompt tokens") {
		t.Errorf("as Mooncake: block tokens %v, notes %q, err %v", w, w.Notes, err)
	}
	if _, err := load(-1); err == nil || !strings.Contains(err.Error(), "hash_block_tokens: expected 0") {
		t.Errorf("negative block size: %v", err)
	}
}
