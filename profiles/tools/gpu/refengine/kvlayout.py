"""Designed probe of the decode graphs against where the sequences' KV blocks
lie (not a workload run). Every decode probe (insitu_ctx.py, decodeprobe.py,
mixeddecode.py) preloads its sequences from a fresh pool, so each sequence's
blocks are consecutive ids; in a served run a sequence's decode blocks
interleave with the other sequences' (each takes a block every 16 steps from
one free list), and after requests finish a new one takes the blocks they
freed. The paged attention kernel reads each 64-key tile through the block
table, so the same batch shape may cost more over scattered blocks. For
decode graphs of B sequences at mean contexts c (spread evenly over
[0.5, 1.5] x c, as the set's rows are), this times the same steady decode
steps with the blocks consecutive per sequence, interleaved across the
sequences block by block, and scattered at random over the whole pool.
The held-out step logs put decode graphs of 16 sequences at 1-3k keys 2-3%
slower than the set and than decodeprobe.json at the same shape
(`go run ./bench/gpu/fidelity --step_bias`).

Usage (from profiles/tools/gpu): python3 -m refengine.kvlayout OUT_DIR --tuning TUNING.json
writes OUT_DIR/kvlayout.json (well under a minute of steps on an H200).
"""
import argparse
import json
import os
import random
import statistics
import time

from .mixedbig import spread  # contexts over [0.5, 1.5] x the mean, as every decode probe spreads them

BATCHES = [16, 64, 256]
CONTEXTS = [512, 2048]
LAYOUTS = ["consecutive", "interleaved", "scattered"]
STEPS = 15
REPS = 2


def relayout(pool, reqs, layout, rng):
    """Reassign the blocks reqs hold in pool (a sched.BlockPool; each request keeps its number of blocks):
    consecutive leaves them as preload_running gave them; interleaved hands the same ids out in order one
    block index at a time across the requests (as decode growth does); scattered gives every request ids drawn
    at random from the whole pool (the free list keeps the others, in its order)."""
    counts = [len(r.blocks) for r in reqs]
    held = [b for r in reqs for b in r.blocks]
    if layout == "consecutive":
        return
    if layout == "interleaved":
        ids = iter(sorted(held))
        new = [[] for _ in reqs]
        for j in range(max(counts, default=0)):
            for i, n in enumerate(counts):
                if j < n:
                    new[i].append(next(ids))
    elif layout == "scattered":
        everything = sorted(pool.free + held)
        chosen = rng.sample(everything, len(held))
        taken = set(chosen)
        pool.free = [b for b in pool.free + list(reversed(held)) if b not in taken]
        it = iter(chosen)
        new = [[next(it) for _ in range(n)] for n in counts]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    for r, blocks in zip(reqs, new):
        r.blocks = blocks


def steady(eng, ctxs, layout, seed):
    """steady decode steps of one sequence per entry of ctxs (bench.steady_decode_ctxs) with the blocks laid
    out as layout says."""
    import torch
    from . import sched as S
    sch = eng.new_scheduler()
    reqs = S.preload_running(sch, ctxs, STEPS)
    relayout(sch.pool, reqs, layout, random.Random(seed))
    m = eng.model
    for r in reqs:
        sl = eng.runner.slot_for(r)
        m.bt[sl, : len(r.blocks)] = torch.tensor(r.blocks, device="cuda")
    _, steps, _ = eng.serve(reqs, sch=sch, realtime=False)
    st = steps[3:]
    return dict(mode=st[0][5], padded=st[0][6], gpu_ms=statistics.median(s[3] for s in st), steps=len(st))


def summary(rows):
    """Per (batch, context): each layout's mean GPU time over the repetitions against the consecutive blocks'."""
    by = {}
    for r in rows:
        by.setdefault((r["batch"], r["context"]), {}).setdefault(r["layout"], []).append(r["gpu_ms"])
    out = []
    for (b, c), lays in sorted(by.items()):
        base = statistics.mean(lays["consecutive"])
        parts = [f"{lay} {statistics.mean(v):.3f} ms ({statistics.mean(v) / base - 1:+.2%})" for lay, v in lays.items()]
        out.append(f"batch {b} at {c}: " + ", ".join(parts))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--tuning", required=True)
    a = ap.parse_args()
    import torch
    from . import engine as EN
    t0 = time.time()
    model, eng = EN.probe_engine(a.tuning)
    rows = []
    for rep in range(REPS):
        for b in BATCHES:
            for c in CONTEXTS:
                for lay in LAYOUTS:
                    d = steady(eng, spread(b, c), lay, seed=1000 * rep + b + c)
                    assert d["mode"] == "graph" and d["padded"] == b, d
                    rows.append(dict(batch=b, context=c, layout=lay, rep=rep, gpu_ms=d["gpu_ms"], steps=d["steps"]))
        print("rep", rep, f"{time.time() - t0:.0f} s", flush=True)
    res = dict(method=f"median GPU time (CUDA events) of {STEPS - 3} steady decode steps per point, contexts spread "
                      "over [0.5, 1.5] x the mean, the sequences' KV blocks consecutive, interleaved or scattered over "
                      f"the pool; layouts alternate within each (batch, context); {REPS} repetitions",
               num_blocks=model.num_blocks, device=torch.cuda.get_device_name(0), rows=rows,
               seconds=round(time.time() - t0, 1))
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "kvlayout.json"), "w") as f:
        json.dump(res, f, indent=1)
    for line in summary(rows):
        print(line)
    print(f"kv layout probe: {len(rows)} points in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
