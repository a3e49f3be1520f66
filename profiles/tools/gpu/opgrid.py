#!/usr/bin/env python3
"""cuBLAS GEMM times (bf16, F.linear) of the linear layers of other dense
decoders on this machine's GPU, for checking a predictor of models that
have no profile set (servesim's roofline estimate) against measurements:
per model, the QKV projection, attention output projection, gate+up and
down projections at token counts 1-8192, and the LM head at 1-256 rows.
Same method as profile_qwen3.py: REPS back-to-back calls in a CUDA graph
rotating over enough copies of the weights to exceed the L2 cache, TRIALS
replays, per-call statistics. Shapes are the models' public config.json
values (hidden, heads, KV heads, head_dim, intermediate, vocab).

Usage: python3 opgrid.py OUT.csv
"""
import csv
import sys

import torch
import torch.nn.functional as F

import profile_qwen3 as PQ

MODELS = {  # name: (hidden, heads, kv_heads, head_dim, intermediate, vocab)
    "Qwen/Qwen3-0.6B": (1024, 16, 8, 128, 3072, 151936),
    "Qwen/Qwen3-1.7B": (2048, 16, 8, 128, 6144, 151936),
    "Qwen/Qwen3-4B": (2560, 32, 8, 128, 9728, 151936),
    "Qwen/Qwen3-8B": (4096, 32, 8, 128, 12288, 151936),
    "Qwen/Qwen3-14B": (5120, 40, 8, 128, 17408, 151936),
    "meta-llama/Llama-3.1-8B": (4096, 32, 8, 128, 14336, 128256),
    "mistralai/Mistral-7B-v0.3": (4096, 32, 8, 128, 14336, 32768),
}
TOKENS = [1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
HEAD_ROWS = [1, 8, 32, 128, 256]


def gemm_row(model, op, t, n, k):
    wbytes = n * k * 2
    copies = max(2, min(8, -(-(256 << 20) // wbytes)))
    ws = [(torch.randn(n, k, device="cuda") * 0.02).to(torch.bfloat16) for _ in range(copies)]
    xs = [torch.randn(t, k, device="cuda").to(torch.bfloat16) for _ in range(copies)]
    st = PQ.bench([lambda i=i: F.linear(xs[i], ws[i]) for i in range(copies)])
    del ws, xs
    torch.cuda.empty_cache()
    return dict(model=model, op=op, num_tokens=t, n=n, k=k, copies=copies, **{f"{s}_ms": f"{v:.6f}" for s, v in st.items()})


def main(out):
    rows = []
    for name, (e, h, kv, d, ff, v) in MODELS.items():
        for t in TOKENS:
            rows.append(gemm_row(name, "attn_pre_proj", t, (h + 2 * kv) * d, e))
            rows.append(gemm_row(name, "attn_post_proj", t, e, h * d))
            rows.append(gemm_row(name, "mlp_up_proj", t, 2 * ff, e))
            rows.append(gemm_row(name, "mlp_down_proj", t, e, ff))
        for t in HEAD_ROWS:
            rows.append(gemm_row(name, "lm_head", t, v, e))
        print(name, "done", flush=True)
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main(sys.argv[1])
