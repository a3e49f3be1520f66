package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/servesim/servesim/api"
)

// BenchmarkSimulate10k is the page benchmark's request (10k Splitwise
// conversation requests, Poisson 32 QPS) through the handler, JSON answer with
// summary and plot series included. Run natively and under GOOS=js (Node) it
// is the Go side of the browser/native comparison; `./build.sh bench` runs both.
func BenchmarkSimulate10k(b *testing.B) {
	benchSimulate(b, `{"preset":"splitwise-conv-2qps","config":{"workload":{"num_requests":10000,"qps":32}}}`)
}

// BenchmarkSimulateSeed is the page's first request: the 4-request seed run,
// where fixed costs (profile and preset parsing, JSON) dominate.
func BenchmarkSimulateSeed(b *testing.B) { benchSimulate(b, `{"preset":"seed"}`) }

func benchSimulate(b *testing.B, body string) {
	h := api.NewHandler(api.Options{})
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/simulate", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
