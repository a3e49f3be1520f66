package realrun

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// Both fixtures hold the same four requests: 0 (100 prompt tokens, TTFT 10
// ms, gaps 5 and 6 ms), 1 (50, 20 ms, 7 ms), 2 failed (30 prompt tokens),
// 3 (80, 15 ms, three gaps of 4 ms), started at 0, 0.5, 0.7 and 1.0 s.
func wantRequests() []Request {
	return []Request{
		{ID: 0, ArrivalNs: 0, Prompt: 100, Output: 3, OK: true, TTFTNs: 10e6, E2ENs: 21e6, GapsNs: []float64{5e6, 6e6}},
		{ID: 1, ArrivalNs: 500e6, Prompt: 50, Output: 2, OK: true, TTFTNs: 20e6, E2ENs: 27e6, GapsNs: []float64{7e6}},
		{ID: 2, ArrivalNs: 700e6, Prompt: 30, Output: 0},
		{ID: 3, ArrivalNs: 1000e6, Prompt: 80, Output: 4, OK: true, TTFTNs: 15e6, E2ENs: 27e6, GapsNs: []float64{4e6, 4e6, 4e6}},
	}
}

func near(a, b float64) bool { return a == b || (a-b)/b < 1e-9 && (b-a)/b < 1e-9 }

func sameRequests(t *testing.T, what string, got, want []Request) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d requests, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		ok := g.ID == w.ID && g.ArrivalNs == w.ArrivalNs && g.Prompt == w.Prompt && g.Output == w.Output && g.OK == w.OK &&
			near(g.TTFTNs, w.TTFTNs) && near(g.E2ENs, w.E2ENs) && len(g.GapsNs) == len(w.GapsNs)
		for k := range w.GapsNs {
			ok = ok && near(g.GapsNs[k], w.GapsNs[k])
		}
		if !ok {
			t.Errorf("%s: request %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func TestReadFile_BothFormats(t *testing.T) {
	for _, tc := range []struct{ file, format string }{
		{"testdata/vllm_bench_serve.json", FormatVLLM},
		{"testdata/profile_export.jsonl", FormatAIPerf},
	} {
		r, err := ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if r.Format != tc.format || !r.HasArrivals {
			t.Errorf("%s: format %s arrivals %t", tc.file, r.Format, r.HasArrivals)
		}
		sameRequests(t, tc.file, r.Requests, wantRequests())
		run := r.Run()
		if !reflect.DeepEqual(run.Order, []int{0, 1, 3}) || !near(run.TTFT[3], 15e6) || !near(run.E2E[1], 27e6) || len(run.TBT) != 6 {
			t.Errorf("%s: run %+v", tc.file, run)
		}
		w, err := r.Workload()
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Requests) != 4 || w.Requests[2].Rejected != StatusFailedInRealRun || w.Requests[3].ArrivalNs != 1e9 || w.Requests[0].Prefill != 100 || w.Requests[0].Decode != 3 {
			t.Errorf("%s: workload %+v", tc.file, w.Requests)
		}
	}
	r, _ := ReadFile("testdata/profile_export.jsonl")
	if r.Skipped != 1 {
		t.Errorf("warm-up records skipped: %d, want 1", r.Skipped)
	}
}

func TestLoad_Directories(t *testing.T) {
	d := t.TempDir()
	b, _ := os.ReadFile("testdata/profile_export.jsonl")
	os.WriteFile(filepath.Join(d, "profile_export.jsonl"), b, 0o644)
	run, err := Load(d)
	if err != nil || len(run.Order) != 3 {
		t.Fatalf("AIPerf artifact dir: %v %+v", err, run)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "profile_export.jsonl") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestParse_Errors(t *testing.T) {
	vllm, _ := os.ReadFile("testdata/vllm_bench_serve.json")
	aiperf, _ := os.ReadFile("testdata/profile_export.jsonl")
	v, a := string(vllm), string(aiperf)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"vllm syntax", strings.Replace(v, `"ttfts": [`, `"ttfts": [,`, 1), "x:16:14: expected a vllm bench serve result"},
		{"vllm type", strings.Replace(v, `"input_lens": [100`, `"input_lens": ["100"`, 1), "x:14:23:"},
		{"vllm length mismatch", strings.Replace(v, `[100, 50, 30, 80]`, `[100, 50, 30]`, 1), `"input_lens" has 3 entries, "ttfts" 4`},
		{"vllm missing list", strings.Replace(v, `"itls"`, `"itlz"`, 1), `no "itls" found`},
		{"vllm negative ttft", strings.Replace(v, `[0.010, 0.020`, `[-0.010, 0.020`, 1), `"ttfts"[0]: expected a number >= 0, got -0.01`},
		{"vllm fractional length", strings.Replace(v, `[3, 2, 0, 4]`, `[3, 2.5, 0, 4]`, 1), `"output_lens"[1]: expected a whole token count`},
		{"vllm negative gap", strings.Replace(v, `[0.007]`, `[-0.007]`, 1), `"itls"[1][0]: expected a number >= 0`},
		{"vllm empty", `{"ttfts": [], "itls": [], "input_lens": [], "output_lens": []}`, `no requests`},
		{"aiperf syntax", strings.Replace(a, `"value":20.0`, `"value":20.0,,`, 1), "x:1:"},
		{"aiperf unit", strings.Replace(a, `"value":15000,"unit":"us"`, `"value":15000,"unit":"fortnights"`, 1), `x:6: metrics.time_to_first_token.unit: expected a time unit`},
		{"aiperf missing ttft", strings.Replace(a, `"time_to_first_token":{"value":10.0,"unit":"ms"},`, ``, 1), `x:2: expected metrics time_to_first_token and request_latency`},
		{"aiperf latency below ttft", strings.Replace(a, `"request_latency":{"value":21.0`, `"request_latency":{"value":2.0`, 1), `x:2: metrics.request_latency`},
		{"aiperf no start", strings.Replace(a, `"request_start_ns":1759813208100000000,`, ``, 1), `x:6: expected metadata.request_start_ns`},
		{"aiperf bad gap", strings.Replace(a, `[5.0,6.0]`, `[5.0,"6"]`, 1), `x:2: metrics.inter_chunk_latency`},
	} {
		_, err := Parse([]byte(tc.in), "x")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func fuzzCheck(t *testing.T, r *Result) {
	for _, q := range r.Requests {
		if q.OK && (q.TTFTNs < 0 || q.E2ENs < q.TTFTNs-1e-3 || q.ArrivalNs < 0) {
			t.Fatalf("request %+v", q)
		}
	}
	_ = r.Run()
	_, _ = r.Workload()
}

func FuzzParseVLLM(f *testing.F) {
	b, _ := os.ReadFile("testdata/vllm_bench_serve.json")
	f.Add(b)
	f.Add([]byte(`{"ttfts":[0.1],"itls":[[0.1]],"input_lens":[1],"output_lens":[2],"e2els":[0.3]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseVLLM(b, "f"); err == nil {
			fuzzCheck(t, r)
		}
	})
}

func FuzzParseAIPerf(f *testing.F) {
	b, _ := os.ReadFile("testdata/profile_export.jsonl")
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseAIPerf(b, "f"); err == nil {
			fuzzCheck(t, r)
		}
	})
}

func TestReadMetrics(t *testing.T) {
	fsys := fstest.MapFS{
		"request_metrics.csv": {Data: []byte("request_id,arrival_time_ns,first_token_time_ns,ttft_ns,completion_time_ns,num_prefill_tokens,num_decode_tokens,num_decode_tokens_actual,status\n" +
			"1,500,1500,1000,3500,50,2,2,ok\n0,0,10,10,30,100,3,3,ok\n2,600,-1,-1,-1,30,1,0,rejected_too_long\n")},
		"token_metrics.csv": {Data: []byte("request_id,token_index,token_time_ns,token_latency_ns\n0,0,10,0\n0,1,20,10\n0,2,30,10\n1,0,1500,0\n1,1,3500,2000\n")},
	}
	r, err := ReadFS(fsys, "run")
	if err != nil {
		t.Fatal(err)
	}
	want := []Request{{ID: 0, Prompt: 100, Output: 3, OK: true, TTFTNs: 10, E2ENs: 30, GapsNs: []float64{10, 10}},
		{ID: 1, ArrivalNs: 500, Prompt: 50, Output: 2, OK: true, TTFTNs: 1000, E2ENs: 3000, GapsNs: []float64{2000}},
		{ID: 2, ArrivalNs: 600, Prompt: 30, Output: 1}}
	sameRequests(t, "metrics", r.Requests, want)
	fsys["token_metrics.csv"] = &fstest.MapFile{Data: []byte("request_id,token_index,token_time_ns,token_latency_ns\n7,1,20,10\n")}
	if _, err := ReadFS(fsys, "run"); err == nil || !strings.Contains(err.Error(), "run/token_metrics.csv:2:1") {
		t.Errorf("unknown id: %v", err)
	}
}

func TestReadMetrics_Gzip(t *testing.T) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte("request_id,token_index,token_time_ns,token_latency_ns\n0,0,10,0\n0,1,25,15\n"))
	zw.Close()
	fsys := fstest.MapFS{
		"request_metrics.csv":  {Data: []byte("request_id,arrival_time_ns,first_token_time_ns,ttft_ns,completion_time_ns,num_prefill_tokens,num_decode_tokens,num_decode_tokens_actual,status\n0,0,10,10,25,5,2,2,ok\n")},
		"token_metrics.csv.gz": {Data: z.Bytes()},
	}
	r, err := ReadMetrics(fsys, "gz")
	if err != nil || len(r.Requests[0].GapsNs) != 1 || r.Requests[0].GapsNs[0] != 15 {
		t.Fatalf("%v %+v", err, r)
	}
}
