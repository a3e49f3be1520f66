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
    res = dict(prefill_candidates=[], decode_candidates=[])
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
    bufs = K.AttnBuffers(256, M.QH, M.HD, dev)

    def decode_fn(b, block_n, num_warps, num_stages, part_min, bound):
        lens = [c[1] for c in b.cases]
        plen, items, nps = K.decode_work(lens, bound, part_min, block_n)
        ts = torch.tensor([i for i, _ in items] + [-1] * (bound - len(items)), device=dev)
        parts = torch.tensor([j for _, j in items] + [0] * (bound - len(items)), device=dev)
        dnp = torch.tensor(nps, device=dev)
        pl = torch.tensor([plen], device=dev)
        z = torch.zeros_like(ts)
        return lambda: K.paged_attention(b.q, kc, vc, b.out, b.bt, b.seq_slot, b.seq_len, b.q_start, ts, z, len(ts),
                                         M.QH, M.KVH, M.HD, M.BLOCK, 1, tile_part=parts, part_len=pl, bufs=bufs,
                                         combine_tokens=b.T, num_parts=dnp, block_n=block_n, num_warps=num_warps,
                                         num_stages=num_stages)
    # decode batches as servers see them: contexts spread like conversation prompts (one long), and uniform
    rng = torch.Generator().manual_seed(3)

    def spread(n):
        lens = (torch.exp(torch.randn(n, generator=rng) * 0.8) * 900).clamp(32, 8000).int().tolist()
        lens[0] = 8000
        return [(1, x) for x in lens]
    db = [Batch(spread(8), kc), Batch(spread(32), kc), Batch(spread(128), kc), Batch([(1, 2048)] * 32, kc)]
    best = None
    for bn, w, st in [(64, 4, 2), (64, 4, 3), (128, 4, 2), (128, 8, 2)]:
        for pm in [128, 256, 512]:
            try:
                t = sum(time_ms(decode_fn(b, bn, w, st, pm, K.decode_bound(len(b.cases)))) for b in db)
            except Exception as e:  # noqa: BLE001
                res["decode_candidates"].append(dict(block_n=bn, num_warps=w, num_stages=st, part_min=pm, error=str(e)[:200]))
                continue
            res["decode_candidates"].append(dict(block_n=bn, num_warps=w, num_stages=st, part_min=pm, ms=t))
            print("decode", bn, w, st, pm, f"{t:.4f} ms", flush=True)
            if best is None or t < best[0]:
                best = (t, dict(block_n=bn, num_warps=w, num_stages=st, part_min=pm))
    decode_cfg = best[1]
    res["tuning"] = dict(prefill=prefill_cfg, decode=decode_cfg)
    res["method"] = ("triton.testing.do_bench (warmup 5, rep 25 ms) per candidate; prefill: sum over a 2048-token first "
                     "chunk and a 512-token chunk over 1536 cached keys; decode (partitioned keys): 8, 32 and 128 "
                     "sequences of log-normal contexts (median 900, one of 8000) and 32 of 2048, at each graph's work bound")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
