"""Diagnostic (not a workload run of the protocol): ho10-arxiv-budget8192 (eager steps of 2-6k tokens under an
8192-token budget) served three times in one process, with Python's collector as is, then frozen and disabled,
then as is again, to see whether the eager steps' slow launches in a run are collections. Per serve: the eager
steps' host time (schedule + prepare + launch) median and P90, their GPU time median, and TTFT P50 and P90.

Usage (from profiles/tools/gpu): python3 -m refengine.gcprobe REPO_ROOT OUTDIR TUNING.json
"""
import gc, json, os, statistics, sys, time
from . import engine as EN, model as M, runall as RA, workloads as W
root, out, tuning = sys.argv[1], sys.argv[2], sys.argv[3]
model = M.Model(tuning=M.load_tuning(tuning))
model.capture()
entries = W.main(root, os.path.join(out, "workloads"), 62.3)
e = [x for x in entries if x["name"] == "ho10-arxiv-budget8192"][0]
res = {}
for mode in ["default", "frozen_off", "default2"]:
    if mode == "frozen_off":
        gc.collect(); gc.freeze(); gc.disable()
    else:
        gc.enable()
    eng, kw = RA.engine_for(model, e)
    EN.warm_up(EN.Engine(model, e["scheduler"], kw))
    reqs = EN.load_workload(os.path.join(out, "workloads", e["dir"]))
    times, steps, _ = eng.serve(reqs)
    eh = [s[4] for s in steps if s[5] == "eager"]
    eg = [s[3] for s in steps if s[5] == "eager"]
    ttft = sorted((times[r.id][0] - r.arrival) / 1e6 for r in reqs)
    res[mode] = dict(eager=len(eh), host_med=statistics.median(eh), host_p90=sorted(eh)[int(.9 * len(eh))],
                     gpu_med=statistics.median(eg), ttft_p50=ttft[len(ttft) // 2], ttft_p90=ttft[int(.9 * len(ttft))])
    print(mode, res[mode], flush=True)
json.dump(res, open(os.path.join(out, "gcprobe.json"), "w"), indent=1)
