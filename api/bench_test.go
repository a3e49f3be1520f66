package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
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

func benchSimulate(b *testing.B, body string) { benchSimulatePath(b, "/api/simulate", body) }

// benchSimulatePath posts body to target (a path and query) of one handler.
func benchSimulatePath(b *testing.B, target, body string) {
	h := api.NewHandler(api.Options{})
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkTrialProfileFiles is one search trial as a pool worker or a
// `servesim serve` endpoint gets it: POST /api/simulate?format=summary of a
// 60-request run carrying the caller's profile files (the A100 set's CSVs,
// about 900 KB), as every trial of a search with profile files does.
func BenchmarkTrialProfileFiles(b *testing.B) {
	benchSimulatePath(b, "/api/simulate?format=summary", profileFilesBody(b, `"config":{"workload":{"num_requests":60}}`))
}

// BenchmarkSearchProfileFiles is a search with the caller's profile files
// whose trials go through a pool of handlers (the page's Web Workers): two
// workers, each answering many trials with the same files.
func BenchmarkSearchProfileFiles(b *testing.B) {
	body := profileFilesBody(b, `"search":{"requests":60,"precision":0.1,"axes":{"batch_cap":[8,64]}}`)
	workers := http.Handler(api.NewHandler(api.Options{}))
	tr := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		workers.ServeHTTP(rec, r)
		return rec.Result(), nil
	})
	h := api.NewHandler(api.Options{SearchPool: func() (http.RoundTripper, int) { return tr, 2 }})
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/api/search", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// profileFilesBody is a JSON body of the splitwise-conv-2qps preset with
// the embedded A100 set's CSVs as profile_files and the given other keys.
func profileFilesBody(b *testing.B, keys string) string {
	var files []api.File
	for _, f := range []string{"mlp.csv", "attention.csv"} {
		c, err := os.ReadFile("../profiles/a100/qwen3-0.6b/" + f)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, api.File{Name: f, Content: string(c)})
	}
	pf, err := json.Marshal(files)
	if err != nil {
		b.Fatal(err)
	}
	return `{"preset":"splitwise-conv-2qps","profile_files":` + string(pf) + `,` + keys + `}`
}
