package main

import (
	"fmt"
	"sort"
	"strings"
)

func provenance(card, origin string, env map[string]any, spread map[string]float64, cpuRows string, admit float64, extrap []string, gemm string) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("# Provenance: profiles/%s/qwen3-0.6b\n\n", card)
	p("**Status: MEASURED** on the GPU below by `profiles/tools/gpu/profile_qwen3.py` (op times) and\n")
	p("`profiles/tools/gpu/realbench.py` (the real server loop whose host overhead `cpu_overheads.csv`\n")
	p("models), imported by `go run ./profiles/tools/import-gpu`. The device tool of this workplace ran them;\n")
	p("the raw results are in `bench/gpu/%s/` (real runs) and beside this file (`env.json`). %s\n\n", card, origin)
	p("## Card and software\n\n")
	for _, k := range []string{"gpu", "gpu_memory_gib", "sm_count", "driver", "torch", "cuda", "cudnn", "python", "host"} {
		p("- %s: `%v`\n", k, env[k])
	}
	p("- clocks and power, as found (not changed): `%v`\n", strings.ReplaceAll(fmt.Sprint(env["clocks"]), "\n", " / "))
	p("- method: `%v`\n\n", env["method"])
	p(`## mlp.csv and attention.csv (MEASURED)

Qwen3-0.6B's real shapes (head_dim 128, q width 2048, kv width 1024, gated MLP 1024->6144,
down 3072->1024), bf16, random weights. Each op is captured in a CUDA graph as 20 back-to-back
calls rotating over 8 copies of weights and inputs (more bytes than the L2 cache holds), and the
graph is replayed 9 times with CUDA events around it; each replay's per-call time is one sample,
and the CSVs hold min/max/mean/median/std of the 9. Graph replay removes the host's launch gaps,
so these are GPU times. The ops are exactly the functions the real loop calls (` + "`qwen3_ops.py`" + `):
RMSNorm (F.rms_norm), GEMMs (F.linear), RoPE (rotate-half in eager PyTorch), SiLU·mul, residual
add, and attention as the loop does it: K/V gathered from a paged slot pool (index_select), then
PyTorch SDPA with GQA (memory-efficient kernel; cuDNN SDPA disabled), a lower-right causal mask for
chunks with cached KV, a padding mask for batched decode. KV save is index_copy into the pool.
Extension columns: ` + "`qk_norm`" + ` (measured; Vidur's block has no slot for it, so the simulator does
not charge it), ` + "`emb`" + ` and ` + "`lm_head`" + ` (charged with ` + "`--embedding`/`--lm_head`" + `).
Grids: num_tokens 1..4096 (31 points); prefill chunk 1..4096 x cached KV 0..4096; decode batch
1..256 x KV 64..8192 (batch x KV <= 1M). Between points the simulator interpolates linearly.

Spread (std/median of the 9 samples, median over the grid), per op:

| op | spread |
|---|---:|
`)
	var ops []string
	for k := range spread {
		ops = append(ops, k)
	}
	sort.Strings(ops)
	for _, op := range ops {
		p("| %s | %.2f%% |\n", op, spread[op])
	}
	p(`
## cpu_overheads.csv (MEASURED residual, servesim's real-bench loop)

The real loop (PyTorch eager, no CUDA graphs) spends most of an iteration launching kernels from
Python. Its host overhead per iteration is the iteration's wall time minus the GPU time this
profile predicts for that iteration's shape (with the LM head and embedding, which the loop runs, and
decode attention keyed by the batch's longest context, since the loop pads keys to it);
QK-norm, the final norm and argmax, which the simulator does not charge, land in it too. The
residuals of the spaced-2s, poisson-moderate and poisson-heavy-fit runs (Sarathi) give one median per batch-size bin
(iterations that admit no new request), all in ` + "`ray_comm_time_mean`" + ` (Vidur's residual column):

| batch size bin | iterations | median residual ms | host overhead ms (>= 0) |
|---:|---:|---:|---:|
`)
	b.WriteString(cpuRows)
	p(`
`+"`admit_median`"+` = %.3f ms: the median extra residual per newly admitted request (iterations with new
requests, less their bin's overhead). `, admit)
	if len(extrap) > 0 {
		p("Rows beyond the largest measured batch size are EXTRAPOLATED by a least-squares line over the bins (%s).", strings.Join(extrap, ", "))
	}
	p(`

The residual falls as batches grow: in an eager loop the host's kernel launches overlap the GPU's
execution, so once an iteration's GPU time exceeds its launch time the host cost hides behind it.
Vidur's composition (GPU time + CPU overhead) cannot express that overlap; this file is the
best per-batch-size sum it allows, and bench/gpu/CARD/FIDELITY.md shows where that is off.

Held out of this fit: the seed run, poisson-saturation and the vLLM-scheduler run; bench/gpu/CARD/FIDELITY.md
scores the simulator on all six.

## Stack drift check (vidur_gemm_check.json)

Llama-2-7B TP1 GEMM shapes from Vidur's public H100 profile, timed on this card and stack the same
way; bench/gpu/CARD/FIDELITY.md sets them against Vidur's H100 numbers.
`)
	b2 := strings.ReplaceAll(b.String(), "bench/gpu/CARD/", "bench/gpu/"+card+"/")
	b.Reset()
	b.WriteString(b2)
	_ = gemm
	return b.String()
}
