// Package charts builds the page's ECharts options from a run's plot data
// (typed option fields in package ecopt, go-echarts' names and JSON; the
// options are what go-echarts built before, JSON-equal). Every builder is a pure
// function, so the options are golden-tested natively and the browser only
// hands the JSON to echarts.setOption.
//
// Options carry one key ECharts does not know, "servesim", read (and
// removed) by web/assets/app.js: the unit of each axis ("s", "ms", "count",
// "rate"), from which it formats axis labels and tooltips per magnitude
// (µs, ms, s; thousands separators), and the group of charts that share a
// time axis, a linked crosshair and zoom.
package charts

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/servesim/servesim/web/charts/ecopt"

	"github.com/servesim/servesim/engine/report/plots"
)

// Chart is one chart's DOM id, title and ECharts option JSON.
type Chart struct {
	ID, Title string
	Option    string
}

// Options are the page's choices that change the charts.
type Options struct {
	EndS float64 // the run's simulated duration: every time axis spans [0, EndS]
	LogX bool    // CDFs on a logarithmic latency axis
}

// TimeGroup is the ECharts group of the charts over simulated time.
const TimeGroup = "time"

// hints is the "servesim" key of an option (see the package doc).
type hints struct {
	X     string `json:"x"`
	Y     string `json:"y"`
	Group string `json:"group,omitempty"`
}

var palette = []string{"#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc"}

func base(id, title, xName, yName, xType string) []globalOpt {
	sub := ""
	if i := strings.LastIndex(title, " ("); i > 0 && strings.HasSuffix(title, ")") {
		title, sub = title[:i], title[i+2:len(title)-1] // the detail goes on a second line
	}
	return []globalOpt{
		withTitle(ecopt.Title{Title: title, Subtitle: sub, Left: "center", TitleStyle: &ecopt.TextStyle{FontSize: 14},
			SubtitleStyle: &ecopt.TextStyle{FontSize: 11}}),
		withTooltip(ecopt.Tooltip{Show: ecopt.NewBool(true), Trigger: "axis", AxisPointer: &ecopt.AxisPointer{Type: "line", Snap: ecopt.NewBool(false)}}),
		withLegend(ecopt.Legend{Show: ecopt.NewBool(true), Bottom: "0"}),
		withXAxis(ecopt.XAxis{Name: xName, Type: xType, NameLocation: "middle", NameGap: 25}),
		withYAxis(ecopt.YAxis{Name: yName, Type: "value"}),
		withGrid(ecopt.Grid{Left: "64", Right: "24", Bottom: "60", Top: "56"}),
		withToolbox(ecopt.Toolbox{Show: ecopt.NewBool(true), Right: "4", Top: "0", Feature: &ecopt.ToolBoxFeature{
			SaveAsImage: &ecopt.ToolBoxFeatureSaveAsImage{Show: ecopt.NewBool(true), Type: "png", Name: strings.TrimPrefix(id, "chart-"), Title: "PNG"}}}),
		withAnimation(false),
	}
}

// overTime are the options of a chart over simulated time: the shared axis
// [0, end] (zoom and the group's crosshair are added by optionJSON).
func overTime(id, title, yName string, end float64) []globalOpt {
	return append(base(id, title, "simulated time", yName, "value"),
		withXAxis(ecopt.XAxis{Name: "simulated time", Type: "value", NameLocation: "middle", NameGap: 25, Min: 0, Max: end}),
		withGrid(ecopt.Grid{Left: "64", Right: "24", Bottom: "78", Top: "60"}))
}

func xy(x, y []float64) []ecopt.LineData {
	d := make([]ecopt.LineData, len(x))
	for i := range x {
		d[i] = ecopt.LineData{Value: []float64{x[i], y[i]}}
	}
	return d
}

func xyInt(x []float64, y []int) []ecopt.LineData {
	d := make([]ecopt.LineData, len(x))
	for i := range x {
		d[i] = ecopt.LineData{Value: []float64{x[i], float64(y[i])}}
	}
	return d
}

var noSymbol = lineOpts(ecopt.LineChart{ShowSymbol: ecopt.NewBool(false)})

func color(i int) seriesOpt {
	c := palette[i%len(palette)]
	return func(s *series) {
		s.ItemStyle = &ecopt.ItemStyle{Color: c}
		if s.LineStyle == nil {
			s.LineStyle = &ecopt.LineStyle{}
		}
		s.LineStyle.Color = c
	}
}

// CDF draws a latency distribution (ms) as a step line, with its P50, P90
// and P99 marked.
func CDF(id, title string, c plots.CDF, p plots.Percentiles, logX bool) *chart {
	l := newChart("line")
	xType := "value"
	if logX {
		xType = "log"
	}
	l.set(base(id, title, "latency", "fraction of samples", xType)...)
	l.set(withXAxis(ecopt.XAxis{Name: "latency", Type: xType, NameLocation: "middle", NameGap: 25, Scale: ecopt.NewBool(true)}),
		withYAxis(ecopt.YAxis{Name: "fraction of samples", Type: "value", Min: 0, Max: 1}))
	var marks []ecopt.MarkLineNameXAxisItem
	if p.N > 0 {
		marks = []ecopt.MarkLineNameXAxisItem{{Name: "P50", XAxis: p.P50}, {Name: "P90", XAxis: p.P90}, {Name: "P99", XAxis: p.P99}}
	}
	l.add(title, xy(c.X, c.P), color(0), lineOpts(ecopt.LineChart{Step: "end", ShowSymbol: ecopt.NewBool(false)}),
		markLinesX(ecopt.MarkLineStyle{Symbol: []string{"none", "none"}, Label: &ecopt.Label{Show: ecopt.NewBool(true), Formatter: "{b}"},
			LineStyle: &ecopt.LineStyle{Type: "dashed", Color: "#888"}}, marks...))
	return l
}

// Throughput draws output tokens per second over time.
func Throughput(t plots.Timeline, end float64) *chart {
	l := newChart("line")
	l.set(overTime("chart-throughput", "Output throughput", "tokens/s", end)...)
	l.add("output tokens/s", xy(t.T, t.TokensPS), noSymbol, color(0))
	return l
}

// Load draws running and queued requests over time.
func Load(t plots.Timeline, end float64) *chart {
	l := newChart("line")
	l.set(overTime("chart-load", "Running and queued requests", "requests", end)...)
	l.add("running", xyInt(t.T, t.Running), noSymbol, color(0))
	l.add("queued", xyInt(t.T, t.Queued), noSymbol, color(3))
	return l
}

// band adds a series' per-bucket mean as a line and, where buckets hold
// more than one iteration, its min-max range as a shaded band (a
// transparent min line with the range stacked on it; the tooltip shows the
// real min and max, app.js reads them from the points' third value).
func band(l *chart, name string, t []float64, a plots.Agg, ci int, aggregated bool) {
	if aggregated {
		lo := make([]ecopt.LineData, len(t))
		rng := make([]ecopt.LineData, len(t))
		for i := range t {
			lo[i] = ecopt.LineData{Value: []float64{t[i], a.Min[i]}}
			rng[i] = ecopt.LineData{Value: []float64{t[i], a.Max[i] - a.Min[i], a.Max[i]}}
		}
		stack := lineOpts(ecopt.LineChart{ShowSymbol: ecopt.NewBool(false), Stack: name})
		l.add(name+" (min)", lo, stack, color(ci), lineStyle(ecopt.LineStyle{Opacity: ecopt.NewFloat(0)}))
		l.add(name+" (range)", rng, stack, color(ci), lineStyle(ecopt.LineStyle{Opacity: ecopt.NewFloat(0)}),
			areaStyle(ecopt.AreaStyle{Opacity: ecopt.NewFloat(0.25)}))
	}
	l.add(name, xy(t, a.Mean), noSymbol, color(ci))
}

func aggregated(it plots.Iterations) bool {
	for _, n := range it.N {
		if n > 1 {
			return true
		}
	}
	return false
}

func iterTitle(what string, it plots.Iterations) string {
	if aggregated(it) {
		return fmt.Sprintf("%s (mean and min–max band of %s iterations in %d time buckets)", what, num(it.Total), len(it.T))
	}
	return what + " (every iteration)"
}

// legendOf shows only the mean series in the legend (not the bands' parts).
func legendOf(names ...string) globalOpt {
	return withLegend(ecopt.Legend{Show: ecopt.NewBool(true), Bottom: "0", Data: names})
}

// Tokens draws the tokens per iteration (all and prefill).
func Tokens(it plots.Iterations, end float64) *chart {
	l := newChart("line")
	l.set(overTime("chart-tokens", iterTitle("Tokens per iteration", it), "tokens", end)...)
	l.set(legendOf("tokens in batch", "prefill tokens"))
	agg := aggregated(it)
	band(l, "tokens in batch", it.T, it.Tokens, 0, agg)
	band(l, "prefill tokens", it.T, it.Prefill, 2, agg)
	return l
}

// Batches draws the requests per iteration.
func Batches(it plots.Iterations, end float64) *chart {
	l := newChart("line")
	l.set(overTime("chart-batches", iterTitle("Requests per batch", it), "requests", end)...)
	l.set(legendOf("requests in batch"))
	band(l, "requests in batch", it.T, it.Size, 1, aggregated(it))
	return l
}

// KV draws KV-cache blocks in use over time.
func KV(it plots.Iterations, end float64) *chart {
	l := newChart("line")
	l.set(overTime("chart-kv", iterTitle(fmt.Sprintf("KV-cache blocks in use (of %s)", num(it.KVTotal)), it), "blocks", end)...)
	l.set(legendOf("blocks in use"))
	band(l, "blocks in use", it.T, it.KVBlocks, 4, aggregated(it))
	return l
}

// Scatter draws one latency per request against a length.
func Scatter(id, title, xName, yName string, x []int, y []float64, r plots.Requests) *chart {
	s := newChart("scatter")
	if r.Stride > 1 {
		title += fmt.Sprintf(" (%s of %s requests: every %d-th by arrival)", num(len(x)), num(r.Total), r.Stride)
	}
	s.set(base(id, title, xName, yName, "value")...)
	s.set(withTooltip(ecopt.Tooltip{Show: ecopt.NewBool(true), Trigger: "item"}),
		withXAxis(ecopt.XAxis{Name: xName, Type: "value", NameLocation: "middle", NameGap: 25, Scale: ecopt.NewBool(true)}),
		withLegend(ecopt.Legend{Show: ecopt.NewBool(false)}))
	d := make([]ecopt.ScatterData, len(x))
	for i := range x {
		d[i] = ecopt.ScatterData{Value: []float64{float64(x[i]), y[i]}}
	}
	s.add(yName, d, scatterOpts(ecopt.ScatterChart{SymbolSize: 4}), color(0))
	return s
}

// Breakdown draws the run's predicted time by term (ms, all iterations).
func Breakdown(b plots.Breakdown) *chart {
	bar := newChart("bar")
	bar.set(base("chart-breakdown", "Where the time goes (predicted, all iterations)", "", "time", "category")...)
	bar.set(withXAxis(ecopt.XAxis{Type: "category", AxisLabel: &ecopt.AxisLabel{Rotate: 40, Interval: "0"}}),
		withGrid(ecopt.Grid{Left: "64", Right: "24", Bottom: "110", Top: "56"}),
		// One series: the legend only collided with the rotated labels.
		withLegend(ecopt.Legend{Show: ecopt.NewBool(false)}))
	var names []string
	var data []ecopt.BarData
	for i, t := range b.Terms {
		if b.Ms[i] == 0 {
			continue
		}
		names = append(names, t)
		data = append(data, ecopt.BarData{Value: b.Ms[i]})
	}
	bar.xAxis.Data = names
	bar.add("predicted time", data, color(0))
	return bar
}

func optionJSON(c *chart, h hints) string {
	m := c.json()
	m["servesim"] = h
	if h.Group == TimeGroup {
		// Zoom by wheel or drag and by a slider; "none" keeps the lines
		// drawn to the edges.
		m["dataZoom"] = []map[string]any{{"type": "inside", "filterMode": "none"},
			{"type": "slider", "filterMode": "none", "height": 18, "bottom": 24}}
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Only plain numbers and strings go in; a failure is a bug.
		panic(fmt.Sprintf("charts: %v", err))
	}
	return string(b)
}

// All returns every chart of the page, in display order.
func All(p plots.Plots, o Options) []Chart {
	var out []Chart
	for _, l := range AllLazy(p, o) {
		out = append(out, Chart{l.ID, l.Title, l.Build()})
	}
	return out
}

// Lazy is a chart whose option is built when asked for (Build): the page
// builds each one as it draws it, so the first chart shows without waiting
// for the others' options.
type Lazy struct {
	ID, Title string
	Build     func() string
}

// AllLazy is All with each option built on demand.
func AllLazy(p plots.Plots, o Options) []Lazy {
	return AllDeferred(p, func() plots.Plots { return p }, o)
}

// AllDeferred is AllLazy for plots whose large series (timeline,
// iterations, requests) are read only when a chart needs them: p has the
// others, and full, called by the builders of the charts of those series
// only, returns every series (the page decodes them on that first call).
func AllDeferred(p plots.Plots, full func() plots.Plots, o Options) []Lazy {
	pct := func(i int) plots.Percentiles {
		if i < len(p.Percentiles) {
			return p.Percentiles[i]
		}
		return plots.Percentiles{}
	}
	lat := hints{X: "ms", Y: "fraction"}
	overT := func(y string) hints { return hints{X: "s", Y: y, Group: TimeGroup} }
	return []Lazy{
		{"chart-ttft", "TTFT", func() string { return optionJSON(CDF("chart-ttft", "TTFT CDF", p.TTFT, pct(0), o.LogX), lat) }},
		{"chart-tbt", "Time between tokens", func() string {
			return optionJSON(CDF("chart-tbt", "Time between tokens CDF", p.TokenLatency, pct(1), o.LogX), lat)
		}},
		{"chart-e2e", "End-to-end latency", func() string {
			return optionJSON(CDF("chart-e2e", "End-to-end latency CDF", p.E2E, pct(2), o.LogX), lat)
		}},
		{"chart-ttft-prompt", "TTFT vs prompt length", func() string {
			r := full().Requests
			return optionJSON(Scatter("chart-ttft-prompt", "TTFT vs prompt length", "prompt tokens", "TTFT", r.Prompt, r.TTFT, r), hints{X: "count", Y: "ms"})
		}},
		{"chart-e2e-output", "E2E vs output length", func() string {
			r := full().Requests
			return optionJSON(Scatter("chart-e2e-output", "E2E latency vs output length", "output tokens", "E2E latency", r.Output, r.E2E, r), hints{X: "count", Y: "ms"})
		}},
		{"chart-throughput", "Throughput", func() string { return optionJSON(Throughput(full().Timeline, o.EndS), overT("rate")) }},
		{"chart-load", "Running and queued", func() string { return optionJSON(Load(full().Timeline, o.EndS), overT("count")) }},
		{"chart-tokens", "Tokens per iteration", func() string { return optionJSON(Tokens(full().Iterations, o.EndS), overT("count")) }},
		{"chart-batches", "Batch size", func() string { return optionJSON(Batches(full().Iterations, o.EndS), overT("count")) }},
		{"chart-kv", "KV cache", func() string { return optionJSON(KV(full().Iterations, o.EndS), overT("count")) }},
		{"chart-breakdown", "Time by operator", func() string { return optionJSON(Breakdown(p.Breakdown), hints{X: "category", Y: "ms"}) }},
	}
}

// num renders an integer with thousands separators.
func num(v int) string {
	s := fmt.Sprint(v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
