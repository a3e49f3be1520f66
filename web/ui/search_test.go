package ui

import (
	"encoding/json"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/strictjson"
	"github.com/servesim/servesim/internal/search"
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
