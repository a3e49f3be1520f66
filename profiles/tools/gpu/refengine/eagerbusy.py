"""Designed probe of eager steps launched behind a busy GPU (not a workload
run). eagerprobe.py times each eager step from idle: nothing is in flight, so
no launch waits on CUDA's launch queue. In a run an eager step is launched
while the step before it still runs on the GPU (the loop launches step n+1
before it synchronises on step n): if the launch queue is bounded, Python's
launches block once it is full, and the launch can end only when the GPU has
drained to within the queue's depth of the step's end.

Each row is one eager step of T tokens (one fresh prompt of T - d tokens
beside d decodes at context 512) run through the engine's own loop
(Engine.serve, realtime=False) as the SECOND step of the run, behind a prior
step chosen by prev:
  idle   no prior step: the eager step is the first and only one (the
         eagerprobe case, measured in the same session for comparison);
  decode the d decodes and one more in a decode graph (a short step, as
         before most eager steps of a run under a large budget);
  graph  the d decodes beside a prompt of 2048 - d tokens: the largest mixed
         CUDA graph (one replay, several ms of GPU work queued at once);
  same   the d decodes beside a prompt of T - d tokens: an eager step of the
         same shape (eager behind eager, as in a run under a large budget);
  long   the d decodes beside a prompt of 8192 - d tokens: the longest eager
         step of the engine's range.
The prior prompt (or the extra decode) produces its last token in the prior
step, and max_num_seqs = d + 1 keeps the eager step's prompt waiting until
then; the
decodes and the eager step's prompt finish in the eager step, so no step is
launched after it and its end_ns (the host seeing it complete) is its GPU end
on the host's clock. launch_ns - start_ns is the eager step's host time
(schedule + prepare + launch); end_ns - launch_ns is the GPU's tail after the
launch. Runner.launch is wrapped to ask (cudaEventQuery, a few microseconds)
whether the prior step was still running on the GPU when the eager step's
launch began and when it ended; gpu_gap_ms is the GPU time from the prior
step's end event to the eager step's start event (about 0 when the eager
step's first launch queued behind the prior step). gc_ms is the time Python's
collector ran during the eager step's prepare + launch (gc.callbacks), so
that a slow launch can be told from a collection.

Every shape runs once first (rep -1: its first time in the process, kept to
show what a shape's first launch costs, not for fits), then REPS times;
build_set.py fits engine.json's eager_launch busy_tail_ms on those.

Usage (from profiles/tools/gpu):
  python3 -m refengine.eagerbusy OUT.json --tuning TUNING.json
"""
import argparse
import gc
import json
import time

from . import sched as S

TOKENS = [2112, 2560, 3072, 4096, 6144, 8192]
DECODES = [0, 8, 64]
PREVS = ["idle", "decode", "graph", "same", "long"]
REPS = 3
DECODE_CTX = 512
LARGEST_MIXED = 2048
LONGEST = 8192


def design(tokens, decodes, prev):
    """The scheduler settings and requests of one row: dict(tokens, num_decodes, prev, budget, max_num_seqs, prior
    (the prior step's prompt, 0 for none), extra_decode (1: one more decode, in the prior step only), prompt (the
    eager step's), steps (the run's: 2 with a prior step, else 1; the preloaded decodes run in each))."""
    if prev not in PREVS:
        raise ValueError(f"prev {prev!r} (want one of {PREVS})")
    if tokens <= LARGEST_MIXED or decodes >= tokens:
        raise ValueError(f"{tokens} tokens with {decodes} decodes is not an eager step with a prompt")
    prior = {"idle": 0, "decode": 0, "graph": LARGEST_MIXED - decodes, "same": tokens - decodes,
             "long": LONGEST - decodes}[prev]
    if prev not in ("idle", "decode") and prior < 1:
        raise ValueError(f"prev {prev} with {decodes} decodes leaves no prior prompt")
    return dict(tokens=tokens, num_decodes=decodes, prev=prev, budget=max(tokens, decodes + prior),
                max_num_seqs=decodes + 1, prior=prior, extra_decode=int(prev == "decode"), prompt=tokens - decodes,
                steps=1 if prev == "idle" else 2)


def add_prompts(sch, d, rid):
    """Add design d's prompts to sch (the prior one first, producing one token; then the eager step's, one
    token too) and return them."""
    reqs = []
    if d["prior"]:
        reqs.append(S.Request(rid, 0, d["prior"], 1))
    reqs.append(S.Request(rid + 1, 0, d["prompt"], 1))
    for r in reqs:
        sch.add(r)
    return reqs


def row_of(steps, marks, d):
    """The eager step's row from serve()'s step log and the launch wrapper's marks (one per launch:
    prior busy at launch begin, at launch end, start and end events)."""
    k = d["steps"] - 1
    if len(steps) != k + 1:
        raise RuntimeError(f"{len(steps)} steps, want {k + 1} (design {d})")
    s0, s1, end, gms, hms, kind, size, shape, _ = steps[k]
    out = dict(start_ns=s0, launch_ns=s1, end_ns=end, gpu_ms=gms, host_ms=hms, tail_ms=(end - s1) / 1e6, mode=kind,
               padded=size, num_tokens=shape["num_tokens"], num_decodes=shape["num_decodes"],
               num_prefills=shape["num_prefills"])
    out["gc_ms"] = marks[k][4] / 1e6
    if k:
        p0, p1, pend, pgms, _, pkind, psize, pshape, _ = steps[0]
        busy0, busy1, ev0, _, _ = marks[1]
        out.update(prev_start_ns=p0, prev_launch_ns=p1, prev_end_ns=pend, prev_gpu_ms=pgms, prev_mode=pkind,
                   prev_padded=psize, prev_tokens=pshape["num_tokens"], prev_busy_at_launch=busy0,
                   prev_busy_after_launch=busy1, gpu_gap_ms=marks[0][3].elapsed_time(ev0))
    return out


def run_row(eng, bench, d, rid):
    """One serve() of design d on engine eng (a fresh scheduler with d's settings); returns (steps, marks)."""
    eng.sched_kw = dict(max_num_seqs=d["max_num_seqs"], max_num_batched_tokens=d["budget"])
    sch = eng.new_scheduler()
    reqs = bench.preload_decodes(eng, sch, [DECODE_CTX] * d["num_decodes"], d["steps"]) if d["num_decodes"] else []
    if d["extra_decode"]:
        reqs += bench.preload_decodes(eng, sch, [DECODE_CTX], 1, first_id=d["num_decodes"])
    reqs += add_prompts(sch, d, rid)
    runner = eng.runner
    launch = runner.launch
    marks = []
    gcs = []  # (start or stop, perf_counter_ns) of each collection

    def on_gc(phase, info):
        gcs.append((phase, time.perf_counter_ns()))

    def wrapped(step):
        prev = marks[-1][3] if marks else None
        busy0 = prev is not None and not prev.query()
        n, t0 = len(gcs), time.perf_counter_ns()
        kind, size, ev0, ev1 = launch(step)
        t1 = time.perf_counter_ns()
        busy1 = prev is not None and not prev.query()
        marks.append((busy0, busy1, ev0, ev1, gc_ns(gcs[n:], t0, t1)))
        return kind, size, ev0, ev1

    runner.launch = wrapped
    gc.callbacks.append(on_gc)
    try:
        _, steps, _ = eng.serve(reqs, sch=sch, realtime=False)
    finally:
        gc.callbacks.remove(on_gc)
        del runner.launch  # the class's method again
    return steps, marks


def gc_ns(events, t0, t1):
    """Nanoseconds of [t0, t1] that collections ran, from (start or stop, time) events."""
    tot, began = 0, None
    for phase, t in events:
        if phase == "start":
            began = max(t, t0)
        elif began is not None:
            tot += min(t, t1) - began
            began = None
    if began is not None:
        tot += t1 - began
    return tot


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--tokens", default="", help="comma-separated step sizes instead of TOKENS")
    ap.add_argument("--decodes", default="", help="comma-separated decode counts instead of DECODES")
    ap.add_argument("--prevs", default="", help="comma-separated prior steps instead of PREVS")
    a = ap.parse_args()
    tokens = [int(t) for t in a.tokens.split(",")] if a.tokens else TOKENS
    decodes = [int(x) for x in a.decodes.split(",")] if a.decodes else DECODES
    prevs = a.prevs.split(",") if a.prevs else PREVS
    designs = [design(t, n, p) for t in tokens for n in decodes for p in prevs]

    import torch

    from . import bench as B
    from . import engine as EN
    from . import model as M

    t0 = time.time()
    model, _ = EN.probe_engine(a.tuning)
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=256, max_num_batched_tokens=LONGEST))
    rows = []
    rid = 2_000_000
    for rep in [-1] + list(range(REPS)):  # -1: every shape's first time in the process (compiles, allocator)
        for d in designs:
            rid += 10
            steps, marks = run_row(eng, B, d, rid)
            r = row_of(steps, marks, d)
            r.update(rep=rep, prev=d["prev"], decode_ctx=DECODE_CTX, budget=d["budget"], max_num_seqs=d["max_num_seqs"])
            rows.append(r)
        print(rep, f"{time.time() - t0:.0f} s", flush=True)
    res = dict(method="one eager step per row (a fresh prompt of T - d tokens beside d decodes at context decode_ctx, "
                      "T tokens in all) through Engine.serve (realtime=False) as the second step, behind a prior step "
                      "(prev: idle = none, decode = the d decodes and one more in a decode graph, graph = the d "
                      "decodes and a 2048 - d prompt in the largest mixed graph, same = an eager step of the same "
                      "shape, long = the d decodes and an 8192 - d prompt, eager); vLLM V1 with max_num_seqs d + 1 "
                      "(the eager step's prompt waits for the prior prompt or the extra decode, which ends in the "
                      "prior step) and a budget of max(T, prior step); the eager step is the run's last, so end_ns is "
                      "its GPU end as the host sees it; start_ns / launch_ns / end_ns on serve()'s clock; GPU time by "
                      "CUDA events from before the first launch to after the last kernel; host time schedule + "
                      "prepare + launch; tail_ms = end_ns - launch_ns; prev_busy_* by cudaEventQuery on the prior "
                      "step's end event at the launch's begin and end; gpu_gap_ms from the prior step's end event to "
                      "the eager step's start event; gc_ms: Python's collections during the eager step's prepare + "
                      f"launch (gc.callbacks); every shape once first (rep -1, its first time in the process: not for fits), "
                      f"then {REPS} repetitions",
               layers=M.LAYERS, device=torch.cuda.get_device_name(0), rows=rows)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"eager busy probe: {len(rows)} steps in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
