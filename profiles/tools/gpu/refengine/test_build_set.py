"""build_set.py's merges of later profiling sessions and its eager-launch fit (stdlib only, no GPU)."""
import csv
import json
import os
import tempfile
import unittest
from unittest import mock

from refengine import build_set as BS

HEADER = ["time_stats.attn_kv_cache_save.min", "time_stats.attn_kv_cache_save.max", "time_stats.attn_kv_cache_save.mean",
          "time_stats.attn_kv_cache_save.median", "time_stats.attn_kv_cache_save.std", "time_stats.attn_prefill.median",
          "time_stats.attn_decode.median", "batch_size", "prefill_chunk_size", "kv_cache_size", "is_prefill"]


def row(chunk, kv, prefill_ms, save_ms, prefill=True, batch=1):
    r = {f"time_stats.attn_kv_cache_save.{s}": f"{save_ms:.6f}" for s in BS.STATS}
    r.update({"time_stats.attn_prefill.median": f"{prefill_ms:.6f}" if prefill else "",
              "time_stats.attn_decode.median": "" if prefill else f"{prefill_ms:.6f}", "batch_size": str(batch),
              "prefill_chunk_size": str(chunk), "kv_cache_size": str(kv), "is_prefill": str(prefill)})
    return r


def write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=HEADER, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


class MergeTest(unittest.TestCase):
    def test_prefill_fill_adds_only_missing_pairs_and_keeps_the_chunks_kv_save(self):
        with tempfile.TemporaryDirectory() as d:
            raw, fill, out = (os.path.join(d, n) for n in ("raw.csv", "fill.csv", "out.csv"))
            write(raw, [row(16, 0, 0.1, 0.01), row(16, 8192, 0.2, 0.01), row(0, 512, 0.3, 0.0, prefill=False, batch=4)])
            write(fill, [row(16, 8192, 0.9, 0.05), row(16, 16384, 0.4, 0.05)])
            self.assertEqual(BS.merge_prefill_fill(raw, fill, out), [16384])
            rows = list(csv.DictReader(open(out)))
            pre = {(r["prefill_chunk_size"], r["kv_cache_size"]): r for r in rows if r["is_prefill"] == "True"}
            self.assertEqual(sorted(pre), [("16", "0"), ("16", "16384"), ("16", "8192")])
            self.assertEqual(pre[("16", "8192")]["time_stats.attn_prefill.median"], "0.200000")  # as first measured
            self.assertEqual(pre[("16", "16384")]["time_stats.attn_prefill.median"], "0.400000")
            self.assertEqual(pre[("16", "16384")]["time_stats.attn_kv_cache_save.median"], "0.010000")
            self.assertEqual(len([r for r in rows if r["is_prefill"] == "False"]), 1)

    def test_prefill_fill_of_an_unknown_chunk_fails(self):
        with tempfile.TemporaryDirectory() as d:
            raw, fill, out = (os.path.join(d, n) for n in ("raw.csv", "fill.csv", "out.csv"))
            write(raw, [row(16, 0, 0.1, 0.01)])
            write(fill, [row(32, 16384, 0.4, 0.05)])
            with self.assertRaises(SystemExit):
                BS.merge_prefill_fill(raw, fill, out)

    def test_prefillctx_and_mixeddecode_fills_add_only_missing_points(self):
        pctx = dict(method="m", layers=28, rows=[dict(size=16, cached=8192, gpu_ms=1.0)])
        fill = dict(above=8192, rows=[dict(size=16, cached=8192, gpu_ms=9.0), dict(size=16, cached=16384, gpu_ms=2.0)])
        got = BS.merge_prefillctx_fill(pctx, fill)
        self.assertEqual([(r["cached"], r["gpu_ms"]) for r in got["rows"]], [(8192, 1.0), (16384, 2.0)])
        self.assertIn("steps over more than 8192 (to 16384)", got["method"])
        md = dict(graphs={"64": [dict(decodes=1, context=8192, gpu_ms=1.0, empty_ms=0.5, rep=0)]}, skipped=[])
        mf = dict(graphs={"64": [dict(decodes=1, context=8192, gpu_ms=5.0, empty_ms=0.5, rep=0),
                                 dict(decodes=1, context=16384, gpu_ms=2.0, empty_ms=0.5, rep=0)]}, skipped=[[64, 8, 16384]])
        got = BS.merge_mixeddecode_fill(md, mf)
        self.assertEqual([(r["context"], r["gpu_ms"]) for r in got["graphs"]["64"]], [(8192, 1.0), (16384, 2.0)])
        self.assertEqual(got["skipped"], [[64, 8, 16384]])


class ChunksPastTheGridTest(unittest.TestCase):
    def test_prefill_chunks_add_only_new_chunk_sizes_with_their_own_kv_save(self):
        with tempfile.TemporaryDirectory() as d:
            raw, chunks, out = (os.path.join(d, n) for n in ("raw.csv", "chunks.csv", "out.csv"))
            write(raw, [row(8192, 0, 1.0, 0.05), row(0, 512, 0.3, 0.0, prefill=False, batch=4)])
            write(chunks, [row(8192, 0, 9.0, 0.9), row(16384, 0, 4.0, 0.1), row(12288, 4096, 3.5, 0.08),
                           row(12288, 0, 3.0, 0.08)])
            self.assertEqual(BS.merge_prefill_chunks(raw, chunks, out), [12288, 16384])
            rows = list(csv.DictReader(open(out)))
            pre = [(r["prefill_chunk_size"], r["kv_cache_size"], r["time_stats.attn_prefill.median"],
                    r["time_stats.attn_kv_cache_save.median"]) for r in rows if r["is_prefill"] == "True"]
            self.assertEqual(pre, [("8192", "0", "1.000000", "0.050000"), ("12288", "0", "3.000000", "0.080000"),
                                   ("12288", "4096", "3.500000", "0.080000"), ("16384", "0", "4.000000", "0.100000")])
            self.assertEqual([r["is_prefill"] for r in rows][-1], "False")

    def test_mlp_fill_adds_only_new_token_counts_sorted(self):
        with tempfile.TemporaryDirectory() as d:
            raw, fill = os.path.join(d, "raw.csv"), os.path.join(d, "fill.csv")
            for path, rows in ((raw, [(8192, "1.0"), (1, "0.1")]), (fill, [(16384, "2.0"), (8192, "9.0")])):
                with open(path, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=["num_tokens", "time_stats.add.median"], lineterminator="\n")
                    w.writeheader()
                    w.writerows({"num_tokens": str(t), "time_stats.add.median": v} for t, v in rows)
            rows, added = BS.merge_mlp_fill(raw, fill)
            self.assertEqual(added, [16384])
            self.assertEqual([(r["num_tokens"], r["time_stats.add.median"]) for r in rows],
                             [("1", "0.1"), ("8192", "1.0"), ("16384", "2.0")])


class DecodeShortTest(unittest.TestCase):
    def test_short_rows_add_only_missing_pairs_and_keep_the_batchs_kv_save(self):
        with tempfile.TemporaryDirectory() as d:
            raw, short, out = (os.path.join(d, n) for n in ("raw.csv", "short.csv", "out.csv"))
            write(raw, [row(16, 0, 0.1, 0.01), row(0, 64, 0.3, 0.002, prefill=False, batch=4),
                        row(0, 128, 0.4, 0.002, prefill=False, batch=4)])
            write(short, [row(0, 16, 0.2, 0.009, prefill=False, batch=4), row(0, 64, 0.9, 0.009, prefill=False, batch=4)])
            self.assertEqual(BS.merge_decode_short(raw, short, out), [16])
            dec = {r["kv_cache_size"]: r for r in csv.DictReader(open(out)) if r["is_prefill"] == "False"}
            self.assertEqual(sorted(dec, key=int), ["16", "64", "128"])
            self.assertEqual(dec["64"]["time_stats.attn_decode.median"], "0.300000")  # as first measured
            self.assertEqual(dec["16"]["time_stats.attn_decode.median"], "0.200000")
            self.assertEqual(dec["16"]["time_stats.attn_kv_cache_save.median"], "0.002000")  # the raw rows' save
            write(short, [row(0, 16, 0.2, 0.009, prefill=False, batch=8)])
            with self.assertRaises(SystemExit):
                BS.merge_decode_short(raw, short, out)

    def test_short_graphs_are_rebased_on_their_sessions_anchor(self):
        ictx = dict(method="m", uniform512={"4": 2.0, "8": 3.0}, spread={"4": {"64": 1.5}, "8": {"64": 2.5}})
        short = dict(uniform512={"4": 2.1}, spread={"4": {"16": 1.3, "64": 9.9}})
        got = BS.merge_insitu_short(ictx, short)
        self.assertEqual(list(got["spread"]["4"]), ["16", "64"])
        self.assertAlmostEqual(got["spread"]["4"]["16"], 1.2)  # 1.3 - (2.1 - 2.0)
        self.assertEqual(got["spread"]["4"]["64"], 1.5)  # as first measured
        self.assertEqual(got["spread"]["8"], {"64": 2.5})
        self.assertIn("insitu_ctx_short.json", got["method"])
        self.assertEqual(ictx["spread"]["4"], {"64": 1.5})  # the input is left as it was

    def test_in_graph_rows_sit_at_the_contexts_the_graphs_were_timed_at(self):
        # isolated rows linear in the context (0.001 ms a key), the graph 28 x 0.002 ms a key: a row at c is the
        # isolated row at 520 plus the graph's change from its anchor (timed at 520) to c, read where the probe's
        # points stand (mean + 8 keys); past the last timed context the shift there is kept
        rows = [row(0, c, 0.001 * c, 0.0, prefill=False, batch=2) for c in (16, 32, 64, 128, 512, 1024, 2048)]
        g = lambda ctx: 28 * 0.002 * ctx
        ictx = dict(uniform512={"2": g(520)}, spread={"2": {"16": g(24), "64": g(72), "512": g(520)}})
        shift = BS.in_graph_shift(rows, ictx)
        for c in (32, 64, 128, 512):
            self.assertAlmostEqual(0.001 * c + shift(2, c), 0.001 * 520 + 0.002 * (c - 520), places=9)
        self.assertAlmostEqual(shift(2, 2048), shift(2, 520), places=9)  # held as the shift at the last point
        self.assertAlmostEqual(shift(2, 16), shift(2, 24), places=9)  # and at the first
        with self.assertRaises(SystemExit):
            BS.in_graph_shift(rows, ictx)(4, 64)


class PruneChunksTest(unittest.TestCase):
    def test_a_chunk_its_neighbours_read_is_left_out_and_one_they_miss_is_kept(self):
        """Chunks 100, 200, 300, 400 at 1.0, 1.1, 1.2, 1.2 (and twice that in a second row): 200 lies on the line
        from 100 to 300 (left out); the line from 100 to 400 would read 200 at 1.0667 (3.0% off) and 300 at 1.1333
        (5.6% off), so 300 is kept at a tolerance of 0.5% or 5%, and left out at 6%; the ends are always kept."""
        def g(ch, v):
            return (ch, [[1, 64, v], [8, 512, 2 * v]])
        per = [g(100, 1.0), g(200, 1.1), g(300, 1.2), g(400, 1.2)]
        self.assertEqual([ch for ch, _ in BS.prune_chunks(per, 0.005)], [100, 300, 400])
        self.assertEqual([ch for ch, _ in BS.prune_chunks(per, 0.05)], [100, 300, 400])
        self.assertEqual([ch for ch, _ in BS.prune_chunks(per, 0.06)], [100, 400])
        self.assertEqual([ch for ch, _ in BS.prune_chunks(per[:2], 0.5)], [100, 200])


class EagerLaunchTest(unittest.TestCase):
    def test_fit_recovers_an_exact_launch_model_and_scores_another_session(self):
        def host(d):
            return 7.0 + (1.25 if d else 0.0) + 0.01 * d
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for i, skew in enumerate((1.0, 1.1)):
                rows = [dict(num_tokens=t, num_decodes=dd, num_prefills=1, mode="eager", host_ms=host(dd) * skew + e)
                        for t in (2112, 4096) for dd in (0, 1, 4, 16) for e in (-0.1, 0.0, 0.5)]
                rows.append(dict(num_tokens=100, num_decodes=0, num_prefills=1, mode="graph_mixed", host_ms=0.3))
                p = os.path.join(d, f"eagerprobe{i}.json")
                json.dump(dict(rows=rows), open(p, "w"))
                paths.append(p)
            got = BS.eager_launch(paths[0], paths[1:])
            self.assertAlmostEqual(got["base_ms"], 7.0, places=6)
            self.assertAlmostEqual(got["decodes_ms"], 1.25, places=6)
            self.assertAlmostEqual(got["per_decode_ms"], 0.01, places=6)
            self.assertIn("8 eager step shapes", got["source"])
            self.assertIn("median +10.0% against the fit", got["source"])

    def test_in_run_term_is_the_fit_runs_excess_over_the_launch(self):
        """Fit runs for eager_launch whose eager steps take 3.5 ms over the launch model in the run and 1.5 ms in
        the repeat give in_run_ms 2.5 (the median of the two); graph steps, steps past the probe's 8192 tokens and
        held-out or host-table fit runs are not read; the session's probe is reported, not subtracted; no fit run
        with eager steps gives None."""
        launch = dict(base_ms=7.0, decodes_ms=1.0, per_decode_ms=0.01)

        def lm(d):
            return 7.0 + ((1.0 + 0.01 * d) if d else 0.0)
        with tempfile.TemporaryDirectory() as d:
            man = dict(workloads=[
                dict(name="fit-e", split="fit", fit_for="eager_launch", same_session_probe="probe_s.json"),
                dict(name="fit-host", split="fit"), dict(name="ho-e", split="heldout")])
            mp = os.path.join(d, "MANIFEST.json")
            json.dump(man, open(mp, "w"))
            eng = os.path.join(d, "engine")
            os.makedirs(eng)
            dirs = [os.path.join(d, "runs"), os.path.join(d, "repeat")]
            self.assertIsNone(BS.eager_in_run(mp, dirs, eng, launch))
            json.dump(dict(rows=[dict(mode="eager", num_tokens=t, num_decodes=k, num_prefills=1, host_ms=lm(k) + 0.5 + e)
                                 for t in (2112, 4096) for k in (0, 8) for e in (-1.0, 0.0, 0.0)] +
                           [dict(mode="eager", num_tokens=12288, num_decodes=0, num_prefills=1, host_ms=99.0)]),
                      open(os.path.join(eng, "probe_s.json"), "w"))
            for rd, name, excess in [(dirs[0], "fit-e", 3.5), (dirs[1], "fit-e", 1.5), (dirs[0], "fit-host", 50.0),
                                     (dirs[0], "ho-e", 50.0)]:
                os.makedirs(os.path.join(rd, name))
                with open(os.path.join(rd, name, "step_log.csv"), "w") as f:
                    f.write("mode,num_tokens,num_decodes,host_ms\n")
                    for k, t in [(0, 3000), (2, 2500), (5, 4000)]:
                        f.write(f"eager,{t},{k},{lm(k) + excess:.6f}\n")
                    f.write("graph,1,1,0.3\ngraph_mixed,2048,1,0.4\neager,16384,0,99.0\n")
            got, src = BS.eager_in_run(mp, dirs, eng, launch)
            self.assertAlmostEqual(got, 2.5, places=6)
            self.assertIn("(3 eager steps) +3.500", src)
            self.assertIn("(3 eager steps) +1.500 (its session's probe from idle", src)
            self.assertIn("4 shapes, +0.500)", src)

    def test_in_run_term_takes_first_launches_off(self):
        """With first_ms 1.0, a count new to the process (the run's three, and in the repeat one its run did not
        launch) has 1 ms taken off before the medians: run 4.5 - 1 = 3.5, repeat 1.5 (its new count's 2.5 - 1
        among them), in_run_ms 2.5; without first_ms the run reads 4.5."""
        launch = dict(base_ms=7.0, decodes_ms=0.0, per_decode_ms=0.0)
        with tempfile.TemporaryDirectory() as d:
            mp = os.path.join(d, "MANIFEST.json")
            json.dump(dict(workloads=[dict(name="fit-e", split="fit", fit_for="eager_launch")]), open(mp, "w"))
            dirs = [os.path.join(d, "runs"), os.path.join(d, "repeat")]
            for rd, rows in [(dirs[0], [(3000, 4.5), (2500, 4.5), (4000, 4.5)]),
                             (dirs[1], [(3000, 1.5), (2500, 1.5), (3333, 2.5)])]:
                os.makedirs(os.path.join(rd, "fit-e"))
                with open(os.path.join(rd, "fit-e", "step_log.csv"), "w") as f:
                    f.write("mode,num_tokens,num_decodes,host_ms\n")
                    for t, x in rows:
                        f.write(f"eager,{t},0,{7.0 + x:.6f}\n")
            got, src = BS.eager_in_run(mp, dirs, d, launch, first_ms=1.0)
            self.assertAlmostEqual(got, 2.5, places=6)
            self.assertIn("less first_ms (1.000)", src)
            self.assertIn("(3 eager steps) +3.500", src)
            self.assertIn("(3 eager steps) +1.500", src)
            got, _ = BS.eager_in_run(mp, dirs, d, launch)
            self.assertAlmostEqual(got, 3.0, places=6)  # median of 4.5 and 1.5

    def test_first_launch_is_the_median_pair_difference(self):
        """Pairs within a round, in launch order, over every probe: differences 1, 2, 3 and -1 give 1.5; no probe
        gives None."""
        self.assertIsNone(BS.first_launch([]))
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for i, rows in enumerate([[(0, "new", 11.0), (0, "seen", 10.0), (0, "new", 12.0), (0, "seen", 10.0)],
                                      [(0, "new", 13.0), (0, "seen", 10.0), (1, "seen", 10.0), (1, "new", 9.0)]]):
                p = os.path.join(d, f"shapeprobe{i}.json")
                json.dump(dict(rows=[dict(round=r, kind=k, host_ms=h, num_tokens=3000, mode="eager") for r, k, h in rows]),
                          open(p, "w"))
                paths.append(p)
            got, src = BS.first_launch(paths)
            self.assertAlmostEqual(got, 1.5, places=6)
            self.assertIn("4 pairs", src)
            self.assertIn("2 pairs, 2 new slower, median +1.500", src)

    def test_busy_check_names_a_blocked_launch_and_says_when_there_is_none(self):
        """Rows behind a busy GPU whose launch ends 1.25 ms before the step's end (when that is after the launch
        from idle) name that tail; rows that launch as from idle name none. Nothing is fitted."""
        def rows(blocked):
            out = [dict(prev="idle", mode="eager", rep=-1, num_tokens=2112, num_decodes=0, host_ms=99.0, start_ns=0,
                        end_ns=1)]  # a first pass: left out
            for t, idle_host, gpu in [(2112, 7.0, 6.0), (4096, 7.0, 16.0), (8192, 8.0, 44.0)]:
                out.append(dict(prev="idle", mode="eager", rep=0, num_tokens=t, num_decodes=0, host_ms=idle_host,
                                start_ns=0, end_ns=int((idle_host + gpu) * 1e6)))
                for prev, ahead in [("same", gpu), ("long", 40.0)]:
                    end = ahead + gpu  # the step's end behind the prior step's remaining GPU time
                    host = max(idle_host, end - 1.25) if blocked else idle_host
                    out.append(dict(prev=prev, mode="eager", rep=0, num_tokens=t, num_decodes=0, host_ms=host,
                                    prev_busy_at_launch=True, prev_busy_after_launch=not blocked, start_ns=0,
                                    end_ns=int(end * 1e6)))
            return out
        launch = dict(base_ms=7.0, decodes_ms=1.0, per_decode_ms=0.0)
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "eagerbusy.json")
            json.dump(dict(rows=rows(True)), open(p, "w"))
            line = BS.eager_busy(p, launch)
            self.assertIn("3 shapes from idle at a median +0.0% against eager_launch", line)
            self.assertIn("a tail of 1.25 ms would predict them", line)
            self.assertIn("behind same (3 steps; the GPU still on the prior step at the launch's start in 3, at its "
                          "end in 0)", line)
            json.dump(dict(rows=rows(False)), open(p, "w"))
            line = BS.eager_busy(p, launch)
            self.assertIn("behind long (3 steps; the GPU still on the prior step at the launch's start in 3, at its "
                          "end in 3) +0.00 ms at the median", line)
            self.assertIn("no tail does better", line)

if __name__ == "__main__":
    unittest.main()


class MixedBigTest(unittest.TestCase):
    """build_set.mixed_big: the large mixed graphs' rows from mixedbig.py's points (a synthetic probe)."""
    BASE = [[k, c, 0.001 * k * c / 512] for k in (1, 16, 64, 255) for c in (512, 1024, 2048, 4096)]

    @staticmethod
    def probe(cost):
        """mixedbig.json rows: graph 1024's steps cost 5 ms plus 28 layers of cost(k, c) for the decodes, two reps."""
        rows = [dict(size=1024, decodes=0, context=512, rep=rep, gpu_ms=5.0) for rep in (0, 1)]
        for k in (16, 64, 255):
            for c in (512, 1024, 2048):
                rows += [dict(size=1024, decodes=k, context=c, rep=rep, gpu_ms=5.0 + 28 * cost(k, c) + d)
                         for rep, d in ((0, -0.01), (1, 0.01))]
        return dict(layers=28, rows=rows)

    def test_rows_scaled_by_the_measured_ratio(self):
        base = {(k, c): ms for k, c, ms in self.BASE}
        # the decodes cost 1.10x the bound's rows at 16 decodes and 1.30x at 255, whatever the context
        ratio = {16: 1.10, 64: 1.20, 255: 1.30}
        graphs, src = BS.mixed_big(self.probe(lambda k, c: ratio[k] * base[(k, c)]), self.BASE, "mb.json", self.BASE)
        self.assertEqual(len(graphs), 1)
        g = graphs[0]
        self.assertEqual((g["seq_bound"], g["min_tokens"]), (256, 1024))
        got = {(k, c): ms for k, c, ms in g["rows"]}
        self.assertEqual(set(got), set(base))
        for (k, c), ms in base.items():
            want = ms * (1.10 if k <= 16 else 1.20 if k == 64 else 1.30)  # under 16: the first probed ratio
            self.assertAlmostEqual(got[(k, c)], want, places=5, msg=(k, c))  # 4096: past the probed contexts
        self.assertIn("graph 1024: 1.100-1.300", src)
        self.assertIn("mb.json", src)

    def test_ratio_interpolated_between_probed_decodes(self):
        base = {(k, c): ms for k, c, ms in self.BASE}
        rows = self.BASE + [[40, 1024, 0.05]]
        graphs, _ = BS.mixed_big(self.probe(lambda k, c: (1.0 if k == 16 else 1.5) * base[(k, c)]), rows, "mb.json", self.BASE)
        got = {(k, c): ms for k, c, ms in graphs[0]["rows"]}
        self.assertAlmostEqual(got[(40, 1024)], 0.05 * 1.25, places=5)  # halfway from 16 to 64

    def test_needs_the_baseline_and_every_point(self):
        p = self.probe(lambda k, c: 0.01)
        with self.assertRaisesRegex(SystemExit, "no point without decodes"):
            BS.mixed_big(dict(p, rows=[r for r in p["rows"] if r["decodes"]]), self.BASE, "mb.json", self.BASE)
        with self.assertRaisesRegex(SystemExit, "lacks the points"):
            BS.mixed_big(dict(p, rows=[r for r in p["rows"] if (r["decodes"], r["context"]) != (64, 1024)]), self.BASE,
                         "mb.json", self.BASE)
        with self.assertRaisesRegex(SystemExit, "not a point of the control's rows"):
            BS.mixed_big(p, self.BASE, "mb.json", [r for r in self.BASE if (r[0], r[1]) != (64, 1024)])

    def test_ratio_is_to_the_same_session_control(self):
        # the probe's session runs 2% faster than base's: the probe's decodes cost 1.10x the control's (its own
        # session's bound-256 graph), 1.078x base's; the rows are base's times 1.10, the drift left out
        control = [[k, c, 0.98 * ms] for k, c, ms in self.BASE]
        ctl = {(k, c): ms for k, c, ms in control}
        graphs, _ = BS.mixed_big(self.probe(lambda k, c: 1.10 * ctl[(k, c)]), self.BASE, "mb.json", control)
        for (k, c, ms), (k2, c2, got) in zip(self.BASE, graphs[0]["rows"]):
            self.assertEqual((k, c), (k2, c2))
            self.assertAlmostEqual(got, 1.10 * ms, places=5, msg=(k, c))

    @staticmethod
    def control_json(rows):
        """mixeddecode.py's JSON holding rows ([decodes, context, ms per layer]) in the bound-256 graph, two reps."""
        pts = [dict(rep=rep, decodes=k, context=c, gpu_ms=1.0 + 28 * ms, empty_ms=1.0) for k, c, ms in rows for rep in (0, 1)]
        return dict(layers=28, device="test GPU", graphs={"256": pts})

    def test_add_mixed_big_replaces_its_graphs_in_engine_json(self):
        base = {(k, c): ms for k, c, ms in self.BASE}
        with tempfile.TemporaryDirectory() as d:
            ej, mb, ctl = os.path.join(d, "engine.json"), os.path.join(d, "mixedbig.json"), os.path.join(d, "ctl.json")
            json.dump(self.control_json(self.BASE), open(ctl, "w"))
            eng = dict(engine="e", mixed_decode=dict(source="measured", graphs=[dict(seq_bound=64, rows=[[1, 64, 0.1]]),
                                                                                    dict(seq_bound=256, rows=self.BASE)]))
            json.dump(eng, open(ej, "w"), indent=1)
            json.dump(self.probe(lambda k, c: 1.2 * base[(k, c)]), open(mb, "w"))
            BS.add_mixed_big(ej, mb, ctl)
            first = json.load(open(ej))
            BS.add_mixed_big(ej, mb, ctl)  # again: the same file, its graphs not added twice
            again = json.load(open(ej))
        self.assertEqual(first, again)
        gs = first["mixed_decode"]["graphs"]
        self.assertEqual([(g["seq_bound"], g.get("min_tokens", 0)) for g in gs], [(64, 0), (256, 0), (256, 1024)])
        self.assertEqual(gs[1]["rows"], self.BASE)
        self.assertAlmostEqual(gs[2]["rows"][0][2], 1.2 * self.BASE[0][2], places=5)
        self.assertTrue(first["mixed_decode"]["source"].startswith("measured; graphs of 1024 tokens and more"))


class MixedChunkTest(unittest.TestCase):
    """build_set.mixed_chunk: the large mixed graphs' rows per prefill chunk from mixedbig.py --chunks' points
    (a synthetic probe of graph 1024: chunks S - k, 768 and, at context 1024 only, 384)."""
    BASE = MixedBigTest.BASE + [[40, 512, 0.04]]

    @staticmethod
    def ratio(k, c, ch):
        return (1 + ch / 2048) * (1 + c / 10000)

    def probe(self, skip=()):
        """mixedchunk.json: each chunk's no-decode step costs 5 ms + chunk / 1000 (so a wrong baseline shows),
        the decodes 28 layers of ratio x base's row more, two reps."""
        base = {(k, c): ms for k, c, ms in MixedBigTest.BASE}
        pts = []
        for k in (16, 64, 255):
            pts += [(k, c, 1024 - k) for c in (512, 1024, 2048)] + [(k, c, 768) for c in (512, 1024, 2048)]
            pts.append((k, 1024, 384))
        rows = []
        for ch in sorted({ch for _, _, ch in pts}):
            rows += [dict(size=1024, decodes=0, context=512, chunk=ch, rep=rep, gpu_ms=5.0 + ch / 1000) for rep in (0, 1)]
        for k, c, ch in pts:
            if (k, c, ch) not in skip:
                rows += [dict(size=1024, decodes=k, context=c, chunk=ch, rep=rep,
                              gpu_ms=5.0 + ch / 1000 + 28 * self.ratio(k, c, ch) * base[(k, c)] + d)
                         for rep, d in ((0, -0.01), (1, 0.01))]
        return dict(layers=28, rows=rows, chunk_modes=["fill", "s256", "half"])

    @mock.patch.object(BS, "CHUNK_TOLERANCE", -1.0)  # every chunk kept as a graph (PruneChunksTest prunes)
    def test_graph_per_chunk_read_as_measured_and_interpolated(self):
        graphs, src = BS.mixed_chunk(self.probe(), self.BASE, "mc.json", MixedBigTest.BASE)
        self.assertEqual([(g["seq_bound"], g["min_tokens"], g["prefill_tokens"]) for g in graphs],
                         [(256, 1024, ch) for ch in (384, 768, 769, 960, 1008)])
        got = {(g["prefill_tokens"], k, c): ms for g in graphs for k, c, ms in g["rows"]}
        base = {(k, c): ms for k, c, ms in self.BASE}
        r = self.ratio
        cases = [
            # probed points: as measured
            (1008, 16, 1024, r(16, 1024, 1008)), (768, 64, 2048, r(64, 2048, 768)), (384, 255, 1024, r(255, 1024, 384)),
            # 384 probed at context 1024 only: held over the contexts
            (384, 16, 512, (1 + 384 / 2048) * 1.1024), (384, 64, 4096, (1 + 384 / 2048) * 1.1024),
            # past the probed contexts: 2048's
            (768, 16, 4096, r(16, 2048, 768)),
            # chunk 1008 at 64 decodes: past 64's chunks (384, 768, 960), held at 960
            (1008, 64, 1024, r(64, 1024, 960)),
            # chunk 960 at 16 decodes: between 16's chunks 768 and 1008, linear in the chunk as the ratio is
            (960, 16, 512, r(16, 512, 960)),
            # chunk 769 at 255 decodes (its own fill chunk): as measured; at 16 decodes between 768 and 1008
            (769, 255, 2048, r(255, 2048, 769)), (769, 16, 2048, r(16, 2048, 769)),
            # under 16 decodes: 16's ratio
            (1008, 1, 1024, r(16, 1024, 1008)),
            # 40 decodes: halfway from 16 (chunk 1008 its fill) to 64 (held at 960)
            (1008, 40, 512, (r(16, 512, 1008) + r(64, 512, 960)) / 2),
        ]
        for ch, k, c, want in cases:
            self.assertAlmostEqual(got[(ch, k, c)], round(base[(k, c)] * want, 6), places=6, msg=(ch, k, c))
        self.assertIn("graph 1024 (5 chunks 384-1008, 5 kept as graphs)", src)
        self.assertIn("mc.json: ", src)

    def test_needs_each_chunks_baseline_and_the_control(self):
        p = self.probe()
        with self.assertRaisesRegex(SystemExit, "no point without decodes beside a 960-token chunk"):
            BS.mixed_chunk(dict(p, rows=[r for r in p["rows"] if r["decodes"] or r["chunk"] != 960]), self.BASE,
                           "mc.json", MixedBigTest.BASE)
        with self.assertRaisesRegex(SystemExit, "not a point of the control's rows"):
            BS.mixed_chunk(p, self.BASE, "mc.json", [r for r in MixedBigTest.BASE if (r[0], r[1]) != (64, 1024)])

    def test_chunked(self):
        self.assertTrue(BS.chunked(self.probe()))
        self.assertFalse(BS.chunked(MixedBigTest.probe(lambda k, c: 0.01)))  # rows without a chunk
        one = [dict(size=s, decodes=0, context=512, chunk=s - 256, gpu_ms=1.0) for s in (512, 1024)]
        self.assertFalse(BS.chunked(dict(rows=one)))  # mixedbig.json: one chunk per graph
        self.assertTrue(BS.chunked(dict(rows=one + [dict(one[0], chunk=500)])))

    @mock.patch.object(BS, "CHUNK_TOLERANCE", -1.0)  # every chunk kept as a graph (PruneChunksTest prunes)
    def test_add_mixed_big_takes_the_chunks_and_probe_paths(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(BS.mixed_probe_paths(d), (None, None))
            ej, mb, mc = (os.path.join(d, n) for n in ("engine.json", "mixedbig.json", "mixedchunk.json"))
            ctl = os.path.join(d, "mixedchunk_control.json")
            json.dump(MixedBigTest.control_json(MixedBigTest.BASE), open(ctl, "w"))
            json.dump(MixedBigTest.probe(lambda k, c: 0.01), open(mb, "w"))
            self.assertEqual(BS.mixed_probe_paths(d), (mb, os.path.join(d, "mixedbig_control.json")))
            json.dump(self.probe(), open(mc, "w"))
            self.assertEqual(BS.mixed_probe_paths(d), (mc, ctl))
            old = dict(seq_bound=256, min_tokens=1024, rows=MixedBigTest.BASE)
            eng = dict(engine="e", mixed_decode=dict(source="measured; graphs of 1024 tokens and more (min_tokens): old",
                                                     graphs=[dict(seq_bound=256, rows=self.BASE), old]))
            json.dump(eng, open(ej, "w"), indent=1)
            BS.add_mixed_big(ej, mc, ctl)
            first = json.load(open(ej))
            BS.add_mixed_big(ej, mc, ctl)
            self.assertEqual(first, json.load(open(ej)))
        gs = first["mixed_decode"]["graphs"]
        self.assertEqual([(g.get("min_tokens", 0), g.get("prefill_tokens", 0)) for g in gs],
                         [(0, 0)] + [(1024, ch) for ch in (384, 768, 769, 960, 1008)])
        self.assertTrue(first["mixed_decode"]["source"].startswith("measured; graphs of 1024 tokens and more (min_tokens), per prefill chunk"))
