package ui

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/vugu/vugu"

	"github.com/servesim/servesim/engine/report/plots"
	"github.com/servesim/servesim/web/charts"
)

// RealResult is the API result's comparison with the real benchmark result
// the run replays (servesim compare's numbers, from internal/compare in the
// worker).
type RealResult struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Rows   []struct {
		Metric   string   `json:"metric"`
		Quantile string   `json:"quantile"`
		RealMs   float64  `json:"real_ms"`
		SimMs    float64  `json:"sim_ms"`
		RelErr   *float64 `json:"rel_err"`
	} `json:"rows"`
	Matched      int    `json:"matched"`
	OnlyReal     int    `json:"only_real"`
	OnlySim      int    `json:"only_sim"`
	FailedInReal int    `json:"failed_in_real_run"`
	Error        string `json:"error"`
	CDFs         []struct {
		Metric string    `json:"metric"`
		Real   plots.CDF `json:"real"`
		Sim    plots.CDF `json:"sim"`
	} `json:"cdfs"`
}

// realCharts are the real-vs-simulated CDFs of the result on screen.
func (c *Root) realCharts(o charts.Options) []charts.Chart {
	if c.Result == nil || c.Result.Real == nil {
		return nil
	}
	var cdfs []charts.RealCDF
	for _, x := range c.Result.Real.CDFs {
		cdfs = append(cdfs, charts.RealCDF{Metric: x.Metric, Real: x.Real, Sim: x.Sim})
	}
	return charts.Real(cdfs, o)
}

// Calibration is the state of "calibrate on this run": the set it made
// (used for every run until Reset, downloadable as a zip that can be
// dropped back) and what the fit says.
type Calibration struct {
	Running bool
	Err     *Problem
	Name    string // the calibrated set's name
	Files   []File // its files (mlp.csv, attention.csv, host_overheads.csv, engine.json, profile.json, PROVENANCE.md)
	Summary string // the fit in one line
}

// RealPanel shows the run scored against the real result it replays, and
// the calibrate button.
type RealPanel struct {
	Root *Root
}

// R is the comparison on screen.
func (p *RealPanel) R() *RealResult { return p.Root.Result.Real }

// Cal is the calibration state.
func (p *RealPanel) Cal() *Calibration { return &p.Root.Calib }

// Rows are the error table's rows as servesim compare prints them (ms with
// three decimals, signed relative error with one).
func (p *RealPanel) Rows() [][]string {
	var out [][]string
	for _, r := range p.R().Rows {
		rel := "n/a (real is 0)"
		if r.RelErr != nil {
			rel = fmt.Sprintf("%+.1f%%", *r.RelErr*100)
		}
		out = append(out, []string{r.Metric, r.Quantile, fmt.Sprintf("%.3f", r.RealMs), fmt.Sprintf("%.3f", r.SimMs), rel})
	}
	return out
}

// MatchLine says how the requests aligned.
func (p *RealPanel) MatchLine() string {
	r := p.R()
	s := fmt.Sprintf("%d requests matched", r.Matched)
	if r.OnlyReal+r.OnlySim > 0 {
		s += fmt.Sprintf("; %d only in the real run, %d only in the simulation", r.OnlyReal, r.OnlySim)
	}
	if r.FailedInReal > 0 {
		s += fmt.Sprintf("; %d failed in the real run (kept in the workload, not simulated)", r.FailedInReal)
	}
	return s + " (servesim compare's numbers: the same code, in this page's worker)"
}

// CalibrateWhy is why the run cannot be calibrated on ("" if it can): the
// fit needs a base set that describes its serving engine (engine.json).
func (p *RealPanel) CalibrateWhy() string {
	c := p.Root
	if c.Calib.Running {
		return "calibrating…"
	}
	if c.Running {
		return "a run is in progress"
	}
	base := c.calibrationBase()
	var why []string
	if base == nil && len(c.shown.state.ProfileFiles) > 0 {
		why = append(why, "this run used your own profile files; calibration starts from an embedded set (Reset forgets the files)")
	}
	if base == nil {
		var sets []string
		for _, s := range c.Profiles {
			if s.EngineTiming {
				sets = append(sets, s.Name)
			}
		}
		return strings.Join(append(why, "calibration fits an embedded set that describes its serving engine (engine.json): "+strings.Join(sets, ", ")), "; ")
	}
	return ""
}

// calibrationBase is the embedded set the run on screen used, if it can
// be calibrated (nil otherwise).
func (c *Root) calibrationBase() *Profile {
	if c.Result == nil || len(c.shown.state.ProfileFiles) > 0 {
		return nil
	}
	p := c.profileNamed(c.Result.Profile.Name)
	if p == nil || !p.EngineTiming {
		return nil
	}
	return p
}

// HandleCalibrate fits a profile set to the real result on screen (POST
// /api/calibrate in the worker, the same as servesim calibrate --fit), then
// uses it at once: every run uses it until Reset, and it downloads as a zip
// that can be dropped back on the page.
func (c *Root) HandleCalibrate(event vugu.DOMEvent) {
	c.safe(func() {
		base := c.calibrationBase()
		if base == nil || c.Result.Real == nil || len(c.shown.state.Files) != 1 {
			return
		}
		var shown struct {
			Config json.RawMessage `json:"config"`
		}
		json.Unmarshal([]byte(c.shown.body), &shown)
		name := "calibrated-" + strings.TrimPrefix(c.Result.RunID, "servesim_")
		req := map[string]any{"base": base.Name, "name": name, "config": shown.Config,
			"runs": []map[string]any{{"name": c.Result.Real.Name, "split": "fit", "files": c.shown.state.Files}}}
		b, _ := json.Marshal(req)
		c.Calib = Calibration{Running: true}
		c.request("/api/calibrate", "POST", string(b), func(status int, text string) {
			c.Calib.Running = false
			if status != 200 {
				c.Calib.Err = problemOf(status, text)
				return
			}
			var res struct {
				Fit struct {
					Method   string             `json:"method"`
					Scale    map[string]float64 `json:"scale"`
					FitSteps int                `json:"fit_steps"`
				} `json:"fit"`
				Files map[string]string `json:"files"`
			}
			if err := json.Unmarshal([]byte(text), &res); err != nil || len(res.Files) == 0 {
				c.Calib.Err = &Problem{Title: "calibration failed", Detail: "the worker's answer has no profile files"}
				return
			}
			names := make([]string, 0, len(res.Files))
			for n := range res.Files {
				names = append(names, n)
			}
			sort.Strings(names)
			var files []File
			for _, n := range names {
				files = append(files, File{Name: n, Content: res.Files[n]})
			}
			var scales []string
			for _, k := range []string{"gemm", "attention", "elementwise"} {
				if v, ok := res.Fit.Scale[k]; ok {
					scales = append(scales, fmt.Sprintf("%s x%.3f", k, v))
				}
			}
			c.Calib.Name, c.Calib.Files = name, files
			c.Calib.Summary = fmt.Sprintf("%s: fitted on %s (%s; GPU scale %s), from %s", name, c.Result.Real.Name, res.Fit.Method, strings.Join(scales, ", "), base.Name)
			c.ProfileFiles = files
			c.run()
		})
	})
}

// HandleCalibratedZip saves the calibrated set as a zip of its files
// (unzipped, a --profile DIR for the CLI; dropped on the page, the set).
func (c *Root) HandleCalibratedZip(event vugu.DOMEvent) {
	c.safe(func() {
		if len(c.Calib.Files) == 0 {
			return
		}
		b, _ := json.Marshal(c.Calib.Files)
		bridge().Call("saveZip", c.Calib.Name+".zip", string(b))
	})
}
