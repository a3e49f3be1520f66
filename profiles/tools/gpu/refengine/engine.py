"""The reference engine's server loop: replays a workload's arrivals in real
time on one GPU and writes servesim's metric files plus a per-step log.

Asynchronous scheduling, one step ahead (as vLLM V1's async scheduler and
SGLang's overlap scheduler do): while the GPU runs step n the host schedules
step n+1, prepares its inputs and launches it (a CUDA-graph replay), then
waits for step n (the one host synchronisation per step) and processes its
outputs. Token times are when the host sees the step complete.

Usage (from profiles/tools/gpu):
  python3 -m refengine.engine WORKLOAD_DIR OUTDIR [--scheduler vllm_v1|sarathi] [settings]
"""
import argparse
import bisect
import csv
import json
import os
import time

import numpy as np
import torch

from . import kernels as K
from . import model as M
from . import sched as S

V = M.V


def load_workload(workdir):
    with open(os.path.join(workdir, "trace_lengths.csv")) as f:
        lens = list(csv.DictReader(f))
    with open(os.path.join(workdir, "trace_intervals.csv")) as f:
        ivs = list(csv.DictReader(f))
    if len(lens) != len(ivs):
        raise ValueError(f"{workdir}: {len(lens)} lengths but {len(ivs)} intervals")
    return [S.Request(i, int(b["arrival_time_ns"]), int(a["num_prefill_tokens"]), int(a["num_decode_tokens"]))
            for i, (a, b) in enumerate(zip(lens, ivs))]


class Runner:
    """Turns scheduled steps into graph replays (or eager runs) on a Model."""

    def __init__(self, model):
        self.m = model
        n = model.meta.numel()
        self.pinned = [torch.empty(n, dtype=torch.int64, pin_memory=True) for _ in range(2)]
        self.host = [p.numpy() for p in self.pinned]
        self.flip = 0
        self.free_slots = list(range(model.max_slots - 1, -1, -1))
        self.dsizes = sorted(s for k, s in model.graphs if k == "decode")
        self.msizes = sorted(s for k, s in model.graphs if k == "mixed")

    def slot_for(self, req):
        if req.slot < 0:
            if not self.free_slots:
                raise RuntimeError("out of request slots")
            req.slot = self.free_slots.pop()
        return req.slot

    def free_slot(self, req):
        if req.slot >= 0:
            self.free_slots.append(req.slot)
            req.slot = -1

    def plan(self, step):
        """(kind, padded size, layout, graph or None) for a step."""
        seqs = step.seqs
        ns, nt = len(seqs), step.num_tokens
        if all(s.n == 1 for s in seqs) and self.dsizes and ns <= self.dsizes[-1]:
            size = self.dsizes[bisect.bisect_left(self.dsizes, ns)]
            g, lay = self.m.graphs[("decode", size)]
            return "graph", size, lay, g
        if self.msizes and nt <= self.msizes[-1] and ns <= M.DECODE_ROWS:
            size = self.msizes[bisect.bisect_left(self.msizes, nt)]
            g, lay = self.m.graphs[("mixed", size)]
            return "graph_mixed", size, lay, g
        npt = sum(S.cdiv(s.n, self.m.pbq) for s in seqs if s.n > 1)
        lay = M.Layout(nt, ns, npt, K.decode_bound(ns))
        return "eager", 0, lay, None

    def fill(self, step, lay, host):
        """Write a step's inputs in layout lay. Sequences computing one token (decodes)
        come first, so their query rows are the first rows (the combine pass's)."""
        m = self.m
        off = {f: o for f, (o, _) in lay.off.items()}
        ids, pos, slot, ui, uv = off["ids"], off["pos"], off["slot"], off["upd_idx"], off["upd_val"]
        seqs = [s for s in step.seqs if s.n == 1] + [s for s in step.seqs if s.n > 1]
        nd = sum(1 for s in seqs if s.n == 1)
        plen, items, nps = K.decode_work([s.start + 1 for s in seqs[:nd]], lay.dwp, m.part_min, m.dcfg["block_n"])
        t = 0
        nu = 0
        pt = 0
        extra = []
        maxb = m.maxb
        qs = off["q_start"]
        host[qs] = 0
        for k, (i, j) in enumerate(items):
            host[off["dtile_seq"] + k] = i
            host[off["dtile_q0"] + k] = 0
            host[off["dtile_part"] + k] = j
        for i in range(nd):
            host[off["dnp"] + i] = nps[i]
        host[off["dpart"]] = plen
        for i, s in enumerate(seqs):
            r = s.req
            sl = self.slot_for(r)
            for j, b in s.new_blocks:
                if nu < lay.tp:
                    host[ui + nu] = sl * maxb + j
                    host[uv + nu] = b
                else:  # more new blocks than the graph's update slots (a long prompt admitted whole)
                    extra.append((sl * maxb + j, b))
                nu += 1
            n, start = s.n, s.start
            if n == 1:
                p = start
                host[ids + t] = -1 - sl if p >= r.P else (r.id * 7919 + p) % V
                host[pos + t] = p
                host[slot + t] = r.blocks[p // S.BLOCK_SIZE] * S.BLOCK_SIZE + p % S.BLOCK_SIZE
            else:
                p = np.arange(start, start + n, dtype=np.int64)
                host[ids + t:ids + t + n] = (r.id * 7919 + p) % V
                host[pos + t:pos + t + n] = p
                b0 = start // S.BLOCK_SIZE
                blk = np.asarray(r.blocks[b0:(start + n - 1) // S.BLOCK_SIZE + 1], dtype=np.int64)
                host[slot + t:slot + t + n] = blk[p // S.BLOCK_SIZE - b0] * S.BLOCK_SIZE + p % S.BLOCK_SIZE
                # longest tiles (the last queries see the most keys) first: they start
                # in the first wave and do not leave a tail
                for q0 in reversed(range(0, n, m.pbq)):
                    host[off["ptile_seq"] + pt] = i
                    host[off["ptile_q0"] + pt] = q0
                    pt += 1
            host[off["seq_slot"] + i] = sl
            host[off["seq_len"] + i] = start + n
            t += n
            host[qs + i + 1] = t
            host[off["logit_row"] + i] = t - 1
            host[off["logit_slot"] + i] = sl if s.samples else m.max_slots
        nu = min(nu, lay.tp)
        M.pad_fields(host, lay, m, t_used=t, s_used=len(seqs), pt_used=pt, dt_used=len(items), dnp_used=nd)
        # upd_* tails are padded from t; updates fill only nu of t
        host[ui + nu:ui + lay.tp] = m.scratch_update_index()
        return len(items), pt, extra

    def launch(self, step):
        """Prepare and launch a step; returns (mode, padded, start event, end event)."""
        kind, size, lay, g = self.plan(step)
        host = self.host[self.flip]
        dt, pt, extra = self.fill(step, lay, host)
        m = self.m
        ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        ev0.record()
        if extra:  # block-table entries beyond the step's update slots, written before the step on the same stream
            idx, val = zip(*extra)
            m.bt_flat[torch.tensor(idx, device=m.dev)] = torch.tensor(val, device=m.dev)
        m.meta[: lay.total].copy_(self.pinned[self.flip][: lay.total], non_blocking=True)
        self.flip ^= 1
        if g is not None:
            g.replay()
        else:
            m.forward(lay.views(m.meta), lay, n_dtiles=dt, n_ptiles=pt, combine_tokens=lay.sp)
        ev1.record()
        return kind, size, ev0, ev1


class Engine:
    def __init__(self, model, scheduler_name, sched_kw, num_blocks=0):
        """num_blocks > 0 gives the scheduler a KV pool of that many blocks (at most the model's cache): a
        smaller pool than the GPU holds, so that a workload meets preemption."""
        if num_blocks > model.num_blocks:
            raise ValueError(f"num_blocks {num_blocks} over the {model.num_blocks} blocks the GPU's cache holds")
        self.model = model
        self.sched_name, self.sched_kw = scheduler_name, sched_kw
        self.num_blocks = num_blocks or model.num_blocks
        S.check_seq_cap(self.new_scheduler(), M.DECODE_ROWS)
        self.runner = Runner(model)

    def new_scheduler(self):
        return S.make(self.sched_name, self.num_blocks, **self.sched_kw)

    def serve(self, reqs, log_steps=True, realtime=True, sch=None):
        """Run reqs (arrival_ns since start); returns per-request token times and the step log.
        With sch given, reqs are already in it (a benchmark's preloaded batch)."""
        preloaded = sch is not None
        sch = sch or self.new_scheduler()
        runner = self.runner
        pending = [] if preloaded else sorted(reqs, key=lambda r: (r.arrival, r.id))
        pi = 0
        times = {r.id: [] for r in reqs}
        steps = []
        inflight = None
        done = 0
        clock = time.perf_counter_ns
        t0 = clock()
        while done < len(reqs):
            now = clock() - t0 if realtime else (1 << 62)
            while pi < len(pending) and pending[pi].arrival <= now:
                sch.add(pending[pi])
                pi += 1
            h0 = clock() - t0
            step = sch.schedule() if sch.has_work() else None
            if step is not None and not step.seqs:
                step = None
            cur = None
            if step is not None:
                kind, size, ev0, ev1 = runner.launch(step)
                h1 = clock() - t0
                cur = (step, kind, size, ev0, ev1, h0, h1)
            if inflight is not None:
                st, kind_, size_, e0, e1, s0, s1 = inflight
                e1.synchronize()
                end = clock() - t0
                for s in st.seqs:
                    if s.samples:
                        times[s.req.id].append(end)
                    if s.finishes:
                        sch.release(s.req)
                        runner.free_slot(s.req)
                        done += 1
                if log_steps:
                    steps.append((s0, s1, end, e0.elapsed_time(e1), (s1 - s0) / 1e6, kind_, size_, st.shape(),
                                  len(st.preempted)))
            inflight = cur
            if inflight is None and step is None and sch.has_work() and pi == len(pending):
                raise RuntimeError(f"stalled: {len(sch.waiting)} waiting, {len(sch.running)} running, "
                                   f"{sch.pool.num_free()} free blocks")
            if inflight is None and pi < len(pending) and not sch.has_work():
                wait = pending[pi].arrival - (clock() - t0)
                if wait > 300_000:
                    time.sleep((wait - 200_000) / 1e9)
        torch.cuda.synchronize()
        return times, steps, sch.num_preemptions


def write_run(outdir, reqs, times, steps, info):
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "request_metrics.csv"), "w") as f:
        f.write("request_id,arrival_time_ns,first_token_time_ns,ttft_ns,completion_time_ns,num_prefill_tokens,"
                "num_decode_tokens,num_decode_tokens_actual,status\n")
        for r in reqs:
            ts = times[r.id]
            f.write(f"{r.id},{r.arrival},{ts[0]},{ts[0] - r.arrival},{ts[-1]},{r.P},{r.D},{len(ts)},ok\n")
    with open(os.path.join(outdir, "token_metrics.csv"), "w") as f:
        f.write("request_id,token_index,token_time_ns,token_latency_ns\n")
        for r in reqs:
            prev = None
            for k, t in enumerate(times[r.id]):
                f.write(f"{r.id},{k},{t},{0 if prev is None else t - prev}\n")
                prev = t
    with open(os.path.join(outdir, "step_log.csv"), "w") as f:
        f.write("step,start_ns,launch_ns,end_ns,gpu_ms,host_ms,mode,padded,num_seqs,num_decodes,num_prefills,num_new,"
                "num_tokens,decode_ctx_sum,decode_ctx_max,prefill_chunks,preempted\n")
        for i, (s0, s1, end, gms, hms, kind, size, sh, npre) in enumerate(steps):
            f.write(f"{i},{s0},{s1},{end},{gms:.6f},{hms:.6f},{kind},{size},{sh['num_seqs']},{sh['num_decodes']},"
                    f"{sh['num_prefills']},{sh['num_new']},{sh['num_tokens']},{sh['decode_ctx_sum']},"
                    f"{sh['decode_ctx_max']},{sh['prefill_chunks']},{npre}\n")
    with open(os.path.join(outdir, "run.json"), "w") as f:
        json.dump(info, f, indent=1, sort_keys=True)


# Prompts of the later warm-up passes: eager steps (more tokens than the largest mixed graph, under a budget that
# allows them) at token counts of each residue Triton specializes integer arguments on (multiples of 16 and not,
# odd): each prompt alone, then all at once (several prefills a step), then all beside decodes. Without them a run's
# first eager steps at new shapes compiled kernels for 0.6-1.9 s each (ho7-long-budget4096's first run had 6 such
# steps; with the last pass only, 2, both a lone prefill; its repeats, warm, none).
EAGER_WARM = [2289, 2309, 3021, 3141, 3243, 4096, 4101, 5000, 6144, 7777]


def warm_up(engine):
    """Requests through every path (graphs of both kinds, eager steps of several shapes: one prefill alone,
    several, and beside decodes), untimed."""
    reqs = [S.Request(-1 - i, 0, p, 4) for i, p in enumerate([7, 100, 700, 3000])]
    engine.serve(reqs, log_steps=False, realtime=False)
    for i, p in enumerate(EAGER_WARM):
        engine.serve([S.Request(-100 - i, 0, p, 2)], log_steps=False, realtime=False)
    engine.serve([S.Request(-200 - i, 0, p, 2) for i, p in enumerate(EAGER_WARM)], log_steps=False, realtime=False)
    reqs = [S.Request(-300 - i, 0, 12, 48) for i in range(3)]
    reqs += [S.Request(-400 - i, 0, p, 2) for i, p in enumerate(EAGER_WARM)]
    engine.serve(reqs, log_steps=False, realtime=False)


def probe_engine(tuning_path, max_blocks_per_seq=1024):
    """How the designed probes start: the model with tune.py's choice (the file at tuning_path), its graphs
    captured, and a warmed-up vLLM V1 engine on it (2048-token budget, 256 sequences). A probe of sequences
    longer than the engine's 16k tokens asks for more blocks per sequence. Returns (model, engine)."""
    model = M.Model(tuning=M.load_tuning(tuning_path), max_blocks_per_seq=max_blocks_per_seq)
    model.capture()
    eng = Engine(model, "vllm_v1", dict(max_num_seqs=256, max_num_batched_tokens=2048))
    warm_up(eng)
    return model, eng


def sched_settings(a):
    if a.scheduler == "vllm_v1":
        return dict(max_num_seqs=a.max_num_seqs, max_num_batched_tokens=a.max_num_batched_tokens,
                    long_prefill_token_threshold=a.long_prefill_token_threshold)
    return dict(chunk_size=a.chunk, batch_cap=a.max_num_seqs)


def add_args(ap):
    ap.add_argument("--scheduler", default="vllm_v1", choices=["vllm_v1", "sarathi"])
    ap.add_argument("--max_num_seqs", type=int, default=256)
    ap.add_argument("--max_num_batched_tokens", type=int, default=2048)
    ap.add_argument("--long_prefill_token_threshold", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--num_blocks", type=int, default=0, help="KV blocks (0: 80%% of free memory)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload")
    ap.add_argument("out")
    ap.add_argument("--repeat_out", default="", help="run the workload a second time into this folder")
    ap.add_argument("--tuning", default="", help="tune.py's output (default: untuned launch settings)")
    add_args(ap)
    a = ap.parse_args()
    tuning = M.load_tuning(a.tuning)
    t = time.time()
    model = M.Model(num_blocks=a.num_blocks or None, tuning=tuning)
    model.capture()
    cap_s = time.time() - t
    eng = Engine(model, a.scheduler, sched_settings(a))
    warm_up(eng)
    for out in [a.out] + ([a.repeat_out] if a.repeat_out else []):
        reqs = load_workload(a.workload)
        t1 = time.time()
        times, steps, npre = eng.serve(reqs)
        wall = time.time() - t1
        info = dict(workload=os.path.basename(os.path.normpath(a.workload)), scheduler=a.scheduler,
                    settings=sched_settings(a), num_blocks=model.num_blocks, block_size=S.BLOCK_SIZE,
                    decode_graph_sizes=M.DECODE_SIZES, mixed_graph_token_sizes=M.MIXED_SIZES,
                    capture_s=round(cap_s, 2), wall_s=round(wall, 3), steps=len(steps), preemptions=npre,
                    output_tokens=sum(len(v) for v in times.values()))
        write_run(out, reqs, times, steps, info)
        print(f"{a.workload} -> {out}: {len(reqs)} requests, {len(steps)} steps, {wall:.2f} s, {npre} preemptions",
              flush=True)


if __name__ == "__main__":
    main()
