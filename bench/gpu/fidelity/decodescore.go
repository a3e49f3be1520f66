package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/internal/calibrate"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/profiles"
)

// decodeScoreRow is one scored point of a decode probe.
type decodeScoreRow struct {
	batch, mean     int
	shape           string
	measured, model float64 // ms
}

// scoreDecodeProbe predicts every graph of a decode probe (refengine
// decodeprobe.py's output) with the set at profileDir, whole step as the
// engine timing model charges it (calibrate.PredictStep: its rows, the
// decode launch model's shape correction, the in-situ factors), at the
// contexts of the probe's median timed step (each sequence probeGrowth
// tokens past its listed context), against the measured GPU time.
// Points past the set's grid are counted in skipped, not scored.
func scoreDecodeProbe(profileDir, probePath string) (rows []decodeScoreRow, skipped int, err error) {
	set, err := profiles.OpenDir(profileDir)
	if err != nil {
		return nil, 0, err
	}
	return scoreDecodeProbeSet(set, probePath)
}

// scoreDecodeProbeSet is scoreDecodeProbe with the set given.
func scoreDecodeProbeSet(set *predict.Set, probePath string) (rows []decodeScoreRow, skipped int, err error) {
	b, err := os.ReadFile(probePath)
	if err != nil {
		return nil, 0, err
	}
	var p decodeProbe
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", probePath, err)
	}
	if len(p.Rows) == 0 {
		return nil, 0, fmt.Errorf("%s: no rows", probePath)
	}
	pr, spec, err := enginePredictor(set)
	if err != nil {
		return nil, 0, err
	}
	for i, r := range p.Rows {
		if r.Batch < 1 || len(r.Contexts) != r.Batch || r.GPUMs <= 0 {
			return nil, 0, fmt.Errorf("%s: row %d: expected %d contexts and a positive gpu_ms", probePath, i, r.Batch)
		}
		s := compare.RealStep{Seqs: r.Batch, Decodes: r.Batch, Tokens: r.Batch}
		for _, c := range r.Contexts {
			c += probeGrowth
			s.DecodeCtxSum += int64(c)
			s.DecodeCtxMax = max(s.DecodeCtxMax, int64(c))
		}
		g, _, err := calibrate.PredictStep(pr, spec, s)
		if err != nil {
			if !strings.Contains(err.Error(), "not profiled at") {
				return nil, 0, fmt.Errorf("%s: row %d (batch %d, mean %d, %s): %w", probePath, i, r.Batch, r.Mean, r.Shape, err)
			}
			skipped++ // past the set's grid (its largest context at that batch size)
			continue
		}
		rows = append(rows, decodeScoreRow{batch: r.Batch, mean: r.Mean, shape: r.Shape, measured: r.GPUMs, model: g})
	}
	return rows, skipped, nil
}

// writeDecodeScore prints, per mean context and over all points, the
// median and P90 of |predicted / measured - 1| and the median signed error.
func writeDecodeScore(w io.Writer, probePath string, rows []decodeScoreRow, skipped int) {
	byMean := map[int][]decodeScoreRow{}
	var means []int
	for _, r := range rows {
		if _, ok := byMean[r.mean]; !ok {
			means = append(means, r.mean)
		}
		byMean[r.mean] = append(byMean[r.mean], r)
	}
	slices.Sort(means)
	line := func(name string, rs []decodeScoreRow) {
		var abs, signed []float64
		for _, r := range rs {
			e := r.model/r.measured - 1
			abs, signed = append(abs, math.Abs(e)), append(signed, e)
		}
		fmt.Fprintf(w, "| %s | %d | %.1f%% | %.1f%% | %+.1f%% |\n", name, len(rs), 100*median(abs), 100*p90(abs), 100*median(signed))
	}
	fmt.Fprintf(w, "decode probe %s, every graph predicted whole step (%d past the set's grid left out):\n\n", probePath, skipped)
	fmt.Fprintln(w, "| mean context | graphs | median abs error | P90 abs error | median error |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, m := range means {
		line(strconv.Itoa(m), byMean[m])
	}
	line("all", rows)
}
