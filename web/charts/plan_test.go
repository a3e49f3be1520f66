package charts_test

import (
	"encoding/json"
	"testing"

	"github.com/servesim/servesim/engine/report/plots"
	"github.com/servesim/servesim/web/charts"
)

func seriesOf(t *testing.T, c charts.Chart) []map[string]any {
	t.Helper()
	var opt struct {
		Series []map[string]any `json:"series"`
	}
	if err := json.Unmarshal([]byte(c.Option), &opt); err != nil {
		t.Fatalf("%s: %v", c.ID, err)
	}
	return opt.Series
}

// TestSearchCharts: one curve per point with every trial, the Pareto
// points apart from the dominated ones.
func TestSearchCharts(t *testing.T) {
	s := seriesOf(t, charts.SearchCurves([]charts.Curve{{Name: "a", QPS: []float64{1, 2, 4}, Attainment: []float64{1, 1, 0.5}}, {Name: "b", QPS: []float64{1}, Attainment: []float64{0}}}))
	if len(s) != 2 || len(s[0]["data"].([]any)) != 3 || s[1]["name"] != "b" {
		t.Errorf("curves %v", s)
	}
	p := seriesOf(t, charts.SearchPareto([]charts.ParetoPoint{{Name: "x", GoodputPerGPU: 10, E2EP90Ms: 5, Pareto: true}, {Name: "y", GoodputPerGPU: 5, E2EP90Ms: 9}}))
	if len(p) != 2 || p[0]["name"] != "dominated" || len(p[0]["data"].([]any)) != 1 || len(p[1]["data"].([]any)) != 1 {
		t.Errorf("pareto %v", p)
	}
}

// TestABCharts: five overlays, each with A and B in their own colours.
func TestABCharts(t *testing.T) {
	a := plots.Plots{TTFT: plots.CDF{X: []float64{1, 2}, P: []float64{0.5, 1}}, Timeline: plots.Timeline{T: []float64{0, 1}, TokensPS: []float64{3, 4}, Running: []int{1, 2}}}
	b := plots.Plots{TTFT: plots.CDF{X: []float64{3}, P: []float64{1}}}
	all := charts.ABCharts(charts.Compare{A: a, B: b, EndA: 1, EndB: 2})
	if len(all) != 5 {
		t.Fatalf("%d charts", len(all))
	}
	for _, c := range all {
		s := seriesOf(t, c)
		if len(s) != 2 || s[0]["name"] != "A (pinned)" || s[1]["name"] != "B (on screen)" {
			t.Fatalf("%s: series %v", c.ID, s)
		}
		ca, cb := s[0]["itemStyle"].(map[string]any)["color"], s[1]["itemStyle"].(map[string]any)["color"]
		if ca != charts.ColorA || cb != charts.ColorB {
			t.Errorf("%s: colours %v %v", c.ID, ca, cb)
		}
	}
	if d := seriesOf(t, all[0])[0]["data"].([]any); len(d) != 2 {
		t.Errorf("A's TTFT CDF has %d points", len(d))
	}
}
