"""Designed probe (not a workload run): does an eager step cost more the first
time the process launches its token count? In the eager fit runs of session 7
the eager steps took +6.2 / +5.4 ms over the launch model in their runs (almost
every token count new) and +0.9 / +0.3 ms in their repeats minutes later (every
count seen in the run before), while ho16's and ho19-conv's repeats were the
slower ones: a first launch per shape, or the host's speed drifting in time?

In one process (probe_engine's model and warm-up), ROUNDS rounds ROUND_GAP_S
apart; each round launches, from idle, one prompt alone per step, alternating a
token count never launched before (2100-4000, fresh every time) with one of
SEEN (launched in every round, and twice before the first), so that the two
kinds share each moment of the host's speed. Each row: round, kind (new | seen),
tokens, host_ms (schedule + prepare + launch), gpu_ms, time since start.

Usage (from profiles/tools/gpu): python3 -m refengine.shapeprobe OUT.json --tuning TUNING.json
"""
import argparse
import json
import random
import time

import torch

from . import engine as EN
from . import model as M
from .eagerprobe import eager_step

SEEN = [2500, 3000, 3500]
ROUNDS = 6
PAIRS = 12  # new/seen pairs per round
ROUND_GAP_S = 20.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    model, _ = EN.probe_engine(a.tuning)
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=256, max_num_batched_tokens=8192))
    used = set(SEEN) | set(EN.EAGER_WARM)
    rid = 2_000_000
    for _ in range(2):  # the seen counts launched before the first round
        for t in SEEN:
            rid += 10
            eager_step(eng, t, 0, 1, rid)
    rows = []
    t0 = time.time()
    for rnd in range(ROUNDS):
        for i in range(PAIRS):
            while True:
                fresh = rng.randint(2100, 4000)
                if fresh not in used:
                    break
            used.add(fresh)
            pair = [("new", fresh), ("seen", SEEN[i % len(SEEN)])]
            if i % 2:
                pair.reverse()
            for kind, t in pair:
                rid += 10
                mode, _, shape, gms, hms = eager_step(eng, t, 0, 1, rid)
                rows.append(dict(round=rnd, kind=kind, num_tokens=shape["num_tokens"], mode=mode, host_ms=hms,
                                 gpu_ms=gms, t_s=round(time.time() - t0, 3)))
        print(rnd, f"{time.time() - t0:.0f} s", flush=True)
        if rnd + 1 < ROUNDS:
            time.sleep(ROUND_GAP_S)
    res = dict(method=f"{ROUNDS} rounds {ROUND_GAP_S:.0f} s apart in one process, each {PAIRS} pairs of one-prompt "
                      "eager steps from idle: a token count never launched before (2100-4000) beside one of "
                      f"{SEEN} (launched in every round and twice before the first); vLLM V1 with an 8192-token "
                      "budget; host time schedule + prepare + launch, GPU time by CUDA events",
               layers=M.LAYERS, device=torch.cuda.get_device_name(0), rows=rows)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"shape probe: {len(rows)} steps in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
