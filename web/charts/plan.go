package charts

import (
	"github.com/servesim/servesim/engine/report/plots"
	"github.com/servesim/servesim/web/charts/ecopt"
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
	l := newChart("line")
	l.set(base("chart-search-curve", "SLO attainment vs arrival rate (every trial)", "QPS", "attainment", "log")...)
	l.set(withXAxis(ecopt.XAxis{Name: "QPS (Poisson)", Type: "log", NameLocation: "middle", NameGap: 25}),
		withYAxis(ecopt.YAxis{Name: "attainment", Type: "value", Min: 0, Max: 1}),
		withTooltip(ecopt.Tooltip{Show: ecopt.NewBool(true), Trigger: "item"}),
		withLegend(ecopt.Legend{Show: ecopt.NewBool(len(cs) <= 16), Bottom: "0"}))
	for i, c := range cs {
		l.add(c.Name, xy(c.QPS, c.Attainment), color(i), lineOpts(ecopt.LineChart{ShowSymbol: ecopt.NewBool(true)}))
	}
	return Chart{ID: "chart-search-curve", Title: "Attainment vs QPS", Option: optionJSON(l, hints{X: "rate", Y: "fraction"})}
}

// SearchPareto draws each found point's goodput per GPU against its P90
// E2E at max QPS, the Pareto front joined (more goodput, less latency).
func SearchPareto(ps []ParetoPoint) Chart {
	s := newChart("scatter")
	s.set(base("chart-search-pareto", "Pareto front (goodput per GPU vs P90 E2E at max QPS)", "output tokens/s per GPU", "P90 E2E", "value")...)
	s.set(withTooltip(ecopt.Tooltip{Show: ecopt.NewBool(true), Trigger: "item"}),
		withXAxis(ecopt.XAxis{Name: "goodput: output tokens/s per GPU", Type: "value", NameLocation: "middle", NameGap: 25, Scale: ecopt.NewBool(true)}),
		withYAxis(ecopt.YAxis{Name: "P90 E2E", Type: "value"}))
	var other, front []ecopt.ScatterData
	for _, p := range ps {
		d := ecopt.ScatterData{Value: []float64{p.GoodputPerGPU, p.E2EP90Ms}}
		if p.Pareto {
			front = append(front, d)
		} else {
			other = append(other, d)
		}
	}
	s.add("dominated", other, color(0), scatterOpts(ecopt.ScatterChart{SymbolSize: 9}))
	s.add("Pareto front", front, color(3), scatterOpts(ecopt.ScatterChart{SymbolSize: 12}))
	return Chart{ID: "chart-search-pareto", Title: "Pareto front", Option: optionJSON(s, hints{X: "rate", Y: "ms"})}
}

// A and B's colours in a comparison.
const (
	ColorA = "#2f6fde"
	ColorB = "#e8590c"
)

func colorOf(c string) seriesOpt {
	return func(s *series) {
		s.ItemStyle = &ecopt.ItemStyle{Color: c}
		if s.LineStyle == nil {
			s.LineStyle = &ecopt.LineStyle{}
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
		l := newChart("line")
		xType := "value"
		if c.LogX {
			xType = "log"
		}
		l.set(base(id, title, "latency", "fraction of samples", xType)...)
		l.set(withXAxis(ecopt.XAxis{Name: "latency", Type: xType, NameLocation: "middle", NameGap: 25, Scale: ecopt.NewBool(true)}),
			withYAxis(ecopt.YAxis{Name: "fraction of samples", Type: "value", Min: 0, Max: 1}))
		step := lineOpts(ecopt.LineChart{Step: "end", ShowSymbol: ecopt.NewBool(false)})
		l.add("A (pinned)", xy(a.X, a.P), step, colorOf(ColorA))
		l.add("B (on screen)", xy(b.X, b.P), step, colorOf(ColorB))
		return Chart{ID: id, Title: title, Option: optionJSON(l, hints{X: "ms", Y: "fraction"})}
	}
	end := max(c.EndA, c.EndB)
	overTime := func(id, title, y string, a, b []float64, ta, tb []float64, unit string) Chart {
		l := newChart("line")
		l.set(base(id, title, "simulated time", y, "value")...)
		l.set(withXAxis(ecopt.XAxis{Name: "simulated time", Type: "value", NameLocation: "middle", NameGap: 25, Min: 0, Max: end}))
		l.add("A (pinned)", xy(ta, a), noSymbol, colorOf(ColorA))
		l.add("B (on screen)", xy(tb, b), noSymbol, colorOf(ColorB))
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
