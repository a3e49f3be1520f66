// Package charts builds the page's ECharts options from a run's plot data
// with github.com/go-echarts/go-echarts/v2. Every builder is a pure
// function, so the options are golden-tested natively and the browser only
// hands the JSON to echarts.setOption.
package charts

import (
	"encoding/json"
	"fmt"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"github.com/servesim/servesim/engine/report/plots"
)

// Chart is one chart's DOM id, title and ECharts option JSON.
type Chart struct {
	ID, Title string
	Option    string
}

func base(title, xName, yName string, xType string) []charts.GlobalOpts {
	return []charts.GlobalOpts{
		charts.WithTitleOpts(opts.Title{Title: title, Left: "center", TitleStyle: &opts.TextStyle{FontSize: 14}}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Bottom: "0"}),
		charts.WithXAxisOpts(opts.XAxis{Name: xName, Type: xType, NameLocation: "middle", NameGap: 25}),
		charts.WithYAxisOpts(opts.YAxis{Name: yName, Type: "value"}),
		charts.WithGridOpts(opts.Grid{Left: "60", Right: "20", Bottom: "60", Top: "40"}),
		charts.WithAnimation(false),
	}
}

func xy(x, y []float64) []opts.LineData {
	d := make([]opts.LineData, len(x))
	for i := range x {
		d[i] = opts.LineData{Value: []float64{x[i], y[i]}}
	}
	return d
}

func xyInt(x []float64, y []int) []opts.LineData {
	d := make([]opts.LineData, len(x))
	for i := range x {
		d[i] = opts.LineData{Value: []float64{x[i], float64(y[i])}}
	}
	return d
}

var noSymbol = charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false)})

// CDF draws a latency distribution (ms) as a step line.
func CDF(title string, c plots.CDF) *charts.Line {
	l := charts.NewLine()
	l.SetGlobalOptions(base(title, "ms", "fraction of samples", "value")...)
	l.AddSeries(title, xy(c.X, c.P), noSymbol, charts.WithLineChartOpts(opts.LineChart{Step: "end", ShowSymbol: opts.Bool(false)}))
	return l
}

// Throughput draws output tokens per second and completions over time.
func Throughput(t plots.Timeline) *charts.Line {
	l := charts.NewLine()
	l.SetGlobalOptions(base("Throughput", "time (s)", "tokens/s", "value")...)
	l.AddSeries("output tokens/s", xy(t.T, t.TokensPS), noSymbol)
	return l
}

// Load draws running and queued requests over time.
func Load(t plots.Timeline) *charts.Line {
	l := charts.NewLine()
	l.SetGlobalOptions(base("Running and queued requests", "time (s)", "requests", "value")...)
	l.AddSeries("running", xyInt(t.T, t.Running), noSymbol)
	l.AddSeries("queued", xyInt(t.T, t.Queued), noSymbol)
	return l
}

// Batches draws batch size and tokens per iteration.
func Batches(it plots.Iterations) *charts.Line {
	l := charts.NewLine()
	title := "Batch size and tokens per iteration"
	if it.Stride > 1 {
		title += fmt.Sprintf(" (every %dth iteration)", it.Stride)
	}
	l.SetGlobalOptions(base(title, "time (s)", "count", "value")...)
	l.AddSeries("requests in batch", xyInt(it.T, it.Size), noSymbol)
	l.AddSeries("tokens in batch", xyInt(it.T, it.Tokens), noSymbol)
	l.AddSeries("prefill tokens", xyInt(it.T, it.Prefill), noSymbol)
	return l
}

// KV draws KV-cache blocks in use over time.
func KV(it plots.Iterations) *charts.Line {
	l := charts.NewLine()
	l.SetGlobalOptions(base(fmt.Sprintf("KV-cache blocks in use (of %d)", it.KVTotal), "time (s)", "blocks", "value")...)
	l.AddSeries("blocks in use", xyInt(it.T, it.KVBlocks), noSymbol,
		charts.WithAreaStyleOpts(opts.AreaStyle{Opacity: opts.Float(0.2)}))
	return l
}

// Breakdown draws the run's predicted time by term (ms, all iterations).
func Breakdown(b plots.Breakdown) *charts.Bar {
	bar := charts.NewBar()
	bar.SetGlobalOptions(base("Where the time goes (predicted, all iterations)", "", "ms", "category")...)
	bar.SetGlobalOptions(charts.WithXAxisOpts(opts.XAxis{Type: "category", AxisLabel: &opts.AxisLabel{Rotate: 40, Interval: "0"}}),
		charts.WithGridOpts(opts.Grid{Left: "60", Right: "20", Bottom: "110", Top: "40"}),
		// One series: the legend only collided with the rotated labels.
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}))
	var names []string
	var data []opts.BarData
	for i, t := range b.Terms {
		if b.Ms[i] == 0 {
			continue
		}
		names = append(names, t)
		data = append(data, opts.BarData{Value: b.Ms[i]})
	}
	bar.SetXAxis(names).AddSeries("ms", data)
	return bar
}

type validator interface {
	Validate()
	JSON() map[string]interface{}
}

func optionJSON(c validator) string {
	c.Validate()
	b, err := json.Marshal(c.JSON())
	if err != nil {
		// Only plain numbers and strings go in; a failure is a bug.
		panic(fmt.Sprintf("charts: %v", err))
	}
	return string(b)
}

// All returns every chart of the page, in display order.
func All(p plots.Plots) []Chart {
	return []Chart{
		{"chart-ttft", "TTFT", optionJSON(CDF("TTFT CDF", p.TTFT))},
		{"chart-tbt", "Time between tokens", optionJSON(CDF("Time between tokens CDF", p.TokenLatency))},
		{"chart-e2e", "End-to-end latency", optionJSON(CDF("End-to-end latency CDF", p.E2E))},
		{"chart-throughput", "Throughput", optionJSON(Throughput(p.Timeline))},
		{"chart-load", "Running and queued", optionJSON(Load(p.Timeline))},
		{"chart-batches", "Batches", optionJSON(Batches(p.Iterations))},
		{"chart-kv", "KV cache", optionJSON(KV(p.Iterations))},
		{"chart-breakdown", "Time by operator", optionJSON(Breakdown(p.Breakdown))},
	}
}
