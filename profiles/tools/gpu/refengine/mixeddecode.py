"""Designed probe of the decode launch inside the mixed CUDA graphs (not a
workload run). A mixed graph of S tokens (S <= 256: S sequences; larger: 256)
launches decode attention with the work-item bound of its sequence bound
(kernels.decode_bound) and a combine pass over all of it, whatever decodes a
step holds: a different launch from the decode graph of the decodes' own
padded size, which is what attention.csv's attn_decode rows time. For each
mixed sequence bound (graphs 64, 128, 192 and 256, the last standing for
every larger graph, which shares its decode launch), k decoding sequences with
contexts spread evenly over [0.5, 1.5] x the mean (as insitu_ctx.py spreads
them) run steady steps through the engine's own loop, planned into that mixed
graph with no prefill tokens; the same graph replayed with no sequences at
all is the baseline. A point's in-graph decode cost is its median step GPU
time less the baseline's: the decode attention, its combine pass and its
tokens' KV writes, every other op of the graph running at the padded size in
both. build_set.py turns the points into engine.json's mixed_decode rows (per
layer).

With --contexts 12288,16384 it probes only those mean contexts (an extension
past the first grid's 8192: mixeddecode_fill.json, which build_set.py merges
for the points mixeddecode.json lacks).

Usage (from profiles/tools/gpu): python3 -m refengine.mixeddecode OUT.json --tuning TUNING.json [--contexts C,...]
"""
import argparse
import json
import statistics
import time

import torch

from . import bench as B
from . import engine as EN
from . import model as M

GRAPHS = [64, 128, 192, 256]
DECODES = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224]
CONTEXTS = [64, 128, 256, 512, 1024, 2048, 4096, 8192]
STEPS = 15
REPS = 2


def spread(b, mean):
    if b == 1:
        return [mean]
    return [max(2, round(mean * (0.5 + i / (b - 1)))) for i in range(b)]


def decodes_for(size):
    """Decode counts a mixed graph of size tokens can hold beside at least one prefill token."""
    top = min(size, 256) - 1
    return [k for k in DECODES if k < top] + [top]


def forced_plan(runner, plan, size):
    """runner's plan with decode-only steps planned into the mixed graph of size tokens."""
    def f(step):
        if all(s.n == 1 for s in step.seqs):
            g, lay = runner.m.graphs[("mixed", size)]
            return "graph_mixed", size, lay, g
        return plan(step)
    return f


def empty_ms(model, size, reps=30):
    """Median GPU time of the mixed graph of size tokens replayed with no sequences (every field padding),
    timed as the engine times a step: the inputs' copy, then the replay."""
    g, lay = model.graphs[("mixed", size)]
    model.fill_padding(lay)
    pinned = torch.empty(lay.total, dtype=torch.int64, pin_memory=True)
    pinned.copy_(model.meta[: lay.total])
    ts = []
    for _ in range(reps):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        model.meta[: lay.total].copy_(pinned, non_blocking=True)
        g.replay()
        e1.record()
        e1.synchronize()
        ts.append(e0.elapsed_time(e1))
    return statistics.median(ts[5:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--contexts", default="", help="comma-separated mean contexts to probe instead of CONTEXTS")
    a = ap.parse_args()
    t0 = time.time()
    contexts = [int(c) for c in a.contexts.split(",")] if a.contexts else CONTEXTS
    # the longest spread context (1.5 x the mean) and the steps after it, in blocks
    blocks = (3 * max(contexts) // 2 + STEPS + 2) // M.BLOCK + 2
    model, eng = EN.probe_engine(a.tuning, max_blocks_per_seq=max(1024, blocks))
    cap = model.num_blocks * 16 * 0.9
    plan = eng.runner.plan
    res = dict(method=f"median GPU time (CUDA events) of {STEPS - 3} steady decode-only steps per point planned into "
               "the mixed graph, contexts spread evenly over [0.5, 1.5] x the mean, less the graph replayed with no "
               f"sequences (median of 25 replays); {REPS} repetitions per point", layers=M.LAYERS, graphs={},
               skipped=[])
    for size in GRAPHS:
        eng.runner.plan = forced_plan(eng.runner, plan, size)
        rows = []
        for rep in range(REPS):
            base = empty_ms(model, size)
            for k in decodes_for(size):
                for c in contexts:
                    ctxs = spread(k, c)
                    if sum(ctxs) + k * (STEPS + 1) > cap or max(ctxs) + STEPS + 1 > model.maxb * 16:
                        if rep == 0:
                            res["skipped"].append([size, k, c])
                        continue
                    d = B.steady_decode_ctxs(eng, ctxs, STEPS)
                    assert d["mode"] == "graph_mixed" and d["padded"] == size, d
                    rows.append(dict(rep=rep, decodes=k, context=c, gpu_ms=d["gpu_ms"], empty_ms=base))
            print(size, rep, f"empty {base:.3f} ms", f"{time.time() - t0:.0f} s", flush=True)
        res["graphs"][str(size)] = rows
    eng.runner.plan = plan
    res["device"] = torch.cuda.get_device_name(0)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"mixed decode probe: {sum(len(r) for r in res['graphs'].values())} points in {time.time() - t0:.0f} s",
          flush=True)


if __name__ == "__main__":
    main()
