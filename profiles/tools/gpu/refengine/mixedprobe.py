"""Designed probe of the mixed CUDA graphs holding decodes (not a workload run):
insitu.py times each mixed graph with one fresh prefill filling it and no
decodes; a real mixed step also carries decodes, and its prefill chunk often
attends to cached context. For mixed graph sizes S, k decoding sequences at
context c and one prompt of 4 x (S - k) tokens, vLLM V1 scheduling with an
S-token budget runs steps of exactly k decodes plus an (S - k)-token chunk
(over 0, 1, 2, 3 chunks of cached context): each step's GPU time and shape
is a row, for scoring and modelling the mixed graphs' decodes.

Usage (from profiles/tools/gpu): python3 -m refengine.mixedprobe OUT.json --tuning TUNING.json
"""
import argparse
import json
import time

import torch

from . import bench as B
from . import engine as EN
from . import sched as S

SIZES = [256, 512, 1024, 2048]
DECODES = [0, 4, 8, 16, 32, 64]
CONTEXTS = [512, 2048]


def run_point(model, size, k, c):
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=k + 1, max_num_batched_tokens=size))
    sch = eng.new_scheduler()
    chunk = size - k
    nsteps = 8  # the prompt's 4 chunks, and some to spare
    reqs = B.preload_decodes(eng, sch, [c] * k, nsteps)
    p = S.Request(10_000, 0, 4 * chunk, 1)
    sch.add(p)
    reqs.append(p)
    _, steps, _ = eng.serve(reqs, sch=sch, realtime=False)
    rows = []
    for s in steps:
        kind, padded, shape = s[5], s[6], s[7]
        if kind != "graph_mixed" or shape["num_prefills"] != 1:
            continue
        n, start = (int(x) for x in shape["prefill_chunks"].split(":"))
        rows.append(dict(padded=padded, decodes=shape["num_decodes"], decode_ctx_sum=shape["decode_ctx_sum"],
                         decode_ctx_max=shape["decode_ctx_max"], chunk=n, cached=start, gpu_ms=s[3]))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    a = ap.parse_args()
    t0 = time.time()
    model, _ = EN.probe_engine(a.tuning)
    rows = []
    for size in SIZES:
        for k in DECODES:
            for c in CONTEXTS if k else CONTEXTS[:1]:
                for rep in range(3):
                    for r in run_point(model, size, k, c):
                        r.update(size=size, k=k, context=c, rep=rep)
                        rows.append(r)
        print(size, f"{time.time() - t0:.0f} s", flush=True)
    res = dict(method="GPU time (CUDA events) of each mixed-graph step of k decodes at context c (+1 a step) and one "
                      "chunk of a 4-chunk prompt, vLLM V1 scheduling with a budget of the graph's size, 3 repetitions "
                      "per point", device=torch.cuda.get_device_name(0), rows=rows)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"mixed probe: {len(rows)} steps in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
