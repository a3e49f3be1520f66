package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/servesim/servesim/api"
)

// handlerTransport serves requests with a handler in process (as the
// page's pool of Web Workers does), counting them.
type handlerTransport struct {
	h      http.Handler
	trials *atomic.Int64
	bad    *atomic.Value // the first request that was not a summary trial
}

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != "/api/simulate" || r.URL.Query().Get("format") != "summary" {
		t.bad.CompareAndSwap(nil, r.URL.String())
	}
	t.trials.Add(1)
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// TestSearch_PoolAndFiles: a search whose trials go through a host's
// trial pool (POST /api/simulate?format=summary on another handler, what the
// page's Web Workers answer) answers the same bytes as one run in process;
// ?files=1 carries search.json, search.csv and search_curve.csv.
func TestSearch_PoolAndFiles(t *testing.T) {
	body := `{"preset":"splitwise-conv-2qps","search":{"requests":60,"precision":0.05,"axes":{"batch_cap":[8,64]},"target_qps":4}}`
	post := func(h http.Handler) *httptest.ResponseRecorder { return postSearchFiles(t, h, body) }
	local := post(api.NewHandler(api.Options{}))
	tr := handlerTransport{h: api.NewHandler(api.Options{}), trials: new(atomic.Int64), bad: new(atomic.Value)}
	pooled := post(api.NewHandler(api.Options{SearchPool: func() (http.RoundTripper, int) { return tr, 3 }}))
	if !bytes.Equal(local.Body.Bytes(), pooled.Body.Bytes()) {
		t.Errorf("pooled search differs from the in-process one:\n%s\n%s", local.Body, pooled.Body)
	}
	var res struct {
		Trials int `json:"trials"`
		Points []struct {
			Curve []any `json:"curve"`
		} `json:"points"`
		Files []struct{ Name, Content string }
	}
	if err := json.Unmarshal(pooled.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	// Every trial the search ran went to the pool; the result counts the
	// points' trials, some of them shared (a batch cap that never bound).
	if n := int(tr.trials.Load()); n > res.Trials || n == 0 || res.Trials == 0 {
		t.Errorf("the pool ran %d trials, the result counts %d", n, res.Trials)
	}
	if b := tr.bad.Load(); b != nil {
		t.Errorf("a trial went to %v, not /api/simulate?format=summary", b)
	}
	if len(res.Files) != 3 || res.Files[0].Name != "search.json" || res.Files[1].Name != "search.csv" || res.Files[2].Name != "search_curve.csv" {
		t.Fatalf("files %+v", res.Files)
	}
	// search.json is the answer without api_version and files, indented.
	var whole map[string]json.RawMessage
	json.Unmarshal(pooled.Body.Bytes(), &whole)
	delete(whole, "api_version")
	delete(whole, "files")
	var fromFile map[string]json.RawMessage
	if err := json.Unmarshal([]byte(res.Files[0].Content), &fromFile); err != nil || len(fromFile) != len(whole) {
		t.Fatalf("search.json: %v (%d keys, answer %d)", err, len(fromFile), len(whole))
	}
	for k, v := range whole {
		if !bytes.Equal(v, compact(t, fromFile[k])) {
			t.Errorf("search.json %s = %s, answer %s", k, fromFile[k], v)
		}
	}
	rows := 1
	for _, p := range res.Points {
		rows += len(p.Curve)
	}
	if n := strings.Count(res.Files[2].Content, "\n"); n != rows || strings.Count(res.Files[1].Content, "\n") != 1+len(res.Points) {
		t.Errorf("search_curve.csv has %d lines, want %d (header and every trial of the curves)", n, rows)
	}
}

func compact(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestSimulate_FormatSummary: ?format=summary answers the full answer's
// summary, and nothing of its plot series.
func TestSimulate_FormatSummary(t *testing.T) {
	h := api.NewHandler(api.Options{})
	run := func(q string) []byte {
		r := httptest.NewRequest("POST", "/api/simulate"+q, strings.NewReader(`{"preset":"splitwise-conv-2qps","config":{"workload":{"num_requests":200}}}`))
		r.Header.Set("Content-Type", "application/json")
		rec := serve(t, h, r)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", q, rec.Code, rec.Body)
		}
		b, _ := io.ReadAll(rec.Body)
		return b
	}
	var full, sum map[string]json.RawMessage
	json.Unmarshal(run(""), &full)
	sb := run("?format=summary")
	json.Unmarshal(sb, &sum)
	if len(sum) != 3 || !bytes.Equal(sum["summary"], full["summary"]) || !bytes.Equal(sum["run_id"], full["run_id"]) {
		t.Errorf("summary answer %s\nfull summary %s", sb, full["summary"])
	}
	var v any
	json.Unmarshal(sb, &v)
	validate(t, "summary", map[string]any{"$ref": "#/components/schemas/SummaryResult"}, v)
}

// TestSimulate_StopSLO: ?format=summary&stop=slo answers an overloaded
// trial as stopped early (the summary validates against the schema, with
// the verdict and an attainment bound at least the full run's), answers a
// trial that meets its objective as the plain summary, and refuses stop
// without format=summary or with another value.
func TestSimulate_StopSLO(t *testing.T) {
	h := api.NewHandler(api.Options{})
	run := func(q, qps string, want int) map[string]json.RawMessage {
		r := httptest.NewRequest("POST", "/api/simulate"+q, strings.NewReader(`{"preset":"splitwise-conv-2qps","config":{"workload":{"num_requests":400,"qps":`+qps+`}}}`))
		r.Header.Set("Content-Type", "application/json")
		rec := serve(t, h, r)
		if rec.Code != want {
			t.Fatalf("%s: %d %s", q, rec.Code, rec.Body)
		}
		b, _ := io.ReadAll(rec.Body)
		var v any
		json.Unmarshal(b, &v)
		if want == 200 {
			validate(t, q, map[string]any{"$ref": "#/components/schemas/SummaryResult"}, v)
		}
		var m map[string]json.RawMessage
		json.Unmarshal(b, &m)
		return m
	}
	type sum struct {
		SLO struct {
			Met        bool    `json:"met"`
			Attainment float64 `json:"attainment"`
		} `json:"slo"`
		Stopped *struct {
			Metric  string `json:"metric"`
			Failing int64  `json:"failing"`
			Allowed int64  `json:"allowed"`
		} `json:"stopped_early"`
	}
	var full, early sum
	json.Unmarshal(run("?format=summary", "300", 200)["summary"], &full)
	json.Unmarshal(run("?format=summary&stop=slo", "300", 200)["summary"], &early)
	if full.SLO.Met || early.Stopped == nil || early.SLO.Met || early.SLO.Attainment < full.SLO.Attainment || early.Stopped.Failing <= early.Stopped.Allowed {
		t.Errorf("at 300 QPS: full %+v, stopped %+v (%+v)", full.SLO, early.SLO, early.Stopped)
	}
	a, b := run("?format=summary", "1", 200), run("?format=summary&stop=slo", "1", 200)
	if !bytes.Equal(a["summary"], b["summary"]) || bytes.Contains(b["summary"], []byte("stopped_early")) {
		t.Errorf("at 1 QPS the watched run should be the full one:\n%s\n%s", a["summary"], b["summary"])
	}
	run("?stop=slo", "1", 400)
	run("?format=summary&stop=now", "1", 400)
}

// TestSearch_PoolModelAndGPU: a search of a model other than the default
// set's, a dropped config.json (model_config) or a catalogue model on
// another GPU, answers through the trial pool what it answers in process:
// each pooled trial's configuration says predictor.profile "auto", so it
// chooses its set (the roofline estimate) as the trial in process does,
// instead of opening the default set for another model.
func TestSearch_PoolModelAndGPU(t *testing.T) {
	const tiny = `{"_name_or_path": "my/tiny-llama", "model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 8,
  "num_attention_heads": 16, "num_key_value_heads": 4, "intermediate_size": 5632, "vocab_size": 32000,
  "max_position_embeddings": 4096, "torch_dtype": "bfloat16"}`
	mc, _ := json.Marshal(tiny) // as the page sends it: the file's text
	for name, body := range map[string]string{
		"model_config": `{"preset":"splitwise-conv-2qps","model_config":` + string(mc) + `,"search":{"requests":60,"precision":0.1,"axes":{"batch_cap":[8,64]}}}`,
		"catalogue":    `{"preset":"splitwise-conv-2qps","config":{"replica":{"model_name":"Qwen/Qwen3-8B","device":"l40s"}},"search":{"requests":60,"precision":0.1,"start_qps":4}}`,
	} {
		t.Run(name, func(t *testing.T) {
			post := func(h http.Handler) []byte { return postSearchFiles(t, h, body).Body.Bytes() }
			local := post(api.NewHandler(api.Options{}))
			tr := handlerTransport{h: api.NewHandler(api.Options{}), trials: new(atomic.Int64), bad: new(atomic.Value)}
			pooled := post(api.NewHandler(api.Options{SearchPool: func() (http.RoundTripper, int) { return tr, 2 }}))
			if !bytes.Equal(local, pooled) {
				t.Errorf("pooled search differs from the in-process one:\n%.2000s\n%.2000s", local, pooled)
			}
			var res struct {
				Points []struct {
					Found bool   `json:"found"`
					Error string `json:"error"`
				} `json:"points"`
			}
			if err := json.Unmarshal(pooled, &res); err != nil || len(res.Points) == 0 {
				t.Fatalf("%v: %s", err, pooled)
			}
			for i, p := range res.Points {
				if !p.Found || p.Error != "" {
					t.Errorf("point %d: found %v, error %q", i, p.Found, p.Error)
				}
			}
			if tr.trials.Load() == 0 {
				t.Error("no trial went to the pool")
			}
		})
	}
}

// postSearchFiles posts body to h's /api/search?files=1, checks the answer
// against the API spec and fails the test unless it is 200.
func postSearchFiles(t *testing.T, h http.Handler, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", "/api/search?files=1", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	rec := serve(t, h, r)
	checkSpec(t, "POST", "/api/search", rec)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return rec
}

// bodyCheck is a trial pool transport that records whether every trial's
// body carried the caller's profile files (profile_files, as the page's
// workers get them).
type bodyCheck struct {
	handlerTransport
	missing *atomic.Int64
}

func (t bodyCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	var req struct {
		ProfileFiles []api.File `json:"profile_files"`
	}
	if json.Unmarshal(b, &req) != nil || len(req.ProfileFiles) == 0 {
		t.missing.Add(1)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return t.handlerTransport.RoundTrip(r)
}

// TestSearch_PoolProfileFiles: a search with the caller's own profile files
// (profile_files, as the page drops them) answers the same bytes through
// the trial pool, every pooled trial carrying the files, as in process; a
// broken file is a 400 with its file, line and column before any trial.
// Before, profile_files was an unknown key.
func TestSearch_PoolProfileFiles(t *testing.T) {
	read := func(f string) string {
		b, err := os.ReadFile("../profiles/a100/qwen3-0.6b/" + f)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	files := []api.File{{Name: "mlp.csv", Content: read("mlp.csv")}, {Name: "attention.csv", Content: read("attention.csv")}, {Name: "provenance.txt", Content: "my A100"}}
	body := func(files []api.File) string {
		b, _ := json.Marshal(map[string]any{"preset": "splitwise-conv-2qps", "profile_files": files, "search": map[string]any{"requests": 60, "precision": 0.1, "axes": map[string]any{"batch_cap": []int{8, 64}}}})
		return string(b)
	}
	post := func(h http.Handler, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/api/search?files=1", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		rec := serve(t, h, r)
		checkSpec(t, "POST", "/api/search", rec)
		return rec
	}
	local := post(api.NewHandler(api.Options{}), body(files))
	if local.Code != 200 {
		t.Fatalf("status %d: %s", local.Code, local.Body)
	}
	tr := bodyCheck{handlerTransport{h: api.NewHandler(api.Options{}), trials: new(atomic.Int64), bad: new(atomic.Value)}, new(atomic.Int64)}
	pool := api.NewHandler(api.Options{SearchPool: func() (http.RoundTripper, int) { return tr, 2 }})
	pooled := post(pool, body(files))
	if pooled.Code != 200 || !bytes.Equal(local.Body.Bytes(), pooled.Body.Bytes()) {
		t.Errorf("pooled search (%d) differs from the in-process one:\n%.2000s\n%.2000s", pooled.Code, local.Body, pooled.Body)
	}
	if n := tr.trials.Load(); n == 0 || tr.missing.Load() != 0 {
		t.Errorf("%d of %d pooled trials came without the profile files", tr.missing.Load(), n)
	}
	files[1].Content = strings.Replace(files[1].Content, "0.000754,0.005164", "0.000754,abc", 1)
	before := tr.trials.Load()
	bad := post(pool, body(files))
	var p api.Problem
	json.Unmarshal(bad.Body.Bytes(), &p)
	if bad.Code != 400 || p.File != "uploaded/attention.csv" || p.Line != 3 || p.Column != 2 {
		t.Errorf("a broken profile file: %d %s", bad.Code, bad.Body)
	}
	if tr.trials.Load() != before {
		t.Error("trials ran before the broken profile file was refused")
	}
}
