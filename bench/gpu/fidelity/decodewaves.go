package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/servesim/servesim/engine/predict"
)

// decodeProbe is refengine/decodeprobe.py's output.
type decodeProbe struct {
	PartMin  int `json:"part_min"`
	MaxParts int `json:"max_parts"`
	Decode   struct {
		BlockN int `json:"block_n"`
	} `json:"decode_config"`
	Kernels []struct {
		Kernel string `json:"kernel"`
		NRegs  int    `json:"n_regs"`
		Shared int    `json:"shared"`
		Warps  int    `json:"num_warps"`
	} `json:"kernels"`
	Rows []struct {
		Batch    int     `json:"batch"`
		Mean     int     `json:"mean_context"`
		Shape    string  `json:"shape"`
		Contexts []int   `json:"contexts"`
		GPUMs    float64 `json:"gpu_ms"`
	} `json:"rows"`
}

// decodeDiff is one probe point against the uniform batch of its size and
// mean: the measured step time's difference and the two batches' contexts
// (as they stand mid-measurement: steps 3-14 of 15, ~8.5 tokens on).
type decodeDiff struct {
	b            int
	shape        string
	lens, uni    []int
	dObs, uniObs float64
}

// The decode graph's geometry on the H200 (kernels.py: decode_bound, the
// combine pass; model.py: 8 KV heads) and its measured steady-state growth.
const (
	decodeBoundPerSeq = 2
	decodeBoundMin    = 80
	decodeHeads       = 8
	probeGrowth       = 8 // tokens a probe point's contexts gained by its median step
	decodeFitLayers   = 28
)

func loadDecodeDiffs(p *decodeProbe) []decodeDiff {
	type key struct{ b, c int }
	uni := map[key]int{}
	for i, r := range p.Rows {
		if r.Shape == "uniform" {
			uni[key{r.Batch, r.Mean}] = i
		}
	}
	grow := func(xs []int) []int {
		out := make([]int, len(xs))
		for i, x := range xs {
			out[i] = x + probeGrowth
		}
		return out
	}
	var out []decodeDiff
	for _, r := range p.Rows {
		u, ok := uni[key{r.Batch, r.Mean}]
		if r.Shape == "uniform" || !ok {
			continue
		}
		out = append(out, decodeDiff{b: r.Batch, shape: r.Shape, lens: grow(r.Contexts), uni: grow(p.Rows[u].Contexts),
			dObs: r.GPUMs - p.Rows[u].GPUMs, uniObs: p.Rows[u].GPUMs})
	}
	return out
}

// fitDecodeLaunch fits block and key costs, the sharing and the combine
// cost on the probe's differences from uniform batches of the shapes in fit
// (28 layers of the model's difference each): for each (block/key ratio,
// share) on a grid, key and combine costs by least squares (the difference
// is linear in them), refined once around the best.
func fitDecodeLaunch(d predict.DecodeLaunch, diffs []decodeDiff, fit func(string) bool) predict.DecodeLaunch {
	type best struct{ sse, r, share, key, comb float64 }
	eval := func(r, share float64) best {
		m := d
		m.BlockMs, m.KeyMs, m.Share, m.CombineMs = r, 1, share, 0
		var a11, a12, a22, b1, b2 float64
		type xy struct{ x1, x2, y float64 }
		var pts []xy
		for _, q := range diffs {
			if !fit(q.shape) {
				continue
			}
			x1 := decodeFitLayers * (m.DecodeMs(q.lens, q.b) - m.DecodeMs(q.uni, q.b))
			x2 := decodeFitLayers * float64(items(&m, q.lens, q.b)-items(&m, q.uni, q.b))
			pts = append(pts, xy{x1, x2, q.dObs})
			a11, a12, a22, b1, b2 = a11+x1*x1, a12+x1*x2, a22+x2*x2, b1+x1*q.dObs, b2+x2*q.dObs
		}
		det := a11*a22 - a12*a12
		key, comb := (b1*a22-b2*a12)/det, (a11*b2-a12*b1)/det
		if comb < 0 || det == 0 {
			key, comb = b1/a11, 0
		}
		if key <= 0 {
			return best{sse: math.Inf(1)}
		}
		var sse float64
		for _, p := range pts {
			e := key*p.x1 + comb*p.x2 - p.y
			sse += e * e
		}
		return best{sse, r, share, key, comb}
	}
	b := best{sse: math.Inf(1)}
	try := func(r, share float64) {
		if c := eval(r, share); c.sse < b.sse {
			b = c
		}
	}
	for i := 0; i <= 16; i++ {
		r := 0.0
		if i > 0 {
			r = math.Pow(10, 1+3*float64(i-1)/15) // 10 .. 10^4 keys' worth
		}
		for j := 0; j <= 15; j++ {
			try(r, 0.1*float64(j))
		}
	}
	r0, s0 := b.r, b.share
	for i := -3; i <= 3; i++ {
		for j := -3; j <= 3; j++ {
			if s := s0 + 0.025*float64(j); s >= 0 {
				try(max(r0, 10)*math.Pow(1.2, float64(i)), s)
			}
		}
	}
	d.BlockMs, d.KeyMs, d.Share, d.CombineMs = round9(b.r*b.key), round9(b.key), round6(b.share), round9(b.comb)
	return d
}

func items(d *predict.DecodeLaunch, lens []int, p int) int {
	_, nps := d.Partitions(lens, max(d.BoundPerSeq*p, d.BoundMin))
	n := 0
	for _, k := range nps {
		n += k
	}
	return n
}

// decodeWavesFit fits the decode launch model on root/probePath.
func decodeWavesFit(root, probePath string, sms int) (predict.DecodeLaunch, error) {
	b, err := os.ReadFile(filepath.Join(root, probePath))
	if err != nil {
		return predict.DecodeLaunch{}, err
	}
	var p decodeProbe
	if err := json.Unmarshal(b, &p); err != nil {
		return predict.DecodeLaunch{}, fmt.Errorf("%s: %w", probePath, err)
	}
	// the decode variant: the attention kernel compiled with the fewest registers (the prefill one holds more)
	regs, shared := 0, 0
	for _, k := range p.Kernels {
		if k.Kernel == "_paged_attn_kernel" && (regs == 0 || k.NRegs < regs) {
			regs, shared = k.NRegs*32*k.Warps, k.Shared
		}
	}
	if regs == 0 || p.PartMin < 1 || p.MaxParts < 1 || p.Decode.BlockN < 1 {
		return predict.DecodeLaunch{}, fmt.Errorf("%s: expected the decode kernel's registers, part_min, max_parts and block_n", probePath)
	}
	const regsPerSM, sharedPerSM = 65536, 233472 // the H200's (waveprobe.json)
	d := predict.DecodeLaunch{BoundPerSeq: decodeBoundPerSeq, BoundMin: decodeBoundMin, PartMin: p.PartMin, BlockN: p.Decode.BlockN,
		MaxParts: p.MaxParts, Heads: decodeHeads, SMs: sms, BlocksPerSM: min(regsPerSM/regs, sharedPerSM/shared)}
	diffs := loadDecodeDiffs(&p)
	d = fitDecodeLaunch(d, diffs, func(s string) bool { return s != "onelong" })
	score := func(pick func(string) bool) (med, p90v float64, n int) {
		var e []float64
		for _, q := range diffs {
			if pick(q.shape) {
				m := decodeFitLayers * (d.DecodeMs(q.lens, q.b) - d.DecodeMs(q.uni, q.b))
				e = append(e, math.Abs(m-q.dObs)/(q.uniObs+q.dObs))
			}
		}
		return median(e), p90(e), len(e)
	}
	var zero []float64
	for _, q := range diffs {
		zero = append(zero, math.Abs(q.dObs)/(q.uniObs+q.dObs))
	}
	fm, fp, fn := score(func(s string) bool { return s != "onelong" })
	hm, hp, hn := score(func(s string) bool { return s == "onelong" })
	d.Source = fmt.Sprintf("fitted by go run ./bench/gpu/fidelity -decode_waves on %s: the step-time differences of %d decode graphs (spread, wide, two-point contexts) from the uniform batch of their size and mean, "+
		"blocks_per_sm from the decode kernel's %d registers per block and %d B of shared memory; error of the step time %.1f%% / %.1f%% median / P90 (one-long shape, %d graphs, not fitted: %.1f%% / %.1f%%; "+
		"the spread rows alone, ignoring shape: %.1f%% / %.1f%%)", probePath, fn, regs, shared, 100*fm, 100*fp, hn, 100*hm, 100*hp, 100*median(zero), 100*p90(zero))
	return d, nil
}

// decodeWaves is decode_waves.json: the decode launch model and, per decode
// graph size, its correction to a uniform batch at the in-situ anchor's
// context (insitu.json's 512 + 7 rounded up to 64 keys, as the predictor
// takes the correction; build_set.py reads the rows at 512 + 7), so
// that build_set.py's in-situ factors use the attention the predictor
// charges such a step (not an engine.json key).
type decodeWaves struct {
	predict.DecodeLaunch
	InsituDecodeShapeMs map[string]float64 `json:"insitu_decode_shape_ms"`
}

// decodeGraphSizes are the reference engine's decode CUDA graphs (model.py).
var decodeGraphSizes = func() []int {
	s := []int{1, 2, 4, 8}
	for b := 16; b <= 256; b += 8 {
		s = append(s, b)
	}
	return s
}()

func writeDecodeWaves(root, probePath, out string, sms int) error {
	d, err := decodeWavesFit(root, probePath, sms)
	if err != nil {
		return err
	}
	w := decodeWaves{DecodeLaunch: d, InsituDecodeShapeMs: map[string]float64{}}
	// the in-situ step's contexts (512..526 over its timed steps, 519 in the
	// middle) as the predictor rounds them for the correction
	const g = 64
	anchor := (512 + 7 + g - 1) / g * g
	for _, b := range decodeGraphSizes {
		w.InsituDecodeShapeMs[strconv.Itoa(b)] = round9(d.ShapeCorrection(b, anchor, anchor, b))
	}
	return writeJSON(out, w)
}
