package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/profiles"
)

// ServingOf carries run_meta.json's serving sections unchanged (the page
// shows the file's numbers), and the replica-load series peaks at each
// replica's max_queued_tokens of the routing section.
func TestServingOf_MatchesRunMeta(t *testing.T) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.DefaultConfig()
	cfg.Scheduler.EnablePrefixCaching = true
	cfg.Cluster.NumReplicas = 2
	cfg.Cluster.GlobalScheduler = "least_loaded"
	var trace strings.Builder
	for i := range 40 {
		trace.WriteString(`{"timestamp":` + itoa(i*20) + `,"input_length":1024,"output_length":8,"hash_ids":[1,` + itoa(2+i%3) + `]}` + "\n")
	}
	w, err := workload.Load([]workload.File{{Name: "t.jsonl", R: strings.NewReader(trace.String())}}, cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var meta bytes.Buffer
	if err := report.RunMeta(&meta, res, report.Meta{}); err != nil {
		t.Fatal(err)
	}
	var doc, got map[string]any
	json.Unmarshal(meta.Bytes(), &doc)
	b, _ := json.Marshal(report.ServingOf(res))
	json.Unmarshal(b, &got)
	for _, k := range []string{"prefix_cache", "routing"} {
		x, _ := json.Marshal(doc[k])
		y, _ := json.Marshal(got[k])
		if doc[k] == nil || string(x) != string(y) {
			t.Errorf("%s: run_meta.json %s, ServingOf %s", k, x, y)
		}
	}
	if got["disaggregation"] != nil {
		t.Errorf("disaggregation is off but present: %v", got["disaggregation"])
	}
	load := report.PlotData(res).ReplicaLoad
	if load == nil || len(load.Replicas) != 2 {
		t.Fatalf("replica load: %+v", load)
	}
	reps := doc["routing"].(map[string]any)["replicas"].([]any)
	for k, s := range load.Replicas {
		peak := 0.0
		for _, v := range s.Max {
			peak = max(peak, v)
		}
		want := reps[k].(map[string]any)["max_queued_tokens"].(float64)
		if len(s.T) == 0 || peak != want {
			t.Errorf("replica %d: series peak %v over %d buckets, run_meta max_queued_tokens %v", k, peak, len(s.T), want)
		}
	}
	cfg.Cluster.GlobalScheduler = "round_robin"
	res, _ = engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{})
	if report.PlotData(res).ReplicaLoad != nil || report.ServingOf(res).Routing != nil {
		t.Error("round_robin: replica load or routing present")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
