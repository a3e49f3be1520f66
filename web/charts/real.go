package charts

import (
	"strings"

	"github.com/servesim/servesim/web/charts/ecopt"

	"github.com/servesim/servesim/engine/report/plots"
)

// RealCDF is one metric's real and simulated distributions (ms), as the
// API's real-run comparison gives them.
type RealCDF struct {
	Metric    string
	Real, Sim plots.CDF
}

// RealVsSim draws a metric's real and simulated CDFs on one axis.
func RealVsSim(id string, c RealCDF, logX bool) *chart {
	l := newChart("line")
	xType := "value"
	if logX {
		xType = "log"
	}
	l.set(base(id, c.Metric+" CDF: real vs simulated", "latency", "fraction of samples", xType)...)
	l.set(withXAxis(ecopt.XAxis{Name: "latency", Type: xType, NameLocation: "middle", NameGap: 25, Scale: ecopt.NewBool(true)}),
		withYAxis(ecopt.YAxis{Name: "fraction of samples", Type: "value", Min: 0, Max: 1}))
	step := lineOpts(ecopt.LineChart{Step: "end", ShowSymbol: ecopt.NewBool(false)})
	l.add("real", xy(c.Real.X, c.Real.P), color(3), step)
	l.add("simulated", xy(c.Sim.X, c.Sim.P), step, lineStyle(ecopt.LineStyle{Type: "dashed"}), color(0))
	return l
}

// Real returns the real-vs-simulated CDF charts, one per metric.
func Real(cdfs []RealCDF, o Options) []Chart {
	var out []Chart
	for _, c := range cdfs {
		id := "chart-real-" + strings.ReplaceAll(strings.ToLower(c.Metric), " ", "-")
		out = append(out, Chart{id, c.Metric + " real vs simulated", optionJSON(RealVsSim(id, c, o.LogX), hints{X: "ms", Y: "fraction"})})
	}
	return out
}
