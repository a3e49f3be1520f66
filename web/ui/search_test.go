package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/servesim/servesim/api"
	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/engine/strictjson"
	"github.com/servesim/servesim/internal/search"
	"github.com/servesim/servesim/internal/searchrun"
)

// TestSearchSpec: the panel's spec is internal/search's (strict JSON), and
// its points, for progress, are internal/search's in the same order.
func TestSearchSpec(t *testing.T) {
	cfg := engine.DefaultConfig()
	base := settings{"cluster.num_replicas": "1", "replica.tensor_parallel_size": "1", "replica.num_pipeline_stages": "1",
		"scheduler.type": cfg.Scheduler.Type, "scheduler.chunk_size": "512", "scheduler.batch_size_cap": "128"}
	cfg.Cluster.NumReplicas, cfg.Replica.TensorParallelSize, cfg.Replica.NumPipelineStages = 1, 1, 1
	cfg.Scheduler.ChunkSize, cfg.Scheduler.BatchSizeCap = 512, 128
	r := &Root{Cfg: map[string]string{}, Preset: "p", Presets: []Preset{{Name: "p", Config: base}}}
	c := &SearchPanel{R: r, Axes: searchAxes(), Params: searchParams()}
	c.Axes[0].On, c.Axes[0].Values = true, "1, 2"
	c.Axes[3].On, c.Axes[3].Values = true, "sarathi,vllm_v1"
	c.Axes[5].On, c.Axes[5].Values = true, "32,64,256"
	c.Params[5].Value = "4"
	spec, points, err := c.spec()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(spec)
	var s search.Spec
	if err := strictjson.Decode(b, &s); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if s.Requests != 1000 || s.Precision != 0.02 || s.TargetQPS != 4 || s.GPUHourUSD != 2 || len(s.Axes.Replicas) != 2 || len(s.Axes.TP) != 0 {
		t.Errorf("spec %+v", s)
	}
	want := s.Axes.Points(cfg)
	if len(points) != len(want) || len(want) != 12 {
		t.Fatalf("%d points, internal/search has %d", len(points), len(want))
	}
	for i, p := range want {
		q := points[i]
		if q.Replicas != p.Replicas || q.TP != p.TP || q.PP != p.PP || q.Scheduler != p.Scheduler || q.ChunkSize != p.ChunkSize || q.BatchCap != p.BatchCap {
			t.Errorf("point %d: page %+v, internal/search %+v", i, q, p)
		}
	}
	if got := c.NumPoints(); got != "12 points" {
		t.Errorf("NumPoints %q", got)
	}
	c.Axes[5].Values = "8,x"
	if _, _, err := c.spec(); err == nil || err.Error() != `batch cap values: "x" is not an integer` {
		t.Errorf("bad value: %v", err)
	}
}

// trialEvent is one trial as the page's pool sees it (web/assets/search.js
// calls onTrial with these).
type trialEvent struct {
	kind, body string
	status     int
	answer     string
}

// poolRecorder answers a search's trials with a handler in process, as a
// pool worker does, and records each with its kind.
type poolRecorder struct {
	h      http.Handler
	events *[]trialEvent
}

func (p poolRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	req := httptest.NewRequest("POST", r.URL.RequestURI(), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, req)
	*p.events = append(*p.events, trialEvent{r.Header.Get(searchrun.TrialKindHeader), string(b), rec.Code, rec.Body.String()})
	return rec.Result(), nil
}

// TestSearchProgress: the progress table, fed a real search's trials as the
// page's pool gets them (POST /api/search with a one-worker pool: each
// trial's kind in its header), says of each what search.json says of it: a
// saturation burst is "saturation burst: N requests at once" with its
// duration (search.json's saturation), never a failing or passing trial,
// and leaves the bracket alone; pilot trials are said so and bracket only
// until the first full trial; the target's trial is said so and stays out
// of the bracket; at the end each point's bracket is search.json's max_qps
// and fail_qps, and its trials count search.json's (bursts, pilot and the
// target's included).
func TestSearchProgress(t *testing.T) {
	var events []trialEvent
	h := api.NewHandler(api.Options{SearchPool: func() (http.RoundTripper, int) {
		return poolRecorder{api.NewHandler(api.Options{}), &events}, 1
	}})
	body := `{"preset":"splitwise-conv-2qps","search":{"requests":200,"pilot_requests":100,"precision":0.1,"start_qps":16,"axes":{"batch_cap":[16,64]},"target_qps":8}}`
	req := httptest.NewRequest("POST", "/api/search", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var res search.Result
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &res) != nil {
		t.Fatalf("search: %d %.500s", rec.Code, rec.Body)
	}
	if res.Cheapest == nil {
		t.Fatalf("no cheapest point at 8 QPS: %.1000s", rec.Body)
	}
	c := &SearchPanel{Running: true}
	for _, p := range res.Points {
		q := p.Point
		c.Progress = append(c.Progress, &PointProgress{Point: SearchPoint{q.Replicas, q.TP, q.PP, q.Scheduler, q.ChunkSize, q.BatchCap}})
	}
	kinds := map[string]int{}
	bursts := map[int][]float64{} // by point: the bursts' durations shown
	for _, e := range events {
		var tr struct {
			Config engine.Config `json:"config"`
		}
		if err := json.Unmarshal([]byte(e.body), &tr); err != nil {
			t.Fatal(err)
		}
		i := -1
		for j, p := range c.Progress {
			if p.Point.BatchCap == tr.Config.Scheduler.BatchSizeCap {
				i = j
			}
		}
		pr := c.Progress[i]
		kinds[e.kind]++
		c.trial("start", e.kind, e.body, 0, "")
		if pr.RunningText() == "" {
			t.Errorf("a %s trial started: nothing running", e.kind)
		}
		bracket := pr.Bracket()
		c.trial("done", e.kind, e.body, e.status, e.answer)
		q, n := tr.Config.Workload.QPS, tr.Config.Workload.NumRequests
		switch e.kind {
		case search.TrialBurst:
			var a struct {
				Summary struct {
					SLO slo.Report `json:"slo"`
				} `json:"summary"`
			}
			json.Unmarshal([]byte(e.answer), &a)
			d := a.Summary.SLO.Load.DurationS
			bursts[i] = append(bursts[i], d)
			want := fmt.Sprintf("saturation burst: %s requests at once, served in %s of simulated time (for the capacity estimate; not judged against the SLO)", num(int64(n)), dur(1000*d))
			if pr.Last != want || pr.Bracket() != bracket {
				t.Errorf("burst of %d at %g QPS: last %q, bracket %q (was %q); want %q, the bracket unchanged", n, q, pr.Last, pr.Bracket(), bracket, want)
			}
		case search.TrialPilot:
			if !strings.HasPrefix(pr.Last, "pilot trial: "+short(q)+" QPS ("+num(int64(n))+" requests) ") || !strings.HasSuffix(pr.Bracket(), "(pilot)") {
				t.Errorf("pilot trial at %g QPS: last %q, bracket %q", q, pr.Last, pr.Bracket())
			}
		case search.TrialTarget:
			if !strings.HasPrefix(pr.Last, "target trial: "+short(q)+" QPS") || pr.Bracket() != bracket {
				t.Errorf("target trial at %g QPS: last %q, bracket %q (was %q)", q, pr.Last, pr.Bracket(), bracket)
			}
		case search.TrialFull:
			if !strings.HasPrefix(pr.Last, short(q)+" QPS ("+num(int64(n))+" requests) ") || strings.Contains(pr.Bracket(), "pilot") {
				t.Errorf("full trial at %g QPS: last %q, bracket %q", q, pr.Last, pr.Bracket())
			}
		default:
			t.Errorf("a trial of kind %q", e.kind)
		}
	}
	if kinds[search.TrialBurst] == 0 || kinds[search.TrialPilot] == 0 || kinds[search.TrialFull] == 0 || kinds[search.TrialTarget] == 0 {
		t.Errorf("trials by kind %v: want every kind", kinds)
	}
	for i, p := range res.Points {
		pr := c.Progress[i]
		want := fmt.Sprintf("between %s and %s QPS", short(p.MaxQPS), short(p.FailQPS))
		if got := pr.Bracket(); got != want {
			t.Errorf("point %d: bracket %q, search.json max_qps %g fail_qps %g", i, got, p.MaxQPS, p.FailQPS)
		}
		if len(bursts[i]) != len(p.Saturation) {
			t.Errorf("point %d: %d bursts shown, search.json has %d", i, len(bursts[i]), len(p.Saturation))
		}
		slices.Sort(bursts[i])           // (a point's two bursts run at once)
		for j, b := range p.Saturation { // the longer burst takes longer: search.json's are in that order here
			if j < len(bursts[i]) && bursts[i][j] != b.DurationS {
				t.Errorf("point %d burst %d: %g s shown, search.json %g s", i, j, bursts[i][j], b.DurationS)
			}
		}
	}
	if c.TrialsRun != res.Trials {
		t.Errorf("%d trials shown, search.json's trials %d", c.TrialsRun, res.Trials)
	}
}
