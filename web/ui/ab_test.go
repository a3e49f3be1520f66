package ui

import (
	"encoding/json"
	"testing"

	"github.com/servesim/servesim/engine/slo"
)

// TestABRows: differences and ratios are B against A, with the sign.
func TestABRows(t *testing.T) {
	a, b := &Result{}, &Result{}
	a.Summary.Requests, b.Summary.Requests = 100, 100
	a.Summary.TTFT.P50, b.Summary.TTFT.P50 = 10e6, 25e6
	a.Summary.E2E.P99, b.Summary.E2E.P99 = 2e9, 1e9
	a.Summary.SLO = &slo.Report{Met: true, Attainment: 0.95, TTFT: &slo.Metric{ThresholdMs: 1000, Within: 0.95, Met: true}}
	b.Summary.SLO = &slo.Report{Attainment: 0.5, TTFT: &slo.Metric{ThresholdMs: 1000, Within: 0.5}}
	rows := map[string]ABRow{}
	for _, r := range abRows(a, b) {
		rows[r.Metric] = r
	}
	want := map[string]ABRow{
		"requests":       {"requests", "100", "100", "0", "1.000×"},
		"TTFT P50":       {"TTFT P50", "10.00 ms", "25.00 ms", "+15.00 ms", "2.500×"},
		"E2E P99":        {"E2E P99", "2.000 s", "1.000 s", "−1.000 s", "0.500×"},
		"SLO attainment": {"SLO attainment", "95.00%", "50.00%", "−45.00%", "0.526×"},
		"SLO":            {"SLO", "SLO met", "SLO not met", "", ""},
		"TTFT objective": {"TTFT objective", "met (95.00% within 1.000 s)", "NOT met (50.00% within 1.000 s)", "", ""},
	}
	for k, w := range want {
		if rows[k] != w {
			t.Errorf("%s: %+v, want %+v", k, rows[k], w)
		}
	}
}

// TestABShareState: a link of a comparison carries A as pinned; opening it
// runs A first and keeps B for after.
func TestABShareState(t *testing.T) {
	c := &Root{Cfg: map[string]string{}}
	c.AB.A = &Result{RunID: "a"}
	c.AB.aInputs.state = shareState{Preset: "seed", Config: map[string]string{"scheduler.type": "orca"}}
	c.shown.state = shareState{Preset: "spaced-2s", Config: map[string]string{}}
	s := c.shareOfShown()
	if s.Pinned == nil || s.Pinned.Preset != "seed" || s.Preset != "spaced-2s" {
		t.Fatalf("share state %+v", s)
	}
	b, _ := json.Marshal(s)
	d := &Root{Cfg: map[string]string{}}
	if err := d.applyState(string(b)); err != nil {
		t.Fatal(err)
	}
	if d.Preset != "seed" || d.Cfg["scheduler.type"] != "orca" || d.AB.then == nil || d.AB.then.Preset != "spaced-2s" {
		t.Fatalf("opened: preset %q cfg %v then %+v", d.Preset, d.Cfg, d.AB.then)
	}
}
