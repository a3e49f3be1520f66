package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/servesim/servesim/api"
)

// rows120k is the "within every limit" upload: 120k rows of
// 3000+1000 tokens (480M tokens, under 500M; 120M output tokens).
func rows120k() string {
	var b strings.Builder
	b.WriteString("arrived_at,num_prefill_tokens,num_decode_tokens\n")
	for i := 0; i < 120_000; i++ {
		b.WriteString("0,3000,1000\n")
	}
	body, _ := json.Marshal(map[string]any{"files": []map[string]string{{"name": "t.csv", "content": b.String()}}})
	return string(body)
}

func getSim(query string) *http.Request {
	return httptest.NewRequest("GET", "/api/simulate?"+query, nil)
}

func cfgQuery(preset, config string) string {
	return "preset=" + preset + "&config=" + url.QueryEscape(config)
}

func postJSON(path, body string) *http.Request {
	r := httptest.NewRequest("POST", path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// TestHardening_Problems: the cases of issue 14 the API answered wrongly
// (after the work, with 200, 404 or 500, or with an unbounded echo) each get
// the documented status and a problem naming the cause.
func TestHardening_Problems(t *testing.T) {
	// 150k rows of 3000+1000 tokens: 600M tokens (over 500M) in ~2 MB; a
	// row of 2^62 + 2^62 used to wrap the sum below the limit.
	var rows strings.Builder
	rows.WriteString("num_prefill_tokens,num_decode_tokens\n")
	for i := 0; i < 150_000; i++ {
		rows.WriteString("3000,1000\n")
	}
	big := rows.String()
	bigBody := func(extra string) string {
		b, _ := json.Marshal(map[string]any{"files": []map[string]string{{"name": "t.csv", "content": big + extra}}})
		return string(b)
	}
	slow := api.Options{Limits: api.Limits{MaxBodyBytes: 32 << 20, MaxRequests: 200_000, MaxTokens: 1 << 40, Timeout: time.Millisecond}}
	tests := []struct {
		name   string
		opt    api.Options
		req    *http.Request
		status int
		detail string // substring of the problem's detail
		check  func(*testing.T, api.Problem)
	}{
		{"duration x qps is refused from the config alone", api.Options{}, getSim(cfgQuery("synthetic", `{"workload":{"duration_s":500,"qps":10000}}`)), 422,
			"duration_s 500 at qps 10000 is about 5e+06 requests, over the limit of 200000", nil},
		{"the same as a POST", api.Options{}, postJSON("/api/simulate", `{"preset":"synthetic","config":{"workload":{"duration_s":500,"qps":10000}}}`), 422,
			"about 5e+06 requests", nil},
		{"zipf max_tokens 3e8: the planner refuses before lengths are generated", api.Options{}, getSim(cfgQuery("synthetic", `{"workload":{"length_generator":"zipf","max_tokens":300000000}}`)), 400,
			"memory planner", nil},
		{"num_replicas 1e7", api.Options{}, getSim(cfgQuery("seed", `{"cluster":{"num_replicas":10000000}}`)), 400, "cluster.num_replicas: must be in [1, 4096]", nil},
		{"num_replicas over the server's cap", api.Options{}, getSim(cfgQuery("seed", `{"cluster":{"num_replicas":65}}`)), 422, "num_replicas 65 is over the limit of 64", nil},
		{"600M tokens", api.Options{}, postJSON("/api/workload", bigBody("")), 422, "the workload has more than 500000000 simulated tokens (the limit) after 125001 requests", nil},
		{"a row of 2^62 + 2^62 tokens does not wrap the sum", api.Options{}, postJSON("/api/workload", bigBody("4611686018427387904,4611686018427387904\n")), 400,
			"t.csv:150002:1 (num_prefill_tokens): expected an integer <= 2147483647", nil},
		{"trailing garbage", api.Options{}, postJSON("/api/simulate", `{"preset":"seed"} garbage`), 400, "line 1, column 19: ",
			func(t *testing.T, p api.Problem) {
				if p.Line != 1 || p.Column != 19 || p.File != "request body" {
					t.Errorf("position %s:%d:%d", p.File, p.Line, p.Column)
				}
			}},
		{"keys are case-sensitive", api.Options{}, postJSON("/api/simulate", `{"preset":"seed","config":{"Scheduler":{"Chunk_Size":0}}}`), 400,
			`unknown key "Scheduler" (expected "scheduler": keys are case-sensitive)`, nil},
		{"a syntax error has a line and column", api.Options{}, postJSON("/api/simulate", "{\n  \"preset\": \"seed\",\n  \"config\": {\"seed\": 1,}\n}"), 400, "line 3, column",
			func(t *testing.T, p api.Problem) {
				if p.Line != 3 || p.Column == 0 {
					t.Errorf("position %d:%d", p.Line, p.Column)
				}
			}},
		{"a 1 MB preset name is not echoed whole", api.Options{}, postJSON("/api/simulate", `{"preset":"`+strings.Repeat("x", 1<<20)+`"}`), 400, "bytes)",
			func(t *testing.T, p api.Problem) {
				if len(p.Detail) > 2048 {
					t.Errorf("detail is %d bytes", len(p.Detail))
				}
			}},
		{"?format is checked before simulating", slow, getSim("preset=splitwise-conv-8qps&format=bogus"), 400, `format "bogus": expected json, ndjson, zip or summary`, nil},
		{"?file is checked before simulating", slow, getSim("preset=splitwise-conv-8qps&file=nope"), 400, `no output file "nope"`, nil},
		{"qps 1e-300", api.Options{}, getSim(cfgQuery("synthetic", `{"workload":{"qps":1e-300}}`)), 400, "past the 1e+09 s limit", nil},
		{"gamma cv 1e-200", api.Options{}, getSim(cfgQuery("synthetic", `{"workload":{"interval_generator":"gamma","cv":1e-200}}`)), 400, "intervals.cv", nil},
		{"120k rows of 4000 tokens: within the request and token limits, refused by the memory budget before running", api.Options{},
			postJSON("/api/simulate", rows120k()), 422, "memory budget of 512 MiB", nil},
		{"memory budget enforced on a run's requests and tokens (1000 x 512 B + 210,689 x 4 B)", api.Options{Limits: api.Limits{MaxBodyBytes: 1 << 20, MaxRequests: 1 << 20, MaxTokens: 1 << 40, MemoryBudget: 1 << 20, Timeout: time.Minute}},
			getSim("preset=splitwise-conv-2qps"), 422, "memory budget of 1 MiB", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, api.NewHandler(tc.opt), tc.req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %.500s", rec.Code, tc.status, rec.Body)
			}
			path := tc.req.URL.Path
			checkSpec(t, tc.req.Method, path, rec)
			var p api.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail %.500q, want it to contain %q", p.Detail, tc.detail)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

// TestHardening_Methods: a known path with another method is 405 with
// Allow; an unknown path stays 404.
func TestHardening_Methods(t *testing.T) {
	h := api.NewHandler(api.Options{})
	for _, tc := range []struct{ method, path, allow string }{
		{"PUT", "/api/simulate", "GET, POST"}, {"DELETE", "/api/simulate", "GET, POST"},
		{"GET", "/api/workload", "POST"}, {"POST", "/api/presets", "GET"},
	} {
		rec := serve(t, h, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != 405 || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q", tc.method, tc.path, rec.Code, rec.Header().Get("Allow"))
		}
	}
	if rec := serve(t, h, httptest.NewRequest("GET", "/api/nope", nil)); rec.Code != 404 {
		t.Errorf("unknown path: %d", rec.Code)
	}
}

// TestHardening_VaryOrigin: every API answer varies by Origin, whatever
// the Origin (or none), since a cached public GET must not be served to
// another origin with the wrong CORS headers.
func TestHardening_VaryOrigin(t *testing.T) {
	h := api.NewHandler(api.Options{AllowOrigin: "https://page.example"})
	for _, origin := range []string{"", "https://page.example", "https://other.example"} {
		r := getSim("preset=seed")
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		rec := serve(t, h, r)
		if rec.Code != 200 || rec.Header().Get("Vary") != "Origin" || rec.Header().Get("Cache-Control") != "public, max-age=86400" {
			t.Errorf("origin %q: %d, Vary %q", origin, rec.Code, rec.Header().Values("Vary"))
		}
	}
}

// TestHardening_SnakeCaseSummary: the summary's keys are snake_case and
// the result says its API version.
func TestHardening_SnakeCaseSummary(t *testing.T) {
	rec := serve(t, api.NewHandler(api.Options{}), getSim("preset=seed"))
	var res map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	s, _ := res["summary"].(map[string]any)
	ttft, _ := s["ttft"].(map[string]any)
	if s["requests"] != 4.0 || ttft["p50"] == nil || s["TTFT"] != nil || res["api_version"] != api.Version {
		t.Errorf("summary %v, api_version %v", s, res["api_version"])
	}
}

// TestHardening_CompatHeadDim64: Vidur's head_dim quirk changes only the
// memory planner, so it runs with the default set (whose attention rows are
// at head_dim 128) and gets more KV blocks.
func TestHardening_CompatHeadDim64(t *testing.T) {
	h := api.NewHandler(api.Options{})
	blocks := func(cfg string) float64 {
		rec := serve(t, h, getSim(cfgQuery("seed", cfg)))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", cfg, rec.Code, rec.Body)
		}
		var res api.Result
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		return float64(res.Resolved.NumBlocks)
	}
	if a, b := blocks(`{}`), blocks(`{"replica":{"compat_head_dim_64":true}}`); b < 2*a {
		t.Errorf("num_blocks %v with the quirk, %v without; want at least twice as many (half the KV per token)", b, a)
	}
}
