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

A real step's chunk is not always S - 256: a step that fills the token budget holds a chunk of S - k beside
its k decodes, and a partly filled one less. With --chunks the probe times each graph's points over several
chunk sizes (CHUNK_MODES: fill = S - k, s256 = S - 256, half = (S - 256) / 2 at the middle context only), each
chunk with its own no-decode baseline, every row recording its chunk, and writes mixedchunk.json instead.

Usage (from profiles/tools/gpu): python3 -m refengine.mixedbig OUT_DIR --tuning TUNING.json [--chunks fill,s256,half]
writes OUT_DIR/mixedbig.json (about a minute on an H200), or with --chunks OUT_DIR/mixedchunk.json (about two).
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


CHUNK_MODES = ("fill", "s256", "half")


def mode_chunk(mode, size, k):
    """The chunk of mode beside k decodes in the graph of size tokens: fill takes the rest of the budget (S - k),
    s256 today's S - 256, half (S - 256) // 2."""
    if mode == "fill":
        return size - k
    if mode == "s256":
        return chunk_for(size)
    if mode == "half":
        return chunk_for(size) // 2
    raise ValueError(f"unknown chunk mode {mode!r} (want one of {', '.join(CHUNK_MODES)})")


def mode_contexts(mode, contexts):
    """The mean contexts a mode probes: half only the middle one (to keep the run short)."""
    return [contexts[len(contexts) // 2]] if mode == "half" else list(contexts)


def chunk_points(modes, graphs=GRAPHS, decodes=DECODES, contexts=CONTEXTS):
    """(graph, decodes, mean context, chunk, mode) points of the chunk modes: each mode's points at its contexts,
    and one no-decode baseline (at the first context) per graph and distinct chunk, so that every point with
    decodes has a baseline of its own chunk; no point twice (a baseline two modes share is the first's)."""
    out, seen = [], set()
    for s in graphs:
        for mode in modes:
            for k in decodes:
                ch = mode_chunk(mode, s, k)
                if k >= SEQ_BOUND or ch < 1 or ch + k > s:
                    raise ValueError(f"graph {s}: {k} decodes do not fit beside a {ch}-token chunk")
                pts = [(s, k, c, ch) for c in mode_contexts(mode, contexts)] if k else []
                pts.append((s, 0, contexts[0], ch))  # the chunk's baseline
                for p in pts:
                    if p not in seen:
                        seen.add(p)
                        out.append(p + (mode,))
    return out


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


def add_prompts(sch, size, first_id=10_000, chunk=None):
    """The point's one-chunk prompts of chunk tokens (one output token each; chunk_for(size) unless given),
    queued in sch; returns them."""
    from . import sched as S
    chunk = chunk_for(size) if chunk is None else chunk
    out = []
    for i in range(PROMPTS):
        p = S.Request(first_id + i, 0, chunk, 1)
        sch.add(p)
        out.append(p)
    return out


def run_point(model, size, k, c, chunk=None):
    from . import bench as B
    from . import engine as EN
    chunk = chunk_for(size) if chunk is None else chunk
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=k + 1, max_num_batched_tokens=size))
    eng.runner.plan = forced_plan(eng.runner, eng.runner.plan, size)
    sch = eng.new_scheduler()
    reqs = B.preload_decodes(eng, sch, spread(k, c), decode_steps(PROMPTS)) if k else []
    reqs += add_prompts(sch, size, chunk=chunk)
    _, steps, _ = eng.serve(reqs, sch=sch, realtime=False)
    return kept(steps, size, k, chunk), steps


def summary(rows, layers):
    """Per graph: the decodes' in-graph cost (mean point less the graph's no-decode point, ms per layer)."""
    by = {}
    for r in rows:
        by.setdefault(r["size"], {}).setdefault((r["decodes"], r["context"]), []).append(r["gpu_ms"])
    out = []
    if any(r.get("chunk", chunk_for(r["size"])) != chunk_for(r["size"]) for r in rows):
        return chunk_summary(rows, layers)
    for size, pts in sorted(by.items()):
        zero = [statistics.mean(v) for (k, _), v in pts.items() if k == 0]
        if not zero:
            out.append(f"graph {size}: no point without decodes")
            continue
        inc = [f"{k}@{c} {(statistics.mean(v) - zero[0]) / layers:.4f}" for (k, c), v in sorted(pts.items()) if k]
        out.append(f"graph {size} ({zero[0]:.3f} ms without decodes), decodes@context ms per layer: " + ", ".join(inc))
    return out


def chunk_summary(rows, layers):
    """Per graph and chunk: the decodes' in-graph cost (mean point less the same chunk's no-decode point, ms per
    layer)."""
    by = {}
    for r in rows:
        by.setdefault(r["size"], {}).setdefault((r["decodes"], r["context"], r["chunk"]), []).append(r["gpu_ms"])
    out = []
    for size, pts in sorted(by.items()):
        zero = {ch: statistics.mean(v) for (k, _, ch), v in pts.items() if k == 0}
        inc = []
        for (k, c, ch), v in sorted(pts.items()):
            if k:
                inc.append(f"{k}@{c}/{ch} " + (f"{(statistics.mean(v) - zero[ch]) / layers:.4f}" if ch in zero
                                                else "no baseline"))
        out.append(f"graph {size}, decodes@context/chunk ms per layer: " + ", ".join(inc))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--chunks", default="", help="comma-separated chunk modes (of CHUNK_MODES) to probe each graph "
                    "over; writes mixedchunk.json instead of mixedbig.json")
    a = ap.parse_args()
    modes = [m for m in a.chunks.split(",") if m]
    plan = chunk_points(modes) if modes else [(s, k, c, chunk_for(s), "s256") for s, k, c in points()]
    import torch
    from . import engine as EN
    from . import model as M
    t0 = time.time()
    model, _ = EN.probe_engine(a.tuning)
    cap = model.num_blocks * 16 * 0.9
    rows, skipped = [], []
    for rep in range(REPS):
        for size, k, c, chunk, mode in plan:
            ctxs = spread(k, c) if k else []
            if sum(ctxs) + k * (decode_steps(PROMPTS) + 1) + PROMPTS * chunk > cap:
                skipped.append([size, k, c, chunk])
                continue
            ts, steps = run_point(model, size, k, c, chunk)
            if not ts:  # recorded, not fatal: the other points' data still comes back
                skipped.append([size, k, c, chunk, f"no step kept of {len(steps)}"])
                continue
            row = dict(size=size, decodes=k, context=c, chunk=chunk, rep=rep, steps=len(ts),
                       gpu_ms=statistics.median(ts), gpu_ms_all=ts)
            if modes:
                row["mode"] = mode
            rows.append(row)
        print("rep", rep, f"{time.time() - t0:.0f} s", flush=True)
    what = (f"one fresh chunk of the row's chunk tokens (modes {','.join(modes)}: fill S - k, s256 S - {SEQ_BOUND}, "
            f"half (S - {SEQ_BOUND}) / 2 at the middle context; a no-decode baseline per chunk)" if modes else
            f"one fresh chunk of S - {SEQ_BOUND} tokens")
    res = dict(method=f"median GPU time (CUDA events) of a point's busy steps (of {PROMPTS} one-chunk prompts, the "
                      f"first {DROP} dropped), each {what} and k decodes, contexts "
                      "spread over [0.5, 1.5] x the mean, planned into the mixed graph of S tokens; "
                      f"{REPS} repetitions", layers=M.LAYERS, device=torch.cuda.get_device_name(0), rows=rows,
               skipped=skipped, seconds=round(time.time() - t0, 1))
    os.makedirs(a.out_dir, exist_ok=True)
    if modes:
        res["chunk_modes"] = modes
    with open(os.path.join(a.out_dir, "mixedchunk.json" if modes else "mixedbig.json"), "w") as f:
        json.dump(res, f, indent=1)
    for line in summary(rows, M.LAYERS):
        print(line)
    print(f"mixed big-graph probe{' over chunks ' + ','.join(modes) if modes else ''}: {len(rows)} points in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
