package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/servesim/servesim/api"
)

// TestSearch: POST /api/search answers a validated result; the work bound,
// the point cap, a contradictory SLO and an unmeetable one are refused
// with their reasons, as is a request count over the workload trace's rows.
func TestSearch(t *testing.T) {
	h := api.NewHandler(api.Options{})
	post := func(body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/api/search", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		rec := serve(t, h, r)
		checkSpec(t, "POST", "/api/search", rec)
		return rec
	}
	rec := post(`{"preset":"splitwise-conv-2qps","search":{"requests":60,"precision":0.05,"axes":{"batch_cap":[8,64]},"target_qps":4}}`)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var res struct {
		Points []struct {
			Found  bool    `json:"found"`
			MaxQPS float64 `json:"max_qps"`
		} `json:"points"`
		Cheapest *struct {
			Index int `json:"index"`
		} `json:"cheapest"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Points) != 2 || !res.Points[0].Found || res.Points[0].MaxQPS <= 0 || res.Cheapest == nil {
		t.Errorf("result %s", rec.Body)
	}
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"preset":"splitwise-conv-2qps","search":{"requests":200000,"axes":{"replicas":[1,2]}}}`, 422, "over this server's limit of 5000000"},
		{`{"preset":"splitwise-conv-2qps","search":{"axes":{"replicas":[1,2,3,4,5,6,7,8,9],"batch_cap":[1,2,3,4,5,6,7,8]}}}`, 400, "72 points"},
		{`{"preset":"seed","config":{"slo":{"e2e_ms":5}},"search":{}}`, 400, "contradict"},
		{`{"preset":"splitwise-conv-2qps","config":{"slo":{"ttft_ms":0.001}},"search":{"requests":20,"min_qps":1}}`, 422, "no point meets the SLO at any rate down to 1 QPS"},
		{`{"preset":"seed","search":{"precison":0.1}}`, 400, "unknown key"},
		// more requests a trial than the trace has rows: refused before any
		// trial (each point's trials failed alike before), the trace named
		{`{"preset":"splitwise-conv-2qps","search":{"requests":20000}}`, 400,
			"20000 requests per trial, but the workload trace splitwise_conv.csv (preset splitwise-conv-2qps) has 19366 rows, one per request (a trial takes each request's lengths from a row of its own): expected requests"},
		{`{"files":[{"name":"mine.csv","content":"num_prefill_tokens,num_decode_tokens\n120,30\n300,12\n"}],"search":{"requests":3}}`, 400,
			"the workload trace mine.csv has 2 rows, one per request"},
	} {
		rec := post(tc.body)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.body, rec.Code, rec.Body, tc.status, tc.want)
		}
	}
}
