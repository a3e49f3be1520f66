package charts

import (
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"github.com/servesim/servesim/engine/report/plots"
)

// RealCDF is one metric's real and simulated distributions (ms), as the
// API's real-run comparison gives them.
type RealCDF struct {
	Metric    string
	Real, Sim plots.CDF
}

// RealVsSim draws a metric's real and simulated CDFs on one axis.
func RealVsSim(id string, c RealCDF, logX bool) *charts.Line {
	l := charts.NewLine()
	xType := "value"
	if logX {
		xType = "log"
	}
	l.SetGlobalOptions(base(id, c.Metric+" CDF: real vs simulated", "latency", "fraction of samples", xType)...)
	l.SetGlobalOptions(charts.WithXAxisOpts(opts.XAxis{Name: "latency", Type: xType, NameLocation: "middle", NameGap: 25, Scale: opts.Bool(true)}),
		charts.WithYAxisOpts(opts.YAxis{Name: "fraction of samples", Type: "value", Min: 0, Max: 1}))
	step := charts.WithLineChartOpts(opts.LineChart{Step: "end", ShowSymbol: opts.Bool(false)})
	l.AddSeries("real", xy(c.Real.X, c.Real.P), color(3), step)
	l.AddSeries("simulated", xy(c.Sim.X, c.Sim.P), step, charts.WithLineStyleOpts(opts.LineStyle{Type: "dashed"}), color(0))
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
