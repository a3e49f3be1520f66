"""The host side of the reference engine, from its step logs (stdlib only):
host_overheads.csv (host time per step keyed by batch size, prefills and
prefill tokens) and the synchronisation cost, measured on the manifest's
"fit" runs only (those without a fit_for, which names another fit a run is
for).

Host time of a step = the host's busy time that belongs to it: scheduling,
input preparation and the launch (step_log's host_ms), plus processing the
outputs of the step before it (from that step's completion to the start of
the next scheduling, on consecutive busy steps). host_base is the median
over decode-only steps of each batch-size bin; host_per_prefill_ms and
host_per_prefill_token_ms are a least-squares fit of the remainder on steps
with prefills. sync_ms is the median of (step period - GPU time) over steps
where the GPU, not the host, was the bottleneck.

Usage: python3 -m refengine.fit_host MANIFEST.json RUNS_DIR [RUNS_DIR...] --out PROFILE_DIR
"""
import argparse
import bisect
import csv
import gzip
import json
import os
import statistics

BINS = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256]


def steps(path):
    """A step log's rows; path may name step_log.csv where only step_log.csv.gz is kept."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rt") as f:
            rows = list(csv.DictReader(f))
    else:
        with open(path) as f:
            rows = list(csv.DictReader(f))
    out = []
    for i, r in enumerate(rows):
        d = dict(start=int(r["start_ns"]), launch=int(r["launch_ns"]), end=int(r["end_ns"]), gpu=float(r["gpu_ms"]),
                 host=float(r["host_ms"]), bs=int(r["num_seqs"]), npre=int(r["num_prefills"]), mode=r["mode"],
                 ptok=sum(int(c.split(":")[0]) for c in r["prefill_chunks"].split(";") if c))
        out.append(d)
    # output processing of step i: from its completion until the next scheduling starts
    for i, d in enumerate(out):
        d["proc"] = None
        if i + 2 < len(out):
            gap = (out[i + 2]["start"] - d["end"]) / 1e6
            if 0 <= gap < 2.0 and out[i + 1]["launch"] < d["end"]:  # the next step was already in flight: no idling
                d["proc"] = gap
    return out


def fit(all_steps):
    proc_by_bin = {}
    for s in all_steps:
        if s["proc"] is not None:
            proc_by_bin.setdefault(bin_of(s["bs"]), []).append(s["proc"])
    med_proc = {b: statistics.median(v) for b, v in proc_by_bin.items()}

    def host_total(s):
        b = bin_of(s["bs"])
        return s["host"] + med_proc.get(b, statistics.median([x for v in proc_by_bin.values() for x in v]))
    base = {}
    counts = {}
    for b in BINS:
        v = [host_total(s) for s in all_steps if bin_of(s["bs"]) == b and s["npre"] == 0]
        if v:
            base[b] = statistics.median(v)
            counts[b] = len(v)
    known = sorted(base)

    def base_at(bs):
        i = bisect.bisect_left(known, bs)
        if i < len(known) and known[i] == bs:
            return base[bs]
        if i == 0:
            return base[known[0]]
        if i == len(known):
            return base[known[-1]]
        a, c = known[i - 1], known[i]
        return base[a] + (base[c] - base[a]) * (bs - a) / (c - a)
    # least squares of (host - base) on [num_prefills, prefill_tokens], no intercept
    sxx = sxy = syy = sx = sy = 0.0
    n = 0
    for s in all_steps:
        if s["npre"] == 0:
            continue
        r = host_total(s) - base_at(s["bs"])
        x, y = s["npre"], s["ptok"]
        sxx += x * x
        sxy += x * y
        syy += y * y
        sx += x * r
        sy += y * r
        n += 1
    det = sxx * syy - sxy * sxy
    per_pre = (sx * syy - sy * sxy) / det if det else 0.0
    per_tok = (sxx * sy - sxy * sx) / det if det else 0.0
    return base, counts, per_pre, per_tok, n, med_proc


def bin_of(bs):
    i = bisect.bisect_left(BINS, bs)
    if i < len(BINS) and BINS[i] == bs:
        return bs
    # nearest bin below (bins are the table's rows; interpolation happens in the simulator)
    return BINS[max(0, i - 1)]


def sync_cost(all_steps):
    v = []
    for a, b in zip(all_steps, all_steps[1:]):
        period = (b["end"] - a["end"]) / 1e6
        if b["launch"] < a["end"] and b["proc"] is not None and b["host"] + b["proc"] < b["gpu"] and period < 3 * b["gpu"]:
            v.append(period - b["gpu"])
    return statistics.median(v), len(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.manifest) as f:
        man = json.load(f)
    # a fit run made for another fit (fit_for, e.g. the eager launch's in-run term) stays out of the host table
    fit_names = [w["name"] for w in man["workloads"] if w["split"] == "fit" and not w.get("fit_for")]
    all_steps, used = [], []
    for d in a.runs:
        for name in fit_names:
            p = os.path.join(d, name, "step_log.csv")
            if os.path.exists(p) or os.path.exists(p + ".gz"):
                all_steps += steps(p)
                used.append(os.path.relpath(p))
    base, counts, per_pre, per_tok, n, med_proc = fit(all_steps)
    sync, nsync = sync_cost(all_steps)
    with open(os.path.join(a.out, "host_overheads.csv"), "w") as f:
        f.write("batch_size,host_base_ms,host_per_prefill_ms,host_per_prefill_token_ms\n")
        for b in sorted(base):
            f.write(f"{b},{base[b]:.6f},{max(0.0, per_pre):.6f},{max(0.0, per_tok):.8f}\n")
    rep = dict(fit_runs=used, steps=len(all_steps), decode_steps_per_bin=counts, mixed_steps=n,
               host_per_prefill_ms=per_pre, host_per_prefill_token_ms=per_tok, sync_ms=sync, sync_samples=nsync,
               output_processing_ms_by_bin=med_proc)
    with open(os.path.join(a.out, "host_fit.json"), "w") as f:
        json.dump(rep, f, indent=1, sort_keys=True)
    print(json.dumps(rep, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
