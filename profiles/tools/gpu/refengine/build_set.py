"""Assemble the profile set from the device's raw results (stdlib only):
mlp.csv (token ops scaled to the in-situ graph step times), mlp_isolated.csv
(the kernels alone, as measured), attention.csv, engine.json,
host_overheads.csv and host_fit.json (fit runs only), env.json, tuning.json
and insitu.json.

In-situ scaling: for each captured size s, insitu.json has the measured GPU
time of the whole graph; the per-op profile predicts it as
  28 x (token ops(s) + KV save(s) + attention) + emb(s) + lm_head(rows)
and the token-op rows at s (all mlp.csv columns but emb/lm_head are scaled by
f(s) = (measured - 28 x (KV save + attention)) / (28 x token ops + emb + lm_head),
so the profile's sum equals the measured step. Decode graph sizes take the
decode graphs' factor, sizes above 256 the mixed graphs'; eager sizes (above
2048) stay as measured alone. Sizes both kinds capture (64-256) get the mixed
graph's factor over the decode graph's as engine.json's mixed_graph_mlp_scale.

Decode attention in a graph (insitu_ctx.json, when present): attn_decode rows
follow the decode graphs' measured change with context (contexts spread as in
a real batch) from the isolated row at 512; attention_isolated.csv keeps the
kernel alone. A later fill of the decode grid (attn_decode_fill.csv from opprofile --decode_batches,
insitu_ctx_fill.json from insitu_ctx --batches, in ENGINE_DIR) adds its rows at the batch sizes the raw
profile lacks; rows the raw profile has stay as first measured. Contexts under the grid's first (64) come from a
later probe with the same methods (attn_decode_short.csv from opprofile --decode_kv, insitu_ctx_short.json from
insitu_ctx --contexts), merged where the rows lack them. Prefill attention over cached context in a graph
(prefillctx.json, when present; prefillctx_fill.json extends it past 8192 cached tokens, as
attn_prefill_fill.csv from opprofile --prefill_kv extends the isolated prefill rows): attn_prefill rows of the
probed chunk sizes
over more than one chunk of cache follow the graphs' measured growth from one
chunk (the kernel alone reads a cache that can sit in the L2). Decodes in a
mixed graph (mixeddecode.json, when present): engine.json's mixed_decode
rows, measured in those graphs. An eager step's launch (engine.json's eager_launch) is fitted on the
designed eager probe (eagerprobe.json; later sessions' eagerprobe_*.json are scored against it; the
busy-GPU probe, eagerbusy.json, is checked: launches behind a step still on the GPU against the same
shapes' from idle); the extra cost of a token count's first launch (first_ms) on the designed shape probes
(shapeprobe*.json); its in-run term (in_run_ms) on the manifest's fit runs for it (fit_for "eager_launch"); the
share of the launch that an eager step's GPU work waits for (start_frac) comes from eager_start.json, which `go run
./bench/gpu/fidelity -eager_start bench/gpu/h200/engine/eager_start.json` fits on those fit runs' eager steps from
idle with the set's own predictor (re-run it, then this, when the set's GPU terms change). The
idle-start host time (engine.json's idle_host) is fitted on
the designed idle probe (idleprobe/step_log.csv), never on a workload run;
its GPU terms (a step from idle runs slower on a GPU that lowered its clocks)
come from idle_gpu.json, which `go run ./bench/gpu/fidelity -idle_gpu
bench/gpu/h200/engine/idle_gpu.json` fits on the designed idle probes with the
set's own predictor (re-run it, then this, when the set's GPU terms change).
The prefill launch's wave model (prefill_launch's blocks_per_sm and costs)
comes from prefill_waves.json, which `go run ./bench/gpu/fidelity
-prefill_waves bench/gpu/h200/engine/prefill_waves.json` fits on this set's
attention.csv and the designed wave probe (waveprobe.json); fit it first.
The decode launch's model (engine.json decode_launch) comes from
decode_waves.json, which `go run ./bench/gpu/fidelity -decode_waves
bench/gpu/h200/engine/decode_waves.json` fits on the designed decode probe
(decodeprobe.json). A decode graph's in-run factor per captured size (engine.json decode_in_run) comes from
decode_in_run.json, which `go run ./bench/gpu/fidelity -decode_in_run bench/gpu/h200/engine/decode_in_run.json`
fits on the decode graph steps of the manifest's general fit runs and of those made for it (fit_for "decode_in_run")
with the set's own predictor (re-run it, then this, when the set's GPU terms change).

Usage (repo root): python3 profiles/tools/gpu/refengine/build_set.py RAW_PROFILE_DIR bench/gpu/h200/engine \\
    profiles/tools/gpu/workloads/MANIFEST.json bench/gpu/h200 bench/gpu/h200-repeat --out profiles/h200/qwen3-0.6b
"""
import argparse
import bisect
import csv
import glob
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys

LAYERS = 28
TOKEN_OPS = ["input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm",
             "mlp_up_proj", "mlp_act", "mlp_down_proj", "emb", "lm_head"]
DECODE_SIZES = [1, 2, 4, 8] + list(range(16, 257, 8))
MIXED_SIZES = list(range(64, 513, 64)) + list(range(640, 2049, 128))
STATS = ["min", "max", "mean", "median", "std"]


def interp(xs, ys, x):
    i = bisect.bisect_left(xs, x)
    if i < len(xs) and xs[i] == x:
        return ys[i]
    if i == 0:
        return ys[0]
    if i == len(xs):
        return ys[-1]
    return ys[i - 1] + (ys[i] - ys[i - 1]) * (x - xs[i - 1]) / (xs[i] - xs[i - 1])


def merge_decode_fill(raw_path, fill_path, out_path):
    """The raw attention.csv with the decode rows of a later fill of the grid (opprofile --decode_batches:
    attn_decode_fill.csv) at batch sizes the raw rows lack, written to out_path; rows the raw file has are kept
    as measured (the fill re-times a few of them only as a check). Returns the batch sizes added."""
    rows = list(csv.DictReader(open(raw_path)))
    header = list(rows[0].keys())
    have = {int(r["batch_size"]) for r in rows if r["is_prefill"] == "False"}
    fill = [r for r in csv.DictReader(open(fill_path)) if r["is_prefill"] == "False" and int(r["batch_size"]) not in have]
    pre = [r for r in rows if r["is_prefill"] == "True"]
    dec = sorted([r for r in rows if r["is_prefill"] == "False"] + fill,
                 key=lambda r: (int(r["batch_size"]), int(r["kv_cache_size"])))
    with open(out_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(pre + dec)
    return sorted({int(r["batch_size"]) for r in fill})


def merge_pairs(raw_path, fill_path, out_path, prefill):
    """The attention rows at raw_path with the prefill (prefill True) or decode rows of a later session's file
    at fill_path at (chunk or batch, context) pairs the raw rows lack, written to out_path, prefill rows first,
    the merged kind sorted. A chunk's or batch's KV save stays as the raw rows measured it (the set keeps one
    per size). Returns the contexts added."""
    kind, outer, noun = ("True", "prefill_chunk_size", "chunk") if prefill else ("False", "batch_size", "decode batch")
    rows = list(csv.DictReader(open(raw_path)))
    header = list(rows[0].keys())
    mine = [r for r in rows if r["is_prefill"] == kind]
    have = {(int(r[outer]), int(r["kv_cache_size"])) for r in mine}
    save = {int(r[outer]): r for r in mine}
    add = []
    for r in csv.DictReader(open(fill_path)):
        o, kv = int(r[outer]), int(r["kv_cache_size"])
        if r["is_prefill"] != kind or (o, kv) in have:
            continue
        if o not in save:
            raise SystemExit(f"{fill_path}: {noun} {o} is not a {noun} size of {raw_path}")
        r = dict(r)
        for st in STATS:
            col = f"time_stats.attn_kv_cache_save.{st}"
            r[col] = save[o][col]
        add.append(r)
    mine = sorted(mine + add, key=lambda r: (int(r[outer]), int(r["kv_cache_size"])))
    other = [r for r in rows if r["is_prefill"] != kind]
    with open(out_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(mine + other if prefill else other + mine)
    return sorted({int(r["kv_cache_size"]) for r in add})


def merge_prefill_chunks(raw_path, chunks_path, out_path):
    """The attention rows at raw_path with the prefill rows of a later extension past the grid's chunk sizes
    (opprofile --prefill_chunks: attn_prefill_chunks.csv) at chunk sizes the raw rows lack, each with the KV save
    measured at its size, written to out_path, prefill rows first, sorted. Returns the chunk sizes added."""
    rows = list(csv.DictReader(open(raw_path)))
    header = list(rows[0].keys())
    pre = [r for r in rows if r["is_prefill"] == "True"]
    have = {int(r["prefill_chunk_size"]) for r in pre}
    add = [r for r in csv.DictReader(open(chunks_path))
           if r["is_prefill"] == "True" and int(r["prefill_chunk_size"]) not in have]
    pre = sorted(pre + add, key=lambda r: (int(r["prefill_chunk_size"]), int(r["kv_cache_size"])))
    with open(out_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(pre + [r for r in rows if r["is_prefill"] != "True"])
    return sorted({int(r["prefill_chunk_size"]) for r in add})


def merge_mlp_fill(raw_path, fill_path):
    """The mlp.csv rows at raw_path with a later extension's rows (opprofile --prefill_chunks: mlp_fill.csv) at
    token counts the raw rows lack, sorted by num_tokens; and the counts added."""
    rows = list(csv.DictReader(open(raw_path)))
    have = {int(r["num_tokens"]) for r in rows}
    add = [r for r in csv.DictReader(open(fill_path)) if int(r["num_tokens"]) not in have]
    return sorted(rows + add, key=lambda r: int(r["num_tokens"])), sorted(int(r["num_tokens"]) for r in add)


def merge_decode_short(raw_path, short_path, out_path):
    """merge_pairs of the decode rows of a later probe under the grid's first context (opprofile --decode_kv:
    attn_decode_short.csv)."""
    return merge_pairs(raw_path, short_path, out_path, prefill=False)


def merge_prefill_fill(raw_path, fill_path, out_path):
    """merge_pairs of the prefill rows of a later extension of the grid past its cached contexts (opprofile
    --prefill_kv: attn_prefill_fill.csv)."""
    return merge_pairs(raw_path, fill_path, out_path, prefill=True)


def prefill_retime(raw_path, fill_path):
    """The fill's prefill rows that re-time points the raw rows have (a check of drift between sessions): the
    least and largest fill / raw - 1 of attn_prefill's median, and how many."""
    def rows(path):
        return {(int(r["prefill_chunk_size"]), int(r["kv_cache_size"])): float(r["time_stats.attn_prefill.median"])
                for r in csv.DictReader(open(path)) if r["is_prefill"] == "True"}
    raw, fill = rows(raw_path), rows(fill_path)
    d = [fill[k] / raw[k] - 1 for k in fill if k in raw]
    return (min(d), max(d), len(d)) if d else (0.0, 0.0, 0)


def merge_prefillctx_fill(pctx, fill):
    """prefillctx.json with a later extension's steps (prefillctx --top --above) over cached sizes it lacks
    for their chunk size."""
    have = {(r["size"], r["cached"]) for r in pctx["rows"]}
    add = [r for r in fill["rows"] if (r["size"], r["cached"]) not in have]
    if not add:
        return pctx
    top = max(r["cached"] for r in add)
    return dict(pctx, rows=pctx["rows"] + add,
                method=pctx["method"] + f"; steps over more than {fill['above']} (to {top}) cached tokens from a "
                "later session's extension (prefillctx_fill.json, same method)")


def merge_insitu_fill(ictx, fill):
    """insitu_ctx.json with a later fill's graph sizes (insitu_ctx --batches) that it lacks."""
    out = dict(ictx, uniform512=dict(ictx["uniform512"]), spread=dict(ictx["spread"]),
               skipped=list(ictx.get("skipped", [])))
    added = []
    for b, u in fill["uniform512"].items():
        if b not in out["uniform512"]:
            out["uniform512"][b] = u
            out["spread"][b] = fill["spread"][b]
            out["skipped"] += [x for x in fill.get("skipped", []) if str(x[0]) == b]
            added.append(int(b))
    if added:
        out["method"] = (ictx["method"] + f"; graph sizes {', '.join(map(str, sorted(added)))} from a later session's "
                         "fill (insitu_ctx_fill.json, same method)")
    return out


def merge_insitu_short(ictx, short):
    """insitu_ctx.json with a later probe's mean contexts (insitu_ctx --contexts) that a graph size lacks. Each
    is rebased on its own session's anchor, t + (uniform512 here - uniform512 there), so the shift the build
    takes from the anchor (graph(c) - uniform512) is the later session's own, free of the card's drift between
    sessions. Graph sizes the probe did not time keep their nearest measured context's shift."""
    out = dict(ictx, spread={b: dict(v) for b, v in ictx["spread"].items()})
    added = set()
    for b, row in short["spread"].items():
        if b not in out["spread"]:
            continue
        d = ictx["uniform512"][b] - short["uniform512"][b]
        for c, t in row.items():
            if c not in out["spread"][b]:
                out["spread"][b][c] = t + d
                added.add(int(c))
        out["spread"][b] = dict(sorted(out["spread"][b].items(), key=lambda kv: int(kv[0])))
    if added:
        out["method"] = (ictx["method"] + f"; mean contexts {', '.join(map(str, sorted(added)))} from a later "
                         "session's probe (insitu_ctx_short.json, same method), rebased on its own uniform 512")
    return out


def attention_tables(path):
    dec, pre, kv = {}, {}, {}
    for r in csv.DictReader(open(path)):
        if r["is_prefill"] == "True":
            pre.setdefault(int(r["prefill_chunk_size"]), {})[int(r["kv_cache_size"])] = float(r["time_stats.attn_prefill.median"])
            kv[int(r["prefill_chunk_size"])] = float(r["time_stats.attn_kv_cache_save.median"])
        else:
            dec.setdefault(int(r["batch_size"]), {})[int(r["kv_cache_size"])] = float(r["time_stats.attn_decode.median"])
            kv[int(r["batch_size"])] = float(r["time_stats.attn_kv_cache_save.median"])
    return dec, pre, kv


def at(table, outer, inner):
    ks = sorted(table)

    def row(o):
        d = table[o]
        xs = sorted(d)
        return interp(xs, [d[x] for x in xs], inner)
    vals = [row(o) for o in ks]
    return interp(ks, vals, outer)


def op_spread(mlp_path, attn_path):
    """Per op, the median over its grid of std/median of the profiler's samples (replays)."""
    out = {}
    for path in (mlp_path, attn_path):
        rows = list(csv.DictReader(open(path)))
        ops = sorted({c.split(".")[1] for c in rows[0] if c.startswith("time_stats.")})
        for op in ops:
            v = [float(r[f"time_stats.{op}.std"]) / float(r[f"time_stats.{op}.median"]) for r in rows
                 if r.get(f"time_stats.{op}.median") and float(r[f"time_stats.{op}.median"]) > 0]
            if v:
                out[op] = statistics.median(v)
    return out


MIXED_LOGIT_ROWS = 256
IDLE_AFTER_MS = 0.3  # engine.py's serve loop sleeps when the next arrival is more than 300 us away


# insitu_ctx.py times 15 steady steps from the listed contexts and keeps the median of steps 3-14, so the
# contexts stand about 8 keys on when timed (decodewaves.go's probeGrowth).
PROBE_GROWTH = 8


def in_graph_shift(rows, ictx):
    """The in-graph shift of each isolated attn_decode row (insitu_ctx.py): row(B, c) = isolated row(B, 512 + 8)
    + (G_B(c) - graph(B, uniform 512)) / 28, where G_B interpolates graph B's measured step times at the contexts
    they were timed at (mean + PROBE_GROWTH: the uniform 512 anchor stands at 520 too); past the first and last
    timed context a row takes the shift there. Returns shift(b, c) = row(b, c) - isolated row(b, c)."""
    iso = {}
    for r in rows:
        if r["is_prefill"] == "False":
            iso.setdefault(int(r["batch_size"]), {})[int(r["kv_cache_size"])] = float(r["time_stats.attn_decode.median"])

    def iso_at(b, c):
        xs = sorted(iso[b])
        return interp(xs, [iso[b][x] for x in xs], c)

    def shift(b, c):
        key = str(b)
        if key not in ictx["uniform512"] or not ictx["spread"].get(key):
            raise SystemExit(f"insitu_ctx.json has no measurement for batch {b}")
        pts = sorted((int(m) + PROBE_GROWTH, t) for m, t in ictx["spread"][key].items())
        xs, ys = [x for x, _ in pts], [t for _, t in pts]
        x = min(max(c, xs[0]), xs[-1])  # inside the timed contexts, c itself; else the nearest end
        row = iso_at(b, 512 + PROBE_GROWTH) + (interp(xs, ys, x) - ictx["uniform512"][key]) / LAYERS
        return row - iso_at(b, x)
    return shift


def prefill_shift(rows, pctx):
    """The in-graph shift of each isolated attn_prefill row (prefillctx.py): for a probed chunk c, a row
    over kv cached keys, kv >= c, is the isolated row at one chunk of cache plus the graphs' measured growth
    from there: row(c, kv) = iso(c, c) + (graph(c, kv) - graph(c, c)) / 28. Anchored at one chunk of cache,
    not at none: a prompt's first chunk follows an idle GPU in the probe (idle_host's GPU terms), and the
    in-situ factors already anchor the fresh prefill. Rows with kv < c, and chunks not probed, keep the
    isolated time (shift 0). Returns shift(c, kv)."""
    iso = {}
    for r in rows:
        if r["is_prefill"] == "True":
            iso.setdefault(int(r["prefill_chunk_size"]), {})[int(r["kv_cache_size"])] = float(r["time_stats.attn_prefill.median"])
    graph = {}
    for r in pctx["rows"]:
        if r["grid"] and r["chunk"] == r["size"]:
            graph.setdefault((r["size"], r["cached"]), []).append(r["gpu_ms"])
    graph = {k: statistics.median(v) for k, v in graph.items()}
    layers = pctx["layers"]

    def shift(c, kv):
        if c not in iso or (c, c) not in graph or kv <= c:
            return 0.0
        if (c, kv) not in graph:
            raise SystemExit(f"prefillctx.json has chunk {c} but no step over {kv} cached tokens")
        xs = sorted(iso[c])
        iso_at = interp(xs, [iso[c][x] for x in xs], c)
        return iso_at + (graph[(c, kv)] - graph[(c, c)]) / layers - iso[c][kv]
    return shift


def shift_stats(row, op, d, where):
    """Add d ms to every stat column of op in row but the spread (std); a row shifted to <= 0 is an error."""
    if not d:
        return
    for st in STATS:
        if st == "std":
            continue
        col = f"time_stats.{op}.{st}"
        v = float(row[col]) + d
        if v <= 0:
            raise SystemExit(f"{op} at {where}: {v} <= 0 after the in-graph shift")
        row[col] = f"{v:.6f}"


def write_attention_in_graph(raw_path, ictx, out_path, pctx=None):
    """attention.csv with attn_decode rows taken from the decode graphs as they run (in_graph_shift) and,
    with prefillctx.json, attn_prefill rows over cached context too (prefill_shift), every stat column
    shifted by the same amount. The KV save is as measured alone."""
    rows = list(csv.DictReader(open(raw_path)))
    header = list(rows[0].keys())
    at_shift = in_graph_shift(rows, ictx)
    p_shift = prefill_shift(rows, pctx) if pctx else (lambda c, kv: 0.0)
    with open(out_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        for r in rows:
            out = dict(r)
            if r["is_prefill"] == "False":
                b, c = int(r["batch_size"]), int(r["kv_cache_size"])
                shift_stats(out, "attn_decode", at_shift(b, c), f"batch {b}, context {c}")
            else:
                c, kv = int(r["prefill_chunk_size"]), int(r["kv_cache_size"])
                shift_stats(out, "attn_prefill", p_shift(c, kv), f"chunk {c}, kv {kv}")
            w.writerow(out)


def idle_host(step_log):
    """Host time of a step started from idle, from the designed idle probe (idleprobe.py): least squares of
    (wall time of the step - its GPU time) over its idle-start steps on [1, prefills, prefill tokens]."""
    steps = list(csv.DictReader(open(step_log)))
    X, Y = [], []
    for i, r in enumerate(steps):
        if i > 0 and int(r["start_ns"]) < int(steps[i - 1]["end_ns"]):
            continue
        X.append([1.0, float(r["num_prefills"]), float(int(r["num_tokens"]) - int(r["num_decodes"]))])
        Y.append((int(r["end_ns"]) - int(r["start_ns"])) / 1e6 - float(r["gpu_ms"]))
    c = lstsq3(X, Y)
    res = sorted(abs(v - sum(a * b for a, b in zip(x, c))) for x, v in zip(X, Y))
    return dict(after_ms=IDLE_AFTER_MS, base_ms=round(max(c[0], 0.0), 6), per_prefill_ms=round(max(c[1], 0.0), 6),
                per_prefill_token_ms=round(max(c[2], 0.0), 9),
                source=f"designed idle probe ({os.path.relpath(step_log)}: {len(X)} steps started from idle; least squares of "
                       f"step wall time - GPU time on prefills and prefill tokens; median |residual| "
                       f"{res[len(res) // 2]:.3f} ms)")


def eager_shapes(path):
    """An eager probe's eager steps (eagerprobe.py's rows): {(tokens, decodes, prefills, decode context): the
    median host time over the shape's repetitions}."""
    by = {}
    for r in json.load(open(path))["rows"]:
        if r["mode"] == "eager":
            k = (r["num_tokens"], r["num_decodes"], r["num_prefills"], r.get("decode_ctx", 512))
            by.setdefault(k, []).append(r["host_ms"])
    return {k: statistics.median(v) for k, v in by.items()}


def eager_launch(probe_path, check_paths=()):
    """engine.json's eager_launch from the designed eager probe (eagerprobe.py: eager steps from idle): least squares
    of the steps' host time (schedule + prepare + launch), the median over repetitions per shape, on [1, any decode,
    decodes]. Probes of other device sessions (check_paths) are scored against the fit, not fitted: the host's launch
    speed differs between sessions."""
    shapes = eager_shapes

    def model(c, d):
        return c[0] + (c[1] if d > 0 else 0.0) + c[2] * d
    fit = shapes(probe_path)
    X = [[1.0, 1.0 if k[1] > 0 else 0.0, float(k[1])] for k in sorted(fit)]
    Y = [fit[k] for k in sorted(fit)]
    c = [max(v, 0.0) for v in lstsq3(X, Y)]
    res = sorted(abs(fit[k] - model(c, k[1])) for k in fit)
    checks = []
    for p in check_paths:
        sh = shapes(p)
        err = sorted(sh[k] / model(c, k[1]) - 1 for k in sh)
        checks.append(f"{os.path.relpath(p)} ({len(sh)} shapes, another device session, not fitted): median "
                      f"{100 * err[len(err) // 2]:+.1f}% against the fit")
    check = ("; scored on " + "; ".join(checks)) if checks else ""
    return dict(base_ms=round(c[0], 6), decodes_ms=round(c[1], 6), per_decode_ms=round(c[2], 6),
                source=f"designed eager probe ({os.path.relpath(probe_path)}: {len(Y)} eager step shapes of 2112-8192 "
                       f"tokens from idle; least squares of the median host time per shape (schedule + prepare + "
                       f"launch) on any decode and decodes; median |residual| {res[len(res) // 2]:.3f} ms){check}")


def launch_ms(launch, decodes):
    """eager_launch's launch time of an eager step with decodes decodes, without its in-run term."""
    return launch["base_ms"] + ((launch["decodes_ms"] + launch["per_decode_ms"] * decodes) if decodes else 0.0)


def eager_in_run(manifest_path, run_dirs, engine_dir, launch, first_ms=0.0, max_tokens=8192):
    """eager_launch's in_run_ms: how much longer an eager step's launch takes inside a served run than the designed
    probe's launch from idle that the other terms are fitted on, fitted on the manifest's fit runs for it (fit_for
    "eager_launch") only, never on a held-out run: per fit run, in each of run_dirs (a run and its repeat), the median
    over its eager steps of at most max_tokens tokens (the probe's range) of host time (schedule + prepare + launch)
    over the launch; in_run_ms is the median over those. The same device session's probe from idle (the run's
    same_session_probe in engine_dir) is reported beside it, not subtracted: in session 7 the host's launch speed
    drifted within the call (fit-eager-uniform's eager steps +6.2 ms over the launch in its run, +0.9 ms in its
    repeat four minutes later; the probe before them +8.8 ms), so one probe says little about a run's moment.
    With first_ms (first_launch: a token count's first eager launch in the process costs that much more), a step
    whose count the process had not launched before has first_ms taken off: run_dirs are read in order (runall
    replays every first run, then every repeat, in one process), so a repeat's counts that its run launched are
    seen (the warm-up's few counts, and other workloads' of the same call, are not tracked).
    Returns (in_run_ms, source), or None when no fit run has eager steps."""
    man = json.load(open(manifest_path))
    vals, parts = [], []
    for w in man["workloads"]:
        if w["split"] != "fit" or w.get("fit_for") != "eager_launch":
            continue
        seen = set()
        for d in run_dirs:
            p = os.path.join(d, w["name"], "step_log.csv")
            if not os.path.exists(p):
                if not os.path.exists(p + ".gz"):
                    continue
                p += ".gz"
            ex = []
            with (gzip.open(p, "rt") if p.endswith(".gz") else open(p)) as f:
                for r in csv.DictReader(f):
                    if r["mode"] != "eager":
                        continue
                    n = int(r["num_tokens"])
                    new = n not in seen
                    seen.add(n)
                    if n <= max_tokens:
                        ex.append(float(r["host_ms"]) - launch_ms(launch, int(r["num_decodes"])) - (first_ms if new else 0.0))
            if ex:
                vals.append(statistics.median(ex))
                parts.append(f"{os.path.relpath(p)} ({len(ex)} eager steps) {vals[-1]:+.3f}")
        probe = os.path.join(engine_dir, w["same_session_probe"]) if w.get("same_session_probe") else ""
        if vals and probe and os.path.exists(probe):
            by = {k: v - launch_ms(launch, k[1]) for k, v in eager_shapes(probe).items() if k[0] <= max_tokens}
            parts[-1] += (f" (its session's probe from idle, {os.path.relpath(probe)}: {len(by)} shapes, "
                          f"{statistics.median(by.values()):+.3f})")
    if not vals:
        return None
    x = max(statistics.median(vals), 0.0)
    first = f", less first_ms ({first_ms:.3f}) where the process had not launched the count before," if first_ms else ""
    return round(x, 6), (f"in_run_ms {x:.3f}: the median over fit runs made for it of their eager steps' median host "
                         f"time over base_ms/decodes_ms/per_decode_ms{first} in ms: " + "; ".join(parts))


def first_launch(paths):
    """engine.json eager_launch's first_ms from the designed shape probes (shapeprobe.py: rounds of one-prompt eager
    steps from idle, a token count never launched before beside one launched in every round): per round, its new
    and seen steps paired in launch order; first_ms is the median over every pair of every probe of new host_ms less
    seen host_ms. Returns (first_ms, source), or None without a probe."""
    diffs, parts = [], []
    for p in paths:
        by = {}
        for r in json.load(open(p))["rows"]:
            by.setdefault(r["round"], {"new": [], "seen": []})[r["kind"]].append(r["host_ms"])
        d = [a - b for k in sorted(by) for a, b in zip(by[k]["new"], by[k]["seen"])]
        if d:
            diffs += d
            parts.append(f"{os.path.relpath(p)}: {len(d)} pairs, {sum(x > 0 for x in d)} new slower, median "
                         f"{statistics.median(d):+.3f}")
    if not diffs:
        return None
    x = max(statistics.median(diffs), 0.0)
    return round(x, 6), (f"designed shape probes (refengine.shapeprobe: per round, one-prompt eager steps from idle, "
                         f"a count never launched before beside one launched in every round): the median over "
                         f"{len(diffs)} pairs of the new step's host time less the seen one's, {x:.3f} ms; " + "; ".join(parts))


def eager_busy(probe_path, launch, grid_ms=0.01):
    """A check of eager_launch against the designed busy-GPU eager probe (eagerbusy.py: each eager shape from idle
    and behind a prior step still on the GPU; rep -1, a shape's first time in the process, left out), nothing
    fitted: one line with the probe's launches from idle against launch (eager_launch's fit, another session), and
    per prior step the launches behind it against the same shape's from idle. A bounded launch queue would make a
    launch behind a busy GPU end no sooner than a tail before the step's end: the best such tail (a grid of grid_ms)
    is named if it predicts the host times better than the launch from idle alone."""
    rows = [r for r in json.load(open(probe_path))["rows"] if r["mode"] == "eager" and r.get("rep", 0) >= 0]
    idle = {}
    for r in rows:
        if r["prev"] == "idle":
            idle.setdefault((r["num_tokens"], r["num_decodes"]), []).append(r["host_ms"])
    idle = {k: statistics.median(v) for k, v in idle.items()}
    if not idle:
        return f"{os.path.relpath(probe_path)}: no eager step from idle"
    fit = sorted(v / launch_ms(launch, k[1]) - 1
                 for k, v in idle.items())
    parts = [f"{os.path.relpath(probe_path)}: {len(idle)} shapes from idle at a median {100 * fit[len(fit) // 2]:+.1f}% "
             "against eager_launch"]
    busy = [r for r in rows if r["prev"] != "idle" and (r["num_tokens"], r["num_decodes"]) in idle]
    for prev in sorted({r["prev"] for r in busy}, key=lambda p: min(i for i, r in enumerate(busy) if r["prev"] == p)):
        rs = [r for r in busy if r["prev"] == prev]
        d = statistics.median(r["host_ms"] - idle[(r["num_tokens"], r["num_decodes"])] for r in rs)
        parts.append(f"behind {prev} ({len(rs)} steps; the GPU still on the prior step at the launch's start in "
                     f"{sum(1 for r in rs if r['prev_busy_at_launch'])}, at its end in "
                     f"{sum(1 for r in rs if r['prev_busy_after_launch'])}) {d:+.2f} ms at the median")
    busy = [r for r in busy if r["prev_busy_at_launch"]]
    if not busy:
        return "; ".join(parts)

    def mean_abs(tail):
        return sum(abs(max(idle[(r["num_tokens"], r["num_decodes"])], (r["end_ns"] - r["start_ns"]) / 1e6 - tail)
                       - r["host_ms"]) for r in busy) / len(busy)
    alone = mean_abs(float("inf"))
    top = max((r["end_ns"] - r["start_ns"]) / 1e6 for r in busy)
    best = min((mean_abs(i * grid_ms), i * grid_ms) for i in range(int(top / grid_ms) + 1))
    tail = (f"a tail of {best[1]:.2f} ms would predict them at {best[0]:.3f} (not modelled)" if best[0] < alone
            else "no tail does better")
    parts.append(f"a launch behind a busy GPU as from idle: mean |error| {alone:.3f} ms over {len(busy)} steps; {tail}")
    return "; ".join(parts)


def lstsq3(X, Y):
    """Least-squares coefficients of three columns X (rows of 3) for Y, by the normal equations."""
    A = [[sum(x[i] * x[j] for x in X) for j in range(3)] for i in range(3)]
    y = [sum(x[i] * v for x, v in zip(X, Y)) for i in range(3)]
    return solve3(A, y)


def solve3(A, y):
    A = [row[:] + [v] for row, v in zip(A, y)]
    n = len(A)
    for i in range(n):
        p = max(range(i, n), key=lambda k: abs(A[k][i]))
        A[i], A[p] = A[p], A[i]
        for k in range(i + 1, n):
            f = A[k][i] / A[i][i]
            A[k] = [a - f * b for a, b in zip(A[k], A[i])]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (A[i][n] - sum(A[i][j] * x[j] for j in range(i + 1, n))) / A[i][i]
    return x


def designed_increments(rows):
    """Least squares (no intercept) of a step's host time over the decode-only step of as many
    sequences, on num_prefills and prefill tokens, over the designed shapes run as graphs."""
    base = {r["num_decodes"]: r["host_ms"] + r["process_ms"] for r in rows if r["num_prefills"] == 0}
    ks = sorted(base)
    sxx = sxy = syy = sx = sy = 0.0
    n = 0
    for r in rows:
        if r["num_prefills"] == 0 or r["mode"] != "graph_mixed":
            continue
        res = r["host_ms"] + r["process_ms"] - interp(ks, [base[k] for k in ks], r["num_seqs"])
        x, y = r["num_prefills"], r["prefill_tokens"]
        sxx, sxy, syy, sx, sy, n = sxx + x * x, sxy + x * y, syy + y * y, sx + x * res, sy + y * res, n + 1
    det = sxx * syy - sxy * sxy
    return (sx * syy - sy * sxy) / det, (sxx * sy - sxy * sx) / det, n


def merge_mixeddecode_fill(probe, fill):
    """mixeddecode.json with a later extension's points (mixeddecode --contexts) at (graph, decodes, context)
    points it lacks."""
    graphs = {}
    for size, pts in probe["graphs"].items():
        have = {(r["decodes"], r["context"]) for r in pts}
        add = [r for r in fill["graphs"].get(size, []) if (r["decodes"], r["context"]) not in have]
        graphs[size] = pts + add
    return dict(probe, graphs=graphs, skipped=probe.get("skipped", []) + fill.get("skipped", []))


def mixed_decode(probe, src):
    """engine.json's mixed_decode from mixeddecode.py's points: per mixed sequence bound, rows of
    [decodes, mean context, ms per layer], each the mean over repetitions of the point's step time less
    the empty graph's, over the layers."""
    graphs = []
    for size, pts in sorted(probe["graphs"].items(), key=lambda kv: int(kv[0])):
        by = {}
        for r in pts:
            by.setdefault((r["decodes"], r["context"]), []).append((r["gpu_ms"] - r["empty_ms"]) / probe["layers"])
        rows = [[k, c, round(max(0.0, statistics.mean(v)), 6)] for (k, c), v in sorted(by.items())]
        graphs.append(dict(seq_bound=min(int(size), MIXED_LOGIT_ROWS), rows=rows))
    n = sum(len(g["rows"]) for g in graphs)
    return dict(graphs=graphs, source=f"measured by refengine.mixeddecode on the {probe['device']} ({src}): {n} points, "
                "decode-only steps of k sequences (contexts spread over [0.5, 1.5] x the mean) planned into the mixed "
                "graph of each sequence bound, median step GPU time less the graph replayed empty, per layer, mean of "
                f"{max(r['rep'] for p in probe['graphs'].values() for r in p) + 1} repetitions")


def mixed_big(probe, base, src, control):
    """mixed_decode graphs for the large mixed graphs from mixedbig.py's points: for each probed graph of S tokens
    (sequence bound 256, min_tokens S), base's rows (the bound's rows, [decodes, context, ms per layer]) times the
    ratio of the decodes' measured in-graph cost at S (the point less the graph's no-decode point, per layer) to
    control's row at the same decodes and context. control is the bound's graph re-timed by mixeddecode.py in the
    same device session as the probe (mixed_decode's rows of it, [decodes, context, ms per layer]): the ratio is
    then of two timings under one session's clocks, where base's rows come from another session (the decode
    launches read 1.5-2% apart between sessions). The ratio is interpolated over the probed decodes and contexts
    (at fewer decodes than the first probed, the first's; past the probed contexts, the nearest's)."""
    def mean_by(size):
        by = {}
        for r in probe["rows"]:
            if r["size"] == size:
                by.setdefault((r["decodes"], r["context"]), []).append(r["gpu_ms"])
        return {k: statistics.mean(v) for k, v in by.items()}
    grid = {(r[0], r[1]): r[2] for r in control}
    graphs, checks = [], []
    for size in sorted({r["size"] for r in probe["rows"]}):
        pts = mean_by(size)
        zero = [v for (k, _), v in pts.items() if k == 0]
        if not zero:
            raise SystemExit(f"mixedbig.json: graph {size} has no point without decodes")
        ratio = {}
        for (k, c), v in pts.items():
            if k:
                if not grid.get((k, c)):
                    raise SystemExit(f"mixedbig.json: {k} decodes at {c} is not a point of the control's rows")
                ratio[(k, c)] = (v - zero[0]) / probe["layers"] / grid[(k, c)]
        ks, cs = sorted({k for k, _ in ratio}), sorted({c for _, c in ratio})
        missing = [(k, c) for k in ks for c in cs if (k, c) not in ratio]
        if missing:
            raise SystemExit(f"mixedbig.json: graph {size} lacks the points (decodes, context) {missing}")

        def r_at(k, c):  # interp holds the end values past the probed decodes and contexts
            return interp(ks, [interp(cs, [ratio[(kk, x)] for x in cs], c) for kk in ks], k)
        rows = [[k, c, round(ms * r_at(k, c), 6)] for k, c, ms in base]
        graphs.append(dict(seq_bound=MIXED_LOGIT_ROWS, min_tokens=size, rows=rows))
        checks.append(f"graph {size}: {min(ratio.values()):.3f}-{max(ratio.values()):.3f}")
    source = (f"graphs of {min(g['min_tokens'] for g in graphs)} tokens and more (min_tokens): the bound's rows times the decodes' measured cost beside a "
              f"fresh prefill in that graph over their cost in the bound's graph re-timed in the same session ({src}: "
              f"{len(probe['rows'])} points; ratios " + ", ".join(checks) + ")")
    return graphs, source


def mixed_chunk(probe, base, src, control):
    """mixed_decode graphs for the large mixed graphs from mixedbig.py --chunks' points (mixedchunk.json), as
    mixed_big's but per prefill chunk: for each probed graph of S tokens and each chunk its points hold decodes
    beside, a graph (sequence bound 256, min_tokens S, prefill_tokens the chunk) of base's rows times the ratio of
    the decodes' measured in-graph cost beside that chunk (the point less the same chunk's no-decode point, per
    layer) to control's row at the same decodes and context. The ratio at a base row (k, c) and chunk P is
    interpolated over the probed decodes of the ratio at each probed decode count, that over the chunks probed
    at that count (S - k, S - 256, (S - 256) / 2) of the ratio at each, that over the contexts probed at that
    count and chunk; each held at its ends. The predictor reads the chunk graphs interpolated at a step's prefill
    tokens (engine/predict mixed_decode prefill_tokens), so every probed chunk is a graph and a probed point is
    read as measured."""
    grid = {(r[0], r[1]): r[2] for r in control}
    graphs, checks = [], []
    for size in sorted({r["size"] for r in probe["rows"]}):
        by = {}
        for r in probe["rows"]:
            if r["size"] == size:
                by.setdefault((r["decodes"], r["context"], r["chunk"]), []).append(r["gpu_ms"])
        pts = {key: statistics.mean(v) for key, v in by.items()}
        zero = {ch: v for (k, _, ch), v in pts.items() if k == 0}
        ratio = {}
        for (k, c, ch), v in pts.items():
            if not k:
                continue
            if ch not in zero:
                raise SystemExit(f"mixedchunk.json: graph {size} has no point without decodes beside a {ch}-token chunk")
            if not grid.get((k, c)):
                raise SystemExit(f"mixedchunk.json: {k} decodes at {c} is not a point of the control's rows")
            ratio[(k, c, ch)] = (v - zero[ch]) / probe["layers"] / grid[(k, c)]
        if not ratio:
            raise SystemExit(f"mixedchunk.json: graph {size} has no point with decodes")
        ks = sorted({k for k, _, _ in ratio})
        chs = {k: sorted({ch for kk, _, ch in ratio if kk == k}) for k in ks}
        cs = {(k, ch): sorted(c for kk, c, cc in ratio if (kk, cc) == (k, ch)) for k in ks for ch in chs[k]}

        def r_at(k, c, chunk):  # interp holds the end values past the probed decodes, chunks and contexts
            def at_k(kk):
                return interp(chs[kk], [interp(cs[(kk, ch)], [ratio[(kk, x, ch)] for x in cs[(kk, ch)]], c)
                                        for ch in chs[kk]], chunk)
            return interp(ks, [at_k(kk) for kk in ks], k)
        per = [(chunk, [[k, c, round(ms * r_at(k, c, chunk), 6)] for k, c, ms in base])
               for chunk in sorted({ch for _, _, ch in ratio})]
        kept = prune_chunks(per, CHUNK_TOLERANCE)
        graphs += [dict(seq_bound=MIXED_LOGIT_ROWS, min_tokens=size, prefill_tokens=chunk, rows=rows)
                   for chunk, rows in kept]
        checks.append(f"graph {size} ({len(set(ch for _, _, ch in ratio))} chunks "
                      f"{min(ch for _, _, ch in ratio)}-{max(ch for _, _, ch in ratio)}, {len(kept)} kept as graphs): "
                      f"{min(ratio.values()):.3f}-{max(ratio.values()):.3f}")
    source = (f"graphs of {min(g['min_tokens'] for g in graphs)} tokens and more (min_tokens), per prefill chunk "
              "(prefill_tokens, read interpolated at a step's prefill tokens): the bound's rows times the decodes' "
              "measured cost beside a fresh chunk of that many tokens in that graph over their cost in the bound's "
              f"graph re-timed in the same session ({src}: {len(probe['rows'])} points; ratios " + ", ".join(checks) + ")")
    return graphs, source


CHUNK_TOLERANCE = 0.005  # a chunk's graph is left out where its neighbours, interpolated, read it this close


def prune_chunks(per, tol):
    """The chunk graphs per (sorted (chunk, rows) pairs, rows alike in (decodes, context)) to keep: the first and
    last, and between them each whose rows the kept graphs either side, read linearly in the chunk as the
    predictor reads them, would miss by more than tol (relative, any row) at it or at any chunk left out since the
    last kept one. Left-out chunks read within tol of their measured rows: the page embeds these tables, and chunks
    a few tokens apart (the fill chunks S - 1, S - 2, S - 4, ...) mostly repeat each other."""
    if len(per) <= 2:
        return per

    def misses(lo, hi, mids):
        for ch, rows in mids:
            w = (ch - lo[0]) / (hi[0] - lo[0])
            for a, b, r in zip(lo[1], hi[1], rows):
                want = a[2] + w * (b[2] - a[2])
                if abs(want - r[2]) > tol * abs(r[2]):
                    return True
        return False
    kept, pending = [per[0]], []
    for i in range(1, len(per) - 1):
        pending.append(per[i])
        if misses(kept[-1], per[i + 1], pending):
            kept.append(per[i])
            pending = []
    kept.append(per[-1])
    return kept


def chunked(probe):
    """Whether probe (mixedbig.py's JSON) holds points over several chunks per graph (--chunks)."""
    return bool(probe.get("chunk_modes")) or len({(r["size"], r.get("chunk")) for r in probe["rows"]}) > len(
        {r["size"] for r in probe["rows"]})


def mixed_probe_paths(engine_dir):
    """The large mixed graphs' probe in engine_dir and its same-session control: mixedchunk.json (mixedbig.py
    --chunks, over several chunks) where measured, else mixedbig.json; (None, None) if neither."""
    for name in ("mixedchunk", "mixedbig"):
        mb = os.path.join(engine_dir, name + ".json")
        if os.path.exists(mb):
            return mb, os.path.join(engine_dir, name + "_control.json")
    return None, None


def add_mixed_big(engine_path, probe_path, control_path):
    """engine.json at engine_path with mixed_big's graphs from the probe at probe_path, against mixeddecode.py's
    re-timing of the bound's graph at control_path (same session), in place of any it had (the step build_set.py's
    main takes when ENGINE_DIR has mixedbig.json, for a set built without it). A probe over several chunks
    (mixedbig.py --chunks: mixedchunk.json) gives mixed_chunk's graphs, one per chunk."""
    ctl = mixed_decode(json.load(open(control_path)), "")
    control = next((g["rows"] for g in ctl["graphs"] if g["seq_bound"] == MIXED_LOGIT_ROWS), None)
    if control is None:
        raise SystemExit(f"{control_path}: no graph of sequence bound {MIXED_LOGIT_ROWS}")
    eng = json.load(open(engine_path))
    md = eng["mixed_decode"]
    md["graphs"] = [g for g in md["graphs"] if not g.get("min_tokens")]
    md["source"] = md["source"].split("; graphs of ")[0]
    base = next(g["rows"] for g in md["graphs"] if g["seq_bound"] == MIXED_LOGIT_ROWS)
    probe = json.load(open(probe_path))
    graphs, note = (mixed_chunk if chunked(probe) else mixed_big)(
        probe, base, os.path.relpath(probe_path) + " over " + os.path.relpath(control_path), control)
    md["graphs"] += graphs
    md["source"] += "; " + note
    json.dump(eng, open(engine_path, "w"), indent=1)
    return note


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("engine_dir")
    ap.add_argument("manifest")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    insitu = json.load(open(os.path.join(a.engine_dir, "insitu.json")))
    raw_mlp = os.path.join(a.raw, "mlp.csv")
    rows = list(csv.DictReader(open(raw_mlp)))
    header = list(rows[0].keys())
    mfill_path = os.path.join(a.engine_dir, "mlp_fill.csv")
    if os.path.exists(mfill_path):
        rows, added = merge_mlp_fill(raw_mlp, mfill_path)
        print(f"mlp fill: rows at {added} tokens added (eager sizes: as measured alone)")
    T = [int(r["num_tokens"]) for r in rows]
    med = {op: [float(r[f"time_stats.{op}.median"]) for r in rows] for op in TOKEN_OPS}
    os.makedirs(a.out, exist_ok=True)
    raw_attn = os.path.join(a.raw, "attention.csv")
    fill_path = os.path.join(a.engine_dir, "attn_decode_fill.csv")
    pfill_path = os.path.join(a.engine_dir, "attn_prefill_fill.csv")
    dshort_path = os.path.join(a.engine_dir, "attn_decode_short.csv")
    pchunks_path = os.path.join(a.engine_dir, "attn_prefill_chunks.csv")
    if any(os.path.exists(x) for x in (fill_path, pfill_path, dshort_path, pchunks_path)):
        # the isolated rows as the set keeps them: the raw profile plus the fills' batch and context sizes
        merged = os.path.join(a.out, "attention_isolated.csv")
        if os.path.exists(fill_path):
            merge_decode_fill(raw_attn, fill_path, merged)
        else:
            shutil.copy(raw_attn, merged)
        if os.path.exists(dshort_path):
            added = merge_decode_short(merged, dshort_path, merged)
            print(f"decode rows under the grid's first context: {added} added")
        if os.path.exists(pfill_path):
            lo, hi, n = prefill_retime(merged, pfill_path)
            added = merge_prefill_fill(merged, pfill_path, merged)
            print(f"prefill fill: rows over {added} cached tokens added; {n} points re-timed as a check, "
                  f"{100 * lo:+.1f}% to {100 * hi:+.1f}% against the first rows")
        if os.path.exists(pchunks_path):
            added = merge_prefill_chunks(merged, pchunks_path, merged)
            print(f"prefill chunks past the grid: {added} added, each with its KV save")
        raw_attn = merged
    dec, pre, kv = attention_tables(raw_attn)
    kvx = sorted(kv)
    ctx = insitu["context"]
    pw_path = os.path.join(a.engine_dir, "prefill_waves.json")
    waves = json.load(open(pw_path)) if os.path.exists(pw_path) else {}
    # the prefill attention servesim's wave model charges the mixed graphs' timed steps (one prefill, no cache)
    waves_attn = waves.pop("insitu_prefill_attn_ms", {})
    dw_path = os.path.join(a.engine_dir, "decode_waves.json")
    dwaves = json.load(open(dw_path)) if os.path.exists(dw_path) else {}
    # the decode launch model's correction to the rows for the uniform batch insitu.json times
    dshape = dwaves.pop("insitu_decode_shape_ms", {})
    ictx_path = os.path.join(a.engine_dir, "insitu_ctx.json")
    ictx_fill = os.path.join(a.engine_dir, "insitu_ctx_fill.json")

    ictx_short = os.path.join(a.engine_dir, "insitu_ctx_short.json")

    def load_ictx():
        j = json.load(open(ictx_path))
        if os.path.exists(ictx_fill):
            j = merge_insitu_fill(j, json.load(open(ictx_fill)))
        return merge_insitu_short(j, json.load(open(ictx_short))) if os.path.exists(ictx_short) else j
    dec_graph, spread_sizes = dec, set()
    if dshape and os.path.exists(ictx_path):
        # With the decode launch model the predictor charges a decode graph the in-graph row (spread
        # contexts) plus the model's shape correction. A graph size timed with spread contexts too
        # (insitu_ctx.json) is anchored there, where the correction is nil, as real batches are spread:
        # its factor reads the isolated row at the uniform step (the in-graph rows are that row plus the
        # measured spread-over-uniform shift). The other sizes are anchored on the uniform step itself:
        # the in-graph row plus the model's correction at that shape, the attention the predictor charges.
        ictx_j = load_ictx()
        at_shift = in_graph_shift(list(csv.DictReader(open(raw_attn))), ictx_j)
        dec_graph = {b: {c: t + at_shift(b, c) for c, t in row.items()} for b, row in dec.items()}
        spread_sizes = {int(b) for b in ictx_j["spread"]}
    factors = {}
    for kind, sizes in (("decode", DECODE_SIZES), ("mixed", MIXED_SIZES)):
        for s in sizes:
            meas = insitu[kind][str(s)]
            tok = sum(interp(T, med[op], s) for op in TOKEN_OPS[:8])
            kvs = interp(kvx, [kv[x] for x in kvx], s)
            if kind == "decode":
                if s in spread_sizes or not dshape:
                    att = at(dec, s, ctx + 7)  # contexts 512..526 over the 15 steps
                else:
                    att = at(dec_graph, s, ctx + 7) + dshape[str(s)]
                rows_lm = s
            else:
                att = waves_attn.get(str(s), at(pre, s, 0))
                rows_lm = min(s, 256)
            head = interp(T, med["emb"], s) + interp(T, med["lm_head"], rows_lm)
            f = (meas - LAYERS * (kvs + att)) / (LAYERS * tok + head)
            factors[f"{kind}:{s}"] = dict(measured_ms=meas, isolated_sum_ms=LAYERS * (tok + kvs + att) + head, factor=f)
    with open(os.path.join(a.out, "mlp_isolated.csv"), "w", newline="") as f:  # the raw rows and any fill's
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(a.out, "mlp.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        for r in rows:
            t = int(r["num_tokens"])
            key = f"decode:{t}" if t in DECODE_SIZES else (f"mixed:{t}" if t in MIXED_SIZES else None)
            fac = factors[key]["factor"] if key else 1.0
            out = dict(r)
            for op in TOKEN_OPS:
                for s in STATS:
                    c = f"time_stats.{op}.{s}"
                    out[c] = f"{float(r[c]) * fac:.6f}"
            w.writerow(out)
    shutil.copy(os.path.join(a.raw, "env.json"), os.path.join(a.out, "env.json"))
    if os.path.exists(ictx_path):
        pc = os.path.join(a.engine_dir, "prefillctx.json")
        pc_fill = os.path.join(a.engine_dir, "prefillctx_fill.json")
        pctx = json.load(open(pc)) if os.path.exists(pc) else None
        if pctx and os.path.exists(pc_fill):
            pctx = merge_prefillctx_fill(pctx, json.load(open(pc_fill)))
        ictx_j = load_ictx()
        write_attention_in_graph(raw_attn, ictx_j, os.path.join(a.out, "attention.csv"), pctx)
        with open(os.path.join(a.out, "insitu_ctx.json"), "w") as f:
            json.dump(ictx_j, f, indent=1)
    else:
        shutil.copy(raw_attn, os.path.join(a.out, "attention.csv"))
    if raw_attn == os.path.join(a.raw, "attention.csv"):  # no fill: the raw rows are the set's isolated ones
        shutil.copy(raw_attn, os.path.join(a.out, "attention_isolated.csv"))
    for name in ("tuning.json", "insitu.json"):
        shutil.copy(os.path.join(a.engine_dir, name), os.path.join(a.out, name))
    json.dump(factors, open(os.path.join(a.out, "insitu_factors.json"), "w"), indent=1)
    # host table from the fit runs (+ the benchmark's steady decode steps beyond them)
    subprocess.run([sys.executable, "-m", "refengine.fit_host", os.path.abspath(a.manifest)] +
                   [os.path.abspath(d) for d in a.runs] + ["--out", os.path.abspath(a.out)],
                   cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."), check=True, capture_output=True)
    fit = json.load(open(os.path.join(a.out, "host_fit.json")))
    hrows = [line.strip().split(",") for line in open(os.path.join(a.out, "host_overheads.csv"))][1:]
    maxfit = max(int(r[0]) for r in hrows)
    proc_top = fit["output_processing_ms_by_bin"][str(maxfit)]
    bench = json.load(open(os.path.join(a.engine_dir, "bench.json")))
    extra = {}
    for d in bench["decode"]:
        if "skipped" not in d and d["batch"] > maxfit:
            extra.setdefault(d["batch"], []).append(d["host_ms"])
    for bs, v in sorted(extra.items()):
        hrows.append([str(bs), f"{statistics.median(v) + proc_top:.6f}", hrows[0][2], hrows[0][3]])
    # The per-prefill and per-token increments from the designed host profile (hostprof.py: every
    # combination of decodes, prefills and chunk sizes, so the two are told apart; the fit runs'
    # mixed steps mostly hold one or two prefills and cannot separate them).
    hp = os.path.join(a.engine_dir, "hostprof.json")
    if os.path.exists(hp):
        pp, pt, n = designed_increments(json.load(open(hp))["rows"])
        fit["designed_profile"] = dict(host_per_prefill_ms=pp, host_per_prefill_token_ms=pt, shapes=n,
                                       source=os.path.relpath(hp))
        hrows = [[r[0], r[1], f"{max(0.0, pp):.6f}", f"{max(0.0, pt):.8f}"] for r in hrows]
    with open(os.path.join(a.out, "host_overheads.csv"), "w") as f:
        f.write("batch_size,host_base_ms,host_per_prefill_ms,host_per_prefill_token_ms\n")
        for r in hrows:
            f.write(",".join(r) + "\n")
    fit["bench_rows"] = {str(k): dict(host_ms_median_over_contexts=statistics.median(v), plus_output_processing_ms=proc_top)
                         for k, v in extra.items()}
    fit["fit_runs"] = [os.path.relpath(p) for p in fit["fit_runs"]]
    json.dump(fit, open(os.path.join(a.out, "host_fit.json"), "w"), indent=1, sort_keys=True)
    commit = subprocess.run(["git", "log", "-1", "--format=%h", "--", "profiles/tools/gpu/refengine/kernels.py"],
                            capture_output=True, text=True).stdout.strip()
    eng = dict(engine=f"servesim reference engine (profiles/tools/gpu/refengine at {commit}): Triton paged attention, "
               "CUDA graphs, async scheduling one step ahead",
               overlap="async", cuda_graph_batch_sizes=DECODE_SIZES, mixed_graph_token_sizes=MIXED_SIZES,
               sync_ms=round(max(fit["sync_ms"], 0.0), 6), fused_ops=["add", "qk_norm"],
               # model.py: a mixed graph's sequence bound is min(size, 256), and it computes logits for all of them
               mixed_graph_logit_rows=MIXED_LOGIT_ROWS,
               # sizes both graph kinds capture: mlp.csv holds the decode graph's factor, the mixed graph's differs
               mixed_graph_mlp_scale={str(t): round(factors[f"mixed:{t}"]["factor"] / factors[f"decode:{t}"]["factor"], 6)
                                      for t in MIXED_SIZES if t in DECODE_SIZES},
               # attn_decode rows time the batched launch (opprofile.py), so no batching allowance applies
               decode_attention_batched=True,
               # kernels.py: decode keys cut into equal partitions over the graph's work-item bound
               decode_graph_attention_by_keys=True,
               # kernels.py: one prefill launch over every prefill's query tiles (32 queries x 2 GQA heads,
               # so 8 tiles per 32-query block), each over its own keys; env.json: the card's SMs
               prefill_launch=dict(sms=json.load(open(os.path.join(a.raw, "env.json")))["sm_count"], query_tile=32,
                                   tiles_per_query_block=8))
    if waves:  # prefill_waves.json, written by `go run ./bench/gpu/fidelity -prefill_waves` (servesim's launch model)
        eng["prefill_launch"].update(waves)
    if dwaves:  # decode_waves.json, written by `go run ./bench/gpu/fidelity -decode_waves` (servesim's decode launch model)
        eng["decode_launch"] = dwaves
        # the decode rows read at the batch's mean context rounded up to the KV cache's 16-token pages, not
        # to Vidur's 64 keys: on the designed decode probe (decodeprobe.json) rounding up to 64 put graphs of
        # 32-256 sequences at a median |error| of 2.0-4.1%; 16 keeps every graph size within 1.8% and
        # costs engine timing a third less CPU than exact contexts (1), whose steps never share a prediction
        eng["decode_context_granularity"] = 16
    dr = os.path.join(a.engine_dir, "decode_in_run.json")
    if os.path.exists(dr):  # written by `go run ./bench/gpu/fidelity -decode_in_run` (it needs servesim's predictor)
        eng["decode_in_run"] = json.load(open(dr))
    md = os.path.join(a.engine_dir, "mixeddecode.json")
    if os.path.exists(md):
        probe, src = json.load(open(md)), os.path.relpath(md)
        md_fill = os.path.join(a.engine_dir, "mixeddecode_fill.json")
        if os.path.exists(md_fill):
            probe = merge_mixeddecode_fill(probe, json.load(open(md_fill)))
            src += " and " + os.path.relpath(md_fill)
        eng["mixed_decode"] = mixed_decode(probe, src)
    ip = os.path.join(a.engine_dir, "idleprobe", "step_log.csv")
    if os.path.exists(ip):
        eng["idle_host"] = idle_host(ip)
        ig = os.path.join(a.engine_dir, "idle_gpu.json")
        if os.path.exists(ig):  # written by `go run ./bench/gpu/fidelity -idle_gpu` (it needs servesim's predictor)
            eng["idle_host"].update(json.load(open(ig)))
        fit["idle_host"] = eng["idle_host"]
    ep = os.path.join(a.engine_dir, "eagerprobe.json")
    if os.path.exists(ep):
        others = sorted(p for p in glob.glob(os.path.join(a.engine_dir, "eagerprobe*.json")) if p != ep)
        eng["eager_launch"] = eager_launch(ep, others)
        fl = first_launch(sorted(glob.glob(os.path.join(a.engine_dir, "shapeprobe*.json"))))
        if fl:
            eng["eager_launch"]["first_ms"], eng["eager_launch"]["first_source"] = fl
        ir = eager_in_run(a.manifest, a.runs, a.engine_dir, eng["eager_launch"], fl[0] if fl else 0.0)
        if ir:
            eng["eager_launch"]["in_run_ms"], src = ir
            eng["eager_launch"]["source"] += "; " + src
        es = os.path.join(a.engine_dir, "eager_start.json")
        if os.path.exists(es):  # written by `go run ./bench/gpu/fidelity -eager_start` (it needs servesim's predictor)
            eng["eager_launch"].update(json.load(open(es)))
        eb = os.path.join(a.engine_dir, "eagerbusy.json")
        if os.path.exists(eb):  # a check, not fitted
            print("eager launches behind a busy GPU:", eager_busy(eb, eng["eager_launch"]))
    json.dump(eng, open(os.path.join(a.out, "engine.json"), "w"), indent=1)
    mb, ctl = mixed_probe_paths(a.engine_dir)
    if "mixed_decode" in eng and mb:  # decodes beside a fresh prefill in the large mixed graphs
        if not os.path.exists(ctl):
            raise SystemExit(f"{mb} needs {ctl}: mixeddecode.py's re-timing of the bound-256 graph in the probe's session")
        print("mixed_decode:", add_mixed_big(os.path.join(a.out, "engine.json"), mb, ctl))
    spread = op_spread(os.path.join(a.out, "mlp_isolated.csv"), raw_attn)
    json.dump(spread, open(os.path.join(a.out, "spread.json"), "w"), indent=1, sort_keys=True)
    fs = [v["factor"] for v in factors.values()]
    print(f"in-situ factors {min(fs):.3f}..{max(fs):.3f}; host rows {len(hrows)}; sync {fit['sync_ms']:.4f} ms")


if __name__ == "__main__":
    main()
