package charts

import (
	"strconv"

	"github.com/servesim/servesim/web/charts/ecopt"

	"github.com/servesim/servesim/engine/report/plots"
)

// ReplicaLoad draws each replica's queued tokens over time (a load-aware
// router's view of the replicas): per time bucket, the largest value a
// batch of the replica saw.
func ReplicaLoad(rl plots.ReplicaLoad, end float64) *chart {
	l := newChart("line")
	l.set(overTime("chart-replica-load", "Queued tokens per replica (the router's load; largest per time bucket)", "tokens", end)...)
	for k, s := range rl.Replicas {
		l.add("replica "+strconv.Itoa(k), xy(s.T, s.Max), noSymbol, color(k))
	}
	return l
}

// PrefixHitRate draws the prefix cache's hit rate over time: per bucket
// starting at t (s), prompt tokens hit over prompt tokens hit or prefilled.
func PrefixHitRate(t, rate []float64, end float64) *chart {
	l := newChart("line")
	l.set(overTime("chart-prefix-hit", "Prefix-cache hit rate (prompt tokens hit / prompt tokens, per time bucket)", "hit rate", end)...)
	l.set(withYAxis(ecopt.YAxis{Name: "hit rate", Type: "value", Min: 0, Max: 1}))
	l.add("hit rate", xy(t, rate), color(5), lineOpts(ecopt.LineChart{Step: "end", ShowSymbol: ecopt.NewBool(false)}))
	return l
}

// Serving returns the charts of the serving features a run has on: the
// replicas' load under a load-aware router (rl non-nil) and the prefix
// cache's hit rate over time (hitT non-empty).
func Serving(rl *plots.ReplicaLoad, hitT, hitRate []float64, o Options) []Chart {
	var out []Chart
	if len(hitT) > 0 {
		out = append(out, Chart{"chart-prefix-hit", "Prefix-cache hit rate", optionJSON(PrefixHitRate(hitT, hitRate, o.EndS), hints{X: "s", Y: "fraction", Group: TimeGroup})})
	}
	if rl != nil {
		out = append(out, Chart{"chart-replica-load", "Queued tokens per replica", optionJSON(ReplicaLoad(*rl, o.EndS), hints{X: "s", Y: "count", Group: TimeGroup})})
	}
	return out
}
