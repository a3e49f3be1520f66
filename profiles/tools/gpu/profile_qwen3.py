#!/usr/bin/env python3
"""Profile Qwen3-0.6B's operators on this machine's GPU and write Vidur-schema
CSVs (mlp.csv, attention.csv) plus env.json with the card and software.

Method: each op is captured in a CUDA graph as REPS back-to-back calls that
rotate over COPIES sets of weights and inputs (more bytes than the L2 cache
holds), the graph is replayed TRIALS times with CUDA events around it, and the
per-call time of each replay is one sample; the CSVs give min/max/mean/median/
std over the samples. Graph replay removes the host's launch gaps, so these
are GPU times, like Vidur's kernel times; host overhead is measured separately
by the real benchmark.

Usage: python3 profile_qwen3.py OUTDIR
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

import qwen3_ops as q

REPS, TRIALS, COPIES = 20, 9, 8
dev = "cuda"
torch.manual_seed(0)


def stats(samples):
    return dict(min=min(samples), max=max(samples), mean=statistics.fmean(samples),
                median=statistics.median(samples), std=statistics.pstdev(samples))


def bench(calls):
    """calls: list of zero-argument callables (one per copy)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for c in calls * 2:
            c()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for r in range(REPS):
            calls[r % len(calls)]()
    g.replay()
    torch.cuda.synchronize()
    out = []
    for _ in range(TRIALS):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        out.append(a.elapsed_time(b) / REPS)  # ms per call
    del g
    return stats(out)


def rnd(*shape, dtype=q.DT):
    return torch.randn(*shape, device=dev).to(dtype)


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    t_start = time.time()
    layers = [q.Layer(dev) for _ in range(COPIES)]
    wemb = rnd(q.V, q.E) * 0.02
    cos, sin = q.rope_cache(16384, dev)
    tokens = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024,
              1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096]
    ops = ["input_layernorm", "attn_pre_proj", "attn_rope", "qk_norm", "attn_post_proj", "post_attention_layernorm",
           "mlp_up_proj", "mlp_act", "mlp_down_proj", "add", "emb", "lm_head"]
    mlp_rows = []
    for T in tokens:
        xs = [rnd(T, q.E) for _ in range(COPIES)]
        qs = [rnd(T, q.QH, q.HD) for _ in range(COPIES)]
        ks = [rnd(T, q.KVH, q.HD) for _ in range(COPIES)]
        attn = [rnd(T, q.QW) for _ in range(COPIES)]
        gu = [rnd(T, 2 * q.FF) for _ in range(COPIES)]
        act = [rnd(T, q.FF) for _ in range(COPIES)]
        ids = [torch.randint(0, q.V, (T,), device=dev) for _ in range(COPIES)]
        pos = [torch.randint(0, 4096, (T,), device=dev) for _ in range(COPIES)]
        calls = {
            "input_layernorm": [lambda i=i: q.input_layernorm(xs[i], layers[i]) for i in range(COPIES)],
            "attn_pre_proj": [lambda i=i: q.attn_pre_proj(xs[i], layers[i]) for i in range(COPIES)],
            "attn_rope": [lambda i=i: q.attn_rope(qs[i], ks[i], cos, sin, pos[i]) for i in range(COPIES)],
            "qk_norm": [lambda i=i: q.qk_norm(qs[i], ks[i], layers[i]) for i in range(COPIES)],
            "attn_post_proj": [lambda i=i: q.attn_post_proj(attn[i], layers[i]) for i in range(COPIES)],
            "post_attention_layernorm": [lambda i=i: q.post_attention_layernorm(xs[i], layers[i]) for i in range(COPIES)],
            "mlp_up_proj": [lambda i=i: q.mlp_up_proj(xs[i], layers[i]) for i in range(COPIES)],
            "mlp_act": [lambda i=i: q.mlp_act(gu[i]) for i in range(COPIES)],
            "mlp_down_proj": [lambda i=i: q.mlp_down_proj(act[i], layers[i]) for i in range(COPIES)],
            "add": [lambda i=i: q.add(xs[i], xs[(i + 1) % COPIES]) for i in range(COPIES)],
            "emb": [lambda i=i: q.emb(ids[i], wemb) for i in range(COPIES)],
            "lm_head": [lambda i=i: q.lm_head(xs[i][: min(T, 256)], wemb) for i in range(COPIES)],
        }
        row = {"num_tokens": T}
        for op in ops:
            row[op] = bench(calls[op])
        mlp_rows.append(row)
        print(f"mlp T={T}: " + " ".join(f"{op}={row[op]['median']*1000:.1f}us" for op in ops), flush=True)

    # KV cache save, prefill and decode attention against a slot pool.
    pool = 1 << 21  # token slots: enough for decode batch 256 x 8192
    kc, vc = rnd(pool, q.KVH, q.HD), rnd(pool, q.KVH, q.HD)
    attn_rows = []
    for T in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]:
        perms = [torch.randperm(pool, device=dev)[:T] for _ in range(COPIES)]
        kk = [rnd(T, q.KVH, q.HD) for _ in range(COPIES)]
        st = bench([lambda i=i: q.kv_cache_save(kc, vc, perms[i], kk[i], kk[i]) for i in range(COPIES)])
        attn_rows.append(dict(kind="kv_save", batch=T, chunk=0, kv=0, t=st))
    for c in [1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]:
        for kv in [0, 64, 256, 512, 1024, 2048, 4096]:
            n = kv + c
            base = [torch.randint(0, pool - n, (1,)).item() for _ in range(4)]
            slots = [torch.arange(b, b + n, device=dev) for b in base]
            qq = [rnd(c, q.QH, q.HD) for _ in range(4)]
            mask = None if kv == 0 else q.prefill_mask(c, n, dev)
            st = bench([lambda i=i: q.attn_prefill(qq[i], kc, vc, slots[i], mask) for i in range(4)])
            attn_rows.append(dict(kind="prefill", batch=1, chunk=c, kv=kv, t=st))
        print(f"prefill c={c} done", flush=True)
    for B in [1, 2, 4, 8, 16, 32, 64, 96, 128, 192, 256]:
        for K in [64, 128, 256, 512, 1024, 2048, 4096, 8192]:
            if B * K > 256 * 4096:
                continue
            copies = 4 if B * K <= 65536 else 1
            tables = [torch.randint(0, pool, (B, K), device=dev) for _ in range(copies)]
            mask = torch.ones(B, 1, 1, K, device=dev, dtype=torch.bool)
            qq = [rnd(B, q.QH, q.HD) for _ in range(copies)]
            st = bench([lambda i=i: q.attn_decode(qq[i], kc, vc, tables[i], mask) for i in range(copies)])
            attn_rows.append(dict(kind="decode", batch=B, chunk=0, kv=K, t=st))
        print(f"decode B={B} done", flush=True)

    # Vidur's H100 GEMM shapes (Llama-2-7B, TP1) on this stack: stack drift vs transfer error.
    gemm = []
    for name, n, k in [("attn_pre_proj", 12288, 4096), ("attn_post_proj", 4096, 4096), ("mlp_up_proj", 22016, 4096),
                       ("mlp_down_proj", 4096, 11008)]:
        ws = [rnd(n, k) * 0.02 for _ in range(2)]
        for T in [1, 8, 64, 256, 1024, 4096]:
            xs = [rnd(T, k) for _ in range(2)]
            st = bench([lambda i=i: torch.nn.functional.linear(xs[i], ws[i]) for i in range(2)])
            gemm.append(dict(op=name, model="meta-llama/Llama-2-7b-hf", num_tokens=T, median_ms=st["median"]))
        del ws

    write_mlp(os.path.join(outdir, "mlp.csv"), mlp_rows, ops)
    write_attention(os.path.join(outdir, "attention.csv"), attn_rows)
    with open(os.path.join(outdir, "vidur_gemm_check.json"), "w") as f:
        json.dump(gemm, f, indent=1)
    env = environment()
    env["method"] = dict(reps_per_graph=REPS, trials=TRIALS, rotated_copies=COPIES, timer="CUDA events around CUDA-graph replays",
                         dtype="bfloat16", seconds=round(time.time() - t_start, 1))
    with open(os.path.join(outdir, "env.json"), "w") as f:
        json.dump(env, f, indent=1)
    print("profile written to", outdir)


STATS = ["min", "max", "mean", "median", "std"]


def write_mlp(path, rows, ops):
    cols = [f"time_stats.{op}.{s}" for op in ops for s in STATS]
    with open(path, "w") as f:
        f.write(",".join(cols + ["n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size", "use_gated_mlp",
                                 "num_tokens", "num_tensor_parallel_workers"]) + "\n")
        for r in rows:
            vals = [f"{r[op][s]:.6f}" for op in ops for s in STATS]
            f.write(",".join(vals + ["16", "8", "1024", "3072", "151936", "True", str(r["num_tokens"]), "1"]) + "\n")


def write_attention(path, rows, backend="TORCH_SDPA_SLOT_GATHER"):
    ops = ["attn_kv_cache_save", "attn_prefill", "attn_decode"]
    cols = [f"time_stats.{op}.{s}" for op in ops for s in STATS]
    save = {r["batch"]: r["t"] for r in rows if r["kind"] == "kv_save"}
    keys = sorted(save)

    def save_at(n):  # KV save measured at these token counts; linear between
        for a, b in zip(keys, keys[1:]):
            if a <= n <= b:
                w = (n - a) / (b - a)
                return {s: save[a][s] * (1 - w) + save[b][s] * w for s in STATS}
        return save[keys[-1]]

    with open(path, "w") as f:
        f.write(",".join(cols + ["n_embd", "n_q_head", "n_kv_head", "head_dim", "block_size", "num_tensor_parallel_workers",
                                 "max_model_len", "batch_size", "prefill_chunk_size", "kv_cache_size", "is_prefill",
                                 "attention_backend"]) + "\n")
        for r in rows:
            if r["kind"] == "kv_save":
                continue
            n = r["chunk"] if r["kind"] == "prefill" else r["batch"]
            sv = save_at(n)
            pre = r["t"] if r["kind"] == "prefill" else None
            dec = r["t"] if r["kind"] == "decode" else None
            vals = [f"{sv[s]:.6f}" for s in STATS]
            vals += [f"{pre[s]:.6f}" if pre else "" for s in STATS]
            vals += [f"{dec[s]:.6f}" if dec else "" for s in STATS]
            f.write(",".join(vals + ["1024", "16", "8", "128", "16", "1", "16384", str(r["batch"]), str(r["chunk"]),
                                     str(r["kv"]), str(r["kind"] == "prefill"), backend]) + "\n")


def environment():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
        except Exception as e:  # noqa: BLE001 - record whatever happened
            return f"unavailable: {e}"
    p = torch.cuda.get_device_properties(0)
    return dict(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(p.total_memory / 2**30, 1), sm_count=p.multi_processor_count,
                torch=torch.__version__, cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), python=platform.python_version(),
                driver=sh("nvidia-smi --query-gpu=driver_version --format=csv,noheader"),
                clocks=sh("nvidia-smi --query-gpu=clocks.sm,clocks.mem,clocks.max.sm,clocks.max.mem,power.limit,temperature.gpu --format=csv"),
                host=platform.platform())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out")
