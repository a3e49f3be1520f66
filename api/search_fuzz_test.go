package api_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/servesim/servesim/api"
)

// FuzzSearch: whatever the body of POST /api/search, the answer is a
// search result or a problem document (no 5xx but 503), within small
// limits that bound the work before it starts.
func FuzzSearch(f *testing.F) {
	f.Add([]byte(`{"preset":"splitwise-conv-2qps","search":{"requests":20,"precision":0.2,"axes":{"batch_cap":[8,64]},"target_qps":3}}`))
	f.Add([]byte(`{"preset":"seed","config":{"slo":{"ttft_ms":5,"e2e_ms":1}},"search":{}}`))
	f.Add([]byte(`{"preset":"synthetic","config":{"workload":{"prefill_tokens":16,"decode_tokens":4}},"search":{"requests":10,"max_trials":3,"min_qps":100,"start_qps":100}}`))
	f.Add([]byte(`{"files":[{"name":"t.csv","content":"arrived_at,num_prefill_tokens,num_decode_tokens\n0,12,64\n1,20,8\n"}],"search":{"requests":8,"max_trials":4}}`))
	f.Add([]byte(`{"search":{"axes":{"tp":[0,3],"scheduler":["nope"]},"precision":-1}}`))
	lim := api.Limits{MaxBodyBytes: 1 << 20, MaxRequests: 64, MaxTokens: 200_000, MaxReplicas: 4, MemoryBudget: 8 << 20, Timeout: 5 * time.Second,
		MaxSearchPoints: 8, MaxSearchRequests: 4000, SearchTimeout: 10 * time.Second}
	h := api.NewHandler(api.Options{Limits: lim})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/api/search", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != 503 {
			t.Fatalf("%d %.300s", rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var p api.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || len(p.Detail) > 8<<10 {
				t.Fatalf("%d: problem %.300s", rec.Code, rec.Body)
			}
		}
	})
}
