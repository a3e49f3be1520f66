"""Designed probe of eager steps (not a workload run). A step of more tokens
than the largest mixed CUDA graph (2048) runs eagerly: the host launches every
kernel of its 28 layers from Python, one after another, while the GPU runs
them as they come. A small eager step is bound by that launch, not by its
kernels: its GPU time (CUDA events from before the first launch to after the
last kernel) is the launch time, whatever the kernels cost. For each shape
(one step of T tokens: p prompts of equal length beside d decodes at context
512), the step runs from idle (nothing in flight, so no launch waits on a full
queue behind an earlier step) REPS times; each row is that step's GPU time and
host time (schedule + prepare + launch). build_set.py fits engine.json's
eager_launch on these rows.

Usage (from profiles/tools/gpu): python3 -m refengine.eagerprobe OUT.json --tuning TUNING.json
"""
import argparse
import json
import time

import torch

from . import bench as B
from . import engine as EN
from . import model as M
from . import sched as S

TOKENS = [2112, 2304, 2560, 3072, 3584, 4096, 5120, 6144, 8192]
DECODES = [0, 1, 2, 4, 8, 16, 32, 64]
PROMPTS = [1, 2]
REPS = 3


def eager_step(eng, tokens, decodes, prompts, rid, ctx=512):
    """The first step of prompts fresh prompts sharing tokens - decodes tokens beside decodes preloaded decodes
    at context ctx: (mode, padded, shape, gpu_ms, host_ms)."""
    sch = eng.new_scheduler()
    reqs = B.preload_decodes(eng, sch, [ctx] * decodes, 3) if decodes else []
    n = tokens - decodes
    for i in range(prompts):
        r = S.Request(rid + i, 0, n // prompts + (1 if i < n % prompts else 0), 2)
        sch.add(r)
        reqs.append(r)
    _, steps, _ = eng.serve(reqs, sch=sch, realtime=False)
    s0, s1, end, gms, hms, kind, size, shape, _ = steps[0]
    return kind, size, shape, gms, hms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--decode_ctx", default="512", help="comma-separated decode contexts (each a grid of its own)")
    ap.add_argument("--tokens", default="", help="comma-separated step sizes instead of TOKENS")
    ap.add_argument("--decodes", default="", help="comma-separated decode counts instead of DECODES")
    a = ap.parse_args()
    ctxs = [int(c) for c in a.decode_ctx.split(",")]
    tokens = [int(t) for t in a.tokens.split(",")] if a.tokens else TOKENS
    decodes = [int(d) for d in a.decodes.split(",")] if a.decodes else DECODES
    t0 = time.time()
    model, _ = EN.probe_engine(a.tuning)
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=256, max_num_batched_tokens=max(tokens)))
    rows = []
    rid = 1_000_000
    for rep in range(REPS):
        for c in ctxs:
            for t in tokens:
                for d in decodes:
                    for p in PROMPTS:
                        if c != 512 and d == 0:
                            continue
                        rid += 10
                        kind, size, shape, gms, hms = eager_step(eng, t, d, p, rid, c)
                        rows.append(dict(rep=rep, num_tokens=shape["num_tokens"], num_decodes=shape["num_decodes"],
                                         num_prefills=shape["num_prefills"], decode_ctx=c, mode=kind, padded=size,
                                         gpu_ms=gms, host_ms=hms))
        print(rep, f"{time.time() - t0:.0f} s", flush=True)
    res = dict(method="one step from idle per row: p fresh prompts beside d decodes (context decode_ctx), T tokens in all, "
                      "vLLM V1 with a budget of max(T); GPU time by CUDA events from before the first launch to after "
                      f"the last kernel, host time schedule + prepare + launch; {REPS} repetitions",
               layers=M.LAYERS, device=torch.cuda.get_device_name(0), rows=rows)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"eager probe: {len(rows)} steps in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
