package api_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/servesim/servesim/api"
)

// spec is the parsed OpenAPI document; responses are validated against it.
var spec = func() map[string]any {
	var d map[string]any
	if err := json.Unmarshal(api.OpenAPI(), &d); err != nil {
		panic(err)
	}
	return d
}()

func resolve(v any) map[string]any {
	m, _ := v.(map[string]any)
	for m != nil && m["$ref"] != nil {
		ref := strings.TrimPrefix(m["$ref"].(string), "#/")
		var cur any = spec
		for _, k := range strings.Split(ref, "/") {
			cur = cur.(map[string]any)[k]
		}
		m = cur.(map[string]any)
	}
	return m
}

// validate checks v against a (subset of) JSON Schema: type, required,
// properties, items, enum and $ref.
func validate(t *testing.T, path string, schema map[string]any, v any) {
	t.Helper()
	schema = resolve(schema)
	if ty, ok := schema["type"]; ok {
		types := []any{ty}
		if l, ok := ty.([]any); ok {
			types = l
		}
		okType := false
		for _, ty := range types {
			switch ty {
			case "object":
				_, okType = v.(map[string]any)
			case "array":
				_, okType = v.([]any)
			case "string":
				_, okType = v.(string)
			case "boolean":
				_, okType = v.(bool)
			case "null":
				okType = v == nil
			case "number":
				_, okType = v.(float64)
			case "integer":
				f, isNum := v.(float64)
				okType = isNum && f == float64(int64(f))
			}
			if okType {
				break
			}
		}
		if !okType {
			t.Errorf("%s: %v is not of type %v", path, v, ty)
			return
		}
	}
	if enum, ok := schema["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			found = found || e == v
		}
		if !found {
			t.Errorf("%s: %v not in %v", path, v, enum)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		for _, r := range asList(schema["required"]) {
			if _, has := obj[r.(string)]; !has {
				t.Errorf("%s: missing required %q", path, r)
			}
		}
		props, _ := schema["properties"].(map[string]any)
		for k, pv := range obj {
			if ps, ok := props[k]; ok {
				validate(t, path+"."+k, ps.(map[string]any), pv)
			} else if schema["additionalProperties"] == false {
				t.Errorf("%s: key %q is not in the schema", path, k)
			}
		}
	}
	if arr, ok := v.([]any); ok && schema["items"] != nil {
		for i, it := range arr {
			validate(t, fmt.Sprintf("%s[%d]", path, i), schema["items"].(map[string]any), it)
		}
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

// checkSpec validates a response against the operation's declared responses.
func checkSpec(t *testing.T, method, path string, rec *httptest.ResponseRecorder) {
	t.Helper()
	op := resolve(resolve(spec["paths"].(map[string]any)[path])[strings.ToLower(method)])
	resp := resolve(op["responses"].(map[string]any)[fmt.Sprint(rec.Code)])
	if resp == nil {
		t.Fatalf("%s %s: status %d is not documented", method, path, rec.Code)
	}
	ct := rec.Header().Get("Content-Type")
	media, ok := resp["content"].(map[string]any)[ct]
	if !ok {
		t.Fatalf("%s %s %d: content type %q is not documented", method, path, rec.Code, ct)
	}
	if strings.Contains(ct, "json") && ct != "application/x-ndjson" {
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
		}
		validate(t, "response", media.(map[string]any)["schema"].(map[string]any), v)
	}
}

func serve(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestCatalogEndpoints(t *testing.T) {
	h := api.NewHandler(api.Options{})
	for _, p := range []string{"/api/profiles", "/api/presets", "/api/openapi.json"} {
		rec := serve(t, h, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Body)
		}
		checkSpec(t, "GET", p, rec)
	}
	rec := serve(t, h, httptest.NewRequest("GET", "/api/profiles", nil))
	if !strings.Contains(rec.Body.String(), "SYNTHESIZED") {
		t.Error("profiles must carry provenance")
	}
	// Each set lists the tensor-parallel degrees its mlp.csv has (all
	// embedded sets are profiled at TP 1 only).
	var sets []api.ProfileInfo
	if err := json.Unmarshal(rec.Body.Bytes(), &sets); err != nil || len(sets) == 0 {
		t.Fatalf("profiles: %v", err)
	}
	for _, s := range sets {
		if fmt.Sprint(s.TensorParallelSizes) != "[1]" {
			t.Errorf("%s: tensor_parallel_sizes %v, want [1]", s.Name, s.TensorParallelSizes)
		}
	}
}

func cliFile(t *testing.T, name string) []byte {
	b, err := os.ReadFile("../engine/report/testdata/seed/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSimulate_SameAsCLI: every way of asking for the seed run returns the
// CLI's numbers and bytes.
func TestSimulate_SameAsCLI(t *testing.T) {
	h := api.NewHandler(api.Options{})
	seed, _ := os.ReadFile("../presets/data/seed/vidur_trace.csv")
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("workload", "vidur_trace.csv")
	fw.Write(seed)
	mw.WriteField("config", `{"seed": 42}`)
	mw.Close()
	jsonBody, _ := json.Marshal(map[string]any{"files": []map[string]string{{"name": "vidur_trace.csv", "content": string(seed)}}})
	reqs := map[string]func() *http.Request{
		"GET preset": func() *http.Request { return httptest.NewRequest("GET", "/api/simulate?preset=seed", nil) },
		"POST multipart": func() *http.Request {
			r := httptest.NewRequest("POST", "/api/simulate", bytes.NewReader(mp.Bytes()))
			r.Header.Set("Content-Type", mw.FormDataContentType())
			return r
		},
		"POST json": func() *http.Request {
			r := httptest.NewRequest("POST", "/api/simulate", bytes.NewReader(jsonBody))
			r.Header.Set("Content-Type", "application/json")
			return r
		},
	}
	for name, mk := range reqs {
		t.Run(name, func(t *testing.T) {
			req := mk()
			rec := serve(t, h, req)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			checkSpec(t, req.Method, "/api/simulate", rec)
			var res api.Result
			json.Unmarshal(rec.Body.Bytes(), &res)
			// The golden request_metrics.csv row 0: TTFT and completion.
			row := strings.Split(strings.Split(string(cliFile(t, "request_metrics.csv")), "\n")[1], ",")
			if strconv.FormatFloat(res.Summary.TTFT.P50, 'f', -1, 64) != row[3] || strconv.FormatFloat(res.Summary.E2E.P50, 'f', -1, 64) != row[4] {
				t.Errorf("TTFT %v E2E %v; CLI says %s and %s", res.Summary.TTFT.P50, res.Summary.E2E.P50, row[3], row[4])
			}
			if len(res.Plots.TTFT.X) == 0 || len(res.Plots.Iterations.T) != 64 || len(res.Plots.Timeline.T) == 0 {
				t.Errorf("plots missing: %+v", res.Plots.Iterations)
			}
		})
	}
	// Files: byte-identical to the CLI's, one by one and in the zip.
	for _, f := range []string{"request_metrics.csv", "token_metrics.csv", "batch_metrics.csv"} {
		rec := serve(t, h, httptest.NewRequest("GET", "/api/simulate?preset=seed&file="+f, nil))
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), cliFile(t, f)) {
			t.Errorf("%s: status %d, differs from the CLI's", f, rec.Code)
		}
		checkSpec(t, "GET", "/api/simulate", rec)
	}
	rec := serve(t, h, httptest.NewRequest("GET", "/api/simulate?preset=seed&format=zip", nil))
	checkSpec(t, "GET", "/api/simulate", rec)
	zr, err := zip.NewReader(bytes.NewReader(rec.Body.Bytes()), int64(rec.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, zf := range zr.File {
		if zf.Name == "chrome_trace.json" || strings.HasSuffix(zf.Name, ".csv") {
			rc, _ := zf.Open()
			b, _ := io.ReadAll(rc)
			if !bytes.Equal(b, cliFile(t, zf.Name)) {
				t.Errorf("zip %s differs from the CLI's", zf.Name)
			}
		}
	}
	if rec.Header().Get("Cache-Control") == "" {
		t.Error("the share-link form should be cacheable")
	}
}

// TestSimulate_ZipOutputs: outputs picks the zip's files (same bytes as
// the CLI's); an unknown name, or outputs without format=zip, is a 400.
func TestSimulate_ZipOutputs(t *testing.T) {
	h := api.NewHandler(api.Options{})
	rec := serve(t, h, httptest.NewRequest("GET", "/api/simulate?preset=seed&format=zip&outputs=token,request", nil))
	checkSpec(t, "GET", "/api/simulate", rec)
	zr, err := zip.NewReader(bytes.NewReader(rec.Body.Bytes()), int64(rec.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, zf := range zr.File {
		names = append(names, zf.Name)
		rc, _ := zf.Open()
		b, _ := io.ReadAll(rc)
		if !bytes.Equal(b, cliFile(t, zf.Name)) {
			t.Errorf("zip %s differs from the CLI's", zf.Name)
		}
	}
	if strings.Join(names, ",") != "request_metrics.csv,token_metrics.csv" {
		t.Errorf("zip holds %v", names)
	}
	for _, q := range []string{"format=zip&outputs=requests", "outputs=request"} {
		rec := serve(t, h, httptest.NewRequest("GET", "/api/simulate?preset=seed&"+q, nil))
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "outputs") {
			t.Errorf("%s: status %d: %s", q, rec.Code, rec.Body.String())
		}
	}
}

func TestSimulate_Stream(t *testing.T) {
	h := api.NewHandler(api.Options{})
	rec := serve(t, h, httptest.NewRequest("GET", "/api/simulate?preset=spaced-2s&format=ndjson", nil))
	checkSpec(t, "GET", "/api/simulate", rec)
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	var last map[string]json.RawMessage
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if len(lines) < 2 || last["result"] == nil || !strings.Contains(lines[0], "progress") {
		t.Fatalf("stream: %d lines, last %s", len(lines), lines[len(lines)-1][:min(80, len(lines[len(lines)-1]))])
	}
}

// TestSimulate_StreamThrottled: progress lines go out for the first report,
// at most every ProgressInterval, and for the last; the result follows.
func TestSimulate_StreamThrottled(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		min, max int // progress lines
	}{
		{time.Hour, 2, 2},
		{time.Nanosecond, 100, 1 << 30}, // ~52k batch ends, a report every 256
	} {
		h := api.NewHandler(api.Options{ProgressInterval: tc.interval})
		rec := serve(t, h, httptest.NewRequest("GET", "/api/simulate?preset=synthetic&format=ndjson", nil))
		lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
		progress := 0
		for _, l := range lines[:len(lines)-1] {
			var m struct {
				Progress *struct{ Done, Total int } `json:"progress"`
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil || m.Progress == nil {
				t.Fatalf("interval %v: not a progress line: %.80s", tc.interval, l)
			}
			progress++
		}
		if progress < tc.min || progress > tc.max || !strings.HasPrefix(lines[len(lines)-1], `{"result"`) {
			t.Errorf("interval %v: %d progress lines (want %d..%d), last %.40s", tc.interval, progress, tc.min, tc.max, lines[len(lines)-1])
		}
	}
}

func TestSimulate_Errors(t *testing.T) {
	small := api.Options{Limits: api.Limits{MaxBodyBytes: 1024, MaxRequests: 50, MaxTokens: 10_000, Timeout: time.Minute}}
	post := func(body, ct string) *http.Request {
		r := httptest.NewRequest("POST", "/api/simulate", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		return r
	}
	bad := `{"files":[{"name":"t.csv","content":"arrived_at,num_prefill_tokens,num_decode_tokens\n0,12,64\n0.5,ten,64\n"}]}`
	tests := []struct {
		name   string
		opt    api.Options
		req    *http.Request
		status int
		check  func(api.Problem) bool
	}{
		{"bad CSV names file, line, column", api.Options{}, post(bad, "application/json"), 400,
			func(p api.Problem) bool {
				return p.File == "t.csv" && p.Line == 3 && p.Column == 2 && p.Expected == "an integer >= 1"
			}},
		{"unknown config key", api.Options{}, httptest.NewRequest("GET", "/api/simulate?config="+url.QueryEscape(`{"sheduler":{}}`), nil), 400,
			func(p api.Problem) bool { return strings.Contains(p.Detail, "unknown key") }},
		{"unknown preset", api.Options{}, httptest.NewRequest("GET", "/api/simulate?preset=nope", nil), 400,
			func(p api.Problem) bool { return strings.Contains(p.Detail, "valid: seed") }},
		{"profile path refused", api.Options{}, httptest.NewRequest("GET", "/api/simulate?config="+url.QueryEscape(`{"predictor":{"profile":"/etc"}}`), nil), 400,
			func(p api.Problem) bool { return strings.Contains(p.Detail, "unknown profile set") }},
		{"body too large", small, post(`{"preset":"`+strings.Repeat("x", 4096)+`"}`, "application/json"), 413, nil},
		{"too many requests (synthetic)", small, httptest.NewRequest("GET", "/api/simulate?preset=synthetic&config="+url.QueryEscape(`{"workload":{"num_requests":100}}`), nil), 422, nil},
		{"too many tokens", small, httptest.NewRequest("GET", "/api/simulate?preset=synthetic&config="+url.QueryEscape(`{"workload":{"num_requests":10}}`), nil), 422,
			func(p api.Problem) bool { return strings.Contains(p.Detail, "tokens") }},
		{"wall-clock budget", api.Options{Limits: api.Limits{MaxBodyBytes: 1 << 20, MaxRequests: 1 << 20, MaxTokens: 1 << 40, Timeout: time.Millisecond}},
			httptest.NewRequest("GET", "/api/simulate?preset=splitwise-conv-8qps", nil), 503, nil},
		{"run fails outside the grid", api.Options{}, httptest.NewRequest("GET", "/api/simulate?preset=synthetic&config="+url.QueryEscape(`{"workload":{"num_requests":300,"interval_generator":"static","prefill_tokens":8,"decode_tokens":50},"scheduler":{"batch_size_cap":300}}`), nil), 422,
			func(p api.Problem) bool { return strings.Contains(p.Detail, "not profiled") }},
		{"bad content type", api.Options{}, post("x", "text/plain"), 400, nil},
		{"bad format", api.Options{}, httptest.NewRequest("GET", "/api/simulate?format=xml", nil), 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, api.NewHandler(tc.opt), tc.req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.req.URL.Query().Get("format") != "xml" {
				checkSpec(t, tc.req.Method, "/api/simulate", rec)
			}
			var p api.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != tc.status {
				t.Fatalf("problem body %s", rec.Body)
			}
			if tc.check != nil && !tc.check(p) {
				t.Errorf("problem %+v", p)
			}
		})
	}
}

// TestPanic_RecoveredAtBoundary: a panic under the handler answers 500 as
// problem+json, and the handler keeps serving.
func TestPanic_RecoveredAtBoundary(t *testing.T) {
	h := api.NewHandler(api.Options{Static: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })})
	rec := serve(t, h, httptest.NewRequest("GET", "/index.html", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Header().Get("Content-Type"), "problem+json") || !strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("panic answered %d %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	if rec := serve(t, h, httptest.NewRequest("GET", "/api/simulate?preset=seed", nil)); rec.Code != http.StatusOK {
		t.Fatalf("after a panic: %d", rec.Code)
	}
	// A panic inside a run (the progress hook's Yield) is an internal error
	// in the stream, not a dead handler.
	h = api.NewHandler(api.Options{Yield: func() { panic("yield boom") }})
	rec = serve(t, h, httptest.NewRequest("GET", "/api/simulate?preset=seed&format=ndjson", nil))
	if !strings.Contains(rec.Body.String(), `"error"`) || !strings.Contains(rec.Body.String(), "yield boom") {
		t.Fatalf("stream with a panicking hook: %s", rec.Body)
	}
}

func TestCORS(t *testing.T) {
	h := api.NewHandler(api.Options{AllowOrigin: "https://page.example"})
	r := httptest.NewRequest("OPTIONS", "/api/simulate", nil)
	r.Header.Set("Origin", "https://page.example")
	if rec := serve(t, h, r); rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "https://page.example" {
		t.Errorf("preflight: %d %v", rec.Code, rec.Header())
	}
	r = httptest.NewRequest("GET", "/api/presets", nil)
	r.Header.Set("Origin", "https://evil.example")
	if rec := serve(t, h, r); rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Error("other origins must get no CORS header")
	}
}

func ExampleNewHandler() {
	h := api.NewHandler(api.Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/simulate?preset=seed", nil))
	var res api.Result
	json.Unmarshal(rec.Body.Bytes(), &res)
	fmt.Println(rec.Code, res.Summary.Requests, res.Iterations)
	// Output: 200 4 64
}

func TestWorkloadInspect(t *testing.T) {
	h := api.NewHandler(api.Options{})
	body := `{"files":[{"name":"trace_lengths.csv","content":"request_id,prompt_id,num_prefill_tokens,num_decode_tokens\n0,p0,9,64\n1,p1,14,64\n"},` +
		`{"name":"trace_intervals.csv","content":"request_id,inter_arrival_ns,arrival_time_ns\n0,0,0\n1,2000000000,2000000000\n"}]}`
	r := httptest.NewRequest("POST", "/api/workload", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	rec := serve(t, h, r)
	checkSpec(t, "POST", "/api/workload", rec)
	var info api.WorkloadInfo
	json.Unmarshal(rec.Body.Bytes(), &info)
	if rec.Code != 200 || info.Format != "servesim-trace" || info.NumRequests != 2 || info.PrefillTokens != 23 || info.LastArrivalS != 2 {
		t.Errorf("%d %+v", rec.Code, info)
	}
}

// TestWorkloadInspect_Trace: a Mooncake/AIPerf trace is summarised before
// running (sessions, closed-loop turns, prefix blocks), then simulated with
// its closed-loop turns released by their predecessors.
func TestWorkloadInspect_Trace(t *testing.T) {
	h := api.NewHandler(api.Options{})
	trace := `{"session_id":"a","timestamp":0,"input_length":300,"output_length":20,"hash_ids":[1]}\n` +
		`{"session_id":"b","timestamp":500,"input_length":200,"output_length":10,"hash_ids":[2]}\n` +
		`{"session_id":"a","delay":1000,"input_length":600,"output_length":20,"hash_ids":[1,3]}\n`
	body := `{"files":[{"name":"trace.jsonl","content":"` + strings.ReplaceAll(trace, `"`, `\"`) + `"}]}`
	r := httptest.NewRequest("POST", "/api/workload", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	rec := serve(t, h, r)
	checkSpec(t, "POST", "/api/workload", rec)
	var info api.WorkloadInfo
	if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 200 || info.Format != "mooncake-trace" || info.NumRequests != 3 || info.Sessions != 2 || info.ClosedLoopRequests != 1 ||
		info.BlockTokens != 512 || info.PrefixBlocks != 4 || info.DistinctPrefixBlocks != 3 || info.DurationS != 0.5 || info.Prompt.P50 != 300 {
		t.Errorf("%d %s", rec.Code, rec.Body.String())
	}
	r = httptest.NewRequest("POST", "/api/simulate", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	rec = serve(t, h, r)
	checkSpec(t, "POST", "/api/simulate", rec)
	if rec.Code != 200 {
		t.Fatalf("simulate: %d %s", rec.Code, rec.Body.String())
	}
}

// TestSimulate_UserProfileFiles: a profile set sent with the request (the
// embedded A100 set's two CSVs, no profile.json) runs like the embedded set
// and is named as the user's; a broken cell is a 400 with its position.
func TestSimulate_UserProfileFiles(t *testing.T) {
	h := api.NewHandler(api.Options{})
	post := func(body any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		r := httptest.NewRequest("POST", "/api/simulate", bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		rec := serve(t, h, r)
		checkSpec(t, "POST", "/api/simulate", rec)
		return rec
	}
	read := func(f string) string {
		b, err := os.ReadFile("../profiles/a100/qwen3-0.6b/" + f)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := post(map[string]any{"preset": "seed"})
	files := []api.File{{Name: "mlp.csv", Content: read("mlp.csv")}, {Name: "attention.csv", Content: read("attention.csv")},
		{Name: "provenance.txt", Content: "my A100, my vLLM"}}
	got := post(map[string]any{"preset": "seed", "profile_files": files})
	var a, b api.Result
	json.Unmarshal(want.Body.Bytes(), &a)
	json.Unmarshal(got.Body.Bytes(), &b)
	if got.Code != 200 || b.Profile.Kind != "user" || b.Profile.Summary != "USER-SUPPLIED: my A100, my vLLM" || !reflect.DeepEqual(a.Summary, b.Summary) {
		t.Fatalf("%d: profile %+v; summary %+v vs embedded %+v", got.Code, b.Profile, b.Summary, a.Summary)
	}
	files[1].Content = strings.Replace(files[1].Content, "0.000754,0.005164", "0.000754,abc", 1)
	bad := post(map[string]any{"preset": "seed", "profile_files": files})
	var p api.Problem
	json.Unmarshal(bad.Body.Bytes(), &p)
	if bad.Code != 400 || p.File != "uploaded/attention.csv" || p.Line != 3 || p.Column != 2 {
		t.Errorf("%d %+v", bad.Code, p)
	}
}

// TestWorkloadInspect_RealResult: a vllm bench serve result is also a
// workload (its requests replayed), summarised before running.
func TestWorkloadInspect_RealResult(t *testing.T) {
	h := api.NewHandler(api.Options{})
	b, err := os.ReadFile("../internal/realrun/testdata/vllm_bench_serve.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"files": []api.File{{Name: "result.json", Content: string(b)}}})
	r := httptest.NewRequest("POST", "/api/workload", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	rec := serve(t, h, r)
	checkSpec(t, "POST", "/api/workload", rec)
	var info api.WorkloadInfo
	json.Unmarshal(rec.Body.Bytes(), &info)
	if rec.Code != 200 || info.Format != "real-result" || info.NumRequests != 4 {
		t.Errorf("%d %s", rec.Code, rec.Body.String())
	}
}

// A model given as its config.json on a catalogue GPU runs on the roofline
// estimate; the result says so (profile kind and choice) and validates
// against the spec, as do the catalogue endpoints.
func TestSimulate_ModelConfigEstimate(t *testing.T) {
	h := api.NewHandler(api.Options{})
	for _, p := range []string{"/api/models", "/api/gpus"} {
		rec := serve(t, h, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Body)
		}
		checkSpec(t, "GET", p, rec)
	}
	post := func(body string) (*httptest.ResponseRecorder, api.Result) {
		r := httptest.NewRequest("POST", "/api/simulate", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		rec := serve(t, h, r)
		checkSpec(t, "POST", "/api/simulate", rec)
		var res api.Result
		json.Unmarshal(rec.Body.Bytes(), &res)
		return rec, res
	}
	hf := `{"model_type": "qwen3", "hidden_size": 1024, "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
		"head_dim": 128, "intermediate_size": 3072, "vocab_size": 151936, "max_position_embeddings": 40960, "tie_word_embeddings": true}`
	rec, res := post(`{"preset": "seed", "model_config": ` + hf + `, "config": {"replica": {"device": "b200"}}}`)
	if rec.Code != 200 || res.Profile.Kind != "estimated" || !strings.Contains(res.Profile.Choice, "no measured profile set for custom/qwen3 on b200") ||
		res.Config.Replica.ModelSpec == nil || res.Config.Predictor.Profile != "estimate" {
		t.Fatalf("%d %+v %s", rec.Code, res.Profile, rec.Body)
	}
	// The device alone picks the measured set for the pair.
	rec, res = post(`{"preset": "seed", "config": {"replica": {"device": "h200"}}}`)
	if rec.Code != 200 || res.Profile.Name != "h200/qwen3-0.6b" || !strings.Contains(res.Profile.Choice, "(MEASURED) chosen") {
		t.Fatalf("%d %+v", rec.Code, res.Profile)
	}
	// Naming the default set on another device is still refused.
	rec, _ = post(`{"preset": "seed", "config": {"replica": {"device": "h200"}, "predictor": {"profile": "a100/qwen3-0.6b"}}}`)
	if rec.Code != 400 && rec.Code != 422 {
		t.Errorf("named contradicting set: %d %s", rec.Code, rec.Body)
	}
	// A refused architecture names the key and its position.
	rec, _ = post(`{"preset": "seed", "model_config": {"model_type": "llama", "num_experts": 8}}`)
	if rec.Code/100 != 4 || !strings.Contains(rec.Body.String(), `model_config:1:25: \"num_experts\": mixture-of-experts`) {
		t.Errorf("MoE: %d %s", rec.Code, rec.Body)
	}
}

// POST /api/profile says which set a run would use and which TP degrees
// fit, without simulating: Llama 3.1 70B on one H100 is the estimate, its
// TP 1 refused by the memory planner with the degree it fits at; FP8
// weights on the A100 are refused by name; a config.json sent as text
// gives its own line and column.
func TestProfileChoice(t *testing.T) {
	h := api.NewHandler(api.Options{})
	post := func(body string) (*httptest.ResponseRecorder, api.ProfileChoice) {
		r := httptest.NewRequest("POST", "/api/profile", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		rec := serve(t, h, r)
		checkSpec(t, "POST", "/api/profile", rec)
		var res api.ProfileChoice
		json.Unmarshal(rec.Body.Bytes(), &res)
		return rec, res
	}
	rec, res := post(`{"preset": "seed", "config": {"replica": {"model_name": "meta-llama/Llama-3.1-70B", "device": "h100"}}}`)
	if rec.Code != 200 || res.Profile.Kind != "estimated" || !strings.Contains(res.Profile.Choice, "no measured profile set for meta-llama/Llama-3.1-70B on h100") ||
		!strings.Contains(res.Profile.Provenance, "**Status: ESTIMATED.**") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var fits, why []string
	for _, f := range res.TensorParallel {
		if f.Why == "" {
			fits = append(fits, fmt.Sprint(f.Size))
		} else {
			why = append(why, fmt.Sprintf("%d: %s", f.Size, f.Why))
		}
	}
	if strings.Join(fits, ",") != "2,4,8" || fmt.Sprint(res.Profile.TensorParallelSizes) != "[2 4 8]" || len(why) != 1 ||
		!strings.Contains(why[0], "1: memory planner: meta-llama/Llama-3.1-70B does not fit on h100") || !strings.Contains(why[0], "it fits at tensor_parallel_size 2") {
		t.Errorf("fits %v, refused %v", fits, why)
	}
	// The measured pair: its set, its one TP.
	rec, res = post(`{"preset": "seed", "config": {"replica": {"device": "h200"}}}`)
	if rec.Code != 200 || res.Profile.Name != "h200/qwen3-0.6b" || !res.Profile.EngineTiming || len(res.TensorParallel) != 1 || res.TensorParallel[0].Why != "" {
		t.Errorf("h200: %d %+v", rec.Code, res)
	}
	rec, _ = post(`{"preset": "seed", "config": {"replica": {"model_name": "Qwen/Qwen3-8B", "device": "a100", "weight_dtype": "fp8"}}}`)
	if rec.Code/100 != 4 || !strings.Contains(rec.Body.String(), "weight_dtype fp8 on a100") {
		t.Errorf("fp8 on the A100: %d %s", rec.Code, rec.Body)
	}
	rec, res = post(`{"preset": "seed", "config": {"replica": {"model_name": "Qwen/Qwen3-8B", "device": "h100", "weight_dtype": "fp8", "kv_cache_dtype": "fp8"}}}`)
	if rec.Code != 200 || res.Profile.WeightDtype != "fp8" || res.Profile.KVCacheDtype != "fp8" || !strings.Contains(res.Profile.Summary, "no FP8 measurement") {
		t.Errorf("fp8 on the H100: %d %s", rec.Code, rec.Body)
	}
	text, _ := json.Marshal("{\n  \"model_type\": \"llama\",\n  \"num_experts\": 8\n}")
	rec, _ = post(`{"preset": "seed", "model_config": ` + string(text) + `}`)
	if rec.Code/100 != 4 || !strings.Contains(rec.Body.String(), `model_config:3:3: \"num_experts\": mixture-of-experts`) {
		t.Errorf("config.json as text: %d %s", rec.Code, rec.Body)
	}
}
