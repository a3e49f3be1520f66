package predict

import (
	"math"
	"strings"
)

// DecodeLaunch is the engine's decode attention launch in a decode CUDA
// graph of P sequences (engine.json decode_launch), for a wave model of it:
// the graph's launch has max(BoundPerSeq * P, BoundMin) work items per KV
// head (Heads of them); the decode sequences' keys are cut into partitions
// of one length (at least PartMin keys, a multiple of BlockN, at most
// MaxParts per sequence, few enough for the bound), one item each, the
// graph's unused items exiting at once; a block over k keys is BlockMs +
// KeyMs * k of work, an SM holds BlocksPerSM and each of its n resident
// blocks runs at rate 1 / (1 + Share * (n - 1)); the combine pass adds
// CombineMs per partition. A decode-graph step's attention is the set's
// decode row (sequences' contexts spread over [0.5, 1.5] x the mean) plus
// this model's time at the batch's own shape less its time at the rows'.
type DecodeLaunch struct {
	BoundPerSeq int     `json:"bound_per_seq"`
	BoundMin    int     `json:"bound_min"`
	PartMin     int     `json:"part_min"`
	BlockN      int     `json:"block_n"`
	MaxParts    int     `json:"max_parts"`
	Heads       int     `json:"heads"`
	SMs         int     `json:"sms"`
	BlocksPerSM int     `json:"blocks_per_sm"`
	BlockMs     float64 `json:"block_ms"`
	KeyMs       float64 `json:"key_ms"`
	Share       float64 `json:"share"`
	CombineMs   float64 `json:"combine_ms"`
	// Source says where the numbers come from.
	Source string `json:"source"`
}

func (d *DecodeLaunch) valid(bad func(string, ...any)) {
	for _, f := range []struct {
		key string
		v   int
	}{{"bound_per_seq", d.BoundPerSeq}, {"bound_min", d.BoundMin}, {"part_min", d.PartMin}, {"block_n", d.BlockN},
		{"max_parts", d.MaxParts}, {"heads", d.Heads}, {"sms", d.SMs}, {"blocks_per_sm", d.BlocksPerSM}} {
		if f.v < 1 {
			bad(`"decode_launch"."%s": expected an integer >= 1, got %d`, f.key, f.v)
		}
	}
	if d.BlocksPerSM > maxBlocksPerSM {
		bad(`"decode_launch"."blocks_per_sm": expected 1-%d, got %d`, maxBlocksPerSM, d.BlocksPerSM)
	}
	for _, f := range []struct {
		key string
		v   float64
	}{{"block_ms", d.BlockMs}, {"key_ms", d.KeyMs}, {"share", d.Share}, {"combine_ms", d.CombineMs}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			bad(`"decode_launch"."%s": expected a finite number >= 0, got %v`, f.key, f.v)
		}
	}
	if !(d.KeyMs > 0) {
		bad(`"decode_launch"."key_ms": expected a number > 0, got %v`, d.KeyMs)
	}
	if strings.TrimSpace(d.Source) == "" {
		bad(`"decode_launch"."source": expected where the numbers come from, got an empty string`)
	}
}

// Partitions is the engine's split of decode keys of sequences of lens keys
// over bound work items (kernels.py decode_work): the partition length and
// each sequence's number of partitions.
func (d *DecodeLaunch) Partitions(lens []int, bound int) (int, []int) {
	return d.partitions(lens, bound, nil)
}

func (d *DecodeLaunch) partitions(lens []int, bound int, nps []int) (int, []int) {
	total, longest := 0, 0
	for _, n := range lens {
		total += n
		longest = max(longest, n)
	}
	bound = max(bound, len(lens)) // every sequence takes one item at least
	spare := max(1, bound-len(lens))
	plen := max(d.PartMin, (total+spare-1)/spare, (longest+d.MaxParts-1)/d.MaxParts)
	plen = (plen + d.BlockN - 1) / d.BlockN * d.BlockN
	for {
		nps = nps[:0]
		sum := 0
		for _, n := range lens {
			k := max(1, (n+plen-1)/plen)
			nps = append(nps, k)
			sum += k
		}
		if sum <= bound {
			return plen, nps
		}
		plen *= 2
	}
}

// decodeMs is the model's decode attention (ms per layer) of sequences of
// key lengths lens in a decode graph of p sequences.
func (w *waveSim) decodeMs(d *DecodeLaunch, lens []int, p int) float64 {
	bound := max(d.BoundPerSeq*p, d.BoundMin)
	plen, nps := d.partitions(lens, bound, w.n[:0])
	items := 0
	for _, k := range nps {
		items += k
	}
	w.work = w.work[:0]
	for h := 0; h < d.Heads; h++ {
		for i, n := range lens {
			for j := 0; j < nps[i]; j++ {
				keys := min(plen, n-j*plen)
				w.work = append(w.work, d.BlockMs+d.KeyMs*float64(max(keys, 0)))
			}
		}
		for j := items; j < bound; j++ {
			w.work = append(w.work, 0)
		}
	}
	w.n = nps[:0] // makespan reuses it
	ms := w.makespan(d.SMs, d.BlocksPerSM, func(n int) float64 { return 1 / (1 + d.Share*float64(n-1)) })
	return ms + d.CombineMs*float64(items)
}

// DecodeMs is the model's decode attention (ms per layer) of sequences of
// key lengths lens in a decode graph of p sequences.
func (d *DecodeLaunch) DecodeMs(lens []int, p int) float64 {
	var w waveSim
	return w.decodeMs(d, lens, p)
}

// ShapeCorrection is the model's correction (ms per layer) to the decode row
// of a graph of padded sequences running b decodes of mean context mean and
// longest context longest: the model at the batch's shape (ShapeLens) less
// the model at the row's own (the graph's slots at the keys per slot, spread
// as the rows were measured: SpreadLens). The model was fitted on such
// differences; the predictor takes it at contexts rounded up to its
// kv_cache_prediction_granularity.
func (d *DecodeLaunch) ShapeCorrection(b, mean, longest, padded int) float64 {
	var w waveSim
	kdP := keysPerSlot(b, mean, padded)
	return w.decodeMs(d, ShapeLens(nil, b, mean, longest), padded) - w.decodeMs(d, SpreadLens(padded, kdP), padded)
}

// keysPerSlot is the context that b sequences of mean context mean would
// have spread over a graph's padded slots (the same keys), rounded up.
func keysPerSlot(b, mean, padded int) int {
	return int((int64(b)*int64(mean) + int64(padded) - 1) / int64(padded))
}

// SpreadLens are b contexts spread evenly over [0.5, 1.5] x mean, as the
// in-graph decode rows were measured (refengine/insitu_ctx.py).
func SpreadLens(b, mean int) []int {
	return spreadLensInto(nil, b, mean)
}

// ShapeLens is the shape a batch of b decodes of mean context mean and
// longest longest is taken to have, keeping both: contexts spread evenly
// from 2 * mean - longest to longest; when that would start below 1, one
// sequence at longest and the others spread evenly over [1, 2m - 1] around
// their mean m (all equal when longest = mean).
func ShapeLens(dst []int, b, mean, longest int) []int {
	dst = dst[:0]
	longest = max(longest, mean)
	spread := func(n, lo, hi int) {
		for i := 0; i < n; i++ {
			if n == 1 {
				dst = append(dst, (lo+hi)/2)
				continue
			}
			dst = append(dst, lo+int(math.Round(float64(hi-lo)*float64(i)/float64(n-1))))
		}
	}
	switch lo := 2*mean - longest; {
	case b == 1:
		dst = append(dst, mean)
	case lo >= 1:
		spread(b, lo, longest)
	default:
		m := max(1, (b*mean-longest)/(b-1))
		spread(b-1, 1, 2*m-1)
		dst = append(dst, longest)
	}
	return dst
}
