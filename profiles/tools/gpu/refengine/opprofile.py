"""Per-operator profile of the reference engine's own kernels, in Vidur's
schemas (mlp.csv, attention.csv), plus env.json.

Method (as profile_qwen3.py): each op is captured in a CUDA graph as REPS
back-to-back calls rotating over copies of weights and inputs (more bytes
than the L2 holds), the graph is replayed TRIALS times with CUDA events, and
each replay's per-call time is one sample. These are the kernels the
engine's graphs replay, with the launch configuration tune.py chose:
- input_layernorm, post_attention_layernorm: the fused residual-add + RMSNorm
  kernel (there is no separate residual add: engine.json lists "add" as fused);
- attn_rope: the fused QK-norm + RoPE kernel (no separate qk_norm);
- attn_pre_proj, attn_post_proj, mlp_up_proj, mlp_down_proj: cuBLAS GEMMs
  (F.linear, bf16); mlp_act: the fused SiLU*mul kernel; emb: the input
  token gather and embedding lookup; lm_head: final-norm rows' logits and the
  greedy argmax, keyed by the number of sequences sampled;
- attn_kv_cache_save: the paged KV write, keyed by tokens;
- attn_prefill: the paged attention kernel's prefill launch for one sequence,
  keyed by (chunk, cached KV);
- attn_decode: the decode launch as a decode graph of padded size pad(B) runs
  it: its work-item bound, B real sequences whose keys are cut into equal
  partitions, and the combine pass, keyed by (B, context of each): the kernel
  reads each sequence's own pages in balanced pieces, so the mean context is
  the right key.

Usage (from profiles/tools/gpu): python3 -m refengine.opprofile OUTDIR --tuning TUNING.json
[--decode_batches 40,56,...: only decode rows at those batch sizes]
[--prefill_chunks 12288,16384: only mlp.csv and prefill rows at those chunk sizes past 8192]
"""
import argparse
import bisect
import json
import os
import time

import torch
import torch.nn.functional as F

import profile_qwen3 as PQ

from . import kernels as K
from . import model as M
from .tune import Batch

dev = "cuda"
STATS = ["min", "max", "mean", "median", "std"]
TOKEN_GRID = sorted(set(M.DECODE_SIZES + M.MIXED_SIZES + [2560, 3072, 4096, 6144, 8192]))
MLP_OPS = ["input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm",
           "mlp_up_proj", "mlp_act", "mlp_down_proj", "emb", "lm_head"]


def rnd(*shape):
    return torch.randn(*shape, device=dev).to(M.DT)


def mlp_rows(copies=8, tokens=TOKEN_GRID):
    layers = [dict(w=(1 + 0.01 * torch.randn(M.E, device=dev)).to(M.DT), wqkv=rnd(M.QW + 2 * M.KW, M.E) * 0.02,
                   wo=rnd(M.E, M.QW) * 0.02, wup=rnd(2 * M.FF, M.E) * 0.02, wdown=rnd(M.E, M.FF) * 0.02,
                   qn=torch.ones(M.HD, device=dev, dtype=M.DT), kn=torch.ones(M.HD, device=dev, dtype=M.DT))
              for _ in range(copies)]
    wemb = rnd(M.V, M.E) * 0.02
    tokbuf = torch.randint(0, M.V, (1025,), device=dev)
    cos, sin = K.rope_tables(16384, M.HD, M.THETA, dev)
    rows = []
    for T in tokens:
        xs = [rnd(T, M.E) for _ in range(copies)]
        res = [rnd(T, M.E) for _ in range(copies)]
        qkv = [rnd(T, M.QW + 2 * M.KW) for _ in range(copies)]
        attn = [rnd(T, M.QW) for _ in range(copies)]
        gu = [rnd(T, 2 * M.FF) for _ in range(copies)]
        act = [rnd(T, M.FF) for _ in range(copies)]
        outs = [torch.empty(T, M.E, device=dev, dtype=M.DT) for _ in range(copies)]
        src = [torch.where(torch.rand(T, device=dev) < 0.5, torch.randint(0, M.V, (T,), device=dev),
                           -1 - torch.randint(0, 1024, (T,), device=dev)) for _ in range(copies)]
        pos = [torch.randint(0, 8192, (T,), device=dev) for _ in range(copies)]
        R = min(T, 256)
        rows_idx = [torch.randint(0, T, (R,), device=dev) for _ in range(copies)]

        def emb(i):
            s = src[i]
            ids = torch.where(s >= 0, s, tokbuf[(-1 - s).clamp_min(0)])
            return F.embedding(ids, wemb)

        def lm(i):
            r = rows_idx[i]
            h = K.add_rmsnorm(xs[i].index_select(0, r) + res[i].index_select(0, r), None, layers[i]["w"], M.EPS)
            nxt = torch.argmax(F.linear(h, wemb), dim=-1)
            tokbuf.index_copy_(0, torch.arange(R, device=dev), nxt)

        calls = {
            "input_layernorm": lambda i: K.add_rmsnorm(xs[i], res[i], layers[i]["w"], M.EPS, out=outs[i]),
            "attn_pre_proj": lambda i: F.linear(xs[i], layers[i]["wqkv"]),
            "attn_rope": lambda i: K.qknorm_rope(qkv[i], pos[i], cos, sin, layers[i]["qn"], layers[i]["kn"], M.EPS,
                                                 M.QH, M.KVH, M.HD),
            "attn_post_proj": lambda i: F.linear(attn[i], layers[i]["wo"]),
            "mlp_up_proj": lambda i: F.linear(xs[i], layers[i]["wup"]),
            "mlp_act": lambda i: K.silu_mul(gu[i]),
            "mlp_down_proj": lambda i: F.linear(act[i], layers[i]["wdown"]),
            "emb": emb,
            "lm_head": lm,
        }
        row = {"num_tokens": T}
        for op, fn in calls.items():
            row[op] = PQ.bench([lambda i=i, fn=fn: fn(i) for i in range(copies)])
        row["post_attention_layernorm"] = row["input_layernorm"]
        rows.append(row)
        print(f"mlp T={T}: " + " ".join(f"{op}={row[op]['median'] * 1000:.1f}us" for op in MLP_OPS), flush=True)
    return rows


DECODE_BATCHES = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256]
DECODE_KV = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
PREFILL_CHUNKS = [1, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
PREFILL_KV = [0, 256, 512, 1024, 2048, 4096, 8192]
MAX_CONTEXT = 16384  # the engine's longest sequence (model.Model's max_tokens)


def kv_save_rows(kc, vc, tokens=TOKEN_GRID):
    out = []
    for T in tokens:
        qkv = [rnd(T, M.QW + 2 * M.KW) for _ in range(4)]
        slots = [torch.randperm(1 << 21, device=dev)[:T] for _ in range(4)]
        st = PQ.bench([lambda i=i: K.kv_write(qkv[i], slots[i], kc, vc, M.QW, M.KW) for i in range(4)])
        out.append(dict(kind="kv_save", batch=T, chunk=0, kv=0, t=st))
    return out


def attention_rows(model_tuning, decode_batches=DECODE_BATCHES, prefill=True, prefill_kv=PREFILL_KV,
                   decode_kv=DECODE_KV, prefill_chunks=PREFILL_CHUNKS, save_tokens=TOKEN_GRID, max_context=0):
    """kv_save (at save_tokens), prefill (when prefill: at prefill_chunks over prefill_kv cached tokens) and
    decode rows at decode_batches over decode_kv contexts (none when decode_batches is empty)."""
    pcfg = dict(model_tuning["prefill"])
    pbq = pcfg.pop("block_q")
    kc = rnd(1 << 21, M.KVH, M.HD)
    vc = rnd(1 << 21, M.KVH, M.HD)
    out = kv_save_rows(kc, vc, save_tokens)
    if prefill:
        out += prefill_rows(pcfg, pbq, kc, vc, prefill_kv, prefill_chunks, max_context)
    return out + decode_rows(dict(model_tuning["decode"]), kc, vc, decode_batches, decode_kv)


def prefill_rows(pcfg, pbq, kc, vc, kvs=PREFILL_KV, chunks=PREFILL_CHUNKS, max_context=0):
    out = []
    for c in chunks:
        for kv in kvs:
            if max_context and c + kv > max_context:
                continue
            b = [Batch([(c, c + kv)], kc, maxb=max(1024, -(-(c + kv) // M.BLOCK))) for _ in range(2)]
            tiles = [bb.tiles(pbq) for bb in b]
            st = PQ.bench([lambda i=i: K.paged_attention(b[i].q, kc, vc, b[i].out, b[i].bt, b[i].seq_slot, b[i].seq_len,
                                                         b[i].q_start, tiles[i][0], tiles[i][1], len(tiles[i][0]), M.QH,
                                                         M.KVH, M.HD, M.BLOCK, pbq, **pcfg) for i in range(2)])
            out.append(dict(kind="prefill", batch=1, chunk=c, kv=kv, t=st))
        print(f"prefill c={c} done", flush=True)
    return out


def decode_rows(dcfg, kc, vc, batches, contexts):
    out = []
    bufs = K.AttnBuffers(256, M.QH, M.HD, dev)
    part_min = dcfg.pop("part_min", 256)
    for B in batches:
        bp = M.DECODE_SIZES[bisect.bisect_left(M.DECODE_SIZES, B)]
        bound = K.decode_bound(bp)
        for ctx in contexts:
            if B * ctx > 1 << 20:
                continue
            bb = Batch([(1, ctx)] * B, kc)
            plen, items, nps = K.decode_work([ctx] * B, bound, part_min, dcfg["block_n"])
            ts = torch.tensor([i for i, _ in items] + [-1] * (bound - len(items)), device=dev)
            parts = torch.tensor([j for _, j in items] + [0] * (bound - len(items)), device=dev)
            dnp = torch.tensor(nps + [0] * (bp - B), device=dev)
            pl = torch.tensor([plen], device=dev)
            z = torch.zeros_like(ts)
            out_t = torch.empty(bp, M.QW, device=dev, dtype=M.DT)
            q = torch.cat([bb.q, rnd(bp - B, M.QW + 2 * M.KW)]) if bp > B else bb.q
            st = PQ.bench([lambda: K.paged_attention(q, kc, vc, out_t, bb.bt, bb.seq_slot, bb.seq_len, bb.q_start, ts, z,
                                                     bound, M.QH, M.KVH, M.HD, M.BLOCK, 1, tile_part=parts, part_len=pl,
                                                     bufs=bufs, combine_tokens=bp, num_parts=dnp, **dcfg)])
            out.append(dict(kind="decode", batch=B, chunk=0, kv=ctx, t=st))
        print(f"decode B={B} (graph {bp}, {bound} work items) done", flush=True)
    return out


def write_mlp(path, rows):
    cols = [f"time_stats.{op}.{s}" for op in MLP_OPS for s in STATS]
    with open(path, "w") as f:
        f.write(",".join(cols + ["n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size", "use_gated_mlp",
                                 "num_tokens", "num_tensor_parallel_workers"]) + "\n")
        for r in rows:
            vals = [f"{r[op][s]:.6f}" for op in MLP_OPS for s in STATS]
            f.write(",".join(vals + [str(M.QH), str(M.KVH), str(M.E), str(M.FF), str(M.V), "True", str(r["num_tokens"]),
                                     "1"]) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--decode_batches", default="",
                    help="only attention.csv's decode rows, at these comma-separated batch sizes (a fill of the "
                         "grid, merged into a profile by merge_rows.py); no mlp.csv")
    ap.add_argument("--prefill_kv", default="",
                    help="only attention.csv's prefill rows (every chunk size) over these comma-separated cached "
                         "context sizes (an extension of the grid past its 8192, merged into a profile by "
                         "build_set.py as attn_prefill_fill.csv); no mlp.csv, no decode rows")
    ap.add_argument("--decode_kv", default="",
                    help="only attention.csv's decode rows (at --decode_batches, or the default batches) over these "
                         "comma-separated contexts (contexts under the grid's first, merged into a profile by "
                         "build_set.py as attn_decode_short.csv); no mlp.csv, no prefill rows")
    ap.add_argument("--prefill_chunks", default="",
                    help="only rows at these comma-separated chunk sizes past the grid's 8192 (eager steps of a "
                         "larger token budget): mlp.csv's token ops and attention.csv's prefill rows with their KV "
                         "save, over the cached sizes with chunk + cache <= the engine's 16384, merged into a "
                         "profile by build_set.py as mlp_fill.csv and attn_prefill_chunks.csv")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    tuning = M.load_tuning(a.tuning)
    torch.manual_seed(0)
    if a.prefill_chunks:
        chunks = [int(c) for c in a.prefill_chunks.split(",")]
        write_mlp(os.path.join(a.out, "mlp.csv"), mlp_rows(tokens=chunks))
        torch.cuda.empty_cache()
        rows = attention_rows(tuning, [], prefill_chunks=chunks, save_tokens=chunks, max_context=MAX_CONTEXT)
    elif a.decode_kv:
        batches = [int(b) for b in a.decode_batches.split(",")] if a.decode_batches else DECODE_BATCHES
        rows = attention_rows(tuning, batches, prefill=False, decode_kv=[int(k) for k in a.decode_kv.split(",")])
    elif a.prefill_kv:
        rows = attention_rows(tuning, [], prefill_kv=[int(k) for k in a.prefill_kv.split(",")])
    elif a.decode_batches:
        rows = attention_rows(tuning, [int(b) for b in a.decode_batches.split(",")], prefill=False)
    else:
        write_mlp(os.path.join(a.out, "mlp.csv"), mlp_rows())
        torch.cuda.empty_cache()
        rows = attention_rows(tuning)
    PQ.write_attention(os.path.join(a.out, "attention.csv"), rows, backend="SERVESIM_REF_TRITON_PAGED")
    env = PQ.environment()
    env["triton"] = __import__("triton").__version__
    env["method"] = dict(reps_per_graph=PQ.REPS, trials=PQ.TRIALS, rotated_copies=8,
                         timer="CUDA events around CUDA-graph replays", dtype="bfloat16",
                         seconds=round(time.time() - t0, 1))
    env["tuning"] = tuning
    with open(os.path.join(a.out, "env.json"), "w") as f:
        json.dump(env, f, indent=1)
    print("profile written to", a.out, f"in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
