"""Host time of a step started from idle, profiled on a designed workload (not
a held-out run): groups of k requests (k = 1, 2, 4) arrive together, each
group after the engine has gone idle (gaps of 20 and 200 ms), prompts over a
grid of lengths, 3 output tokens each, served in real time by the engine's
own loop. Every group's first step starts with nothing in flight, as a
lightly loaded server's steps do; build_set.py compares their host time with
the busy-step host table (the extra that a step from idle costs).

Usage (from profiles/tools/gpu): python3 -m refengine.idleprobe OUTDIR --tuning TUNING.json
"""
import argparse
import json
import os
import random
import time

from . import engine as EN
from . import model as M
from . import sched as S

PROMPTS = [16, 64, 200, 512, 1000, 2000]
GROUPS = [1, 2, 4]
GAPS_MS = [20, 200]
REPEATS = 3


def design(seed=7, gaps=GAPS_MS, groups_=GROUPS):
    rng = random.Random(seed)
    shapes = [(p, k, g) for p in PROMPTS for k in groups_ for g in gaps] * REPEATS
    rng.shuffle(shapes)
    reqs, t, groups = [], 0, []
    for p, k, g in shapes:
        t += int(g * 1_000_000)
        groups.append(dict(arrival_ns=t, prompt=p, group=k, gap_ms=g))
        for _ in range(k):
            reqs.append(S.Request(len(reqs), t, p, 3))
    return reqs, groups


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--gaps", default=",".join(map(str, GAPS_MS)), help="idle gaps before each group, ms")
    ap.add_argument("--groups", default=",".join(map(str, GROUPS)), help="requests per group")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    model = M.Model(tuning=M.load_tuning(a.tuning))
    model.capture()
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=256, max_num_batched_tokens=2048))
    EN.warm_up(eng)
    reqs, groups = design(a.seed, [float(x) for x in a.gaps.split(",")], [int(x) for x in a.groups.split(",")])
    t = time.time()
    times, steps, npre = eng.serve(reqs)
    wall = time.time() - t
    info = dict(workload="idleprobe", scheduler="vllm_v1", settings=dict(max_num_seqs=256, max_num_batched_tokens=2048),
                num_blocks=model.num_blocks, block_size=16, wall_s=round(wall, 3), steps=len(steps), preemptions=npre,
                groups=groups, output_tokens=sum(len(v) for v in times.values()))
    EN.write_run(a.out, reqs, times, steps, info)
    print(f"idle probe: {len(reqs)} requests in {len(groups)} groups, {len(steps)} steps, {wall:.1f} s", flush=True)


if __name__ == "__main__":
    main()
