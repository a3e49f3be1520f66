package api_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/servesim/servesim/api"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/internal/realrun"
)

// TestSimulate_RealResultCompared: a real benchmark's result given as the
// workload comes back scored against it, with servesim compare's table
// (the CLI's path: the result file and the simulation's written metric
// files, read back) byte for byte, for both formats.
func TestSimulate_RealResultCompared(t *testing.T) {
	h := api.NewHandler(api.Options{})
	for _, name := range []string{"vllm_bench_serve.json", "profile_export.jsonl"} {
		path := filepath.Join("../internal/realrun/testdata", name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"files": []api.File{{Name: name, Content: string(b)}}})
		post := func(url string) *httptest.ResponseRecorder {
			r := httptest.NewRequest("POST", url, bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			return serve(t, h, r)
		}
		rec := post("/api/simulate")
		checkSpec(t, "POST", "/api/simulate", rec)
		var res api.Result
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != 200 || res.Real == nil {
			t.Fatalf("%s: %d %.300s", name, rec.Code, rec.Body.String())
		}
		// The CLI: servesim simulate --out DIR, then servesim compare FILE DIR.
		dir := t.TempDir()
		for _, f := range []string{"request_metrics.csv", "token_metrics.csv"} {
			out := post("/api/simulate?file=" + f)
			if err := os.WriteFile(filepath.Join(dir, f), out.Body.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		real, err := realrun.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		sim, err := compare.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		cmp, err := compare.Compare(real, sim)
		if err != nil {
			t.Fatal(err)
		}
		var md bytes.Buffer
		cmp.Markdown(&md, "real", "simulated")
		rc := res.Real
		if rc.Markdown != md.String() || rc.Matched != cmp.Matched || len(rc.Rows) != len(cmp.Rows) || rc.FailedInReal != 1 {
			t.Errorf("%s: page's comparison\n%s(matched %d, rows %d, failed %d)\nservesim compare\n%s", name, rc.Markdown, rc.Matched, len(rc.Rows), rc.FailedInReal, md.String())
		}
		for i, row := range cmp.Rows {
			if got := rc.Rows[i]; got.RealMs != row.Real/1e6 || got.SimMs != row.Sim/1e6 || got.RelErr == nil || *got.RelErr != row.RelErr() {
				t.Errorf("%s: row %d %+v, compare %+v", name, i, got, row)
			}
		}
		if len(rc.CDFs) != 3 || rc.CDFs[0].Real.P[len(rc.CDFs[0].Real.P)-1] != 1 {
			t.Errorf("%s: CDFs %+v", name, rc.CDFs)
		}
	}
}
