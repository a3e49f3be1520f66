"""Designed probe of the decodes inside the large mixed CUDA graphs beside a
fresh prefill (not a workload run). mixeddecode.py times a mixed graph's
decodes in the graphs of 64-256 tokens with no prefill, the 256-token graph
standing for every larger one (they share its decode launch); the held-out
step logs put mixed steps of 1024-2048 tokens with many decodes 1.5-2.5%
slower than that predicts (`go run ./bench/gpu/fidelity --step_bias`), and
the error grows with the decodes. This probe measures it: for mixed graphs
of S tokens (512-2048), every step holds one fresh prompt's chunk of
S - 256 tokens (no cached context) and k decoding sequences, contexts spread
evenly over [0.5, 1.5] x the mean (as mixeddecode.py spreads them), k = 0 the
baseline, planned into the graph of S tokens whatever the step's own padding
would be; prompts of exactly one chunk with one output token follow each
other under vLLM V1 scheduling (a cap of k + 1 sequences), so the kept steps
are busy steps, never the first after idle. A point is the median GPU time
of its kept steps; build_set.py takes the decodes' in-graph cost at S as the
point less the graph's k = 0 point, beside mixed_decode's rows.

Usage (from profiles/tools/gpu): python3 -m refengine.mixedbig OUT_DIR --tuning TUNING.json
writes OUT_DIR/mixedbig.json (about a minute on an H200).
"""
import argparse
import json
import os
import statistics
import time

GRAPHS = [512, 1024, 1536, 2048]
DECODES = [0, 1, 2, 4, 8, 16, 64, 128, 192, 255]
CONTEXTS = [512, 1024, 2048]
PROMPTS = 8  # fresh chunks per point, each in its own step
DROP = 2  # kept steps dropped at the start of a point
REPS = 2
SEQ_BOUND = 256  # model.DECODE_ROWS: a mixed graph's sequence bound


def chunk_for(size):
    """The prompt chunk beside the decodes in the graph of size tokens: room for up to 255 decodes."""
    return size - SEQ_BOUND


def spread(b, mean):
    if b == 1:
        return [mean]
    return [max(2, round(mean * (0.5 + i / (b - 1)))) for i in range(b)]


def points(graphs=GRAPHS, decodes=DECODES, contexts=CONTEXTS):
    """(graph, decodes, mean context) points; the baseline (no decodes) once per graph, at the first context."""
    out = []
    for s in graphs:
        for k in decodes:
            if k >= SEQ_BOUND or chunk_for(s) + k > s:
                raise ValueError(f"graph {s}: {k} decodes do not fit beside a {chunk_for(s)}-token chunk")
            for c in (contexts if k else contexts[:1]):
                out.append((s, k, c))
    return out


def decode_steps(prompts):
    """Steps each preloaded decode must outlast: a prompt's step and the decode-only step after it (the
    finished prompt leaves the cap when the next step is scheduled), and some to spare."""
    return 3 * prompts + 8


def kept(steps, size, k, chunk, drop=DROP):
    """The GPU times (ms) of the steps of a point: the mixed graph of size tokens holding k decodes and one
    fresh chunk of chunk tokens (cached 0), less the first drop of them. steps are engine.serve's tuples
    (start, launch, end, gpu_ms, host_ms, kind, padded, shape, ...)."""
    out = []
    for s in steps:
        kind, padded, shape = s[5], s[6], s[7]
        if kind != "graph_mixed" or padded != size or shape["num_prefills"] != 1 or shape["num_decodes"] != k:
            continue
        n, start = (int(x) for x in shape["prefill_chunks"].split(":"))
        if n == chunk and start == 0:
            out.append(s[3])
    return out[drop:]


def forced_plan(runner, plan, size):
    """runner's plan with steps holding a prefill planned into the mixed graph of size tokens."""
    def f(step):
        if any(s.n > 1 for s in step.seqs) and step.num_tokens <= size and len(step.seqs) <= SEQ_BOUND:
            g, lay = runner.m.graphs[("mixed", size)]
            return "graph_mixed", size, lay, g
        return plan(step)
    return f


def add_prompts(sch, size, first_id=10_000):
    """The point's one-chunk prompts (one output token each), queued in sch; returns them."""
    from . import sched as S
    out = []
    for i in range(PROMPTS):
        p = S.Request(first_id + i, 0, chunk_for(size), 1)
        sch.add(p)
        out.append(p)
    return out


def run_point(model, size, k, c):
    from . import bench as B
    from . import engine as EN
    chunk = chunk_for(size)
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=k + 1, max_num_batched_tokens=size))
    eng.runner.plan = forced_plan(eng.runner, eng.runner.plan, size)
    sch = eng.new_scheduler()
    reqs = B.preload_decodes(eng, sch, spread(k, c), decode_steps(PROMPTS)) if k else []
    reqs += add_prompts(sch, size)
    _, steps, _ = eng.serve(reqs, sch=sch, realtime=False)
    return kept(steps, size, k, chunk), steps


def summary(rows, layers):
    """Per graph: the decodes' in-graph cost (mean point less the graph's no-decode point, ms per layer)."""
    by = {}
    for r in rows:
        by.setdefault(r["size"], {}).setdefault((r["decodes"], r["context"]), []).append(r["gpu_ms"])
    out = []
    for size, pts in sorted(by.items()):
        zero = [statistics.mean(v) for (k, _), v in pts.items() if k == 0]
        if not zero:
            out.append(f"graph {size}: no point without decodes")
            continue
        inc = [f"{k}@{c} {(statistics.mean(v) - zero[0]) / layers:.4f}" for (k, c), v in sorted(pts.items()) if k]
        out.append(f"graph {size} ({zero[0]:.3f} ms without decodes), decodes@context ms per layer: " + ", ".join(inc))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--tuning", required=True)
    a = ap.parse_args()
    import torch
    from . import engine as EN
    from . import model as M
    t0 = time.time()
    model, _ = EN.probe_engine(a.tuning)
    cap = model.num_blocks * 16 * 0.9
    rows, skipped = [], []
    for rep in range(REPS):
        for size, k, c in points():
            ctxs = spread(k, c) if k else []
            if sum(ctxs) + k * (decode_steps(PROMPTS) + 1) + PROMPTS * chunk_for(size) > cap:
                skipped.append([size, k, c])
                continue
            ts, steps = run_point(model, size, k, c)
            if not ts:  # recorded, not fatal: the other points' data still comes back
                skipped.append([size, k, c, f"no step kept of {len(steps)}"])
                continue
            rows.append(dict(size=size, decodes=k, context=c, chunk=chunk_for(size), rep=rep, steps=len(ts),
                             gpu_ms=statistics.median(ts), gpu_ms_all=ts))
        print("rep", rep, f"{time.time() - t0:.0f} s", flush=True)
    res = dict(method=f"median GPU time (CUDA events) of a point's busy steps (of {PROMPTS} one-chunk prompts, the "
                      f"first {DROP} dropped), each one fresh chunk of S - {SEQ_BOUND} tokens and k decodes, contexts "
                      "spread over [0.5, 1.5] x the mean, planned into the mixed graph of S tokens; "
                      f"{REPS} repetitions", layers=M.LAYERS, device=torch.cuda.get_device_name(0), rows=rows,
               skipped=skipped, seconds=round(time.time() - t0, 1))
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "mixedbig.json"), "w") as f:
        json.dump(res, f, indent=1)
    for line in summary(rows, M.LAYERS):
        print(line)
    print(f"mixed big-graph probe: {len(rows)} points in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
