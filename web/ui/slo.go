package ui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vugu/vugu"

	"github.com/servesim/servesim/engine/slo"
)

// SLOFields are the latency objective's settings (config key slo, judged
// by engine/slo in the worker: the page shows the API's summary.slo, the
// numbers the CLI prints). A threshold of 0 is not checked.
var SLOFields = []Field{
	{Key: "slo.ttft_ms", Label: "TTFT ≤ (ms)", Kind: "number", Help: "time to first token; 0: not checked"},
	{Key: "slo.ttft_percentile", Label: "… for at least (% of requests)", Kind: "number", Help: "percentile of all requests (unfinished ones fail)"},
	{Key: "slo.tbt_ms", Label: "time between tokens ≤ (ms)", Kind: "number", Help: "gap between consecutive output tokens; 0: not checked"},
	{Key: "slo.tbt_percentile", Label: "… for at least (% of gaps)", Kind: "number",
		Help: "judged per token: the run meets it when this share of all gaps (pooled over requests) is within the threshold; one request passes on its own gap at this percentile"},
	{Key: "slo.e2e_ms", Label: "E2E ≤ (ms)", Kind: "number", Help: "arrival to last token; 0: not checked"},
	{Key: "slo.e2e_percentile", Label: "… for at least (% of requests)", Kind: "number", Help: "percentile of all requests (unfinished ones fail)"},
}

// sloDefaults are engine/slo's default objective as panel values.
func sloDefaults() map[string]string {
	d := slo.Default()
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return map[string]string{"slo.ttft_ms": f(d.TTFTMs), "slo.ttft_percentile": f(d.TTFTPercentile), "slo.tbt_ms": f(d.TBTMs),
		"slo.tbt_percentile": f(d.TBTPercentile), "slo.e2e_ms": f(d.E2EMs), "slo.e2e_percentile": f(d.E2EPercentile)}
}

// specValues are an objective as panel values.
func specValues(s slo.Spec) map[string]string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return map[string]string{"slo.ttft_ms": f(s.TTFTMs), "slo.ttft_percentile": f(s.TTFTPercentile), "slo.tbt_ms": f(s.TBTMs),
		"slo.tbt_percentile": f(s.TBTPercentile), "slo.e2e_ms": f(s.E2EMs), "slo.e2e_percentile": f(s.E2EPercentile)}
}

// sloValue is an SLO setting's value the next run uses: the user's, the
// preset's, else engine/slo's default.
func (c *Root) sloValue(key string) string {
	if v, ok := c.Cfg[key]; ok {
		return v
	}
	if v, ok := c.baseConfig()[key]; ok {
		return v
	}
	return sloDefaults()[key]
}

// sloStale lists the SLO settings that differ from the objective the run on
// screen was judged against.
func (c *Root) sloStale() []string {
	if c.Result == nil || c.Result.Summary.SLO == nil {
		return nil
	}
	was := specValues(c.Result.Summary.SLO.Spec)
	var out []string
	for _, f := range SLOFields {
		if !sameValue(c.sloValue(f.Key), was[f.Key]) {
			out = append(out, "SLO "+strings.TrimSuffix(strings.TrimSuffix(f.Label, " (ms)"), " ≤"))
		}
	}
	return out
}

// SloSettings is the settings panel's latency objective (slo_settings.vugu).
type SloSettings struct {
	R *Root
}

// Fields are the objective's settings.
func (c *SloSettings) Fields() []Field { return SLOFields }

// HandleField records a change of the objective.
func (c *SloSettings) HandleField(f Field, event vugu.DOMEvent) {
	c.R.safe(func() { c.R.Cfg[f.Key] = strings.TrimSpace(event.PropString("target", "value")) })
}

// HandleDefaults puts the objective back to engine/slo's default.
func (c *SloSettings) HandleDefaults() {
	c.R.safe(func() {
		for _, f := range SLOFields {
			delete(c.R.Cfg, f.Key)
		}
	})
}

// SloResult shows the run on screen judged against its objective
// (slo_result.vugu): verdict, per-metric attainment, goodput, offered vs
// achieved load and the overload verdict.
type SloResult struct {
	R *Root
}

// Report is the run on screen's SLO report (nil before a result).
func (c *SloResult) Report() *slo.Report {
	if c.R == nil || c.R.Result == nil {
		return nil
	}
	return c.R.Result.Summary.SLO
}

// SLOMetric is one threshold's line of the panel.
type SLOMetric struct {
	ID, Name, Objective, Value, Within string
	Met                                bool
}

// Metrics are the checked thresholds.
func (c *SloResult) Metrics() []SLOMetric { return sloMetrics(c.Report()) }

func sloMetrics(r *slo.Report) []SLOMetric {
	if r == nil {
		return nil
	}
	var out []SLOMetric
	for _, m := range []struct {
		id, name, of string
		m            *slo.Metric
	}{{"ttft", "TTFT", "requests", r.TTFT}, {"tbt", "time between tokens", "gaps between tokens", r.TBT}, {"e2e", "E2E", "requests", r.E2E}} {
		if m.m == nil {
			continue
		}
		v := "never reached"
		if m.m.ValueMs != nil {
			v = dur(*m.m.ValueMs)
		}
		out = append(out, SLOMetric{ID: m.id, Name: m.name,
			Objective: fmt.Sprintf("P%s ≤ %s", strconv.FormatFloat(m.m.Percentile, 'f', -1, 64), dur(m.m.ThresholdMs)),
			Value:     fmt.Sprintf("P%s %s", strconv.FormatFloat(m.m.Percentile, 'f', -1, 64), v),
			Within:    fmt.Sprintf("%s%% of %s within", pct(m.m.Within), m.of), Met: m.m.Met})
	}
	return out
}

// pct renders a fraction as a percentage with two decimals.
func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 2, 64) }

// Verdict is the objective's verdict in a few words.
func (c *SloResult) Verdict() string { return sloVerdict(c.Report()) }

func sloVerdict(r *slo.Report) string {
	if r == nil {
		return ""
	}
	if r.Met {
		return "SLO met"
	}
	return "SLO not met"
}

// LoadLine is offered against achieved load.
func (c *SloResult) LoadLine() string {
	r := c.Report()
	if r == nil {
		return ""
	}
	l := r.Load
	return fmt.Sprintf("offered %s req/s (%s output tok/s), achieved %s req/s (%s tok/s) over %s",
		sig4(l.OfferedRPS), sig4(l.OfferedTokensPerS), sig4(l.AchievedRPS), sig4(l.AchievedTokensPerS), dur(1000*l.DurationS))
}

// LoadBadge is the overload verdict's short form.
func (c *SloResult) LoadBadge() string { return loadBadge(c.Report()) }

func loadBadge(r *slo.Report) string {
	switch {
	case r == nil:
		return ""
	case r.Load.Overloaded:
		return "OVERLOADED"
	case r.Load.Judged:
		return "keeping up"
	}
	return "load not judged"
}

// LoadClass styles the overload badge.
func (c *SloResult) LoadClass() string {
	r := c.Report()
	switch {
	case r == nil || !r.Load.Judged:
		return "badge"
	case r.Load.Overloaded:
		return "badge bad"
	}
	return "badge good"
}

// VerdictClass styles the SLO badge.
func (c *SloResult) VerdictClass() string {
	if r := c.Report(); r != nil && r.Met {
		return "badge good"
	}
	return "badge bad"
}
