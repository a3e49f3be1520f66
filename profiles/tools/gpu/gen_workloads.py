#!/usr/bin/env python3
"""Write the benchmark workloads (servesim's trace_lengths.csv +
trace_intervals.csv) used on the GPU and in the simulator: the seed's 4
requests, spaced-2s, and Poisson workloads with Splitwise conversation
lengths scaled by 0.5 and clipped (proportionally) to 2048 tokens, so that
128 concurrent requests fit the benchmark's KV pool. Deterministic (seed 7).

Usage: python3 gen_workloads.py REPO_ROOT OUTDIR
"""
import csv
import math
import os
import random
import shutil
import sys


def write(d, rows):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "trace_lengths.csv"), "w") as f:
        f.write("request_id,prompt_id,num_prefill_tokens,num_decode_tokens\n")
        for i, (a, p, dd) in enumerate(rows):
            f.write(f"{i},p{i},{p},{dd}\n")
    with open(os.path.join(d, "trace_intervals.csv"), "w") as f:
        f.write("request_id,inter_arrival_ns,arrival_time_ns\n")
        prev = 0
        for i, (a, p, dd) in enumerate(rows):
            f.write(f"{i},{a - prev},{a}\n")
            prev = a


def main(root, out):
    write(os.path.join(out, "seed"), [(0, 12, 64), (0, 10, 64), (0, 15, 64), (0, 16, 64)])
    for f in ("trace_lengths.csv", "trace_intervals.csv"):
        os.makedirs(os.path.join(out, "spaced-2s"), exist_ok=True)
        shutil.copy(os.path.join(root, "presets/data/spaced-2s", f), os.path.join(out, "spaced-2s", f))
    with open(os.path.join(root, "presets/data/traces/splitwise_conv.csv")) as f:
        lens = [(int(r["num_prefill_tokens"]), int(r["num_decode_tokens"])) for r in csv.DictReader(f)]
    rng = random.Random(7)
    # poisson-heavy-fit (drawn after the others, so its requests differ) informs the host-overhead fit at large
    # batches; poisson-saturation stays held out.
    for name, n, qps in [("poisson-moderate", 200, 4.0), ("poisson-saturation", 200, 12.0), ("poisson-heavy-fit", 200, 10.0)]:
        rows, t = [], 0
        for i in range(n):
            t += int(-math.log(1 - rng.random()) / qps * 1e9)
            p, d = lens[rng.randrange(len(lens))]
            p, d = max(1, p // 2), max(1, d // 2)
            if p + d > 2048:
                diff = p + d - 2048
                p, d = p - math.ceil(diff * p / (p + d)), d - math.ceil(diff * d / (p + d))
            rows.append((t, max(1, p), max(1, d)))
        write(os.path.join(out, name), rows)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
