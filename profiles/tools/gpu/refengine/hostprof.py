"""Host time per step of the reference engine, profiled on designed step
shapes (not a residual of any run): for each (decodes, new prefills, tokens
per prefill) the engine's own host path is timed as the serve loop runs it:
scheduling (vLLM V1's scheduler over that state), input preparation and the
graph launch, then, after the step completes, processing its outputs. Each
shape is repeated and the median taken.

Usage (from profiles/tools/gpu): python3 -m refengine.hostprof OUT.json --tuning TUNING.json
"""
import argparse
import json
import statistics
import time

import torch

from . import engine as EN
from . import model as M
from . import sched as S

DECODES = [0, 1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 255]
PREFILLS = [0, 1, 2, 4, 8, 16]
CHUNKS = [16, 128, 512]
REPS = 15


def one_step(eng, nd, npre, chunk, ctx=512):
    """Build the state, then time schedule + launch and output processing of one step."""
    m = eng.model
    sch = S.VllmV1(m.num_blocks, max_num_seqs=256, max_num_batched_tokens=max(2048, nd + npre * chunk))
    reqs = []
    for i in range(nd):
        r = S.Request(i, 0, ctx - 1, 1000)
        r.num_computed, r.generated, r.admitted_seq = ctx - 1, 1, i
        sch.pool.grow(r, ctx + 1)
        eng.runner.slot_for(r)
        sch.running.append(r)
        reqs.append(r)
    for j in range(npre):
        r = S.Request(nd + j, 0, chunk, 1000)
        sch.add(r)
        reqs.append(r)
    t0 = time.perf_counter_ns()
    step = sch.schedule()
    kind, size, e0, e1 = eng.runner.launch(step)
    t1 = time.perf_counter_ns()
    e1.synchronize()
    t2 = time.perf_counter_ns()
    times = {r.id: [] for r in reqs}
    for s in step.seqs:  # as Engine.serve processes a step's outputs
        if s.samples:
            times[s.req.id].append(t2)
        if s.finishes:
            sch.release(s.req)
            eng.runner.free_slot(s.req)
    t3 = time.perf_counter_ns()
    assert len(step.seqs) == nd + npre and step.num_tokens == nd + npre * chunk, (len(step.seqs), step.num_tokens)
    for r in reqs:
        sch.release(r)
        eng.runner.free_slot(r)
    return (t1 - t0) / 1e6, (t3 - t2) / 1e6, kind, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    a = ap.parse_args()
    tuning = M.load_tuning(a.tuning)
    model = M.Model(tuning=tuning, max_tokens=16384, kv_fraction=0.5)
    model.capture()
    eng = EN.Engine(model, "vllm_v1", dict(max_num_seqs=256, max_num_batched_tokens=2048))
    EN.warm_up(eng)
    rows = []
    for nd in DECODES:
        for npre in PREFILLS:
            for chunk in (CHUNKS if npre else [0]):
                if nd + npre == 0 or nd + npre > 256 or nd + npre * chunk > 8192:
                    continue
                hs, ps = [], []
                for _ in range(REPS):
                    h, p, kind, size = one_step(eng, nd, npre, chunk)
                    hs.append(h)
                    ps.append(p)
                rows.append(dict(num_seqs=nd + npre, num_decodes=nd, num_prefills=npre, prefill_tokens=npre * chunk,
                                 mode=kind, padded=size, host_ms=statistics.median(hs), process_ms=statistics.median(ps)))
                print(rows[-1], flush=True)
    torch.cuda.synchronize()
    with open(a.out, "w") as f:
        json.dump(dict(method=f"median of {REPS} steps per shape, vLLM V1 scheduler, decode contexts 512, prefills "
                       "fresh; host_ms = schedule + prepare + launch, process_ms = output processing",
                       rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
