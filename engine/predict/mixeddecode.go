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
// PrefillTokens, if set, is the prefill chunk the rows were measured
// beside: a bound and min_tokens may then list several graphs, one per
// chunk, and a step reads them interpolated linearly at its own prefill
// tokens (tokens less decodes), held at the nearest chunk outside them
// (refengine/mixedbig.py --chunks: the decodes' cost depends on the chunk).
// Without it (0) the bound and min_tokens have that one graph, whatever the
// chunk, as sets before prefill_tokens have.
type MixedDecodeGraph struct {
	SeqBound      int         `json:"seq_bound"`
	MinTokens     int         `json:"min_tokens,omitempty"`
	PrefillTokens int         `json:"prefill_tokens,omitempty"`
	Rows          [][]float64 `json:"rows"`
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
	chunks := map[[2]int][]int{} // prefill_tokens listed per (seq_bound, min_tokens)
	for gi, g := range m.Graphs {
		at := fmt.Sprintf(`"mixed_decode"."graphs"[%d]`, gi)
		sm := [2]int{g.SeqBound, g.MinTokens}
		if g.SeqBound < 1 {
			bad(`%s."seq_bound": expected an integer >= 1, got %d`, at, g.SeqBound)
		} else if slices.Contains(chunks[sm], g.PrefillTokens) {
			switch {
			case g.PrefillTokens > 0:
				bad(`%s: seq_bound %d with min_tokens %d and prefill_tokens %d is listed twice`, at, g.SeqBound, g.MinTokens, g.PrefillTokens)
			case g.MinTokens == 0:
				bad(`%s."seq_bound": %d is listed twice`, at, g.SeqBound)
			default:
				bad(`%s: seq_bound %d with min_tokens %d is listed twice`, at, g.SeqBound, g.MinTokens)
			}
		} else if len(chunks[sm]) > 0 && (g.PrefillTokens == 0 || slices.Contains(chunks[sm], 0)) {
			bad(`%s: seq_bound %d with min_tokens %d has graphs with and without "prefill_tokens" (list one graph without it, or every graph with its own)`, at, g.SeqBound, g.MinTokens)
		}
		if g.MinTokens < 0 {
			bad(`%s."min_tokens": expected an integer >= 0, got %d`, at, g.MinTokens)
		}
		if g.PrefillTokens < 0 {
			bad(`%s."prefill_tokens": expected an integer >= 0, got %d`, at, g.PrefillTokens)
		}
		seen[sm] = true
		chunks[sm] = append(chunks[sm], g.PrefillTokens)
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
// inner key mean context) for its graphs of at least minTokens tokens
// beside a prefill of prefillTokens (0: any), and the op name its grid
// errors give.
type mixedGrid struct {
	g             grid
	op            string
	minTokens     int
	prefillTokens int
}

// mixedDecodeGrids are m's rows as grids per sequence bound, by min_tokens
// then prefill_tokens ascending.
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
		if g.PrefillTokens > 0 {
			op = strings.TrimSuffix(op, ")") + fmt.Sprintf(", prefill_tokens %d)", g.PrefillTokens)
		}
		out[g.SeqBound] = append(out[g.SeqBound], mixedGrid{newGrid(b, c, ms), op, g.MinTokens, g.PrefillTokens})
	}
	for _, gs := range out {
		slices.SortFunc(gs, func(a, b mixedGrid) int {
			if a.minTokens != b.minTokens {
				return a.minTokens - b.minTokens
			}
			return a.prefillTokens - b.prefillTokens
		})
	}
	return out
}

// mixedGridFor is the grids of bound sb's rows that a mixed graph of padded
// tokens reads, with prefill tokens beside its decodes: those of the largest
// min_tokens at or under padded, and of them the two whose prefill_tokens
// bracket prefill (lo and hi their indexes, w hi's weight; one grid, w 0,
// when the graphs have no prefill_tokens or prefill is outside them).
func (p *Predictor) mixedGridFor(sb, padded, prefill int) (lo, hi int, w float64, ok bool) {
	gs := p.mixedDecode[sb]
	first := -1
	for i, x := range gs {
		if x.minTokens <= padded && (first < 0 || x.minTokens != gs[first].minTokens) {
			first = i
		}
	}
	if first < 0 {
		return 0, 0, 0, false
	}
	last := first
	for last+1 < len(gs) && gs[last+1].minTokens == gs[first].minTokens {
		last++
	}
	switch {
	case prefill <= gs[first].prefillTokens:
		return first, first, 0, true
	case prefill >= gs[last].prefillTokens:
		return last, last, 0, true
	}
	for i := first; i < last; i++ {
		a, b := gs[i].prefillTokens, gs[i+1].prefillTokens
		if prefill <= b {
			return i, i + 1, float64(prefill-a) / float64(b-a), true
		}
	}
	return last, last, 0, true // not reached: prefill < gs[last].prefillTokens
}

// mixedDecodeAttn is the decode attention (ms per layer) of k's decodes in
// the mixed graph of padded tokens: its sequence bound's row at k's decode
// count and mean context (a context under the rows' first read there), plus
// the decode launch model's correction from the rows' spread to k's shape
// (taken, as decodeShape, at contexts rounded up to the config's
// kv_cache_prediction_granularity). Where the graph's rows were measured
// beside several prefill chunks (prefill_tokens), the row is interpolated
// linearly between the two chunks around the step's prefill tokens (its
// tokens less its decodes).
func (p *Predictor) mixedDecodeAttn(spec *EngineSpec, k Key, padded int) (float64, error) {
	sb := spec.MixedSeqBound(padded)
	prefill := max(int(k.T-k.Bd), 0)
	lo, hi, w, ok := p.mixedGridFor(sb, padded, prefill)
	if ok && lo == hi {
		prefill = 0 // one grid read whatever the chunk: memoized once
	}
	mk := [7]int32{int32(sb), int32(lo), int32(hi), int32(prefill), k.Bd, k.Kd, k.KdMax}
	if v, ok := p.mixedMemo[mk]; ok {
		return v, nil
	}
	if !ok {
		return 0, fmt.Errorf("predictor: %s has no mixed_decode rows for sequence bound %d (mixed graph of %d tokens)", path.Join(p.origin, engineFile), sb, padded)
	}
	row := func(g mixedGrid) (float64, error) {
		kd := max(int(k.Kd), g.g.innerMin())
		return p.gridLookupIn(engineFile, "context", g.g, float64(k.Bd), float64(kd), g.op,
			at2("decodes=%d, context=%d", int(k.Bd), kd), "decodes", func(x float64) float64 { return x }, pastBudgetCut)
	}
	gs := p.mixedDecode[sb]
	v, err := row(gs[lo])
	if err != nil {
		return 0, err
	}
	if lo != hi {
		vh, err := row(gs[hi])
		if err != nil {
			return 0, err
		}
		v += w * (vh - v)
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
