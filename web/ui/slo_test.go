package ui

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/slo"
)

// TestSLOSettings: the panel starts from engine/slo's default, an edit is
// sent as the config's slo object (and kept in the share state), and the
// run on screen is stale against an objective it was not judged by.
func TestSLOSettings(t *testing.T) {
	base := settings{"scheduler.type": "sarathi", "cluster.num_replicas": "1", "predictor.profile": "a100/qwen3-0.6b"}
	c := &Root{Cfg: map[string]string{}, Preset: "synthetic", Presets: []Preset{{Name: "synthetic", Config: base}}}
	d := slo.Default()
	if got := c.Value(field("slo.ttft_ms")); got != "1000" || d.TTFTMs != 1000 {
		t.Fatalf("TTFT threshold shown %q, engine default %v", got, d.TTFTMs)
	}
	if got := c.Value(field("slo.tbt_percentile")); got != "90" {
		t.Fatalf("TBT percentile shown %q", got)
	}
	c.Result = &Result{Config: base}
	c.Result.Summary.SLO = &slo.Report{Spec: d}
	c.shown.state = shareState{Preset: "synthetic", Config: map[string]string{}}
	if s := c.Stale(); len(s) != 0 {
		t.Fatalf("stale right after the run: %v", s)
	}
	c.Cfg["slo.ttft_ms"] = "250"
	if s := c.Stale(); len(s) != 1 || !strings.Contains(s[0], "TTFT") {
		t.Fatalf("stale after an SLO edit: %v", s)
	}
	in, err := c.inputs()
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Config struct {
			SLO map[string]float64 `json:"slo"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(in.body), &req); err != nil {
		t.Fatal(err)
	}
	if req.Config.SLO["ttft_ms"] != 250 || len(req.Config.SLO) != 1 {
		t.Fatalf("sent slo %v, want {ttft_ms: 250}", req.Config.SLO)
	}
	if in.state.Config["slo.ttft_ms"] != "250" {
		t.Fatalf("share state lacks the SLO: %v", in.state.Config)
	}
	(&SloSettings{R: c}).HandleDefaults()
	if s := c.Stale(); len(s) != 0 {
		t.Fatalf("stale after Default SLO: %v", s)
	}
}

// TestSLOResultText: the verdict, overload badge and per-metric lines come
// from the API's report as it is.
func TestSLOResultText(t *testing.T) {
	v := 1234.6
	r := &slo.Report{Met: false, Attainment: 0.4567, TTFT: &slo.Metric{ThresholdMs: 1000, Percentile: 90, Within: 0.5, ValueMs: &v},
		TBT:  &slo.Metric{ThresholdMs: 100, Percentile: 99, Within: 0.995, Met: true},
		Load: slo.Load{Judged: true, Overloaded: true}}
	if got := sloVerdict(r); got != "SLO not met" {
		t.Errorf("verdict %q", got)
	}
	if got := loadBadge(r); got != "OVERLOADED" {
		t.Errorf("badge %q", got)
	}
	m := sloMetrics(r)
	if len(m) != 2 || m[0].Objective != "P90 ≤ 1.000 s" || m[0].Value != "P90 1.235 s" || m[0].Within != "50.00% of requests within" || m[0].Met {
		t.Errorf("ttft line %+v", m[0])
	}
	if m[1].Value != "P99 never reached" || !m[1].Met {
		t.Errorf("tbt line %+v", m[1])
	}
}
