"""GPU correctness checks of the reference engine (run on the device machine):
every Triton kernel against its PyTorch reference, the paged attention on
mixed batches with split-K, and the whole model (CUDA graphs and eager)
against a dense PyTorch forward of the same weights.

Usage (from profiles/tools/gpu): python3 -m refengine.gpu_check
Exit status 1 if any check fails.
"""
import sys

import torch
import torch.nn.functional as F

from . import kernels as K
from . import model as M
from . import sched as S
from .engine import Engine

dev = "cuda"
FAILS = []


def check(name, got, want, atol, rtol=0.0):
    err = (got.float() - want.float()).abs()
    tol = atol + rtol * want.float().abs()
    bad = (err > tol).sum().item()
    print(f"{'ok ' if bad == 0 else 'BAD'} {name}: max err {err.max().item():.3g} ({bad} over tolerance)", flush=True)
    if bad:
        FAILS.append(name)


def kernels():
    torch.manual_seed(1)
    for T in [1, 7, 300]:
        x = torch.randn(T, M.E, device=dev).to(M.DT)
        r = torch.randn(T, M.E, device=dev).to(M.DT)
        w = (1 + 0.1 * torch.randn(M.E, device=dev)).to(M.DT)
        r1, r2 = r.clone(), r.clone()
        check(f"add_rmsnorm T={T}", K.add_rmsnorm(x, r1, w, M.EPS), K.add_rmsnorm_ref(x, r2, w, M.EPS), 3e-2, 2e-2)
        check(f"add_rmsnorm residual T={T}", r1, r2, 1e-2, 1e-2)
        check(f"rmsnorm T={T}", K.add_rmsnorm(x, None, w, M.EPS), K.add_rmsnorm_ref(x, None, w, M.EPS), 3e-2, 2e-2)
        cos, sin = K.rope_tables(4096, M.HD, M.THETA, dev)
        qkv = torch.randn(T, M.QW + 2 * M.KW, device=dev).to(M.DT)
        pos = torch.randint(0, 4096, (T,), device=dev)
        qn, kn = (1 + 0.1 * torch.randn(M.HD, device=dev)).to(M.DT), (1 + 0.1 * torch.randn(M.HD, device=dev)).to(M.DT)
        a, b = qkv.clone(), qkv.clone()
        K.qknorm_rope(a, pos, cos, sin, qn, kn, M.EPS, M.QH, M.KVH, M.HD)
        K.qknorm_rope_ref(b, pos, cos, sin, qn, kn, M.EPS, M.QH, M.KVH, M.HD)
        check(f"qknorm_rope T={T}", a, b, 3e-2, 2e-2)
        kc, vc = torch.zeros(2, 5000, M.KVH, M.HD, device=dev, dtype=M.DT)
        kc2, vc2 = kc.clone(), vc.clone()
        slots = torch.randperm(5000, device=dev)[:T]
        if T > 1:
            slots[0] = -1
        K.kv_write(qkv, slots, kc, vc, M.QW, M.KW)
        K.kv_write_ref(qkv, slots, kc2, vc2, M.QW, M.KW)
        check(f"kv_write T={T}", torch.cat([kc, vc]), torch.cat([kc2, vc2]), 0.0)
        gu = torch.randn(T, 2 * M.FF, device=dev).to(M.DT)
        check(f"silu_mul T={T}", K.silu_mul(gu), K.silu_mul_ref(gu), 2e-2, 2e-2)


def attention():
    torch.manual_seed(2)
    nblocks, maxb = 4000, 512
    kc = torch.randn(nblocks * M.BLOCK, M.KVH, M.HD, device=dev).to(M.DT)
    vc = torch.randn(nblocks * M.BLOCK, M.KVH, M.HD, device=dev).to(M.DT)
    # (query length, total keys): decodes, a first chunk, a chunk over a cached prefix, a long decode
    cases = [(1, 1), (1, 37), (1, 700), (5, 5), (64, 64), (100, 611), (1, 3000), (33, 2000)]
    perm = torch.randperm(nblocks - 1, device=dev) + 1
    bt = torch.zeros(len(cases) + 1, maxb, device=dev, dtype=torch.int64)
    used = 0
    for i, (_, L) in enumerate(cases):
        nb = S.cdiv(L, M.BLOCK)
        bt[i, :nb] = perm[used:used + nb]
        used += nb
    qlens = [c[0] for c in cases]
    T = sum(qlens)
    q_start = torch.tensor([0] + list(torch.tensor(qlens).cumsum(0)), device=dev)
    seq_len = torch.tensor([c[1] for c in cases], device=dev)
    seq_slot = torch.arange(len(cases), device=dev)
    q = torch.randn(T, M.QW + 2 * M.KW, device=dev).to(M.DT)
    want = K.paged_attention_ref(q, kc, vc, bt, seq_slot, seq_len, q_start, len(cases), M.QH, M.KVH, M.HD, M.BLOCK)
    dec = [i for i, c in enumerate(cases) if c[0] == 1]
    pre = [i for i, c in enumerate(cases) if c[0] > 1]
    bufs = K.AttnBuffers(T, M.QH, M.HD, dev)

    def decode_launch(out, part_min, bound, block_n=128, num_warps=4, num_stages=2):
        lens = [cases[i][1] for i in dec]
        plen, items, nps = K.decode_work(lens, bound, part_min, block_n)
        ts = torch.tensor([dec[i] for i, _ in items] + [-1, -1], device=dev)  # two padded items
        parts = torch.tensor([j for _, j in items] + [0, 0], device=dev)
        dnp = torch.zeros(T, device=dev, dtype=torch.int64)
        for k, i in enumerate(dec):
            dnp[int(q_start[i])] = nps[k]
        K.paged_attention(q, kc, vc, out, bt, seq_slot, seq_len, q_start, ts, torch.zeros_like(ts), len(ts), M.QH, M.KVH,
                          M.HD, M.BLOCK, 1, tile_part=parts, part_len=torch.tensor([plen], device=dev), bufs=bufs,
                          combine_tokens=T, num_parts=dnp, block_n=block_n, num_warps=num_warps, num_stages=num_stages)
        return plen, len(items)

    drows = torch.tensor([int(q_start[i]) for i in dec], device=dev)
    # every launch configuration tune.py may choose
    for bq, bn, w, st in [(32, 64, 4, 2), (32, 64, 4, 3), (32, 32, 4, 3), (32, 128, 4, 2), (32, 64, 8, 3), (64, 64, 4, 2),
                          (64, 64, 8, 3), (64, 128, 8, 2), (128, 64, 8, 3), (128, 128, 8, 2)]:
        ts, q0s = [], []
        for i in pre:
            for q0 in reversed(range(0, cases[i][0], bq)):
                ts.append(i)
                q0s.append(q0)
        out = want.clone()
        out[torch.cat([torch.arange(int(q_start[i]), int(q_start[i + 1]), device=dev) for i in pre])] = 0
        K.paged_attention(q, kc, vc, out, bt, seq_slot, seq_len, q_start, torch.tensor(ts, device=dev),
                          torch.tensor(q0s, device=dev), len(ts), M.QH, M.KVH, M.HD, M.BLOCK, bq, block_n=bn,
                          num_warps=w, num_stages=st)
        check(f"paged_attention prefill block_q={bq} block_n={bn} warps={w} stages={st}", out, want, 2e-2, 2e-2)
    for bn, w, st in [(64, 4, 2), (64, 4, 3), (128, 4, 2), (128, 8, 2)]:
        for part_min, bound in [(64, 80), (256, 80), (128, 12), (64, 400)]:
            out = torch.zeros_like(want)
            plen, n = decode_launch(out, part_min, bound, bn, w, st)
            check(f"paged_attention decode block_n={bn} warps={w} stages={st} part_min={part_min} bound={bound} "
                  f"(partitions of {plen} keys, {n} items)", out[drows], want[drows], 2e-2, 2e-2)
    # a mixed launch as a mixed graph runs it: decode (partitioned, combined) then prefill
    out = torch.zeros_like(want)
    decode_launch(out, 256, 80)
    ts, q0s = [], []
    for i in pre:
        for q0 in reversed(range(0, cases[i][0], 32)):
            ts.append(i)
            q0s.append(q0)
    ps = torch.tensor(ts + [-1], device=dev)
    K.paged_attention(q, kc, vc, out, bt, seq_slot, seq_len, q_start, ps, torch.tensor(q0s + [0], device=dev), len(ps),
                      M.QH, M.KVH, M.HD, M.BLOCK, 32)
    check("paged_attention mixed (decode then prefill launch)", out, want, 2e-2, 2e-2)


class Dense:
    """The same weights, a plain dense PyTorch forward (HF Qwen3 semantics)."""

    def __init__(self, m):
        self.m = m

    def logits(self, ids):
        m = self.m
        T = len(ids)
        x = F.embedding(torch.tensor(ids, device=dev), m.wemb)
        pos = torch.arange(T, device=dev)
        c, s = m.cos[pos].unsqueeze(1), m.sin[pos].unsqueeze(1)

        def rope(t):
            h = M.HD // 2
            t1, t2 = t[..., :h].float(), t[..., h:].float()
            return torch.cat([t1 * c - t2 * s, t2 * c + t1 * s], -1).to(M.DT)
        for L in m.layers:
            h = F.rms_norm(x.float(), (M.E,), L["ln1"].float(), M.EPS).to(M.DT)
            qkv = F.linear(h, L["wqkv"])
            qq, kk, vv = qkv.split([M.QW, M.KW, M.KW], -1)
            qq = F.rms_norm(qq.reshape(T, M.QH, M.HD).float(), (M.HD,), L["qn"].float(), M.EPS).to(M.DT)
            kk = F.rms_norm(kk.reshape(T, M.KVH, M.HD).float(), (M.HD,), L["kn"].float(), M.EPS).to(M.DT)
            qq, kk = rope(qq), rope(kk)
            vv = vv.reshape(T, M.KVH, M.HD)
            o = F.scaled_dot_product_attention(qq.transpose(0, 1).unsqueeze(0), kk.transpose(0, 1).unsqueeze(0),
                                               vv.transpose(0, 1).unsqueeze(0), is_causal=True, enable_gqa=True)
            x = x + F.linear(o.squeeze(0).transpose(0, 1).reshape(T, M.QW), L["wo"])
            h = F.rms_norm(x.float(), (M.E,), L["ln2"].float(), M.EPS).to(M.DT)
            g, u = F.linear(h, L["wup"]).float().chunk(2, -1)
            x = x + F.linear((F.silu(g) * u).to(M.DT), L["wdown"])
        h = F.rms_norm(x.float(), (M.E,), m.lnf.float(), M.EPS).to(M.DT)
        return F.linear(h, m.wemb).float()


def model_end_to_end():
    """Requests through the engine (graphs, then eagerly) vs the dense forward's greedy tokens."""
    for eager in [False, True]:
        m = M.Model(num_blocks=3000, max_slots=64, max_tokens=4096)
        if not eager:
            m.capture(decode_sizes=[1, 2, 4, 8], mixed_sizes=[64, 128, 256, 512])
        eng = Engine(m, "vllm_v1", dict(max_num_seqs=8, max_num_batched_tokens=256))
        reqs = [S.Request(i, 0, p, d) for i, (p, d) in enumerate([(5, 6), (40, 5), (300, 4), (17, 7)])]
        # capture the tokens each step samples: read the token buffer after each step
        got = {r.id: [] for r in reqs}
        sch = eng.new_scheduler()
        for r in reqs:
            sch.add(r)
        while sch.has_work():
            st = sch.schedule()
            eng.runner.launch(st)
            torch.cuda.synchronize()
            for s in st.seqs:
                if s.samples:
                    got[s.req.id].append(int(m.tok[s.req.slot]))
                if s.finishes:
                    sch.release(s.req)
                    eng.runner.free_slot(s.req)
        dense = Dense(m)
        worst = 0.0
        agree = total = 0
        for r in reqs:
            ids = [(r.id * 7919 + p) % M.V for p in range(r.P)]
            for k, t in enumerate(got[r.id]):
                lg = dense.logits(ids)[-1]
                gap = (lg.max() - lg[t]).item()
                worst = max(worst, gap)
                agree += int(lg.argmax().item() == t)
                total += 1
                ids.append(t)
        name = "model eager" if eager else "model graphs"
        ok = worst < 0.1
        print(f"{'ok ' if ok else 'BAD'} {name}: {agree}/{total} greedy tokens identical to the dense forward; "
              f"worst logit gap of the chosen token {worst:.3g}", flush=True)
        if not ok:
            FAILS.append(name)
        del m, eng
        torch.cuda.empty_cache()


def main():
    kernels()
    attention()
    model_end_to_end()
    if FAILS:
        print("FAILED:", ", ".join(FAILS))
        sys.exit(1)
    print("all GPU checks passed")


if __name__ == "__main__":
    main()
