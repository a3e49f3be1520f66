package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/roofline"
)

const root = "../../.."

// TestDerived_UpToDate: the committed H100 set is what the tool writes today
// from the H200 set, byte for byte (a change to either, or to the roofline
// coefficients, without re-running it fails here), and it opens as a set.
func TestDerived_UpToDate(t *testing.T) {
	out := t.TempDir()
	r := func(p string) string { return filepath.Join(root, p) }
	if err := run(r("profiles/h200/qwen3-0.6b"), "h200", "h100", out, r("bench/gpu/h200-eager/profile/mlp.csv"),
		r("profiles/h100/qwen3-0.6b-eager-loop/mlp.csv")); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		got, _ := os.ReadFile(filepath.Join(out, e.Name()))
		want, err := os.ReadFile(r("profiles/h100/qwen3-0.6b/" + e.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("profiles/h100/qwen3-0.6b/%s is stale: run go run ./profiles/tools/derive-gpu (%v)", e.Name(), err)
		}
	}
	set, err := predict.Open(os.DirFS(out), "derived")
	if err != nil {
		t.Fatal(err)
	}
	if set.Meta.Kind != "synthesized" || set.Meta.Device != "h100" || set.Meta.NetworkDevice != "h100_pairwise_nvlink" || set.Engine == nil {
		t.Errorf("meta %+v, engine.json %v: want a synthesized h100 set with engine timing", set.Meta, set.Engine != nil)
	}
}

// TestRatio_HandComputed: a row's multiplier is the roofline time on the
// target over the time on the source, worked by hand for a bandwidth-bound
// decode (b=64 sequences of 4096 keys: the KV reads dominate, so the ratio
// nears the bandwidths' 4800/3350), a compute-bound GEMM (2048 tokens through
// the up projection: the two GPUs' BF16 rates are equal, so 1) and a tiny
// kernel (its floor: 1).
func TestRatio_HandComputed(t *testing.T) {
	m, _ := model.Lookup("Qwen/Qwen3-0.6B")
	src, _ := model.LookupGPU("h200")
	dst, _ := model.LookupGPU("h100")
	fit, err := roofline.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	d := &deriver{src: src, dst: dst, shard: roofline.Shard{M: m, TP: 1}, k: fit.Coeffs}
	k := fit.Coeffs[roofline.AttnDecode]
	// decode: bytes = 2 (K and V) x 64 x 4096 keys x 8 KV heads x 128 x 2 bytes + 2 x 64 x 16 x 128 x 2 (q, out)
	bytesDec := 2.0*64*4096*8*128*2 + 2*64*16*128*2
	flops := 4.0 * 64 * 4096 * 16 * 128
	at := func(g model.GPU) float64 {
		return k.FloorUs*1e-3 + math.Max(flops/(g.BF16TFLOPS*1e12*k.Compute), bytesDec/(g.HBMGBps*1e9*k.Memory))*1e3
	}
	want := at(dst) / at(src)
	got := d.ratio(roofline.AttnDecode, d.shard.DecodeWork(64, 4096))
	if math.Abs(got/want-1) > 1e-12 || got < 1.35 || got > 4800.0/3350 {
		t.Errorf("decode 64 x 4096: ratio %.6f, want %.6f (near %.3f)", got, want, 4800.0/3350)
	}
	if r, _ := d.mlpRatio("mlp_up_proj", 2048); math.Abs(r-1) > 1e-9 {
		t.Errorf("up projection of 2048 tokens: ratio %.6f, want 1 (compute-bound, equal BF16 rates)", r)
	}
	if r, _ := d.mlpRatio("input_layernorm", 1); math.Abs(r-1) > 0.01 {
		t.Errorf("norm of one token: ratio %.4f, want ~1 (its floor)", r)
	}
}
