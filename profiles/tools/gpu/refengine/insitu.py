"""Whole-step GPU times of the engine's own CUDA graphs, beside the per-op
profile: each decode graph size at a uniform context of 512, and each mixed
graph size with one fresh prefill filling it. The per-op profile times each
kernel alone (back to back with itself); a graph replays ~330 different
kernels one after the other, and the gaps and tails between them are part of
a step's time. import-time scaling of mlp.csv's token ops by
(measured step - attention) / (sum of the isolated token ops) per size puts
that in the profile (profiles/h200/qwen3-0.6b/PROVENANCE.md).

Usage (from profiles/tools/gpu): python3 -m refengine.insitu OUT.json --tuning TUNING.json
"""
import argparse
import json

from . import bench as B
from . import engine as EN
from . import model as M


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    a = ap.parse_args()
    tuning = M.load_tuning(a.tuning)
    model = M.Model(tuning=tuning, max_tokens=4096)
    model.capture()
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=256, max_num_batched_tokens=2048))
    EN.warm_up(eng)
    res = dict(decode={}, mixed={}, context=512)
    for bp in M.DECODE_SIZES:
        d = B.steady_decode(eng, bp, 512, 15)
        assert d["mode"] == "graph" and d["padded"] == bp, d
        res["decode"][str(bp)] = d["gpu_ms"]
    for t in M.MIXED_SIZES:
        p = B.prefill(eng, t, reps=3)
        assert p["mode"] == "graph_mixed" and p["padded"] == t and p["steps"] == 1, p
        res["mixed"][str(t)] = p["gpu_ms"]
    print(json.dumps(res), flush=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
