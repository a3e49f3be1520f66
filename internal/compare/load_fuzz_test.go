package compare_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servesim/servesim/internal/compare"
)

// FuzzLoad: any request_metrics.csv and token_metrics.csv load or fail
// with an error naming the file; a loaded run has TTFT <= E2E and
// non-negative samples, and compares with itself at relative error 0 (or
// n/a), never Inf.
func FuzzLoad(f *testing.F) {
	req := "request_id,arrival_time_ns,first_token_time_ns,completion_time_ns,status\n0,0,10,30,ok\n1,5,6,6,ok\n2,0,-1,-1,rejected_too_long\n"
	tok := "request_id,token_index,token_latency_ns\n0,0,10\n0,1,20\n1,0,1\n"
	f.Add(req, tok)
	f.Add("request_id,arrival_time_ns,first_token_time_ns,completion_time_ns,status\n0,100,50,150,ok\n", tok)
	f.Add(req, "request_id,token_index,token_latency_ns\n")
	dir := f.TempDir() // one per worker process, which runs inputs one at a time
	f.Fuzz(func(t *testing.T, reqCSV, tokCSV string) {
		os.WriteFile(filepath.Join(dir, "request_metrics.csv"), []byte(reqCSV), 0o644)
		os.WriteFile(filepath.Join(dir, "token_metrics.csv"), []byte(tokCSV), 0o644)
		run, err := compare.Load(dir)
		if err != nil {
			if !strings.Contains(err.Error(), "_metrics.csv") {
				t.Fatalf("error %q names no file", err)
			}
			return
		}
		for id, v := range run.TTFT {
			if v < 0 || run.E2E[id] < v {
				t.Fatalf("request %d: TTFT %v, E2E %v", id, v, run.E2E[id])
			}
		}
		for _, v := range run.TBT {
			if v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				t.Fatalf("TBT %v", v)
			}
		}
		res, err := compare.Compare(run, run)
		if err != nil {
			return
		}
		var b bytes.Buffer
		res.Markdown(&b, "a", "b")
		if strings.Contains(b.String(), "Inf") || strings.Contains(b.String(), "NaN") {
			t.Fatalf("markdown %q", b.String())
		}
	})
}
