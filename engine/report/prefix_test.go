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

// With prefix caching on, request_metrics.csv gains num_cached_prefill_tokens
// as its last column and run_meta.json a prefix_cache section; the follow-up
// request that shares 512 prompt tokens shows them.
func TestPrefixCaching_Outputs(t *testing.T) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.DefaultConfig()
	cfg.Scheduler.EnablePrefixCaching = true
	trace := `{"timestamp":0,"input_length":1024,"output_length":2,"hash_ids":[1,2]}
{"timestamp":1000,"input_length":1024,"output_length":2,"hash_ids":[1,3]}
`
	w, err := workload.Load([]workload.File{{Name: "t.jsonl", R: strings.NewReader(trace)}}, cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var csv bytes.Buffer
	if err := report.RequestMetrics(&csv, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csv.String()), "\n")
	if !strings.HasSuffix(lines[0], ",status,num_cached_prefill_tokens") || !strings.HasSuffix(lines[1], ",ok,0") || !strings.HasSuffix(lines[2], ",ok,512") {
		t.Errorf("request_metrics.csv:\n%s", csv.String())
	}
	var meta bytes.Buffer
	if err := report.RunMeta(&meta, res, report.Meta{}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config      engine.Config `json:"config"`
		PrefixCache struct {
			HitRate float64 `json:"hit_rate"`
			Series  []struct {
				HitTokens int64 `json:"hit_tokens"`
			} `json:"hit_rate_over_time"`
		} `json:"prefix_cache"`
	}
	if err := json.Unmarshal(meta.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, b := range doc.PrefixCache.Series {
		sum += b.HitTokens
	}
	if !doc.Config.Scheduler.EnablePrefixCaching || doc.PrefixCache.HitRate != 0.25 || sum != 512 {
		t.Errorf("run_meta.json prefix_cache: %s", meta.String())
	}
}

// Under load-aware routing batch_metrics.csv gains queued_tokens (per
// replica, per batch) and run_meta.json a routing section; the seed's
// round_robin files have neither.
func TestRouting_Outputs(t *testing.T) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.DefaultConfig()
	cfg.Cluster.NumReplicas, cfg.Cluster.GlobalScheduler = 2, "least_loaded"
	tr := "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1000,10\n0,10,10\n0,10,10\n"
	w, err := workload.Load([]workload.File{{Name: "t.csv", R: strings.NewReader(tr)}}, cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var csv, meta bytes.Buffer
	if err := report.BatchMetrics(&csv, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(csv.String(), "\n")
	if !strings.HasSuffix(lines[0], ",queued_tokens") || !strings.HasSuffix(lines[1], ",1010") {
		t.Errorf("batch_metrics.csv starts:\n%s\n%s", lines[0], lines[1])
	}
	if err := report.RunMeta(&meta, res, report.Meta{}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Routing struct {
			Replicas []struct{ Requests int } `json:"replicas"`
		} `json:"routing"`
	}
	if err := json.Unmarshal(meta.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if r := doc.Routing.Replicas; len(r) != 2 || r[0].Requests != 1 || r[1].Requests != 2 {
		t.Errorf("routing: %+v", doc.Routing)
	}
}

// A disaggregated run's run_meta.json states the pools, the link and the
// transfers: one 1024-token prompt over PCIe is 117440512 bytes, prefilled
// in 2 chunks of 512, then 10 decode steps on the decode pool.
func TestDisaggregation_Outputs(t *testing.T) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.DefaultConfig()
	cfg.Cluster.NumReplicas, cfg.Cluster.PrefillReplicas, cfg.Cluster.KVTransferLink = 3, 1, "pcie"
	tr := "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1024,10\n"
	w, err := workload.Load([]workload.File{{Name: "t.csv", R: strings.NewReader(tr)}}, cfg.WorkloadOptions())
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
	var doc struct {
		D struct {
			Link    string                          `json:"link"`
			GBps    float64                         `json:"link_gbps"`
			Bytes   int64                           `json:"transfer_bytes"`
			Prefill struct{ Replicas, Batches int } `json:"prefill"`
			Decode  struct{ Replicas, Batches int } `json:"decode"`
		} `json:"disaggregation"`
	}
	if err := json.Unmarshal(meta.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.D
	if d.Link != "pcie" || d.GBps != 64 || d.Bytes != 117440512 || d.Prefill.Replicas != 1 || d.Decode.Replicas != 2 || d.Prefill.Batches != 2 || d.Decode.Batches != 10 {
		t.Errorf("disaggregation: %+v", d)
	}
}
