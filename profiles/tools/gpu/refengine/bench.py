"""The reference engine's speed against the physical floor (raw results as
JSON; bench/gpu/ENGINE tooling renders ENGINE.md from them).

Measures on this GPU: device-to-device copy bandwidth (bytes read + written)
and the bf16 matrix-product rate, the ceilings the floors use; then decode
steps at batch x context through the engine's own loop (scheduler, input
preparation, graph replay, one synchronisation per step, asynchronous one
step ahead), prefills of 512, 2k and 8k tokens from idle, each with GPU time
(CUDA events) and wall time (host included).

Usage (from profiles/tools/gpu): python3 -m refengine.bench OUT.json [--quick]
"""
import argparse
import json
import statistics
import time

import torch

from . import engine as EN
from . import model as M
from . import sched as S

WEIGHT_BYTES = (M.LAYERS * ((M.QW + 2 * M.KW) * M.E + M.E * M.QW + 2 * M.FF * M.E + M.E * M.FF) + M.V * M.E) * 2
LINEAR_PARAMS = M.LAYERS * ((M.QW + 2 * M.KW) * M.E + M.E * M.QW + 2 * M.FF * M.E + M.E * M.FF)
KV_BYTES_PER_TOKEN = M.LAYERS * 2 * M.KW * 2


def ceilings():
    n = 1 << 30  # 2 GiB of bf16
    x = torch.empty(n, device="cuda", dtype=torch.bfloat16).normal_()
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    torch.cuda.synchronize()
    ts = []
    for _ in range(10):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        y.copy_(x)
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    bw = 2 * n * 2 / (statistics.median(ts) / 1e3)
    del x, y
    a_ = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b_ = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a_ @ b_
    torch.cuda.synchronize()
    ts = []
    for _ in range(10):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        a_ @ b_
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    rate = 2 * 8192 ** 3 / (statistics.median(ts) / 1e3)
    del a_, b_
    torch.cuda.empty_cache()
    return dict(hbm_copy_bytes_per_s=bw, bf16_matmul_flops_per_s=rate)


def decode_floor(b, ctx, cl):
    mem = (WEIGHT_BYTES + b * ctx * KV_BYTES_PER_TOKEN) / cl["hbm_copy_bytes_per_s"]
    flops = 2 * (LINEAR_PARAMS + M.V * M.E) * b + 4 * b * ctx * M.HD * M.QH * M.LAYERS
    return dict(memory_ms=mem * 1e3, compute_ms=flops / cl["bf16_matmul_flops_per_s"] * 1e3,
                floor_ms=max(mem, flops / cl["bf16_matmul_flops_per_s"]) * 1e3, bytes=WEIGHT_BYTES + b * ctx * KV_BYTES_PER_TOKEN)


def prefill_floor(n, cl):
    flops = 2 * LINEAR_PARAMS * n + 2 * M.V * M.E + 2 * n * n * M.HD * M.QH * M.LAYERS
    mem = (WEIGHT_BYTES + n * KV_BYTES_PER_TOKEN) / cl["hbm_copy_bytes_per_s"]
    comp = flops / cl["bf16_matmul_flops_per_s"]
    return dict(compute_ms=comp * 1e3, memory_ms=mem * 1e3, floor_ms=max(comp, mem) * 1e3, flops=flops)


def steady_decode(eng, b, ctx, nsteps):
    """b sequences already at context ctx-1 (KV present), decoding nsteps tokens each."""
    return steady_decode_ctxs(eng, [ctx] * b, nsteps)


def preload_decodes(eng, sch, ctxs, nsteps, first_id=0):
    """Requests running in sch, one per entry of ctxs (ids from first_id), already at that context - 1 (KV
    present), to decode nsteps tokens each; returns them."""
    m = eng.model
    reqs = S.preload_running(sch, ctxs, nsteps, first_id)
    for r in reqs:
        sl = eng.runner.slot_for(r)
        m.bt[sl, : len(r.blocks)] = torch.tensor(r.blocks, device="cuda")
    return reqs


def steady_decode_ctxs(eng, ctxs, nsteps):
    """One sequence per entry of ctxs, already at that context - 1 (KV present), decoding nsteps tokens each."""
    sch = eng.new_scheduler()
    b = len(ctxs)
    reqs = preload_decodes(eng, sch, ctxs, nsteps)
    times, steps, _ = eng.serve(reqs, sch=sch, realtime=False)
    st = steps[3:]  # steady state
    ends = [s[2] for s in st]
    wall = [(b_ - a_) / 1e6 for a_, b_ in zip(ends, ends[1:])]
    return dict(batch=b, context=round(sum(ctxs) / b), steps=len(st), mode=st[0][5], padded=st[0][6],
                wall_ms=statistics.median(wall), gpu_ms=statistics.median(s[3] for s in st),
                host_ms=statistics.median(s[4] for s in st), host_ms_p90=sorted(s[4] for s in st)[int(0.9 * len(st))])


def prefill(eng, n, reps=5):
    out = []
    for k in range(reps):
        r = S.Request(10_000 + k, 0, n, 1)
        times, steps, _ = eng.serve([r], realtime=False)
        s0, s1, end, gms, hms, kind, size, sh, _ = steps[0]
        out.append(dict(wall_ms=(end - s0) / 1e6, gpu_ms=gms, host_ms=hms, mode=kind, padded=size, steps=len(steps)))
    return dict(tokens=n, mode=out[0]["mode"], padded=out[0]["padded"], steps=out[0]["steps"],
                wall_ms=statistics.median(o["wall_ms"] for o in out), gpu_ms=statistics.median(o["gpu_ms"] for o in out),
                host_ms=statistics.median(o["host_ms"] for o in out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tuning", default="")
    ap.add_argument("--prefill_only", action="store_true")
    a = ap.parse_args()
    tuning = M.load_tuning(a.tuning)
    t0 = time.time()
    cl = ceilings()
    print("ceilings", cl, flush=True)
    model = M.Model(max_tokens=8192, kv_fraction=0.9, tuning=tuning)
    model.capture()
    cap_s = time.time() - t0
    res = dict(ceilings=cl, capture_s=cap_s, tuning=model.tuning, num_blocks=model.num_blocks, decode=[], prefill=[],
               weight_bytes=WEIGHT_BYTES, kv_bytes_per_token=KV_BYTES_PER_TOKEN)
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=256, max_num_batched_tokens=8192))
    EN.warm_up(eng)
    cap_tokens = (model.num_blocks - 1) * S.BLOCK_SIZE
    batches = [1, 32] if a.quick else [1, 8, 32, 128, 256]
    ctxs = [512, 2048] if a.quick else [512, 2048, 8192]
    if a.prefill_only:
        batches = []
    for b in batches:
        for ctx in ctxs:
            if b * (ctx + 40) > cap_tokens:
                res["decode"].append(dict(batch=b, context=ctx, skipped=f"KV of {b * ctx * KV_BYTES_PER_TOKEN / 1e9:.0f} GB "
                                          f"exceeds the {cap_tokens * KV_BYTES_PER_TOKEN / 1e9:.0f} GB pool"))
                continue
            d = steady_decode(eng, b, ctx, 30)
            d.update(floor=decode_floor(b, ctx, cl))
            res["decode"].append(d)
            print("decode", {k: d[k] for k in ("batch", "context", "mode", "padded", "wall_ms", "gpu_ms", "host_ms")},
                  f"floor {d['floor']['floor_ms']:.3f}", flush=True)
    for n in ([512, 2048] if a.quick else [512, 2048, 8192]):
        p = prefill(eng, n)
        p.update(floor=prefill_floor(n, cl))
        res["prefill"].append(p)
        print("prefill", p, flush=True)
    res["seconds"] = time.time() - t0
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
