"""Choose the paged-attention kernel's launch configuration on this GPU by
timing candidates (as Triton's autotuner would, but once, before any CUDA
graph is captured): the prefill tile shape, the decode tile, and the split-K
factor of each decode graph size. Writes the choice and every timing.

Usage (from profiles/tools/gpu): python3 -m refengine.tune OUT.json
"""
import json
import sys

import torch
from triton.testing import do_bench

from . import kernels as K
from . import model as M
from . import sched as S

dev = "cuda"


class Batch:
    """Sequences (query length, total keys) over a random paged pool."""

    def __init__(self, cases, kc, maxb=1024):
        nblocks = kc.shape[0] // M.BLOCK
        need = sum(S.cdiv(L, M.BLOCK) for _, L in cases)
        perm = (torch.randperm(nblocks - 1, device=dev) + 1)
        if need > nblocks - 1:
            perm = perm.repeat(S.cdiv(need, nblocks - 1))
        self.bt = torch.zeros(len(cases) + 1, maxb, device=dev, dtype=torch.int64)
        used = 0
        for i, (_, L) in enumerate(cases):
            nb = S.cdiv(L, M.BLOCK)
            self.bt[i, :nb] = perm[used:used + nb]
            used += nb
        ql = [c[0] for c in cases]
        self.T = sum(ql)
        self.q_start = torch.tensor([0] + torch.tensor(ql).cumsum(0).tolist(), device=dev)
        self.seq_len = torch.tensor([c[1] for c in cases], device=dev)
        self.seq_slot = torch.arange(len(cases), device=dev)
        self.q = torch.randn(self.T, M.QW + 2 * M.KW, device=dev).to(M.DT)
        self.out = torch.empty(self.T, M.QW, device=dev, dtype=M.DT)
        self.cases = cases

    def tiles(self, block_q):
        ts, q0s = [], []
        for i, (n, _) in enumerate(self.cases):
            for q0 in reversed(range(0, n, block_q)):  # as the engine orders them
                ts.append(i)
                q0s.append(q0)
        return torch.tensor(ts, device=dev), torch.tensor(q0s, device=dev)


def time_ms(fn):
    return do_bench(fn, warmup=5, rep=25)


def main(out):
    torch.manual_seed(0)
    kc = torch.randn(1 << 20, M.KVH, M.HD, device=dev).to(M.DT)  # 65536 blocks, 2 GiB each for K and V
    vc = torch.randn_like(kc)
    res = dict(prefill_candidates=[], decode_candidates=[], decode_splits_timings={})
    # prefill: one 2048-token first chunk, and a 512-token chunk over 1536 cached keys
    pb = [Batch([(2048, 2048)], kc), Batch([(512, 2048)], kc)]
    best = None
    for bq, bn, w, st in [(32, 64, 4, 2), (32, 64, 4, 3), (32, 32, 4, 3), (32, 128, 4, 2), (32, 64, 8, 3),
                          (64, 64, 4, 2), (64, 64, 8, 3), (64, 128, 8, 2), (128, 64, 8, 3),
                          (128, 128, 8, 2)]:
        try:
            t = 0.0
            for b in pb:
                ts, q0 = b.tiles(bq)
                t += time_ms(lambda b=b, ts=ts, q0=q0: K.paged_attention(
                    b.q, kc, vc, b.out, b.bt, b.seq_slot, b.seq_len, b.q_start, ts, q0, len(ts), M.QH, M.KVH, M.HD,
                    M.BLOCK, bq, block_n=bn, num_warps=w, num_stages=st))
        except Exception as e:  # noqa: BLE001 - a config that does not compile or fit is skipped
            res["prefill_candidates"].append(dict(block_q=bq, block_n=bn, num_warps=w, num_stages=st, error=str(e)[:200]))
            continue
        res["prefill_candidates"].append(dict(block_q=bq, block_n=bn, num_warps=w, num_stages=st, ms=t))
        print("prefill", bq, bn, w, st, f"{t:.4f} ms", flush=True)
        if best is None or t < best[0]:
            best = (t, dict(block_q=bq, block_n=bn, num_warps=w, num_stages=st))
    prefill_cfg = best[1]
    bufs = K.AttnBuffers(256, M.QH, M.HD, 16, dev)

    def decode_fn(b, splits, block_n, num_warps, num_stages):
        ts, q0 = b.tiles(1)
        return lambda: K.paged_attention(b.q, kc, vc, b.out, b.bt, b.seq_slot, b.seq_len, b.q_start, ts, q0, len(ts),
                                         M.QH, M.KVH, M.HD, M.BLOCK, 1, splits=splits, bufs=bufs,
                                         combine_tokens=b.T if splits > 1 else 0, block_n=block_n, num_warps=num_warps,
                                         num_stages=num_stages)
    db = [Batch([(1, 512)] * 32, kc), Batch([(1, 4096)] * 32, kc)]
    best = None
    for bn, w, st in [(64, 4, 2), (64, 4, 3), (128, 4, 2), (128, 8, 2)]:
        try:
            t = sum(time_ms(decode_fn(b, M.decode_splits(32), bn, w, st)) for b in db)
        except Exception as e:  # noqa: BLE001
            res["decode_candidates"].append(dict(block_n=bn, num_warps=w, num_stages=st, error=str(e)[:200]))
            continue
        res["decode_candidates"].append(dict(block_n=bn, num_warps=w, num_stages=st, ms=t))
        print("decode", bn, w, st, f"{t:.4f} ms", flush=True)
        if best is None or t < best[0]:
            best = (t, dict(block_n=bn, num_warps=w, num_stages=st))
    decode_cfg = best[1]
    splits = {}
    for bp in M.DECODE_SIZES:
        bs = [Batch([(1, 512)] * bp, kc), Batch([(1, 4096)] * bp, kc)]
        ts = {}
        for s in [1, 2, 4, 8, 16]:
            ts[s] = sum(time_ms(decode_fn(b, s, **decode_cfg)) for b in bs)
        splits[str(bp)] = min(ts, key=ts.get)
        res["decode_splits_timings"][str(bp)] = ts
        print("splits", bp, splits[str(bp)], {k: round(v, 4) for k, v in ts.items()}, flush=True)
    res["tuning"] = dict(prefill=prefill_cfg, decode=decode_cfg, decode_splits=splits)
    res["method"] = ("triton.testing.do_bench (warmup 5, rep 25 ms) per candidate; prefill: sum over a 2048-token first "
                     "chunk and a 512-token chunk over 1536 cached keys; decode: 32 sequences at contexts 512 and 4096; "
                     "splits: each decode graph size at contexts 512 and 4096")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
