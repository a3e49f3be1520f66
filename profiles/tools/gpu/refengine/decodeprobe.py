"""Designed probe of the decode graphs against the shape of a batch's contexts
(not a workload run): for decode graph sizes B and mean contexts c, the same
whole-step GPU time insitu_ctx.py measures, with the B sequences' contexts drawn
from several shapes of the same mean: uniform (every sequence at c), spread
evenly over [0.5, 1.5] x c (insitu_ctx.py's), wide ([0.1, 1.9] x c), two-point
(80% at 0.5c, 20% at 3c) and one long (one sequence holding a quarter of the
keys, the rest equal). The decode launch cuts keys into equal partitions over
the graph's work-item bound, so its blocks, and its time, depend on the shape,
not only on the mean: these points are for modelling that, and score it; the
compiled kernels' registers and shared memory come with them.

Usage (from profiles/tools/gpu): python3 -m refengine.decodeprobe OUT.json --tuning TUNING.json
"""
import argparse
import json
import time

from . import bench as B
from . import engine as EN
from . import kernels as K
from . import model as M

BATCHES = [8, 16, 32, 48, 56, 64, 72, 96, 128, 160, 192, 256]
CONTEXTS = [256, 512, 1024, 2048, 4096]
STEPS = 15


def shape(name, b, c):
    if name == "uniform" or b == 1:
        return [c] * b
    if name == "spread":
        return [max(2, round(c * (0.5 + i / (b - 1)))) for i in range(b)]
    if name == "wide":
        return [max(2, round(c * (0.1 + 1.8 * i / (b - 1)))) for i in range(b)]
    if name == "twopoint":
        k = max(1, round(0.2 * b))
        lo = max(2, round((c * b - 3 * c * k) / (b - k))) if b > k else c
        return [3 * c] * k + [lo] * (b - k)
    if name == "onelong":
        rest = max(2, round(0.75 * c * b / (b - 1)))
        return [max(2, c * b - rest * (b - 1))] + [rest] * (b - 1)
    raise ValueError(name)


SHAPES = ["uniform", "spread", "wide", "twopoint", "onelong"]


def kernel_resources():
    out = []
    for name in ("_paged_attn_kernel", "_combine_kernel"):
        fn = getattr(K, name, None)
        try:
            for _, caches in fn.device_caches.items():
                for key, k in caches[0].items():
                    md = k.metadata
                    out.append(dict(kernel=name, n_regs=int(k.n_regs), n_spills=int(k.n_spills), shared=int(md.shared),
                                    num_warps=int(md.num_warps), num_stages=int(md.num_stages), key=str(key)[:400]))
        except Exception as e:  # the timings stand without it
            out.append(dict(kernel=name, error=repr(e)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--batches", default="", help="comma-separated decode graph sizes (default: BATCHES)")
    ap.add_argument("--contexts", default="", help="comma-separated mean contexts (default: CONTEXTS); a probe at "
                    "other contexts is scored, not fitted (decodeprobe_*.json)")
    a = ap.parse_args()
    batches = [int(b) for b in a.batches.split(",")] if a.batches else BATCHES
    contexts = [int(c) for c in a.contexts.split(",")] if a.contexts else CONTEXTS
    t0 = time.time()
    tuning = M.load_tuning(a.tuning)
    model = M.Model(tuning=tuning)
    model.capture()
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=256, max_num_batched_tokens=2048))
    EN.warm_up(eng)
    cap = model.num_blocks * 16 * 0.9
    rows, skipped = [], []
    for b in batches:
        for c in contexts:
            for sh in SHAPES:
                ctxs = shape(sh, b, c)
                if sum(ctxs) + b * (STEPS + 1) > cap or max(ctxs) + STEPS + 1 > model.maxb * 16:
                    skipped.append([b, c, sh])
                    continue
                d = B.steady_decode_ctxs(eng, ctxs, STEPS)
                assert d["mode"] == "graph" and d["padded"] == b, d
                rows.append(dict(batch=b, mean_context=c, shape=sh, contexts=ctxs, gpu_ms=d["gpu_ms"], wall_ms=d["wall_ms"]))
        print(b, f"{time.time() - t0:.0f} s", flush=True)
    res = dict(method=f"median GPU time (CUDA events) of {STEPS - 3} steady decode steps per point (each sequence's "
                      f"context grows by one a step from the listed one); decode graph of exactly B sequences",
               decode_config=tuning.get("decode"), part_min=getattr(model, "part_min", None), max_parts=K.MAX_PARTS,
               kernels=kernel_resources(), rows=rows, skipped=skipped)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"decode probe: {len(rows)} points in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
