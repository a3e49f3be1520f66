"""Designed probe of the prefill attention launch's waves (not a workload run):
the paged attention kernel's prefill launch timed exactly as opprofile.py times
attention.csv's prefill rows, but at chunks between that grid's points (on both
sides of where the launch's thread blocks overflow one wave of the GPU's
resident blocks) and for launches of several prefills, plus the compiled
kernel's registers and shared memory (what sets how many of its blocks an SM
holds). The launch model that servesim fits on attention.csv's grid is scored
on these points; none of them enters a fit.

Usage (from profiles/tools/gpu): python3 -m refengine.waveprobe OUT.json --tuning TUNING.json
"""
import argparse
import json
import time

import torch

import profile_qwen3 as PQ

from . import kernels as K
from . import model as M
from .tune import Batch

dev = "cuda"

SINGLE_KV = [0, 1024, 2048, 4096, 6144]
SINGLE_CHUNKS = [96, 320, 768, 960, 1024, 1040, 1056, 1072, 1088, 1152, 1216, 1280, 1408, 1536, 1792, 2048, 2080, 2112,
                 2176, 2560, 3072]
MULTI = [
    [(512, 0), (512, 0)],
    [(1024, 0), (1024, 0)],
    [(256, 2048), (256, 2048), (256, 2048), (256, 2048)],
    [(1024, 2048), (256, 0)],
    [(1536, 4096), (512, 0)],
    [(128, 0)] * 8,
    [(700, 1000), (300, 3000), (48, 0)],
    [(1800, 0), (200, 6000)],
]


def kernel_resources():
    """Registers per thread, shared memory per block and warps of every compiled variant of the attention kernel."""
    out = []
    try:
        for _, caches in K._paged_attn_kernel.device_caches.items():
            for key, k in caches[0].items():
                md = k.metadata
                out.append(dict(n_regs=int(k.n_regs), n_spills=int(k.n_spills), shared=int(md.shared),
                                num_warps=int(md.num_warps), num_stages=int(md.num_stages), key=str(key)[:300]))
    except Exception as e:  # the probe's timings stand without it
        out.append(dict(error=repr(e)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    a = ap.parse_args()
    tuning = M.load_tuning(a.tuning)
    pcfg = dict(tuning["prefill"])
    pbq = pcfg.pop("block_q")
    torch.manual_seed(0)
    kc = torch.randn(1 << 21, M.KVH, M.HD, device=dev).to(M.DT)
    vc = torch.randn(1 << 21, M.KVH, M.HD, device=dev).to(M.DT)
    t0 = time.time()

    def time_launch(cases):
        b = [Batch([(c, c + kv) for c, kv in cases], kc) for _ in range(2)]
        tiles = [bb.tiles(pbq) for bb in b]
        return PQ.bench([lambda i=i: K.paged_attention(b[i].q, kc, vc, b[i].out, b[i].bt, b[i].seq_slot, b[i].seq_len,
                                                       b[i].q_start, tiles[i][0], tiles[i][1], len(tiles[i][0]), M.QH,
                                                       M.KVH, M.HD, M.BLOCK, pbq, **pcfg) for i in range(2)])

    rows = []
    for kv in SINGLE_KV:
        for c in SINGLE_CHUNKS:
            rows.append(dict(prefills=[[c, kv]], t=time_launch([(c, kv)])))
        print(f"single prefills over kv {kv} done ({time.time() - t0:.0f} s)", flush=True)
    for cases in MULTI:
        rows.append(dict(prefills=[list(x) for x in cases], t=time_launch(cases)))
    props = torch.cuda.get_device_properties(0)
    res = dict(method="each launch captured REPS times in a CUDA graph over copies of its inputs (opprofile.py's "
                      "method), median per-call ms over TRIALS replays; chunks between attention.csv's grid points and "
                      "launches of several prefills",
               block_q=pbq, config=pcfg, device=torch.cuda.get_device_name(0), sms=props.multi_processor_count,
               shared_per_sm=getattr(props, "shared_memory_per_multiprocessor", None),
               regs_per_sm=getattr(props, "regs_per_multiprocessor", None),
               kernel=kernel_resources(), rows=rows)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"wave probe: {len(rows)} launches in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
