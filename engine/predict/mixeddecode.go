package predict

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
)

// MixedDecode is the decode attention of steps that run in a mixed CUDA
// graph (engine.json mixed_decode), measured in those graphs: a mixed graph
// launches decode attention for its whole sequence bound (its work items
// and combine pass are sized for that bound, whatever decodes a step
// holds), a different launch from the decode graph of the decodes' own
// padded size that attention.csv's attn_decode rows time. Each graph's rows
// are (decodes, mean context, ms per layer), the decodes' contexts spread
// evenly over [0.5, 1.5] x the mean as a real batch spreads them; a step's
// decode attention is its graph's row at its decode count and mean context,
// plus the decode launch model's correction (when engine.json has one) from
// that spread to the batch's own shape.
type MixedDecode struct {
	Graphs []MixedDecodeGraph `json:"graphs"`
	// Source says where the numbers come from.
	Source string `json:"source"`
}

// MixedDecodeGraph is one sequence bound's rows: SeqBound is the bound
// (a mixed graph of s tokens has min(s, mixed_graph_logit_rows)); each row
// is [decodes, mean context, ms per layer]. MinTokens, if set, limits the
// rows to the bound's mixed graphs of at least that many tokens: a graph
// takes its bound's rows of the largest MinTokens at or under its size
// (the graphs above the bound share its decode launch, but their decodes
// were measured to cost more beside a large prefill: refengine/mixedbig.py).
type MixedDecodeGraph struct {
	SeqBound  int         `json:"seq_bound"`
	MinTokens int         `json:"min_tokens,omitempty"`
	Rows      [][]float64 `json:"rows"`
}

// MixedSeqBound is the sequence bound of e's mixed graph of size tokens:
// min(size, mixed_graph_logit_rows), or size when that is 0.
func (e *EngineSpec) MixedSeqBound(size int) int {
	if e.MixedGraphLogitRows > 0 {
		return min(size, e.MixedGraphLogitRows)
	}
	return size
}

func (m *MixedDecode) valid(e *EngineSpec, bad func(string, ...any)) {
	if strings.TrimSpace(m.Source) == "" {
		bad(`"mixed_decode"."source": expected where the numbers come from, got an empty string`)
	}
	seen := map[[2]int]bool{}
	for gi, g := range m.Graphs {
		at := fmt.Sprintf(`"mixed_decode"."graphs"[%d]`, gi)
		if g.SeqBound < 1 {
			bad(`%s."seq_bound": expected an integer >= 1, got %d`, at, g.SeqBound)
		} else if seen[[2]int{g.SeqBound, g.MinTokens}] {
			if g.MinTokens == 0 {
				bad(`%s."seq_bound": %d is listed twice`, at, g.SeqBound)
			} else {
				bad(`%s: seq_bound %d with min_tokens %d is listed twice`, at, g.SeqBound, g.MinTokens)
			}
		}
		if g.MinTokens < 0 {
			bad(`%s."min_tokens": expected an integer >= 0, got %d`, at, g.MinTokens)
		}
		seen[[2]int{g.SeqBound, g.MinTokens}] = true
		if len(g.Rows) == 0 {
			bad(`%s."rows": expected at least one [decodes, context, ms] row, got none`, at)
		}
		keys := map[[2]float64]bool{}
		for ri, r := range g.Rows {
			if len(r) != 3 {
				bad(`%s."rows"[%d]: expected [decodes, context, ms], got %d numbers`, at, ri, len(r))
				continue
			}
			b, c, ms := r[0], r[1], r[2]
			if b != math.Trunc(b) || b < 1 || (g.SeqBound >= 1 && b > float64(g.SeqBound)) {
				bad(`%s."rows"[%d]: expected decodes an integer 1-%d, got %v`, at, ri, g.SeqBound, b)
			}
			if c != math.Trunc(c) || c < 1 || c > 1<<24 {
				bad(`%s."rows"[%d]: expected a context an integer 1-%d, got %v`, at, ri, 1<<24, c)
			}
			if math.IsNaN(ms) || math.IsInf(ms, 0) || ms < 0 {
				bad(`%s."rows"[%d]: expected ms a finite number >= 0, got %v`, at, ri, ms)
			}
			if keys[[2]float64{b, c}] {
				bad(`%s."rows"[%d]: decodes %v at context %v is listed twice`, at, ri, b, c)
			}
			keys[[2]float64{b, c}] = true
		}
	}
	for _, s := range e.MixedGraphTokenSizes {
		sb, ok := e.MixedSeqBound(s), false
		for k := range seen {
			ok = ok || k[0] == sb && k[1] <= s
		}
		if !ok {
			bad(`"mixed_decode": mixed graph size %d has sequence bound %d and no graph with that "seq_bound" (and min_tokens <= %d)`, s, sb, s)
		}
	}
}

// MixedDecodeOrNil is e's mixed_decode, nil if e is nil or has none.
func (e *EngineSpec) MixedDecodeOrNil() *MixedDecode {
	if e == nil {
		return nil
	}
	return e.MixedDecode
}

// mixedGrid is one sequence bound's mixed_decode rows (outer key decodes,
// inner key mean context) for its graphs of at least minTokens tokens, and
// the op name its grid errors give.
type mixedGrid struct {
	g         grid
	op        string
	minTokens int
}

// mixedDecodeGrids are m's rows as grids per sequence bound, by min_tokens
// ascending.
func mixedDecodeGrids(m *MixedDecode) map[int][]mixedGrid {
	out := map[int][]mixedGrid{}
	for _, g := range m.Graphs {
		var b, c, ms []float64
		for _, r := range g.Rows {
			b, c, ms = append(b, r[0]), append(c, r[1]), append(ms, r[2])
		}
		op := fmt.Sprintf("mixed_decode (seq_bound %d)", g.SeqBound)
		if g.MinTokens > 0 {
			op = fmt.Sprintf("mixed_decode (seq_bound %d, min_tokens %d)", g.SeqBound, g.MinTokens)
		}
		out[g.SeqBound] = append(out[g.SeqBound], mixedGrid{newGrid(b, c, ms), op, g.MinTokens})
	}
	for _, gs := range out {
		slices.SortFunc(gs, func(a, b mixedGrid) int { return a.minTokens - b.minTokens })
	}
	return out
}

// mixedGridFor is the grid of bound sb's rows that a mixed graph of padded
// tokens reads: the largest min_tokens at or under padded (gi its index).
func (p *Predictor) mixedGridFor(sb, padded int) (g mixedGrid, gi int, ok bool) {
	for i, x := range p.mixedDecode[sb] {
		if x.minTokens <= padded {
			g, gi, ok = x, i, true
		}
	}
	return g, gi, ok
}

// mixedDecodeAttn is the decode attention (ms per layer) of k's decodes in
// the mixed graph of padded tokens: its sequence bound's row at k's decode
// count and mean context (a context under the rows' first read there), plus
// the decode launch model's correction from the rows' spread to k's shape
// (taken, as decodeShape, at contexts rounded up to the config's
// kv_cache_prediction_granularity).
func (p *Predictor) mixedDecodeAttn(spec *EngineSpec, k Key, padded int) (float64, error) {
	sb := spec.MixedSeqBound(padded)
	g, gi, ok := p.mixedGridFor(sb, padded)
	mk := [5]int32{int32(sb), int32(gi), k.Bd, k.Kd, k.KdMax}
	if v, ok := p.mixedMemo[mk]; ok {
		return v, nil
	}
	if !ok {
		return 0, fmt.Errorf("predictor: %s has no mixed_decode rows for sequence bound %d (mixed graph of %d tokens)", path.Join(p.origin, engineFile), sb, padded)
	}
	kd := max(int(k.Kd), g.g.innerMin())
	v, err := p.gridLookupIn(engineFile, "context", g.g, float64(k.Bd), float64(kd), g.op,
		at2("decodes=%d, context=%d", int(k.Bd), kd), "decodes", func(x float64) float64 { return x })
	if err != nil {
		return 0, err
	}
	if d := p.decodeLaunch; d != nil && k.KdMax > 0 {
		gr := p.opt.KVCachePredictionGranularity
		b, mean := int(k.Bd), ceilTo(int(k.Kd), gr)
		longest := max(mean, ceilTo(int(k.KdMax), gr))
		v = max(v+p.mixedWavesMs(d, sb, b, mean, longest)-p.mixedWavesMs(d, sb, b, mean, -1), 0)
	}
	if len(p.mixedMemo) < maxWavesMemo {
		p.mixedMemo[mk] = v
	}
	return v, nil
}

// mixedWavesMs is the decode launch model's time (DecodeLaunch.DecodeMs)
// of b decodes of mean context mean in a mixed graph of sequence bound sb,
// shaped by ShapeLens with longest context longest, or spread as the rows
// were (spreadLensInto) when longest is -1; memoized (mixedWaves).
func (p *Predictor) mixedWavesMs(d *DecodeLaunch, sb, b, mean, longest int) float64 {
	wk := [4]int32{int32(sb), int32(b), int32(mean), int32(longest)}
	if v, ok := p.mixedWaves[wk]; ok {
		return v
	}
	if longest < 0 {
		p.decodeLens = spreadLensInto(p.decodeLens, b, mean)
	} else {
		p.decodeLens = ShapeLens(p.decodeLens, b, mean, longest)
	}
	v := p.wavesSim.decodeMs(d, p.decodeLens, sb)
	if len(p.mixedWaves) < maxWavesMemo {
		p.mixedWaves[wk] = v
	}
	return v
}

// spreadLensInto is SpreadLens(b, mean) written into dst.
func spreadLensInto(dst []int, b, mean int) []int {
	dst = slices.Grow(dst[:0], b)[:b]
	for i := range dst {
		if b == 1 {
			dst[i] = mean
			continue
		}
		dst[i] = max(2, int(math.RoundToEven(float64(mean)*(0.5+float64(i)/float64(b-1)))))
	}
	return dst
}
