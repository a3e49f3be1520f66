package main

import "math"

// Attention roofline for Qwen3-0.6B at TP1 (16 query heads, 8 KV heads,
// head_dim 128; 4096 bytes of bf16 K+V per token per layer), in µs per layer.
//
// Anchors (issue #3), read from Vidur's A100 FlashInfer attention profile of
// Meta-Llama-3-8B (same KV layout: 8 KV heads x 128):
//
//	decode batch 1 / KV 64: 8 µs; batch 4 / KV 64: 9 µs
//	prefill (no cache) 32, 64, 96, 128 tokens: 11, 11, 14, 15 µs
//	KV-cache save for those prefills: 10, 19, 27, 36 µs
//
// Decode:  t = c0d + ad*B + B*K*4096/BW           (memory-bound on the KV read)
// Prefill: t = c0p + ap*c + bp*min(kv,512)*64/max(c,64) + 4*q*hd*c*(kv+c/2)/F
// KVsave:  t = s0 + s1*min(T,128) + max(T-128,0)*4096/BW
//
// BW = 1.69 TB/s and F = 170 TFLOP/s are assumptions (the GEMM fits' memory
// bandwidth; FlashAttention-2's forward rate on A100 for head_dim 128), not
// measurements of attention. bp (0.046 µs per cached token, saturating at
// 512) comes from the chunk-64 rows sampled below; the 64/max(c,64) factor
// assumes more query tiles stream the cache in parallel.
type attnModel struct {
	c0d, ad         float64
	c0p, ap, bp     float64
	s0, s1          float64
	bw, flops       float64
	qHeads, headDim float64
	kvBytesPerToken float64
}

func newAttnModel() attnModel {
	a := attnModel{bw: 1.69e6, flops: 170e6, qHeads: 16, headDim: 128, kvBytesPerToken: 4096}
	kvUS := func(b, k float64) float64 { return b * k * a.kvBytesPerToken / a.bw }
	// Two decode anchors, two unknowns.
	a.ad = ((9 - kvUS(4, 64)) - (8 - kvUS(1, 64))) / 3
	a.c0d = 8 - kvUS(1, 64) - a.ad
	// Least squares of c0p + ap*c on the four prefill anchors less their FLOP term.
	cs, ys := []float64{32, 64, 96, 128}, []float64{11, 11, 14, 15}
	var sx, sy, sxx, sxy float64
	for i, c := range cs {
		y := ys[i] - a.prefillFlopsUS(c, 0)
		sx, sy, sxx, sxy = sx+c, sy+y, sxx+c*c, sxy+c*y
	}
	n := float64(len(cs))
	a.ap = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	a.c0p = (sy - a.ap*sx) / n
	// KV-save line through the four save anchors.
	sv := []float64{10, 19, 27, 36}
	sx, sy, sxx, sxy = 0, 0, 0, 0
	for i, c := range cs {
		sx, sy, sxx, sxy = sx+c, sy+sv[i], sxx+c*c, sxy+c*sv[i]
	}
	a.s1 = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	a.s0 = (sy - a.s1*sx) / n
	// Cached-KV streaming cost from the sampled chunk-64 rows (kv 0..448).
	a.bp = ((33 - 11) - (a.prefillFlopsUS(64, 448) - a.prefillFlopsUS(64, 0))) / 448
	return a
}

func (a attnModel) prefillFlopsUS(c, kv float64) float64 {
	return 4 * a.qHeads * a.headDim * c * (kv + c/2) / a.flops
}

func (a attnModel) decodeUS(b, k float64) float64 {
	return a.c0d + a.ad*b + b*k*a.kvBytesPerToken/a.bw
}

func (a attnModel) prefillUS(c, kv float64) float64 {
	return a.c0p + a.ap*c + a.bp*math.Min(kv, 512)*64/math.Max(c, 64) + a.prefillFlopsUS(c, kv)
}

func (a attnModel) kvSaveUS(t float64) float64 {
	return a.s0 + a.s1*math.Min(t, 128) + math.Max(t-128, 0)*a.kvBytesPerToken/a.bw
}

// sampled are rows read from Vidur's A100 FlashInfer attention.csv of
// Meta-Llama-3-8B at TP1 (a copy in the public repository
// sw5sh/cs378-assignment3 @ 7ac2fe9f, path
// data/profiling/compute/a100/meta-llama/Meta-Llama-3-8B/attention.csv),
// held out of every fit except bp (chunk 64, kv 448). Times in µs.
var sampled = []struct {
	kind         string // decode | prefill | kvsave-decode
	batch, c, kv float64
	us           float64
}{
	{"prefill", 1, 64, 64, 14}, {"prefill", 1, 64, 128, 17}, {"prefill", 1, 64, 256, 24}, {"prefill", 1, 64, 384, 30},
	{"prefill", 1, 64, 1024, 45}, {"prefill", 1, 64, 2048, 46}, {"prefill", 1, 64, 4096, 64},
	{"decode", 13, 0, 16128, 531}, {"decode", 16, 0, 16128, 764}, {"decode", 24, 0, 16128, 968},
	{"decode", 32, 0, 16128, 1319}, {"decode", 36, 0, 16128, 1413},
	{"kvsave-decode", 13, 0, 16128, 3}, {"kvsave-decode", 36, 0, 16128, 3},
}
