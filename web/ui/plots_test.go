package ui

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/report/plots"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/web/charts"
)

// TestResultPlots_Deferred decodes a run's plots as the page does: the
// small parts at once, the timeline, iterations and requests on the first
// All; every series equals the sent one, and every chart's option is the
// one built from the plots decoded whole.
func TestResultPlots_Deferred(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.Workload.NumRequests = 200
	out, err := runner.Run(context.Background(), runner.Job{Preset: "splitwise-conv-2qps", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	sent := report.PlotData(out.Result)
	if len(sent.Timeline.T) == 0 || len(sent.Iterations.T) == 0 || len(sent.Requests.TTFT) == 0 {
		t.Fatal("the run has no large series to defer")
	}
	b, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	var whole plots.Plots
	if err := json.Unmarshal(b, &whole); err != nil {
		t.Fatal(err)
	}
	var got ResultPlots
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	head := whole
	head.Timeline, head.Iterations, head.Requests = plots.Timeline{}, plots.Iterations{}, plots.Requests{}
	if !reflect.DeepEqual(got.Plots, head) {
		t.Error("the small parts differ from a whole decode (or a large series was decoded at once)")
	}
	copied := got // a Result is shared by pointer, but a copy decodes once too
	if all := copied.All(); !reflect.DeepEqual(all, whole) {
		t.Error("All differs from a whole decode")
	}
	if all := got.All(); !reflect.DeepEqual(all, whole) || got.Err() != nil {
		t.Errorf("second All differs, err %v", got.Err())
	}
	o := charts.Options{EndS: float64(out.Result.EndNs) / 1e9}
	want := charts.AllLazy(whole, o)
	var fresh ResultPlots
	_ = json.Unmarshal(b, &fresh)
	deferred := charts.AllDeferred(fresh.Plots, fresh.All, o)
	for i := range want {
		if w, g := want[i].Build(), deferred[i].Build(); w != g {
			t.Errorf("%s: the deferred option differs", want[i].ID)
		}
	}
}

// TestResultPlots_BadSeries: a large series of the wrong type leaves that
// series empty and says why; the rest decode.
func TestResultPlots_BadSeries(t *testing.T) {
	var p ResultPlots
	if err := json.Unmarshal([]byte(`{"ttft_cdf":{"x":[1,2],"p":[0.5,1]},"timeline":{"t":"soon"},"requests":{"total":3,"ttft_ms":[1,2,3]}}`), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.TTFT.X) != 2 || p.Err() != nil {
		t.Fatalf("head %+v, err %v before All", p.TTFT, p.Err())
	}
	all := p.All()
	if p.Err() == nil || len(all.Timeline.T) != 0 || all.Requests.Total != 3 || len(all.Requests.TTFT) != 3 {
		t.Errorf("err %v, timeline %v, requests %+v", p.Err(), all.Timeline.T, all.Requests)
	}
	var none ResultPlots // a Result made in Go, never decoded
	none.TTFT.X = []float64{1}
	if all := none.All(); len(all.TTFT.X) != 1 || none.Err() != nil {
		t.Error("a never-decoded ResultPlots is not its own Plots")
	}
}
