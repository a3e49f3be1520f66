package charts

import (
	"github.com/servesim/servesim/web/charts/ecopt"
)

// chart is one chart's ECharts option, put together from typed option
// fields (package ecopt) the way go-echarts' chart types marshalled them
// (the same keys and values; the page used go-echarts until its chart types
// and option types cost some 170 KB of the 4 MB download compressed: they
// link html/template, and with it every exported method of every type, and
// regexp and the reflection data of hundreds of option types).
type chart struct {
	kind      string // "line", "scatter" or "bar"
	title     ecopt.Title
	legend    ecopt.Legend
	tooltip   ecopt.Tooltip
	toolbox   ecopt.Toolbox
	xAxis     ecopt.XAxis
	yAxis     ecopt.YAxis
	grids     []ecopt.Grid
	animation ecopt.Bool
	series    []series
}

// series is one series of a chart (the fields of go-echarts' SingleSeries
// the page uses).
type series struct {
	Name       string           `json:"name,omitempty"`
	Type       string           `json:"type,omitempty"`
	Stack      string           `json:"stack,omitempty"`
	Step       any              `json:"step,omitempty"`
	ShowSymbol ecopt.Bool       `json:"showSymbol,omitempty"`
	SymbolSize any              `json:"symbolSize,omitempty"`
	Data       any              `json:"data,omitempty"`
	Animation  ecopt.Bool       `json:"animation,omitempty"`
	ItemStyle  *ecopt.ItemStyle `json:"itemStyle,omitempty"`
	MarkLines  *ecopt.MarkLines `json:"markLine,omitempty"`
	LineStyle  *ecopt.LineStyle `json:"lineStyle,omitempty"`
	AreaStyle  *ecopt.AreaStyle `json:"areaStyle,omitempty"`
}

// globalOpt sets a chart-wide option; seriesOpt sets one of a series.
type (
	globalOpt func(*chart)
	seriesOpt func(*series)
)

func newChart(kind string) *chart { return &chart{kind: kind} }

func (c *chart) set(o ...globalOpt) {
	for _, f := range o {
		f(c)
	}
}

// add appends a series; a line series takes the chart's animation setting
// (as go-echarts' Line does).
func (c *chart) add(name string, data any, o ...seriesOpt) {
	s := series{Name: name, Type: c.kind, Data: data}
	if c.kind == "line" {
		s.Animation = c.animation
	}
	for _, f := range o {
		f(&s)
	}
	c.series = append(c.series, s)
}

// json is the option object (go-echarts' BaseConfiguration.JSON keys).
func (c *chart) json() map[string]any {
	m := map[string]any{"title": c.title, "legend": c.legend, "tooltip": c.tooltip, "series": c.series, "toolbox": c.toolbox,
		"xAxis": []ecopt.XAxis{c.xAxis}, "yAxis": []ecopt.YAxis{c.yAxis}, "color": palette}
	if c.animation != nil {
		m["animation"] = c.animation
	}
	if len(c.grids) > 0 {
		m["grid"] = c.grids
	}
	return m
}

func withTitle(o ecopt.Title) globalOpt     { return func(c *chart) { c.title = o } }
func withLegend(o ecopt.Legend) globalOpt   { return func(c *chart) { c.legend = o } }
func withTooltip(o ecopt.Tooltip) globalOpt { return func(c *chart) { c.tooltip = o } }
func withToolbox(o ecopt.Toolbox) globalOpt { return func(c *chart) { c.toolbox = o } }
func withXAxis(o ecopt.XAxis) globalOpt     { return func(c *chart) { c.xAxis = o } }
func withYAxis(o ecopt.YAxis) globalOpt     { return func(c *chart) { c.yAxis = o } }
func withAnimation(on bool) globalOpt       { return func(c *chart) { c.animation = ecopt.NewBool(on) } }

// withGrid appends a grid (as go-echarts' WithGridOpts does).
func withGrid(o ecopt.Grid) globalOpt { return func(c *chart) { c.grids = append(c.grids, o) } }

// lineOpts sets a line series' symbol, stack and step.
func lineOpts(o ecopt.LineChart) seriesOpt {
	return func(s *series) {
		s.ShowSymbol, s.Stack, s.Step, s.SymbolSize = o.ShowSymbol, o.Stack, o.Step, o.SymbolSize
	}
}

func scatterOpts(o ecopt.ScatterChart) seriesOpt {
	return func(s *series) { s.SymbolSize = o.SymbolSize }
}
func lineStyle(o ecopt.LineStyle) seriesOpt { return func(s *series) { s.LineStyle = &o } }
func areaStyle(o ecopt.AreaStyle) seriesOpt { return func(s *series) { s.AreaStyle = &o } }

// markLinesX marks x positions with named vertical lines.
func markLinesX(style ecopt.MarkLineStyle, items ...ecopt.MarkLineNameXAxisItem) seriesOpt {
	return func(s *series) {
		m := &ecopt.MarkLines{MarkLineStyle: style}
		for _, it := range items {
			m.Data = append(m.Data, it)
		}
		s.MarkLines = m
	}
}
