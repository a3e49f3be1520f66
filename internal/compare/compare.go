// Package compare scores a simulated run against a real one: it aligns
// requests by id, compares TTFT, time between tokens and end-to-end latency
// percentiles with relative errors, and draws CDF overlays as SVG.
package compare

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/report/plots"
)

// Run is one side: per-request times and per-token gaps (ns).
type Run struct {
	Name  string
	TTFT  map[int]float64 // by request id
	E2E   map[int]float64
	TBT   []float64 // token_latency_ns of every token with index > 0
	Order []int     // request ids as read
}

// Load reads request_metrics.csv and token_metrics.csv from dir. Only
// requests with status ok count.
func Load(dir string) (*Run, error) {
	r := &Run{Name: dir, TTFT: map[int]float64{}, E2E: map[int]float64{}}
	err := readCSV(filepath.Join(dir, "request_metrics.csv"), func(t *csvin.Table) error {
		id, err := t.IntAtLeast("request_id", 0)
		if err != nil {
			return err
		}
		if st, _ := t.Field("status"); st != "ok" {
			return nil
		}
		a, err := t.NonNegFloat("arrival_time_ns")
		if err != nil {
			return err
		}
		f, err := t.NonNegFloat("first_token_time_ns")
		if err != nil {
			return err
		}
		c, err := t.NonNegFloat("completion_time_ns")
		if err != nil {
			return err
		}
		if f < a {
			return t.ErrAt("first_token_time_ns", fmt.Sprintf("a time >= arrival_time_ns (%v)", a), fmt.Sprint(f))
		}
		if c < f {
			return t.ErrAt("completion_time_ns", fmt.Sprintf("a time >= first_token_time_ns (%v)", f), fmt.Sprint(c))
		}
		if _, dup := r.TTFT[int(id)]; dup {
			return t.ErrAt("request_id", "unique request ids", fmt.Sprint(id))
		}
		r.TTFT[int(id)], r.E2E[int(id)] = f-a, c-a
		r.Order = append(r.Order, int(id))
		return nil
	}, "request_id", "arrival_time_ns", "first_token_time_ns", "completion_time_ns", "status")
	if err != nil {
		return nil, err
	}
	err = readCSV(filepath.Join(dir, "token_metrics.csv"), func(t *csvin.Table) error {
		k, err := t.IntAtLeast("token_index", 0)
		if err != nil {
			return err
		}
		if k == 0 {
			return nil
		}
		v, err := t.NonNegFloat("token_latency_ns")
		if err != nil {
			return err
		}
		r.TBT = append(r.TBT, v)
		return nil
	}, "request_id", "token_index", "token_latency_ns")
	return r, err
}

// readCSV reads path, or path+".gz" (gzip) when only that exists: real
// runs keep their large per-token files compressed.
func readCSV(path string, row func(*csvin.Table) error, cols ...string) error {
	f, err := os.Open(path)
	var in io.Reader = f
	if errors.Is(err, fs.ErrNotExist) {
		if g, gerr := os.Open(path + ".gz"); gerr == nil {
			f, err, path = g, nil, path+".gz"
			zr, zerr := gzip.NewReader(g)
			if zerr != nil {
				g.Close()
				return fmt.Errorf("%s: %w", path, zerr)
			}
			in = zr
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return csvin.Scan(in, path, row, cols...)
}

// Row compares one metric at one quantile.
type Row struct {
	Metric   string
	Quantile string
	Real     float64 // ns
	Sim      float64
}

// RelErr is (sim − real) / real (±Inf or NaN when real is 0: Markdown
// says n/a then).
func (r Row) RelErr() float64 { return r.Sim/r.Real - 1 }

// HasSamples reports whether both runs have samples of metric, so that
// SVG can draw it.
func (r *Result) HasSamples(metric string) bool {
	return len(r.real[metric]) > 0 && len(r.sim[metric]) > 0
}

// Result is a comparison.
type Result struct {
	Rows      []Row
	Matched   int
	OnlyReal  []int
	OnlySim   []int
	real, sim map[string][]float64
}

// Compare aligns the runs by request id and compares percentiles.
func Compare(real, sim *Run) (*Result, error) {
	res := &Result{real: map[string][]float64{}, sim: map[string][]float64{}}
	for _, id := range real.Order {
		if _, ok := sim.TTFT[id]; !ok {
			res.OnlyReal = append(res.OnlyReal, id)
			continue
		}
		res.Matched++
		res.real["TTFT"] = append(res.real["TTFT"], real.TTFT[id])
		res.sim["TTFT"] = append(res.sim["TTFT"], sim.TTFT[id])
		res.real["E2E"] = append(res.real["E2E"], real.E2E[id])
		res.sim["E2E"] = append(res.sim["E2E"], sim.E2E[id])
	}
	for _, id := range sim.Order {
		if _, ok := real.TTFT[id]; !ok {
			res.OnlySim = append(res.OnlySim, id)
		}
	}
	if res.Matched == 0 {
		return nil, errors.New("compare: no request id appears in both runs")
	}
	res.real["time between tokens"], res.sim["time between tokens"] = real.TBT, sim.TBT
	for _, m := range []string{"TTFT", "time between tokens", "E2E"} {
		a, b := sorted(res.real[m]), sorted(res.sim[m])
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		for _, q := range []struct {
			name string
			v    float64
		}{{"P50", 0.5}, {"P90", 0.9}, {"P99", 0.99}} {
			res.Rows = append(res.Rows, Row{m, q.name, report.Quantile(a, q.v), report.Quantile(b, q.v)})
		}
	}
	return res, nil
}

func sorted(v []float64) []float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s
}

// Markdown writes the comparison table.
func (r *Result) Markdown(w io.Writer, realName, simName string) {
	fmt.Fprintf(w, "| metric | quantile | real (%s) ms | simulated (%s) ms | relative error |\n|---|---|---:|---:|---:|\n", realName, simName)
	for _, row := range r.Rows {
		rel := "n/a (real is 0)"
		if row.Real != 0 {
			rel = fmt.Sprintf("%+.1f%%", row.RelErr()*100)
		}
		fmt.Fprintf(w, "| %s | %s | %.3f | %.3f | %s |\n", row.Metric, row.Quantile, row.Real/1e6, row.Sim/1e6, rel)
	}
	for _, m := range []string{"TTFT", "time between tokens", "E2E"} {
		if !r.HasSamples(m) {
			fmt.Fprintf(w, "\nno %s samples in one of the runs (a run of 1-token outputs has no time between tokens)\n", m)
		}
	}
	fmt.Fprintf(w, "\n%d requests matched", r.Matched)
	if len(r.OnlyReal)+len(r.OnlySim) > 0 {
		fmt.Fprintf(w, "; %d only in the real run, %d only in the simulation", len(r.OnlyReal), len(r.OnlySim))
	}
	fmt.Fprintln(w)
}

// SVG draws the two CDFs of a metric ("TTFT", "time between tokens", "E2E").
func (r *Result) SVG(w io.Writer, metric string) error {
	a, b := sorted(r.real[metric]), sorted(r.sim[metric])
	if len(a) == 0 || len(b) == 0 {
		return fmt.Errorf("compare: no %s samples", metric)
	}
	const W, H, pad = 560.0, 320.0, 48.0
	lo, hi := math.Min(a[0], b[0])/1e6, math.Max(a[len(a)-1], b[len(b)-1])/1e6
	if hi <= lo {
		hi = lo + 1
	}
	x := func(v float64) float64 { return pad + (v/1e6-lo)/(hi-lo)*(W-2*pad) }
	y := func(p float64) float64 { return H - pad - p*(H-2*pad) }
	path := func(s []float64) string {
		var sb strings.Builder
		step := max(1, len(s)/500)
		for i := 0; i < len(s); i += step {
			fmt.Fprintf(&sb, "%.1f,%.1f ", x(s[i]), y(float64(i+1)/float64(len(s))))
		}
		fmt.Fprintf(&sb, "%.1f,%.1f", x(s[len(s)-1]), y(1))
		return sb.String()
	}
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/><text x="%g" y="20" text-anchor="middle" font-size="14">%s CDF</text>`+"\n", W/2, metric)
	fmt.Fprintf(w, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/><line x1="%g" y1="%g" x2="%g" y2="%g" stroke="black"/>`+"\n",
		pad, H-pad, W-pad, H-pad, pad, H-pad, pad, pad)
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		fmt.Fprintf(w, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n", x(v*1e6), H-pad+16, strconv.FormatFloat(v, 'g', 4, 64))
		fmt.Fprintf(w, `<text x="%g" y="%.1f" text-anchor="end">%.2f</text>`+"\n", pad-4, y(float64(i)/4)+4, float64(i)/4)
	}
	fmt.Fprintf(w, `<text x="%g" y="%g" text-anchor="middle">ms</text>`+"\n", W/2, H-10)
	fmt.Fprintf(w, `<polyline fill="none" stroke="#d62728" stroke-width="2" points="%s"/>`+"\n", path(a))
	fmt.Fprintf(w, `<polyline fill="none" stroke="#1f77b4" stroke-width="2" stroke-dasharray="5,3" points="%s"/>`+"\n", path(b))
	fmt.Fprintf(w, `<text x="%g" y="%g" fill="#d62728">real</text><text x="%g" y="%g" fill="#1f77b4">simulated</text>`+"\n", W-pad-90, pad+4, W-pad-90, pad+20)
	_, err := fmt.Fprintln(w, "</svg>")
	return err
}

// FromResult is the Run that Load reads from the request_metrics.csv and
// token_metrics.csv a simulation writes, taken from the result itself
// (same values: the files hold the result's integer ns).
func FromResult(res *engine.Result, name string) *Run {
	r := &Run{Name: name, TTFT: map[int]float64{}, E2E: map[int]float64{}}
	for i := range res.Requests {
		q := &res.Requests[i]
		if q.Status == engine.StatusOK {
			a := float64(q.ArrivalNs)
			r.TTFT[q.ID], r.E2E[q.ID] = float64(q.FirstTokenNs)-a, float64(q.CompletionNs)-a
			r.Order = append(r.Order, q.ID)
		}
		var prev int64
		res.EachToken(i, func(k int, at int64) {
			if k > 0 {
				r.TBT = append(r.TBT, float64(at-prev))
			}
			prev = at
		})
	}
	return r
}

// CDFs are a compared metric's two distributions (ms), each downsampled to
// at most points evenly spaced ranks (the first and last kept), for plots.
func (r *Result) CDFs(metric string, points int) (real, sim plots.CDF) {
	return cdfOf(sorted(r.real[metric]), points), cdfOf(sorted(r.sim[metric]), points)
}

func cdfOf(s []float64, points int) plots.CDF {
	var c plots.CDF
	n := len(s)
	if n == 0 {
		return c
	}
	step := max(1, (n+points-1)/points)
	for i := 0; i < n; i += step {
		c.X, c.P = append(c.X, s[i]/1e6), append(c.P, float64(i+1)/float64(n))
	}
	if last := float64(n) / float64(n); c.P[len(c.P)-1] != last {
		c.X, c.P = append(c.X, s[n-1]/1e6), append(c.P, last)
	}
	return c
}
