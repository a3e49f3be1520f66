package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing/fstest"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/workload"
)

// refRun is what a reference run says per request.
type refRun struct {
	name         string
	ttft, perTok float64 // medians over requests, ns
	e2e          float64 // median, ns
}

// summarize computes median TTFT, median per-token latency ((c-f)/(D-1))
// and median E2E from request rows.
func summarize(name string, arrival, first, done []float64, decode []int) refRun {
	var t, p, e []float64
	for i := range arrival {
		t = append(t, first[i]-arrival[i])
		e = append(e, done[i]-arrival[i])
		if decode[i] > 1 {
			p = append(p, (done[i]-first[i])/float64(decode[i]-1))
		}
	}
	return refRun{name: name, ttft: median(t), perTok: median(p), e2e: median(e)}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func loadRef(path, name string) (refRun, error) {
	rows, err := readCSV(path)
	if err != nil {
		return refRun{}, err
	}
	var a, f, d []float64
	var dec []int
	for _, r := range rows {
		x, _ := strconv.ParseFloat(r["arrival_time_ns"], 64)
		y, _ := strconv.ParseFloat(r["first_token_time_ns"], 64)
		z, _ := strconv.ParseFloat(r["completion_time_ns"], 64)
		n, _ := strconv.Atoi(r["num_decode_tokens_actual"])
		a, f, d, dec = append(a, x), append(f, y), append(d, z), append(dec, n)
	}
	return summarize(name, a, f, d, dec), nil
}

// scenario is a reference workload with its expected numbers.
type scenario struct {
	ref   refRun
	files []string
}

func loadWorkload(files []string, cfg engine.Config) (*workload.Workload, error) {
	var in []workload.File
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = append(in, workload.File{Name: filepath.Base(p), R: f})
	}
	return workload.Load(in, cfg.WorkloadOptions())
}

// simulate runs a scenario on a profile set and summarises it the same way.
func simulate(sc scenario, set *predict.Set, cpu bool) (refRun, error) {
	cfg := engine.DefaultConfig()
	cfg.Predictor.SkipCPUOverheadModeling = !cpu
	w, err := loadWorkload(sc.files, cfg)
	if err != nil {
		return refRun{}, err
	}
	res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{})
	if err != nil {
		return refRun{}, err
	}
	var a, f, d []float64
	var dec []int
	for _, r := range res.Requests {
		a, f, d, dec = append(a, float64(r.ArrivalNs)), append(f, float64(r.FirstTokenNs)), append(d, float64(r.CompletionNs)), append(dec, r.DecodeActual)
	}
	return summarize(sc.ref.name, a, f, d, dec), nil
}

// calErr is the relative error of one simulated quantity against its reference.
type calErr struct {
	Name     string
	Ref, Sim float64
}

func (c calErr) pct() float64 { return (c.Sim/c.Ref - 1) * 100 }

// compare simulates every scenario on the set build returns; the set is
// opened once, so its tables are parsed once for all scenarios.
func compare(scs []scenario, build func() fstest.MapFS, cpu bool) ([]calErr, error) {
	set, err := predict.Open(build(), "candidate")
	if err != nil {
		return nil, err
	}
	var out []calErr
	for _, sc := range scs {
		s, err := simulate(sc, set, cpu)
		if err != nil {
			return nil, err
		}
		out = append(out, calErr{sc.ref.name + " TTFT (median)", sc.ref.ttft, s.ttft},
			calErr{sc.ref.name + " per-token latency (median)", sc.ref.perTok, s.perTok},
			calErr{sc.ref.name + " E2E (median)", sc.ref.e2e, s.e2e})
	}
	return out, nil
}

// calibrate finds the floor and attention scales that minimise the squared
// relative errors of TTFT and per-token latency on the reference runs.
func calibrate(scs []scenario, build func(sFloor, sAttn float64) fstest.MapFS) (sFloor, sAttn float64, err error) {
	obj := func(x []float64) float64 {
		errs, e := compare(scs, func() fstest.MapFS { return build(math.Exp(x[0]), math.Exp(x[1])) }, false)
		if e != nil {
			err = e
			return math.Inf(1)
		}
		s := 0.0
		for _, c := range errs {
			if c.Name[len(c.Name)-len("E2E (median)"):] == "E2E (median)" {
				continue // follows from the other two
			}
			s += c.pct() * c.pct()
		}
		return s
	}
	x := nelderMead(obj, []float64{0, 0}, 0.2, 200)
	x = nelderMead(obj, x, 0.05, 200)
	if err != nil {
		return 0, 0, fmt.Errorf("calibration: %w", err)
	}
	return math.Exp(x[0]), math.Exp(x[1]), nil
}
