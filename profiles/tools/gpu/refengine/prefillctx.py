"""Designed probe of prefill chunks over cached context in the engine's graphs
(not a workload run). attention.csv's attn_prefill rows time the prefill
launch alone, rotating over two copies of its inputs, so a chunk's keys that
the cache holds may be read from the L2; in a step every layer reads its own
cached keys. For each chunk size c, one prompt of about 8k tokens is served
alone in chunks of c (Sarathi, chunk c, one sequence), so its steps are the
chunk over 0, c, 2c, ... cached tokens, each in the mixed graph of c tokens
(eagerly above the largest); each step's GPU time and shape is a row.
build_set.py takes prefill attention's in-graph growth with cached context
from the chunk sizes that are mixed-graph sizes; the others (OFF_GRID) are
kept for scoring only.

With --top 16384 --above 8192 it extends the probe past the first grid's
8192 cached tokens (the prompt served alone up to 16k cached tokens; only the
steps over more than 8192 are kept: prefillctx_fill.json, which build_set.py
merges for the cached sizes prefillctx.json lacks).

Usage (from profiles/tools/gpu): python3 -m refengine.prefillctx OUT.json --tuning TUNING.json [--top N --above M]
"""
import argparse
import json
import time

import torch

from . import engine as EN
from . import model as M
from . import sched as S

CHUNKS = [16, 32, 64, 128, 256, 512, 1024, 2048]
OFF_GRID = [48, 100, 384, 700]
TOP = 8192  # the longest cached context of a prompt (attention.csv's first grid ended there)
REPS = 3


def run_chunk(model, c, rid, top=TOP):
    eng = EN.Engine(model, "sarathi", dict(chunk_size=c, batch_cap=1))
    n = (top // c + 1) * c  # the last chunk runs over top cached tokens (at least)
    r = S.Request(rid, 0, n, 1)
    _, steps, _ = eng.serve([r], realtime=False)
    rows = []
    for s in steps:
        kind, padded, shape = s[5], s[6], s[7]
        if shape["num_prefills"] != 1 or shape["num_decodes"] != 0:
            continue
        chunk, start = (int(x) for x in shape["prefill_chunks"].split(":"))
        rows.append(dict(chunk=chunk, cached=start, mode=kind, padded=padded, gpu_ms=s[3]))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--top", type=int, default=TOP, help="the longest cached context the prompt reaches")
    ap.add_argument("--above", type=int, default=-1, help="keep only the steps over more cached tokens than this")
    a = ap.parse_args()
    t0 = time.time()
    blocks = (a.top + max(CHUNKS + OFF_GRID)) // M.BLOCK + 2
    model, _ = EN.probe_engine(a.tuning, max_blocks_per_seq=max(1024, blocks))
    rows = []
    rid = 0
    for rep in range(REPS):
        for c in CHUNKS + OFF_GRID:
            rid += 1
            for r in run_chunk(model, c, rid, a.top):
                if r["cached"] <= a.above:
                    continue
                r.update(size=c, rep=rep, grid=c in CHUNKS)
                rows.append(r)
        print(rep, f"{time.time() - t0:.0f} s", flush=True)
    kept = f"; only the steps over more than {a.above} cached tokens" if a.above >= 0 else ""
    res = dict(method=f"GPU time (CUDA events) of each step of one ~{a.top // 1024}k-token prompt served alone in "
                      "chunks of c (Sarathi, chunk c, one sequence): the chunk over 0, c, 2c, ... cached tokens"
                      f"{kept}; {REPS} repetitions; grid false: chunk sizes kept out of the build, for scoring",
               layers=M.LAYERS, device=torch.cuda.get_device_name(0), top=a.top, above=a.above, rows=rows)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"prefill context probe: {len(rows)} steps in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
