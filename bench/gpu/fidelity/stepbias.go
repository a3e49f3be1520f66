package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/internal/calibrate"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/profiles"
)

// biasStep is one real step's shape and GPU time, measured and predicted at
// that shape (ms).
type biasStep struct {
	run             string
	kind            string // decode graph | mixed graph | eager | prefill
	decodes         int
	meanCtx         int // decode keys per decode (0 without decodes)
	maxCtx          int
	prefillTokens   int
	prefillCached   int // cached keys under the step's prefill chunks, summed
	padded          int
	real, predicted float64
}

// biasBin names the shape region of a step: its kind, its decode count's
// bin and its mean decode context's bin (and for steps with prefills, the
// prefill tokens' bin).
func biasBin(s biasStep) string {
	dec := "no decodes"
	if s.decodes > 0 {
		dec = "decodes " + binLabel(s.decodes, []int{8, 32, 64, 128, 192, 255, 256})
		dec += ", ctx " + binLabel(s.meanCtx, []int{256, 512, 1024, 2048, 4096, 1 << 30})
	}
	if s.kind == "decode graph" {
		return s.kind + ", " + dec
	}
	return s.kind + ", " + dec + ", prefill " + binLabel(s.prefillTokens, []int{64, 256, 512, 1024, 2048, 1 << 30})
}

// binLabel is the bin of v among upper bounds ups (inclusive): "lo-hi", or
// "hi" when the bin holds one value, or "> last" past the last finite one.
func binLabel(v int, ups []int) string {
	lo := 1
	for _, u := range ups {
		if v <= u {
			switch {
			case u == 1<<30:
				return fmt.Sprintf(">= %d", lo)
			case lo == u:
				return fmt.Sprint(u)
			}
			return fmt.Sprintf("%d-%d", lo, u)
		}
		lo = u + 1
	}
	return fmt.Sprintf("> %d", ups[len(ups)-1])
}

// biasRow is a shape region's summed GPU time over the runs, and per run the
// sign of its own error there.
type biasRow struct {
	bin                 string
	steps, runs         int
	real, predicted     float64 // summed ms
	pos, neg            int     // runs (with >= minRunSteps steps in the bin) whose error is > 0 / < 0
	systematic          bool
	worstRun            string
	worstErr, medianErr float64 // per-run errors (fractions)
}

func (r biasRow) err() float64 { return r.predicted/r.real - 1 }

// Thresholds for a systematic bias: a region's summed error beyond
// biasThreshold with at least minBiasRuns runs (each with minRunSteps
// steps there) and at least biasAgree of them erring the same way.
const (
	biasThreshold = 0.005
	minRunSteps   = 10
	minBiasRuns   = 3
	biasAgree     = 0.75
)

// stepBias groups steps by biasBin and reports each region's summed error,
// sorted by the summed |error| in ms (largest first).
func stepBias(steps []biasStep) []biasRow {
	type acc struct {
		row  biasRow
		runs map[string][2]float64
	}
	by := map[string]*acc{}
	for _, s := range steps {
		k := biasBin(s)
		a := by[k]
		if a == nil {
			a = &acc{row: biasRow{bin: k}, runs: map[string][2]float64{}}
			by[k] = a
		}
		a.row.steps++
		a.row.real += s.real
		a.row.predicted += s.predicted
		v := a.runs[s.run]
		a.runs[s.run] = [2]float64{v[0] + s.real, v[1] + s.predicted}
	}
	counts := map[string]map[string]int{}
	for _, s := range steps {
		k := biasBin(s)
		if counts[k] == nil {
			counts[k] = map[string]int{}
		}
		counts[k][s.run]++
	}
	var rows []biasRow
	for k, a := range by {
		r := a.row
		r.runs = len(a.runs)
		var errs []float64
		for run, v := range a.runs {
			if counts[k][run] < minRunSteps || v[0] <= 0 {
				continue
			}
			e := v[1]/v[0] - 1
			errs = append(errs, e)
			if e > 0 {
				r.pos++
			} else if e < 0 {
				r.neg++
			}
			if math.Abs(e) > math.Abs(r.worstErr) || r.worstRun == "" {
				r.worstRun, r.worstErr = run, e
			}
		}
		if len(errs) > 0 {
			slices.Sort(errs)
			r.medianErr = errs[len(errs)/2]
			if len(errs)%2 == 0 {
				r.medianErr = (errs[len(errs)/2-1] + errs[len(errs)/2]) / 2
			}
		}
		n := r.pos + r.neg
		agree := r.neg
		if r.err() > 0 {
			agree = r.pos
		}
		r.systematic = r.real > 0 && math.Abs(r.err()) > biasThreshold && n >= minBiasRuns && float64(agree) >= biasAgree*float64(n)
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b biasRow) int {
		da, db := math.Abs(a.predicted-a.real), math.Abs(b.predicted-b.real)
		if da != db {
			if da > db {
				return -1
			}
			return 1
		}
		return strings.Compare(a.bin, b.bin)
	})
	return rows
}

// writeStepBias writes the regions as a table, the systematic ones first,
// then the top regions by summed |error| up to top rows.
func writeStepBias(w io.Writer, rows []biasRow, nsteps, nruns, top int) {
	fmt.Fprintf(w, "Every real GPU step of %d held-out runs (%d steps) predicted at its own shape, by region (decode count, mean decode context, prefill tokens).\n", nruns, nsteps)
	fmt.Fprintf(w, "Systematic: summed error beyond %.1f%%, >= %d runs with >= %d steps there, >= %.0f%% of them erring the same way.\n\n", biasThreshold*100, minBiasRuns, minRunSteps, biasAgree*100)
	head := "| region | steps | runs | real GPU ms/step | predicted ms/step | error | median run error | runs + / - | worst run |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
	line := func(r biasRow) {
		fmt.Fprintf(w, "| %s | %d | %d | %.3f | %.3f | %+.2f%% | %+.2f%% | %d / %d | %s %+.1f%% |\n", r.bin, r.steps, r.runs,
			r.real/float64(r.steps), r.predicted/float64(r.steps), r.err()*100, r.medianErr*100, r.pos, r.neg, r.worstRun, r.worstErr*100)
	}
	fmt.Fprint(w, "Systematic regions:\n\n"+head)
	for _, r := range rows {
		if r.systematic {
			line(r)
		}
	}
	fmt.Fprintf(w, "\nThe %d regions with the largest summed |error| (ms):\n\n%s", top, head)
	for i, r := range rows {
		if i == top {
			break
		}
		line(r)
	}
}

// heldOutBiasSteps predicts every step of the step logs of the manifest's
// held-out runs (not skipped) at its own shape with the set at o.Profile.
func heldOutBiasSteps(o heldOutOptions) ([]biasStep, int, error) {
	entries, err := readManifest(o.Manifest)
	if err != nil {
		return nil, 0, err
	}
	set, err := profiles.OpenDir(o.Profile)
	if err != nil {
		return nil, 0, err
	}
	var out []biasStep
	nruns := 0
	for _, w := range entries {
		if w.Split != calibrate.SplitHeldOut || o.Skip != "" && strings.HasPrefix(w.Name, o.Skip) {
			continue
		}
		realDir := filepath.Join(o.Bench, o.Card, w.Name)
		p, ok := compare.StepLogPath(realDir)
		if !ok {
			continue
		}
		steps, err := compare.LoadStepLog(p)
		if err != nil {
			return nil, 0, err
		}
		runJSON, _ := os.ReadFile(filepath.Join(realDir, "run.json"))
		cfg, _, err := runConfig(w, set, runJSON)
		if err != nil {
			return nil, 0, err
		}
		pr, spec, err := engine.NewPredictor(cfg, engine.Inputs{Profile: set, Network: profiles.Embedded().Network()})
		if err != nil {
			return nil, 0, err
		}
		if spec == nil {
			return nil, 0, fmt.Errorf("%s: not engine timing", w.Name)
		}
		nruns++
		for _, s := range steps {
			g, _, err := calibrate.PredictStep(pr, spec, s)
			if err != nil {
				return nil, 0, fmt.Errorf("%s step %d: %w", w.Name, s.Step, err)
			}
			out = append(out, biasStepOf(w.Name, s, g))
		}
	}
	return out, nruns, nil
}

func biasStepOf(run string, s compare.RealStep, predicted float64) biasStep {
	b := biasStep{run: run, padded: s.Padded, decodes: s.Decodes, maxCtx: int(s.DecodeCtxMax), real: s.GPUMs, predicted: predicted}
	if s.Decodes > 0 {
		b.meanCtx = int(s.DecodeCtxSum / int64(s.Decodes))
	}
	for _, c := range s.Chunks {
		b.prefillTokens += c.Tokens
		b.prefillCached += c.Cached
	}
	switch {
	case s.Mode == "eager":
		b.kind = "eager"
	case s.Prefills == 0:
		b.kind = "decode graph"
	case s.Decodes == 0:
		b.kind = "prefill"
	default:
		b.kind = "mixed graph"
	}
	return b
}

// writeBiasCSV writes every step as a row (the table's input), for a
// closer look at one region.
func writeBiasCSV(w io.Writer, steps []biasStep) error {
	if _, err := fmt.Fprintln(w, "run,kind,padded,decodes,mean_ctx,max_ctx,prefill_tokens,prefill_cached,real_gpu_ms,predicted_gpu_ms"); err != nil {
		return err
	}
	for _, s := range steps {
		if _, err := fmt.Fprintf(w, "%s,%s,%d,%d,%d,%d,%d,%d,%.6f,%.6f\n", s.run, s.kind, s.padded, s.decodes, s.meanCtx, s.maxCtx, s.prefillTokens, s.prefillCached, s.real, s.predicted); err != nil {
			return err
		}
	}
	return nil
}
