package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/vugu/vugu/js"

	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/web/charts"
)

// abState is an A/B comparison: the pinned run (A) against the run on
// screen (B).
type abState struct {
	A         *Result
	aInputs   runInputs
	AElapsed  float64
	then      *shareState // a link's or run file's B, run once its A is pinned
	chartsFor [2]string   // the runs the comparison charts are of
}

// shareOfShown is what a share link or run file of the run on screen
// carries: its inputs, and the pinned run's when one is pinned.
func (c *Root) shareOfShown() shareState {
	s := c.shown.state
	if c.AB.A != nil {
		a := c.AB.aInputs.state
		a.Pinned = nil
		s.Pinned = &a
	}
	return s
}

// abApply takes a link's or run file's state: with a pinned run, that run
// goes first (abResult pins it, then runs the rest).
func (c *Root) abApply(s shareState) shareState {
	if s.Pinned == nil {
		return s
	}
	b := s
	b.Pinned = nil
	c.AB.then = &b
	c.AB.A = nil
	return *s.Pinned
}

// abResult runs after every result: a link's A is pinned and its B run;
// otherwise the comparison charts follow the run on screen.
func (c *Root) abResult() {
	if c.AB.then != nil {
		b := *c.AB.then
		c.AB.then = nil
		c.pin()
		st, _ := json.Marshal(b)
		if err := c.applyState(string(st)); err != nil {
			c.Err = &Problem{Title: "could not read the shared link", Detail: err.Error()}
			return
		}
		c.run()
		return
	}
	c.drawAB()
}

// pin makes the run on screen A.
func (c *Root) pin() {
	if c.Result == nil {
		return
	}
	c.AB.A, c.AB.aInputs, c.AB.AElapsed = c.Result, c.shown, c.ElapsedMs
	c.AB.chartsFor = [2]string{}
	c.drawAB()
}

// drawAB builds the comparison charts when A and B are both on screen.
func (c *Root) drawAB() {
	a, b := c.AB.A, c.Result
	if a == nil || b == nil || a == b {
		return
	}
	key := [2]string{a.RunID + fmt.Sprint(c.LogX), b.RunID}
	if key == c.AB.chartsFor {
		return
	}
	c.AB.chartsFor = key
	list := []map[string]string{}
	for _, ch := range charts.ABCharts(charts.Compare{A: a.Plots.All(), B: b.Plots.All(), EndA: float64(a.SimulatedNs) / 1e9, EndB: float64(b.SimulatedNs) / 1e9, LogX: c.LogX}) {
		list = append(list, map[string]string{"id": ch.ID, "option": ch.Option})
	}
	j, _ := json.Marshal(list)
	bridge().Call("setExtraCharts", "ab", string(j))
}

// AbPanel is the A/B comparison (ab-panel.vugu): pin the run on screen as
// A, change settings or the workload, run again (B).
type AbPanel struct {
	R *Root
}

// Pinned is A (nil: nothing pinned).
func (c *AbPanel) Pinned() *Result { return c.R.AB.A }

// Comparing: A and B are two runs on screen.
func (c *AbPanel) Comparing() bool {
	return c.R.AB.A != nil && c.R.Result != nil && c.R.AB.A != c.R.Result
}

// HandlePin pins the run on screen as A.
func (c *AbPanel) HandlePin() { c.R.safe(c.R.pin) }

// HandleUnpin ends the comparison.
func (c *AbPanel) HandleUnpin() {
	c.R.safe(func() { c.R.AB = abState{}; bridge().Call("setExtraCharts", "ab", "[]") })
}

// Describe is a run's id and configuration in one line.
func (c *AbPanel) Describe(r *Result) string {
	saved := c.R.Result
	c.R.Result = r
	defer func() { c.R.Result = saved }()
	return r.RunID + ": " + r.WorkloadName + "; " + c.R.RunSummary()
}

// HandleDownloadA saves one of A's files (its own request again, as the
// run on screen's downloads are).
func (c *AbPanel) HandleDownloadA(name string) {
	c.R.safe(func() {
		a := c.R.AB.A
		if a == nil {
			return
		}
		url, filename := "/api/simulate?file="+name, "A-"+name
		if name == "zip" {
			url, filename = "/api/simulate?format=zip", "A-"+a.RunID+".zip"
		}
		var fn js.Func
		fn = js.FuncOf(func(_ js.Value, args []js.Value) any {
			fn.Release()
			if msg := args[0].String(); msg != "" {
				go c.R.update(func() { c.R.Err = problemOf(0, msg) })
			}
			return nil
		})
		bridge().Call("download", url, c.R.AB.aInputs.body, filename, fn)
	})
}

// ABRow is one line of the comparison table.
type ABRow struct {
	Metric, A, B, Diff, Ratio string
}

// Rows compare A's and B's key results.
func (c *AbPanel) Rows() []ABRow { return abRows(c.R.AB.A, c.R.Result) }

func abRows(a, b *Result) []ABRow {
	if a == nil || b == nil {
		return nil
	}
	var rows []ABRow
	ratio := func(x, y float64) string {
		if x == 0 {
			return "–"
		}
		return strconv.FormatFloat(y/x, 'f', 3, 64) + "×"
	}
	lat := func(name string, x, y float64) { // ns
		rows = append(rows, ABRow{name, ms(x), ms(y), signed(ms(math.Abs(y-x)), y-x), ratio(x, y)})
	}
	val := func(name string, x, y float64, unit string) {
		f := func(v float64) string { return short(v) + unit }
		if unit == "%" {
			f = func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + unit }
		}
		rows = append(rows, ABRow{name, f(x), f(y), signed(f(math.Abs(y-x)), y-x), ratio(x, y)})
	}
	sa, sb := a.Summary, b.Summary
	val("requests", float64(sa.Requests), float64(sb.Requests), "")
	lat("TTFT P50", sa.TTFT.P50, sb.TTFT.P50)
	lat("TTFT P90", sa.TTFT.P90, sb.TTFT.P90)
	lat("TTFT P99", sa.TTFT.P99, sb.TTFT.P99)
	lat("time between tokens P50", sa.TokenLatency.P50, sb.TokenLatency.P50)
	lat("time between tokens P99", sa.TokenLatency.P99, sb.TokenLatency.P99)
	lat("E2E P50", sa.E2E.P50, sb.E2E.P50)
	lat("E2E P90", sa.E2E.P90, sb.E2E.P90)
	lat("E2E P99", sa.E2E.P99, sb.E2E.P99)
	val("decode throughput", sa.DecodeThroughput, sb.DecodeThroughput, " tok/s")
	if ra, rb := sa.SLO, sb.SLO; ra != nil && rb != nil {
		val("SLO attainment", 100*ra.Attainment, 100*rb.Attainment, "%")
		val("goodput", ra.GoodputRPS, rb.GoodputRPS, " req/s")
		val("goodput tokens", ra.GoodputTokensPerS, rb.GoodputTokensPerS, " tok/s")
		val("offered load", ra.Load.OfferedRPS, rb.Load.OfferedRPS, " req/s")
		val("achieved load", ra.Load.AchievedRPS, rb.Load.AchievedRPS, " req/s")
		met := func(m *slo.Metric) string {
			switch {
			case m == nil:
				return "not checked"
			case m.Met:
				return "met (" + pct(m.Within) + "% within " + dur(m.ThresholdMs) + ")"
			}
			return "NOT met (" + pct(m.Within) + "% within " + dur(m.ThresholdMs) + ")"
		}
		rows = append(rows,
			ABRow{"SLO", sloVerdict(ra), sloVerdict(rb), "", ""},
			ABRow{"TTFT objective", met(ra.TTFT), met(rb.TTFT), "", ""},
			ABRow{"time between tokens objective", met(ra.TBT), met(rb.TBT), "", ""},
			ABRow{"E2E objective", met(ra.E2E), met(rb.E2E), "", ""},
			ABRow{"load", loadBadge(ra), loadBadge(rb), "", ""})
	}
	return rows
}

// signed puts the sign of d before an absolute difference.
func signed(abs string, d float64) string {
	switch {
	case d > 0:
		return "+" + abs
	case d < 0:
		return "−" + abs
	}
	return "0"
}
