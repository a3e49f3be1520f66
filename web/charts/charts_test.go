package charts_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
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
	all := charts.All(report.PlotData(res))
	if len(all) != 8 {
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
