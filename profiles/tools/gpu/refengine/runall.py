"""Every real run of the reference engine in one process (one model, one set
of CUDA graphs): the capacity probe, the held-out protocol's workloads
(generated from the probe's capacity), each replayed in real time twice (all
first runs, then all repeats, so the repeat is apart in time), and the
saturating-throughput comparison with the eager loop (realbench.py).

Usage (from profiles/tools/gpu):
  python3 -m refengine.runall REPO_ROOT OUTROOT --tuning TUNING.json
"""
import argparse
import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
import time

import torch

from . import engine as EN
from . import model as M
from . import workloads as W


def engine_for(model, e):
    if e["scheduler"] == "vllm_v1":
        kw = dict(max_num_seqs=e["max_num_seqs"], max_num_batched_tokens=e["max_num_batched_tokens"],
                  long_prefill_token_threshold=e.get("long_prefill_token_threshold", 0))
    else:
        kw = dict(chunk_size=e["chunk"], batch_cap=e["max_num_seqs"])
    return EN.Engine(model, e["scheduler"], kw, e.get("num_blocks", 0)), kw


def gzip_tokens(d):
    """Keep a run's token_metrics.csv and step_log.csv gzipped (servesim reads either form)."""
    for name in ("token_metrics.csv", "step_log.csv"):
        p = os.path.join(d, name)
        with open(p, "rb") as f, open(p + ".gz", "wb") as raw, \
                gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=9, mtime=0) as g:
            shutil.copyfileobj(f, g)
        os.remove(p)


def run_one(model, e, wdir, out, tuning_name):
    eng, kw = engine_for(model, e)
    # warmed up over the whole cache (the warm-up's long prompts need not fit a small pool); the kernels and
    # graphs it compiles and touches are the same
    EN.warm_up(EN.Engine(model, e["scheduler"], kw))
    reqs = EN.load_workload(wdir)
    t = time.time()
    times, steps, npre = eng.serve(reqs)
    wall = time.time() - t
    # a step over 100 ms of GPU time is no step of this model on this GPU (the largest take ~45 ms): a kernel
    # compiling at a shape the warm-up did not cover; counted so that such a run is seen, not scored silently
    stalls = sum(1 for s in steps if s[3] > 100)
    info = dict(workload=e["name"], scheduler=e["scheduler"], settings=kw, num_blocks=eng.num_blocks,
                block_size=16, decode_graph_sizes=M.DECODE_SIZES, mixed_graph_token_sizes=M.MIXED_SIZES,
                wall_s=round(wall, 3), steps=len(steps), preemptions=npre, tuning=tuning_name,
                output_tokens=sum(len(v) for v in times.values()), steps_over_100ms_gpu=stalls)
    EN.write_run(out, reqs, times, steps, info)
    gzip_tokens(out)
    print(f"{e['name']} -> {out}: {len(reqs)} requests, {len(steps)} steps, {wall:.2f} s, {npre} preemptions, "
          f"{stalls} steps over 100 ms of GPU time", flush=True)
    return info


def tokens_per_s(rundir):
    with open(os.path.join(rundir, "request_metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    toks = sum(int(r["num_decode_tokens_actual"]) for r in rows)
    end = max(int(r["completion_time_ns"]) for r in rows)
    start = min(int(r["arrival_time_ns"]) for r in rows)
    return toks / ((end - start) / 1e9), toks, (end - start) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--eager_requests", type=int, default=200)
    ap.add_argument("--capacity", type=float, default=0.0,
                    help="requests/s to size the workloads with (default: measure it with the burst probe)")
    ap.add_argument("--skip_eager", action="store_true", help="do not run the eager loop (its throughput is known)")
    ap.add_argument("--only", default="", help="run only the manifest workloads whose name starts with this (or with "
                    "any of these, comma-separated), and no throughput comparison (a later batch of held-out runs)")
    a = ap.parse_args()
    tuning = M.load_tuning(a.tuning)
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    model = M.Model(tuning=tuning)
    model.capture()
    print(f"model and {len(model.graphs)} graphs ready in {time.time() - t0:.1f} s; {model.num_blocks} KV blocks",
          flush=True)
    # capacity probe
    probe_dir = os.path.join(a.out, "workloads", "probe-burst-400")
    W.write(probe_dir, W.burst(a.root))
    pe = dict(name="probe-burst-400", scheduler="vllm_v1", max_num_batched_tokens=2048, max_num_seqs=256)
    run_one(model, pe, probe_dir, os.path.join(a.out, "runs", "probe-burst-400"), "tuned")
    with open(os.path.join(a.out, "runs", "probe-burst-400", "request_metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    makespan = max(int(r["completion_time_ns"]) for r in rows) / 1e9
    sat = round(len(rows) / makespan, 1)
    print(f"capacity: {sat} requests/s (400 in {makespan:.2f} s)", flush=True)
    if a.capacity:
        print(f"workloads sized with the given capacity {a.capacity} requests/s", flush=True)
        sat = a.capacity
    entries = W.main(a.root, os.path.join(a.out, "workloads"), sat)
    if a.only:
        entries = [e for e in entries if e["name"].startswith(tuple(a.only.split(",")))]
    for rep in ["runs", "repeat"]:
        for e in entries:
            run_one(model, e, os.path.join(a.out, "workloads", e["dir"]), os.path.join(a.out, rep, e["name"]), "tuned")
    if a.only:
        print(f"total {time.time() - t0:.0f} s", flush=True)
        return
    # saturating throughput: the same burst of Splitwise-conversation requests, this engine vs the eager loop
    n = a.eager_requests
    tdir = os.path.join(a.out, "workloads", f"throughput-burst-{n}")
    W.write(tdir, W.burst(a.root, n=n, seed=6))
    thr = {}
    for name, e in [("ref_vllm_v1_256", dict(name="t", scheduler="vllm_v1", max_num_batched_tokens=2048, max_num_seqs=256)),
                    ("ref_sarathi_512_cap128", dict(name="t", scheduler="sarathi", chunk=512, max_num_seqs=128))]:
        od = os.path.join(a.out, "throughput", name)
        run_one(model, e, tdir, od, "tuned")
        thr[name] = tokens_per_s(od)
    del model
    torch.cuda.empty_cache()
    if a.skip_eager:
        with open(os.path.join(a.out, "throughput", "throughput.json"), "w") as f:
            json.dump({k: dict(output_tokens_per_s=v[0], output_tokens=v[1], makespan_s=v[2]) for k, v in thr.items()},
                      f, indent=1)
        print("throughput", thr, f"total {time.time() - t0:.0f} s", flush=True)
        return
    od = os.path.join(a.out, "throughput", "eager_realbench_sarathi_512_cap128")
    t = time.time()
    r = subprocess.run([sys.executable, "realbench.py", tdir, od, "--scheduler", "sarathi", "--chunk", "512", "--cap", "128"], capture_output=True, text=True, timeout=240)
    print(r.stdout[-2000:], r.stderr[-2000:], f"eager loop {time.time() - t:.1f} s", flush=True)
    if r.returncode == 0:
        thr["eager_realbench_sarathi_512_cap128"] = tokens_per_s(od)
        gzip_tokens(od)
    with open(os.path.join(a.out, "throughput", "throughput.json"), "w") as f:
        json.dump({k: dict(output_tokens_per_s=v[0], output_tokens=v[1], makespan_s=v[2]) for k, v in thr.items()}, f,
                  indent=1)
    print("throughput", thr, f"total {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
