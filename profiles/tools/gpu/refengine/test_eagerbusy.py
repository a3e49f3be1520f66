"""CPU tests of eagerbusy.py's design: the scheduler forms the prior step, then the eager step of the asked shape,
and nothing after it (so the eager step's end is its GPU end)."""
import unittest

from refengine import eagerbusy as EB
from refengine import sched as S


preload = S.preload_running  # bench.preload_decodes without the GPU's block table


def steps_of(d):
    sch = S.make("vllm_v1", 4096, max_num_seqs=d["max_num_seqs"], max_num_batched_tokens=d["budget"])
    reqs = preload(sch, [EB.DECODE_CTX] * d["num_decodes"], d["steps"]) if d["num_decodes"] else []
    if d["extra_decode"]:
        reqs += preload(sch, [EB.DECODE_CTX], 1, first_id=d["num_decodes"])
    reqs += EB.add_prompts(sch, d, 100)
    steps = []
    while sch.has_work():
        st = sch.schedule()
        if not st.seqs:
            break
        steps.append(st.shape())
    return steps, reqs


class DesignTest(unittest.TestCase):
    def test_every_design_forms_its_steps(self):
        for t in EB.TOKENS:
            for n in EB.DECODES:
                for prev in EB.PREVS:
                    d = EB.design(t, n, prev)
                    steps, reqs = steps_of(d)
                    with self.subTest(tokens=t, decodes=n, prev=prev):
                        self.assertTrue(all(r.finished for r in reqs))
                        eager = steps[-1]
                        self.assertEqual((eager["num_tokens"], eager["num_decodes"], eager["num_prefills"],
                                          eager["num_new"]), (t, n, 1, 1))
                        if prev == "idle":
                            self.assertEqual(len(steps), 1)
                            continue
                        self.assertEqual(len(steps), 2)
                        if prev == "decode":
                            self.assertEqual((steps[0]["num_tokens"], steps[0]["num_decodes"],
                                              steps[0]["num_prefills"]), (n + 1, n + 1, 0))
                            continue
                        want = {"graph": 2048, "same": t, "long": 8192}[prev]
                        self.assertEqual((steps[0]["num_tokens"], steps[0]["num_decodes"], steps[0]["num_prefills"]),
                                         (want, n, 1))

    def test_refuses_steps_that_are_not_eager(self):
        with self.assertRaises(ValueError):
            EB.design(2048, 0, "same")
        with self.assertRaises(ValueError):
            EB.design(4096, 0, "busy")


class RowTest(unittest.TestCase):
    def test_row_reads_the_second_step_and_the_gap(self):
        class Ev:
            def __init__(self, t):
                self.t = t

            def elapsed_time(self, other):
                return other.t - self.t

        d = EB.design(4096, 8, "same")
        shape = dict(num_tokens=4096, num_decodes=8, num_prefills=1)
        steps = [(0, 9_000_000, 21_000_000, 10.0, 9.0, "eager", 0, shape, 0),
                 (9_100_000, 21_000_000, 23_500_000, 12.5, 11.9, "eager", 0, shape, 0)]
        marks = [(False, False, Ev(0.0), Ev(10.0), 0), (True, False, Ev(10.0), Ev(22.5), 1_500_000)]
        r = EB.row_of(steps, marks, d)
        self.assertEqual((r["start_ns"], r["launch_ns"], r["end_ns"], r["prev_end_ns"]),
                         (9_100_000, 21_000_000, 23_500_000, 21_000_000))
        self.assertAlmostEqual(r["tail_ms"], 2.5)
        self.assertEqual(r["gpu_gap_ms"], 0.0)
        self.assertTrue(r["prev_busy_at_launch"])
        self.assertFalse(r["prev_busy_after_launch"])
        self.assertEqual(r["gc_ms"], 1.5)
        with self.assertRaises(RuntimeError):
            EB.row_of(steps[:1], marks[:1], d)


class GCTest(unittest.TestCase):
    def test_collections_are_clipped_to_the_launch(self):
        ev = [("start", 5), ("stop", 15), ("start", 20), ("stop", 22), ("start", 28)]
        self.assertEqual(EB.gc_ns(ev, 10, 30), 5 + 2 + 2)
        self.assertEqual(EB.gc_ns([], 10, 30), 0)


class RunRowTest(unittest.TestCase):
    def test_the_wrapper_marks_each_launch_and_goes(self):
        """run_row through a stand-in engine whose serve launches its steps as Engine.serve does."""
        class Ev:
            def __init__(self, done):
                self.done = done

            def query(self):
                return self.done

        class Runner:
            def launch(self, step):
                return "eager", 0, Ev(True), Ev(False)

        class Bench:
            @staticmethod
            def preload_decodes(eng, sch, ctxs, nsteps, first_id=0):
                return preload(sch, ctxs, nsteps, first_id)

        class Eng:
            runner = Runner()

            def new_scheduler(self):
                return S.make("vllm_v1", 4096, **self.sched_kw)

            def serve(self, reqs, sch, realtime):
                self.seen = len(reqs)
                while sch.has_work():
                    self.runner.launch(sch.schedule())
                return {}, [], 0

        eng = Eng()
        _, marks = EB.run_row(eng, Bench, EB.design(3072, 8, "decode"), 100)
        self.assertEqual(eng.seen, 8 + 1 + 1)
        self.assertEqual([m[:2] for m in marks], [(False, False), (True, True)])
        self.assertNotIn("launch", vars(eng.runner))


if __name__ == "__main__":
    unittest.main()
