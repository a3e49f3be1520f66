package api_test

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/servesim/servesim/api"
)

// TestSimulate_SLO: the summary carries the SLO judgement under the
// configuration's objective (a partial slo keeps the other defaults), and
// a contradictory objective is a 400 naming the keys.
func TestSimulate_SLO(t *testing.T) {
	h := api.NewHandler(api.Options{})
	cfg := `{"workload":{"num_requests":200,"qps":60},"slo":{"ttft_ms":250}}`
	req := httptest.NewRequest("GET", "/api/simulate?preset=synthetic&config="+url.QueryEscape(cfg), nil)
	rec := serve(t, h, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	checkSpec(t, "GET", "/api/simulate", rec)
	var res struct {
		Summary struct {
			SLO struct {
				Met  bool `json:"met"`
				TTFT struct {
					ThresholdMs float64 `json:"threshold_ms"`
				} `json:"ttft"`
				Load struct {
					Overloaded bool `json:"overloaded"`
					Judged     bool `json:"judged"`
				} `json:"load"`
			} `json:"slo"`
		} `json:"summary"`
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	s := res.Summary.SLO
	if s.TTFT.ThresholdMs != 250 || !s.Load.Judged || !s.Load.Overloaded || s.Met {
		t.Errorf("slo %+v: want ttft 250 ms, judged overloaded at 60 QPS, not met", s)
	}
	if sl, _ := res.Config["slo"].(map[string]any); sl["tbt_ms"] != 100.0 || sl["ttft_ms"] != 250.0 {
		t.Errorf("config.slo %v: want ttft_ms 250 and the default tbt_ms 100", res.Config["slo"])
	}
	for _, bad := range []struct{ cfg, want string }{
		{`{"slo":{"ttft_ms":1000,"e2e_ms":500}}`, "slo.e2e_ms 500 is below ttft_ms 1000"},
		{`{"slo":{"tbt_percentile":120}}`, "slo.tbt_percentile: must be in (0, 100]"},
		{`{"slo":{"ttft_ms":0,"tbt_ms":0,"e2e_ms":0}}`, "every threshold is 0"},
		{`{"slo":{"ttft":1}}`, "unknown key"},
	} {
		rec := serve(t, h, httptest.NewRequest("GET", "/api/simulate?preset=seed&config="+url.QueryEscape(bad.cfg), nil))
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), bad.want) {
			t.Errorf("%s: %d %s, want 400 with %q", bad.cfg, rec.Code, rec.Body, bad.want)
		}
		checkSpec(t, "GET", "/api/simulate", rec)
	}
}
