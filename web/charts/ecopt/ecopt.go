// Package ecopt holds the ECharts option fields the page's charts use, as
// typed structs with ECharts' JSON names: the subset of go-echarts' opts
// types (same names, fields and JSON) that web/charts needs. go-echarts'
// opts package links regexp and the reflection data of its hundreds of
// option types into the page's wasm (some 85 KB of the download
// compressed); these are a few dozen fields.
package ecopt

// Bool and Float are optional values (nil: not set).
type (
	Bool  *bool
	Float *float32
)

// NewBool returns an optional bool.
func NewBool(v bool) Bool { return &v }

// NewFloat returns an optional float.
func NewFloat(v float32) Float { return &v }

// Title is a chart's title.
type Title struct {
	Title         string     `json:"text,omitempty"`
	Subtitle      string     `json:"subtext,omitempty"`
	Left          string     `json:"left,omitempty"`
	TitleStyle    *TextStyle `json:"textStyle,omitempty"`
	SubtitleStyle *TextStyle `json:"subtextStyle,omitempty"`
}

// TextStyle is a text's style.
type TextStyle struct {
	FontSize int `json:"fontSize,omitempty"`
}

// Tooltip is a chart's tooltip.
type Tooltip struct {
	Show        Bool         `json:"show,omitempty"`
	Trigger     string       `json:"trigger,omitempty"`
	AxisPointer *AxisPointer `json:"axisPointer,omitempty"`
}

// AxisPointer is the tooltip's axis pointer.
type AxisPointer struct {
	Type string `json:"type,omitempty"`
	Snap Bool   `json:"snap,omitempty"`
}

// Legend is a chart's legend.
type Legend struct {
	Show   Bool   `json:"show,omitempty"`
	Bottom string `json:"bottom,omitempty"`
	Data   any    `json:"data,omitempty"`
}

// XAxis is a chart's x axis.
type XAxis struct {
	Name         string     `json:"name,omitempty"`
	Type         string     `json:"type,omitempty"`
	NameLocation string     `json:"nameLocation,omitempty"`
	NameGap      int        `json:"nameGap,omitempty"`
	Min          any        `json:"min,omitempty"`
	Max          any        `json:"max,omitempty"`
	Scale        Bool       `json:"scale,omitempty"`
	AxisLabel    *AxisLabel `json:"axisLabel,omitempty"`
	Data         any        `json:"data,omitempty"`
}

// YAxis is a chart's y axis.
type YAxis struct {
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"`
	Min  any    `json:"min,omitempty"`
	Max  any    `json:"max,omitempty"`
}

// AxisLabel is an axis' labels (go-echarts writes showMaxLabel and
// showMinLabel always, null when unset).
type AxisLabel struct {
	Rotate       float64 `json:"rotate,omitempty"`
	Interval     string  `json:"interval,omitempty"`
	ShowMaxLabel Bool    `json:"showMaxLabel"`
	ShowMinLabel Bool    `json:"showMinLabel"`
}

// Grid is a chart's plot area.
type Grid struct {
	Left   string `json:"left,omitempty"`
	Right  string `json:"right,omitempty"`
	Bottom string `json:"bottom,omitempty"`
	Top    string `json:"top,omitempty"`
}

// Toolbox is a chart's toolbox.
type Toolbox struct {
	Show    Bool            `json:"show,omitempty"`
	Right   string          `json:"right,omitempty"`
	Top     string          `json:"top,omitempty"`
	Feature *ToolBoxFeature `json:"feature,omitempty"`
}

// ToolBoxFeature are the toolbox's tools.
type ToolBoxFeature struct {
	SaveAsImage *ToolBoxFeatureSaveAsImage `json:"saveAsImage,omitempty"`
}

// ToolBoxFeatureSaveAsImage is the save-as-image tool.
type ToolBoxFeatureSaveAsImage struct {
	Show  Bool   `json:"show,omitempty"`
	Type  string `json:"type,omitempty"`
	Name  string `json:"name,omitempty"`
	Title string `json:"title,omitempty"`
}

// LineData, ScatterData and BarData are one point of a series.
type (
	LineData struct {
		Value any `json:"value,omitempty"`
	}
	ScatterData struct {
		Value any `json:"value,omitempty"`
	}
	BarData struct {
		Value any `json:"value,omitempty"`
	}
)

// ItemStyle is a series' item style.
type ItemStyle struct {
	Color string `json:"color,omitempty"`
}

// LineStyle is a line's style.
type LineStyle struct {
	Color   string `json:"color,omitempty"`
	Opacity Float  `json:"opacity,omitempty"`
	Type    string `json:"type,omitempty"`
}

// AreaStyle is the style of the area under a line.
type AreaStyle struct {
	Opacity Float `json:"opacity,omitempty"`
}

// Label is a text label.
type Label struct {
	Show      Bool   `json:"show,omitempty"`
	Formatter string `json:"formatter,omitempty"`
}

// MarkLines are a series' mark lines.
type MarkLines struct {
	Data []any `json:"data,omitempty"`
	MarkLineStyle
}

// MarkLineStyle is the mark lines' style.
type MarkLineStyle struct {
	Symbol    []string   `json:"symbol,omitempty"`
	Label     *Label     `json:"label,omitempty"`
	LineStyle *LineStyle `json:"lineStyle,omitempty"`
}

// MarkLineNameXAxisItem is a named vertical mark line.
type MarkLineNameXAxisItem struct {
	Name  string `json:"name,omitempty"`
	XAxis any    `json:"xAxis,omitempty"`
}

// LineChart and ScatterChart are the series options the page sets.
type (
	LineChart struct {
		ShowSymbol Bool
		Stack      string
		Step       any
		SymbolSize any
	}
	ScatterChart struct {
		SymbolSize any
	}
)
