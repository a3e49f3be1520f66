"""Whole-step GPU times of the engine's decode CUDA graphs across contexts:
for each decode graph size B in the attention profile's batch grid and each
mean context of its context grid, B sequences with contexts spread evenly
over [0.5, 1.5] x the mean (a real batch is never uniform), 15 steady steps
through the engine's own loop, and the same B at a uniform context of 512
(insitu.py's anchor). build_set.py takes decode attention's in-graph growth
with context from these (attn_decode = isolated row at 512 + the graph's
measured change from 512, per layer), so the set's decode steps follow the
graphs as they run rather than the attention kernel timed alone.

Usage (from profiles/tools/gpu): python3 -m refengine.insitu_ctx OUT.json --tuning TUNING.json [--batches 40,56,...]
"""
import argparse
import json
import time

from . import bench as B
from . import engine as EN

BATCHES = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256]
CONTEXTS = [64, 128, 256, 512, 1024, 2048, 4096, 8192]
STEPS = 15


def spread(b, mean):
    if b == 1:
        return [mean]
    return [max(2, round(mean * (0.5 + i / (b - 1)))) for i in range(b)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--batches", default="", help="comma-separated decode graph sizes (default: the attention "
                    "profile's batch grid); a fill of the grid is merged by merge_rows.py")
    ap.add_argument("--contexts", default="", help="comma-separated mean contexts (default: the attention profile's "
                    "context grid); contexts under its first are merged by build_set.py as insitu_ctx_short.json")
    a = ap.parse_args()
    batches = [int(b) for b in a.batches.split(",")] if a.batches else BATCHES
    contexts = [int(c) for c in a.contexts.split(",")] if a.contexts else CONTEXTS
    t0 = time.time()
    model, eng = EN.probe_engine(a.tuning)
    cap = model.num_blocks * 16 * 0.9
    res = dict(method=f"median GPU time (CUDA events) of {STEPS - 3} steady decode steps per point; contexts spread "
               "evenly over [0.5, 1.5] x the mean", uniform512={}, spread={}, skipped=[])
    for b in batches:
        d = B.steady_decode(eng, b, 512, STEPS)
        assert d["mode"] == "graph" and d["padded"] == b, d
        res["uniform512"][str(b)] = d["gpu_ms"]
        res["spread"][str(b)] = {}
        for c in contexts:
            ctxs = spread(b, c)
            if sum(ctxs) + b * (STEPS + 1) > cap or max(ctxs) + STEPS + 1 > model.maxb * 16:
                res["skipped"].append([b, c])
                continue
            d = B.steady_decode_ctxs(eng, ctxs, STEPS)
            assert d["mode"] == "graph" and d["padded"] == b, d
            res["spread"][str(b)][str(c)] = d["gpu_ms"]
        print(b, res["uniform512"][str(b)], res["spread"][str(b)], f"{time.time() - t0:.0f} s", flush=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
