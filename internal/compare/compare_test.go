package compare

import (
	"bytes"
	"compress/gzip"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, reqs, toks string) string {
	d := filepath.Join(t.TempDir(), dir)
	os.MkdirAll(d, 0o755)
	os.WriteFile(filepath.Join(d, "request_metrics.csv"), []byte("request_id,arrival_time_ns,first_token_time_ns,ttft_ns,completion_time_ns,num_prefill_tokens,num_decode_tokens,num_decode_tokens_actual,status\n"+reqs), 0o644)
	os.WriteFile(filepath.Join(d, "token_metrics.csv"), []byte("request_id,token_index,token_time_ns,token_latency_ns\n"+toks), 0o644)
	return d
}

// TestCompare_AlignsAndComputes: requests align by id whatever their order;
// rejected requests and ids on one side only are left out and counted.
func TestCompare_AlignsAndComputes(t *testing.T) {
	real := write(t, "real", "0,0,10,10,40,5,3,3,ok\n1,0,20,20,60,5,3,3,ok\n2,0,30,30,90,5,3,3,ok\n",
		"0,0,10,0\n0,1,25,15\n0,2,40,15\n1,0,20,0\n1,1,40,20\n1,2,60,20\n")
	sim := write(t, "sim", "2,0,33,33,99,5,3,3,ok\n0,0,11,11,44,5,3,3,ok\n1,0,22,22,66,5,3,3,ok\n3,0,1,1,2,5,3,3,ok\n4,0,,,,5,3,0,rejected_too_long\n",
		"0,1,27,16\n1,1,44,22\n")
	a, err := Load(real)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(sim)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != 3 || len(res.OnlySim) != 1 || res.OnlySim[0] != 3 {
		t.Fatalf("matched %d only-sim %v", res.Matched, res.OnlySim)
	}
	// TTFT real 10,20,30 -> P50 20; sim 11,22,33 -> 22: +10%.
	// Time between tokens: real 15,15,20,20 -> P50 17.5; sim 16,22 -> P50 19.
	want := map[string][2]float64{"TTFT/P50": {20, 22}, "E2E/P50": {60, 66}, "time between tokens/P50": {17.5, 19}}
	for _, r := range res.Rows {
		if w, ok := want[r.Metric+"/"+r.Quantile]; ok {
			if r.Real != w[0] || r.Sim != w[1] {
				t.Errorf("%s %s: real %v sim %v, want %v", r.Metric, r.Quantile, r.Real, r.Sim, w)
			}
		}
	}
	if e := res.Rows[0].RelErr(); math.Abs(e-0.1) > 1e-12 {
		t.Errorf("TTFT P50 error %v", e)
	}
	var md, svg bytes.Buffer
	res.Markdown(&md, "real", "sim")
	if !strings.Contains(md.String(), "| TTFT | P50 | 0.000 | 0.000 | +10.0% |") || !strings.Contains(md.String(), "1 only in the simulation") {
		t.Errorf("markdown:\n%s", md.String())
	}
	if err := res.SVG(&svg, "E2E"); err != nil || !strings.Contains(svg.String(), "<polyline") {
		t.Errorf("svg: %v", err)
	}
}

func TestLoad_BadInput(t *testing.T) {
	d := write(t, "bad", "0,0,x,10,40,5,3,3,ok\n", "")
	if _, err := Load(d); err == nil || !strings.Contains(err.Error(), "request_metrics.csv:2:3") {
		t.Errorf("got %v", err)
	}
}

func TestLoad_GzippedTokens(t *testing.T) {
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "request_metrics.csv"), []byte("request_id,arrival_time_ns,first_token_time_ns,completion_time_ns,status\n0,0,10,30,ok\n"), 0o644)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte("request_id,token_index,token_time_ns,token_latency_ns\n0,0,10,0\n0,1,30,20\n"))
	zw.Close()
	os.WriteFile(filepath.Join(d, "token_metrics.csv.gz"), b.Bytes(), 0o644)
	r, err := Load(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.TBT) != 1 || r.TBT[0] != 20 {
		t.Fatalf("TBT %v, want [20]", r.TBT)
	}
}
