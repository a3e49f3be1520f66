package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/profiles"
)

// prefillWaves is the wave model of engine.json's prefill_launch as
// -prefill_waves fits it (build_set.py merges it into prefill_launch).
type prefillWaves struct {
	BlocksPerSM int     `json:"blocks_per_sm"`
	FloorMs     float64 `json:"floor_ms"`
	BlockMs     float64 `json:"block_ms"`
	KeyMs       float64 `json:"key_ms"`
	SharedRate  float64 `json:"shared_rate"`
	Source      string  `json:"waves_source"`
	// InsituPrefillAttnMs is, per mixed graph size s, the model's prefill
	// attention (ms per layer) of one prefill of s tokens over no cached
	// keys: the step insitu.json times, so build_set.py's in-situ factors
	// use the attention the predictor charges (it is not an engine.json key).
	InsituPrefillAttnMs map[string]float64 `json:"insitu_prefill_attn_ms"`
}

// waveProbe is refengine/waveprobe.py's output.
type waveProbe struct {
	SMs         int `json:"sms"`
	SharedPerSM int `json:"shared_per_sm"`
	RegsPerSM   int `json:"regs_per_sm"`
	Kernel      []struct {
		NRegs    int `json:"n_regs"`
		Shared   int `json:"shared"`
		NumWarps int `json:"num_warps"`
	} `json:"kernel"`
	Rows []struct {
		Prefills [][2]int `json:"prefills"` // (chunk, cached KV)
		T        struct {
			Median float64 `json:"median"`
		} `json:"t"`
	} `json:"rows"`
}

// gridRow is one prefill row of attention.csv.
type gridRow struct {
	chunk, kv int
	ms        float64
}

func readPrefillGrid(path string) ([]gridRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	var rows []gridRow
	for i, r := range recs[1:] {
		if r[col["is_prefill"]] != "True" {
			continue
		}
		c, err1 := strconv.Atoi(r[col["prefill_chunk_size"]])
		kv, err2 := strconv.Atoi(r[col["kv_cache_size"]])
		ms, err3 := strconv.ParseFloat(r[col["time_stats.attn_prefill.median"]], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("%s:%d: expected integer chunk and KV and a number of ms", path, i+2)
		}
		rows = append(rows, gridRow{c, kv, ms})
	}
	return rows, nil
}

// blocksPerSM is how many blocks of the compiled kernel an SM holds: its
// registers (per thread x 32 x warps) and shared memory against the SM's.
func blocksPerSM(p *waveProbe) (int, error) {
	if len(p.Kernel) != 1 || p.Kernel[0].NRegs < 1 || p.Kernel[0].Shared < 1 || p.RegsPerSM < 1 || p.SharedPerSM < 1 {
		return 0, fmt.Errorf("wave probe: expected one compiled kernel with its registers and shared memory, and the SM's, got %+v", p)
	}
	k := p.Kernel[0]
	return min(p.RegsPerSM/(k.NRegs*32*k.NumWarps), p.SharedPerSM/k.Shared), nil
}

// fitPrefillWaves fits floor, block and key costs and the shared rate on the
// grid rows: for each (block/key ratio, shared rate) on a grid, refined
// twice around the best, floor and key scale by least squares of the
// relative error (the modelled time is linear in them).
func fitPrefillWaves(l predict.PrefillLaunch, rows []gridRow) (predict.PrefillLaunch, float64) {
	type best struct{ sse, r, rate, floor, key float64 }
	eval := func(r, rate float64) best {
		m := l
		m.FloorMs, m.BlockMs, m.KeyMs, m.SharedRate = 0, r, 1, rate
		// minimise sum ((floor + key * M) / t - 1)^2 over floor >= 0, key > 0
		var a11, a12, a22, b1, b2 float64
		ms := make([]float64, len(rows))
		for i, g := range rows {
			ms[i] = m.WavesMs([]predict.Prefill{{Chunk: g.chunk, Processed: g.kv}})
			u, v := 1/g.ms, ms[i]/g.ms
			a11, a12, a22, b1, b2 = a11+u*u, a12+u*v, a22+v*v, b1+u, b2+v
		}
		det := a11*a22 - a12*a12
		floor, key := (b1*a22-b2*a12)/det, (a11*b2-a12*b1)/det
		if floor < 0 {
			floor, key = 0, b2/a22
		}
		var sse float64
		for i, g := range rows {
			e := (floor+key*ms[i])/g.ms - 1
			sse += e * e
		}
		return best{sse, r, rate, floor, key}
	}
	b := best{sse: math.Inf(1)}
	try := func(r, rate float64) {
		if c := eval(r, rate); c.sse < b.sse {
			b = c
		}
	}
	for i := 0; i <= 24; i++ { // block work 0 and 10^-1 .. 10^4 keys' worth
		r := 0.0
		if i > 0 {
			r = math.Pow(10, -1+5*float64(i-1)/23)
		}
		for j := 0; j <= 25; j++ {
			try(r, 0.5+0.02*float64(j))
		}
	}
	for _, s := range []struct{ rf, dr float64 }{{1.2, 0.005}, {1.04, 0.001}} {
		r0, rate0 := b.r, b.rate
		for i := -5; i <= 5; i++ {
			for j := -5; j <= 5; j++ {
				rate := rate0 + s.dr*float64(j)
				if rate > 0.3 && rate <= 1 {
					try(max(r0, 0.1)*math.Pow(s.rf, float64(i)), rate)
				}
			}
		}
	}
	l.FloorMs, l.BlockMs, l.KeyMs, l.SharedRate = round9(b.floor), round9(b.r*b.key), round9(b.key), round6(b.rate)
	var errs []float64
	for _, g := range rows {
		errs = append(errs, math.Abs(l.WavesMs([]predict.Prefill{{Chunk: g.chunk, Processed: g.kv}})/g.ms-1))
	}
	return l, median(errs)
}

func round9(x float64) float64 { return math.Round(x*1e9) / 1e9 }

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func p90(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)*9/10]
}

// scoreOnProbe predicts each probe launch's prefill attention with set (its
// engine.json as is) and returns |predicted / measured - 1| of the launches
// of one prefill and of several.
func scoreOnProbe(set *predict.Set, probe *waveProbe) (single, multi []float64, err error) {
	p, spec, err := enginePredictor(set)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range probe.Rows {
		b := predict.Batch{NumRequests: len(r.Prefills), LogitSeqs: len(r.Prefills)}
		for _, pf := range r.Prefills {
			b.Prefills = append(b.Prefills, predict.Prefill{Chunk: pf[0], Processed: pf[1]})
			b.Tokens += pf[0]
		}
		bd, _, _, err := p.EngineStage(spec, p.KeyOf(b))
		if err != nil {
			return nil, nil, fmt.Errorf("wave probe launch %v: %w", r.Prefills, err)
		}
		e := math.Abs(bd.AttnPrefill/r.T.Median - 1)
		if len(r.Prefills) == 1 {
			single = append(single, e)
		} else {
			multi = append(multi, e)
		}
	}
	return single, multi, nil
}

// prefillWavesFit fits the wave model for the set in root/setDir on its
// attention.csv, blocks per SM from root/probePath's compiled kernel, and
// scores the set with and without it on the probe's launches (never fitted).
func prefillWavesFit(root, setDir, probePath string) (prefillWaves, error) {
	set, err := profiles.OpenDir(filepath.Join(root, setDir))
	if err != nil {
		return prefillWaves{}, err
	}
	l := set.Engine.LaunchOrNil()
	if l == nil {
		return prefillWaves{}, fmt.Errorf("%s: engine.json has no prefill_launch", setDir)
	}
	b, err := os.ReadFile(filepath.Join(root, probePath))
	if err != nil {
		return prefillWaves{}, err
	}
	var probe waveProbe
	if err := json.Unmarshal(b, &probe); err != nil {
		return prefillWaves{}, fmt.Errorf("%s: %w", probePath, err)
	}
	per, err := blocksPerSM(&probe)
	if err != nil {
		return prefillWaves{}, err
	}
	rows, err := readPrefillGrid(filepath.Join(root, setDir, "attention.csv"))
	if err != nil {
		return prefillWaves{}, err
	}
	geo := predict.PrefillLaunch{SMs: l.SMs, QueryTile: l.QueryTile, TilesPerQueryBlock: l.TilesPerQueryBlock, BlocksPerSM: per}
	fit, fitErr := fitPrefillWaves(geo, rows)
	// the set without and with the model, on the probe
	without := *set.Engine
	wl := *l
	wl.BlocksPerSM, wl.FloorMs, wl.BlockMs, wl.KeyMs, wl.SharedRate, wl.WavesSource = 0, 0, 0, 0, 0, ""
	without.PrefillLaunch = &wl
	set0, err := withEngine(filepath.Join(root, setDir), &without)
	if err != nil {
		return prefillWaves{}, err
	}
	s0, m0, err := scoreOnProbe(set0, &probe)
	if err != nil {
		return prefillWaves{}, err
	}
	with := *set.Engine
	fit.WavesSource = "scoring"
	with.PrefillLaunch = &fit
	set1, err := withEngine(filepath.Join(root, setDir), &with)
	if err != nil {
		return prefillWaves{}, err
	}
	s1, m1, err := scoreOnProbe(set1, &probe)
	if err != nil {
		return prefillWaves{}, err
	}
	insitu, err := insituPrefillAttn(set1)
	if err != nil {
		return prefillWaves{}, err
	}
	k := probe.Kernel[0]
	src := fmt.Sprintf("blocks_per_sm from the compiled kernel (%s: %d registers x %d threads, %d B shared memory; the SM's %d registers and %d B): "+
		"floor, block and key costs and the shared rate fitted on attention.csv's %d prefill rows (least squares of the relative error), median |error| %.1f%%; "+
		"scored on the probe's %d single-prefill and %d multi-prefill launches (never fitted): median / P90 |error| %.1f%% / %.1f%% and %.1f%% / %.1f%% (without the model: %.1f%% / %.1f%% and %.1f%% / %.1f%%)",
		probePath, k.NRegs, 32*k.NumWarps, k.Shared, probe.RegsPerSM, probe.SharedPerSM, len(rows), 100*fitErr,
		len(s1), len(m1), 100*median(s1), 100*p90(s1), 100*median(m1), 100*p90(m1), 100*median(s0), 100*p90(s0), 100*median(m0), 100*p90(m0))
	return prefillWaves{BlocksPerSM: per, FloorMs: fit.FloorMs, BlockMs: fit.BlockMs, KeyMs: fit.KeyMs, SharedRate: fit.SharedRate, Source: src,
		InsituPrefillAttnMs: insitu}, nil
}

// insituPrefillAttn predicts, with set (its wave model on), the prefill
// attention of one prefill of s tokens over no cached keys for every mixed
// graph size s.
func insituPrefillAttn(set *predict.Set) (map[string]float64, error) {
	p, spec, err := enginePredictor(set)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range spec.MixedGraphTokenSizes {
		bd, _, _, err := p.EngineStage(spec, p.KeyOf(predict.Batch{NumRequests: 1, Tokens: s, LogitSeqs: 1, Prefills: []predict.Prefill{{Chunk: s}}}))
		if err != nil {
			return nil, fmt.Errorf("mixed graph %d: %w", s, err)
		}
		out[strconv.Itoa(s)] = round9(bd.AttnPrefill)
	}
	return out, nil
}

// withEngine opens the set in dir afresh (its own table cache) with another
// engine.json.
func withEngine(dir string, e *predict.EngineSpec) (*predict.Set, error) {
	set, err := profiles.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	set.Engine = e
	return set, nil
}

// writePrefillWaves fits the wave model and writes it to out.
func writePrefillWaves(root, setDir, probePath, out string) error {
	w, err := prefillWavesFit(root, setDir, probePath)
	if err != nil {
		return err
	}
	return writeJSON(out, w)
}
