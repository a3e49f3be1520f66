package api

import (
	"bytes"
	"math"

	"github.com/servesim/servesim/engine/report/plots"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/internal/runner"
)

// RealComparison scores a simulation of a real benchmark's result (the
// workload was a vllm bench serve JSON or an AIPerf profile_export.jsonl)
// against that result: servesim compare's numbers, computed by the same
// code (internal/compare), and both runs' CDFs.
type RealComparison struct {
	Name   string       `json:"name"`   // the result file
	Format string       `json:"format"` // vllm-bench-serve | aiperf
	Rows   []CompareRow `json:"rows"`
	// Markdown is the table servesim compare prints for the same pair.
	Markdown string `json:"markdown"`
	Matched  int    `json:"matched"`
	OnlyReal int    `json:"only_real"` // requests ok in the real run, not in the simulation
	OnlySim  int    `json:"only_sim"`
	// FailedInReal counts the requests that failed in the real run (kept
	// in the workload, not simulated).
	FailedInReal int          `json:"failed_in_real_run"`
	CDFs         []CompareCDF `json:"cdfs"`
	// Error says why no comparison could be made (no request in both).
	Error string `json:"error,omitempty"`
}

// CompareRow is one metric at one quantile (ms); RelErr is (sim - real) /
// real, absent when real is 0.
type CompareRow struct {
	Metric   string   `json:"metric"`
	Quantile string   `json:"quantile"`
	RealMs   float64  `json:"real_ms"`
	SimMs    float64  `json:"sim_ms"`
	RelErr   *float64 `json:"rel_err,omitempty"`
}

// CompareCDF is one metric's real and simulated distributions (ms).
type CompareCDF struct {
	Metric string    `json:"metric"`
	Real   plots.CDF `json:"real"`
	Sim    plots.CDF `json:"sim"`
}

// compareCDFPoints bounds each plotted distribution.
const compareCDFPoints = 400

// realComparison is the comparison of a run whose workload was a real
// result (nil otherwise).
func realComparison(o *runner.Output) *RealComparison {
	if o.Real == nil {
		return nil
	}
	rc := &RealComparison{Name: o.Real.Name, Format: o.Real.Format, Rows: []CompareRow{}, CDFs: []CompareCDF{}}
	for _, q := range o.Real.Requests {
		if !q.OK {
			rc.FailedInReal++
		}
	}
	res, err := compare.Compare(o.Real.Run(), compare.FromResult(o.Result, "simulated"))
	if err != nil {
		rc.Error = err.Error()
		return rc
	}
	rc.Matched, rc.OnlyReal, rc.OnlySim = res.Matched, len(res.OnlyReal), len(res.OnlySim)
	for _, r := range res.Rows {
		row := CompareRow{Metric: r.Metric, Quantile: r.Quantile, RealMs: r.Real / 1e6, SimMs: r.Sim / 1e6}
		if e := r.RelErr(); r.Real != 0 && !math.IsNaN(e) && !math.IsInf(e, 0) {
			row.RelErr = &e
		}
		rc.Rows = append(rc.Rows, row)
	}
	var md bytes.Buffer
	res.Markdown(&md, "real", "simulated")
	rc.Markdown = md.String()
	for _, m := range []string{"TTFT", "time between tokens", "E2E"} {
		if res.HasSamples(m) {
			real, sim := res.CDFs(m, compareCDFPoints)
			rc.CDFs = append(rc.CDFs, CompareCDF{Metric: m, Real: real, Sim: sim})
		}
	}
	return rc
}
