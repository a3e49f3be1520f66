package charts

import (
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/go-echarts/go-echarts/v2/types"
)

// chart is one chart's ECharts option, put together from go-echarts' typed
// option structs (package opts) the way go-echarts' own chart types marshal
// them (the same keys and values). Its chart types are not used: they
// link html/template into the page's wasm, and with it every exported
// method of every type (template calls methods by name), some 190 KB of
// the download compressed.
type chart struct {
	kind      string // "line", "scatter" or "bar"
	title     opts.Title
	legend    opts.Legend
	tooltip   opts.Tooltip
	toolbox   opts.Toolbox
	xAxis     opts.XAxis
	yAxis     opts.YAxis
	grids     []opts.Grid
	animation types.Bool
	series    []series
}

// series is one series of a chart (the fields of go-echarts' SingleSeries
// the page uses).
type series struct {
	Name       string          `json:"name,omitempty"`
	Type       string          `json:"type,omitempty"`
	Stack      string          `json:"stack,omitempty"`
	Step       any             `json:"step,omitempty"`
	ShowSymbol types.Bool      `json:"showSymbol,omitempty"`
	SymbolSize any             `json:"symbolSize,omitempty"`
	Data       any             `json:"data,omitempty"`
	Animation  types.Bool      `json:"animation,omitempty"`
	ItemStyle  *opts.ItemStyle `json:"itemStyle,omitempty"`
	MarkLines  *opts.MarkLines `json:"markLine,omitempty"`
	LineStyle  *opts.LineStyle `json:"lineStyle,omitempty"`
	AreaStyle  *opts.AreaStyle `json:"areaStyle,omitempty"`
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
		"xAxis": []opts.XAxis{c.xAxis}, "yAxis": []opts.YAxis{c.yAxis}, "color": palette}
	if c.animation != nil {
		m["animation"] = c.animation
	}
	if len(c.grids) > 0 {
		m["grid"] = c.grids
	}
	return m
}

func withTitle(o opts.Title) globalOpt     { return func(c *chart) { c.title = o } }
func withLegend(o opts.Legend) globalOpt   { return func(c *chart) { c.legend = o } }
func withTooltip(o opts.Tooltip) globalOpt { return func(c *chart) { c.tooltip = o } }
func withToolbox(o opts.Toolbox) globalOpt { return func(c *chart) { c.toolbox = o } }
func withXAxis(o opts.XAxis) globalOpt     { return func(c *chart) { c.xAxis = o } }
func withYAxis(o opts.YAxis) globalOpt     { return func(c *chart) { c.yAxis = o } }
func withAnimation(on bool) globalOpt      { return func(c *chart) { c.animation = opts.Bool(on) } }

// withGrid appends a grid (as go-echarts' WithGridOpts does).
func withGrid(o opts.Grid) globalOpt { return func(c *chart) { c.grids = append(c.grids, o) } }

// lineOpts sets a line series' symbol, stack and step.
func lineOpts(o opts.LineChart) seriesOpt {
	return func(s *series) {
		s.ShowSymbol, s.Stack, s.Step, s.SymbolSize = o.ShowSymbol, o.Stack, o.Step, o.SymbolSize
	}
}

func scatterOpts(o opts.ScatterChart) seriesOpt {
	return func(s *series) { s.SymbolSize = o.SymbolSize }
}
func lineStyle(o opts.LineStyle) seriesOpt { return func(s *series) { s.LineStyle = &o } }
func areaStyle(o opts.AreaStyle) seriesOpt { return func(s *series) { s.AreaStyle = &o } }

// markLinesX marks x positions with named vertical lines.
func markLinesX(style opts.MarkLineStyle, items ...opts.MarkLineNameXAxisItem) seriesOpt {
	return func(s *series) {
		m := &opts.MarkLines{MarkLineStyle: style}
		for _, it := range items {
			m.Data = append(m.Data, it)
		}
		s.MarkLines = m
	}
}
