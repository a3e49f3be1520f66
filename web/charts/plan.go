package charts

import (
	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"github.com/servesim/servesim/engine/report/plots"
)

// Curve is one search point's attainment against the arrival rate.
type Curve struct {
	Name            string
	QPS, Attainment []float64
}

// ParetoPoint is one searched point at its max QPS.
type ParetoPoint struct {
	Name string
	// GoodputPerGPU is output tokens/s per GPU, E2EP90Ms the P90 E2E.
	GoodputPerGPU, E2EP90Ms float64
	Pareto                  bool
}

// SearchCurves draws every point's SLO attainment against QPS (log rate
// axis): every trial of its search.
func SearchCurves(cs []Curve) Chart {
	l := charts.NewLine()
	l.SetGlobalOptions(base("chart-search-curve", "SLO attainment vs arrival rate (every trial)", "QPS", "attainment", "log")...)
	l.SetGlobalOptions(charts.WithXAxisOpts(opts.XAxis{Name: "QPS (Poisson)", Type: "log", NameLocation: "middle", NameGap: 25}),
		charts.WithYAxisOpts(opts.YAxis{Name: "attainment", Type: "value", Min: 0, Max: 1}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(len(cs) <= 16), Bottom: "0", Type: "scroll"}))
	for i, c := range cs {
		l.AddSeries(c.Name, xy(c.QPS, c.Attainment), color(i), charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(true)}))
	}
	return Chart{ID: "chart-search-curve", Title: "Attainment vs QPS", Option: optionJSON(l, hints{X: "rate", Y: "fraction"})}
}

// SearchPareto draws each found point's goodput per GPU against its P90
// E2E at max QPS, the Pareto front joined (more goodput, less latency).
func SearchPareto(ps []ParetoPoint) Chart {
	s := charts.NewScatter()
	s.SetGlobalOptions(base("chart-search-pareto", "Pareto front (goodput per GPU vs P90 E2E at max QPS)", "output tokens/s per GPU", "P90 E2E", "value")...)
	s.SetGlobalOptions(charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item"}),
		charts.WithXAxisOpts(opts.XAxis{Name: "goodput: output tokens/s per GPU", Type: "value", NameLocation: "middle", NameGap: 25, Scale: opts.Bool(true)}),
		charts.WithYAxisOpts(opts.YAxis{Name: "P90 E2E", Type: "value", Scale: opts.Bool(true)}))
	var other, front []opts.ScatterData
	for _, p := range ps {
		d := opts.ScatterData{Name: p.Name, Value: []float64{p.GoodputPerGPU, p.E2EP90Ms}, SymbolSize: 9}
		if p.Pareto {
			front = append(front, d)
		} else {
			other = append(other, d)
		}
	}
	s.AddSeries("dominated", other, color(0))
	s.AddSeries("Pareto front", front, color(3), charts.WithScatterChartOpts(opts.ScatterChart{SymbolSize: 12}))
	return Chart{ID: "chart-search-pareto", Title: "Pareto front", Option: optionJSON(s, hints{X: "rate", Y: "ms"})}
}

// A and B's colours in a comparison.
const (
	ColorA = "#2f6fde"
	ColorB = "#e8590c"
)

func colorOf(c string) charts.SeriesOpts {
	return func(s *charts.SingleSeries) {
		s.ItemStyle = &opts.ItemStyle{Color: c}
		if s.LineStyle == nil {
			s.LineStyle = &opts.LineStyle{}
		}
		s.LineStyle.Color = c
	}
}

// Compare are two runs' plot data: A (pinned) and B (on screen).
type Compare struct {
	A, B       plots.Plots
	EndA, EndB float64 // simulated durations (s)
	LogX       bool
}

// ABCharts overlays A and B: the three latency CDFs, output throughput and
// running requests over time (one time axis spanning the longer run).
func ABCharts(c Compare) []Chart {
	cdf := func(id, title string, a, b plots.CDF) Chart {
		l := charts.NewLine()
		xType := "value"
		if c.LogX {
			xType = "log"
		}
		l.SetGlobalOptions(base(id, title, "latency", "fraction of samples", xType)...)
		l.SetGlobalOptions(charts.WithXAxisOpts(opts.XAxis{Name: "latency", Type: xType, NameLocation: "middle", NameGap: 25, Scale: opts.Bool(true)}),
			charts.WithYAxisOpts(opts.YAxis{Name: "fraction of samples", Type: "value", Min: 0, Max: 1}))
		step := charts.WithLineChartOpts(opts.LineChart{Step: "end", ShowSymbol: opts.Bool(false)})
		l.AddSeries("A (pinned)", xy(a.X, a.P), step, colorOf(ColorA))
		l.AddSeries("B (on screen)", xy(b.X, b.P), step, colorOf(ColorB))
		return Chart{ID: id, Title: title, Option: optionJSON(l, hints{X: "ms", Y: "fraction"})}
	}
	end := max(c.EndA, c.EndB)
	overTime := func(id, title, y string, a, b []float64, ta, tb []float64, unit string) Chart {
		l := charts.NewLine()
		l.SetGlobalOptions(base(id, title, "simulated time", y, "value")...)
		l.SetGlobalOptions(charts.WithXAxisOpts(opts.XAxis{Name: "simulated time", Type: "value", NameLocation: "middle", NameGap: 25, Min: 0, Max: end}))
		l.AddSeries("A (pinned)", xy(ta, a), noSymbol, colorOf(ColorA))
		l.AddSeries("B (on screen)", xy(tb, b), noSymbol, colorOf(ColorB))
		return Chart{ID: id, Title: title, Option: optionJSON(l, hints{X: "s", Y: unit})}
	}
	ints := func(v []int) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	return []Chart{
		cdf("chart-ab-ttft", "TTFT CDF: A vs B", c.A.TTFT, c.B.TTFT),
		cdf("chart-ab-tbt", "Time between tokens CDF: A vs B", c.A.TokenLatency, c.B.TokenLatency),
		cdf("chart-ab-e2e", "End-to-end latency CDF: A vs B", c.A.E2E, c.B.E2E),
		overTime("chart-ab-throughput", "Output throughput: A vs B", "tokens/s", c.A.Timeline.TokensPS, c.B.Timeline.TokensPS, c.A.Timeline.T, c.B.Timeline.T, "rate"),
		overTime("chart-ab-running", "Running requests: A vs B", "requests", ints(c.A.Timeline.Running), ints(c.B.Timeline.Running), c.A.Timeline.T, c.B.Timeline.T, "count"),
	}
}
