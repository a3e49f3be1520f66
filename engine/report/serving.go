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
// (engine.PeakSeries), nil unless a load-aware router ran.
func replicaLoad(res *engine.Result) *plots.ReplicaLoad {
	if !engine.LoadAwareRouting(res.Config.Cluster.GlobalScheduler) {
		return nil
	}
	out := &plots.ReplicaLoad{Replicas: make([]plots.ReplicaSeries, len(res.Replicas))}
	for k := range out.Replicas {
		s, q := &out.Replicas[k], &res.Replicas[k].Queued
		s.T, s.Max = []float64{}, []float64{}
		for j := range q.Seen {
			if q.Seen[j] {
				s.T, s.Max = append(s.T, float64(int64(j)*q.Width)/1e9), append(s.Max, float64(q.Max[j]))
			}
		}
	}
	return out
}
