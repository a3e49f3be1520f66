package report

import (
	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report/plots"
)

// Serving holds run_meta.json's sections of the serving features a run has
// on (prefix caching, a load-aware router, disaggregation): the same maps
// RunMeta writes, for the API's result (the page shows them).
type Serving struct {
	PrefixCache    map[string]any `json:"prefix_cache,omitempty"`
	Routing        map[string]any `json:"routing,omitempty"`
	Disaggregation map[string]any `json:"disaggregation,omitempty"`
}

// ServingOf is a run's serving sections; each is nil when its feature is off.
func ServingOf(res *engine.Result) Serving {
	var s Serving
	if st := res.PrefixCache; st != nil {
		s.PrefixCache = prefixCacheMeta(res, st)
	}
	if engine.LoadAwareRouting(res.Config.Cluster.GlobalScheduler) {
		s.Routing = routingMeta(res)
	}
	if res.Disagg != nil {
		s.Disaggregation = disaggMeta(res)
	}
	return s
}

// replicaLoad is each replica's largest queued tokens per time bucket
// (timeBuckets of them), nil unless a load-aware router ran.
func replicaLoad(res *engine.Result) *plots.ReplicaLoad {
	if !engine.LoadAwareRouting(res.Config.Cluster.GlobalScheduler) {
		return nil
	}
	n := res.Config.Cluster.NumReplicas
	end := max(res.EndNs, 1)
	width := (end + timeBuckets - 1) / timeBuckets
	peak := make([][]int32, n)
	seen := make([][]bool, n)
	for k := range peak {
		peak[k], seen[k] = make([]int32, timeBuckets), make([]bool, timeBuckets)
	}
	for i := range res.Batches {
		b := &res.Batches[i]
		k, j := int(b.Replica), min(int(b.ScheduledAt/width), timeBuckets-1)
		if !seen[k][j] || b.QueuedTokens > peak[k][j] {
			peak[k][j], seen[k][j] = b.QueuedTokens, true
		}
	}
	out := &plots.ReplicaLoad{Replicas: make([]plots.ReplicaSeries, n)}
	for k := range out.Replicas {
		s := &out.Replicas[k]
		s.T, s.Max = []float64{}, []float64{}
		for j := range timeBuckets {
			if seen[k][j] {
				s.T, s.Max = append(s.T, float64(int64(j)*width)/1e9), append(s.Max, float64(peak[k][j]))
			}
		}
	}
	return out
}
