package charts_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/web/charts"
)

var update = flag.Bool("update", false, "rewrite testdata/seed_charts.json")

// TestAll_SeedGolden: the chart options for the seed run are stable,
// valid JSON with the series the page promises.
func TestAll_SeedGolden(t *testing.T) {
	out, err := runner.Run(context.Background(), runner.Job{Preset: "seed", Config: engine.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	res := out.Result
	all := charts.All(report.PlotData(res), charts.Options{EndS: float64(res.EndNs) / 1e9})
	if len(all) != 11 {
		t.Fatalf("%d charts", len(all))
	}
	got := map[string]any{}
	for _, c := range all {
		var opt map[string]any
		if err := json.Unmarshal([]byte(c.Option), &opt); err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		series, _ := opt["series"].([]any)
		if len(series) == 0 {
			t.Errorf("%s: no series", c.ID)
		}
		got[c.ID] = opt
	}
	b, _ := json.MarshalIndent(got, "", " ")
	if *update {
		os.WriteFile("testdata/seed_charts.json", b, 0o644)
		return
	}
	want, err := os.ReadFile("testdata/seed_charts.json")
	if err != nil {
		t.Fatalf("%v (go test -update)", err)
	}
	if string(want) != string(b) {
		t.Error("chart options differ from testdata/seed_charts.json (go test -update if intended)")
	}
}

// TestAll_Dashboard: every chart exports a PNG; every chart over time
// shares one axis [0, end of run], a zoom and the crosshair group; each CDF
// marks its P50/P90/P99 at the percentile table's values and switches to a
// log axis on request.
func TestAll_Dashboard(t *testing.T) {
	out, err := runner.Run(context.Background(), runner.Job{Preset: "splitwise-conv-8qps", Config: mustConfig(t, "splitwise-conv-8qps")})
	if err != nil {
		t.Fatal(err)
	}
	end := float64(out.Result.EndNs) / 1e9
	p := report.PlotData(out.Result)
	for _, logX := range []bool{false, true} {
		timeCharts := 0
		for _, c := range charts.All(p, charts.Options{EndS: end, LogX: logX}) {
			var opt struct {
				Servesim struct{ X, Y, Group string }
				Toolbox  struct {
					Feature struct {
						SaveAsImage struct {
							Show bool
							Type string
						}
					}
				}
				XAxis []struct {
					Type     string
					Min, Max *float64
				}
				DataZoom []map[string]any
				Series   []struct {
					Name     string
					MarkLine struct {
						Data []struct {
							Name  string
							XAxis float64
						}
					}
				}
			}
			if err := json.Unmarshal([]byte(c.Option), &opt); err != nil {
				t.Fatal(err)
			}
			if !opt.Toolbox.Feature.SaveAsImage.Show || opt.Toolbox.Feature.SaveAsImage.Type != "png" {
				t.Errorf("%s: no PNG export", c.ID)
			}
			if opt.Servesim.X == "" || opt.Servesim.Y == "" {
				t.Errorf("%s: no axis units", c.ID)
			}
			if opt.Servesim.Group == charts.TimeGroup {
				timeCharts++
				x := opt.XAxis[0]
				if x.Min == nil || *x.Min != 0 || x.Max == nil || *x.Max != end || len(opt.DataZoom) != 2 {
					t.Errorf("%s: time axis %v..%v (want 0..%v), %d zooms", c.ID, x.Min, x.Max, end, len(opt.DataZoom))
				}
			}
			if strings.HasSuffix(c.ID, "-ttft") || strings.HasSuffix(c.ID, "-tbt") || strings.HasSuffix(c.ID, "-e2e") {
				want := map[string]float64{}
				for _, pc := range p.Percentiles {
					if strings.HasPrefix(strings.ToLower(c.Title), strings.ToLower(pc.Metric)) {
						want = map[string]float64{"P50": pc.P50, "P90": pc.P90, "P99": pc.P99}
					}
				}
				got := map[string]float64{}
				for _, m := range opt.Series[0].MarkLine.Data {
					got[m.Name] = m.XAxis
				}
				if len(want) != 3 || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: markers %v, want %v", c.ID, got, want)
				}
				if wantType := map[bool]string{false: "value", true: "log"}[logX]; opt.XAxis[0].Type != wantType {
					t.Errorf("%s: x axis %q, want %q", c.ID, opt.XAxis[0].Type, wantType)
				}
			}
			if c.ID == "chart-tokens" && (len(opt.Series) != 6 || !strings.Contains(c.Title+opt.Series[1].Name, "range")) {
				t.Errorf("tokens chart: %d series (want mean and min-max band of two)", len(opt.Series))
			}
		}
		if timeCharts != 5 {
			t.Errorf("%d charts over time, want 5", timeCharts)
		}
	}
}

func mustConfig(t *testing.T, preset string) engine.Config {
	t.Helper()
	cfg, err := runner.Config(preset)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
