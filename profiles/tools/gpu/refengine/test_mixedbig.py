"""CPU tests of mixedbig.py's design (python3 -m unittest): its points, the steps it keeps, and that vLLM V1
scheduling of its setup gives steps of exactly k decodes and one fresh chunk."""
import unittest

from refengine import mixedbig as MB
from refengine import sched as S
from refengine.test_sched import drive


def shape(k, chunk, start=0, prefills=1):
    return dict(num_prefills=prefills, num_decodes=k, prefill_chunks=f"{chunk}:{start}" if prefills else "")


class MixedBigTest(unittest.TestCase):
    def test_points(self):
        pts = MB.points()
        self.assertEqual(len(pts), len(MB.GRAPHS) * (1 + (len(MB.DECODES) - 1) * len(MB.CONTEXTS)))
        self.assertEqual(len(set(pts)), len(pts))
        for s in MB.GRAPHS:
            self.assertEqual([p for p in pts if p[0] == s and p[1] == 0], [(s, 0, MB.CONTEXTS[0])])  # one baseline
        for s, k, c in pts:
            self.assertLessEqual(MB.chunk_for(s) + k, s)
        with self.assertRaises(ValueError):
            MB.points(graphs=[512], decodes=[256])

    def test_kept_steps(self):
        steps = [(0, 0, 0, 9.0, 0, "graph_mixed", 2048, shape(64, 1792)),  # dropped (first two)
                 (0, 0, 0, 9.1, 0, "graph", 64, shape(64, 0, prefills=0)),  # decode-only step between prompts
                 (0, 0, 0, 9.2, 0, "graph_mixed", 2048, shape(64, 1792)),  # dropped
                 (0, 0, 0, 9.3, 0, "graph_mixed", 2048, shape(64, 1792)),
                 (0, 0, 0, 9.4, 0, "graph_mixed", 2048, shape(63, 1792)),  # a decode finished: another point's shape
                 (0, 0, 0, 9.5, 0, "graph_mixed", 2048, shape(64, 1792, start=1792)),  # cached context
                 (0, 0, 0, 9.6, 0, "graph_mixed", 1920, shape(64, 1792)),  # another graph
                 (0, 0, 0, 9.7, 0, "graph_mixed", 2048, shape(64, 1700)),  # another chunk
                 (0, 0, 0, 9.8, 0, "graph_mixed", 2048, shape(64, 1792))]
        self.assertEqual(MB.kept(steps, 2048, 64, 1792), [9.3, 9.8])

    def test_schedule_gives_the_points_steps(self):
        """sched.py's vLLM V1 with the probe's cap (k + 1) and budget (S) on its preloaded decodes and prompts:
        every prompt's chunk runs in a step of exactly the k decodes, fresh, and the decodes outlast them."""
        for size, k in [(512, 16), (2048, 255), (1024, 0), (1536, 128)]:
            sch = S.make("vllm_v1", 200_000, max_num_seqs=k + 1, max_num_batched_tokens=size)
            reqs = S.preload_running(sch, MB.spread(k, 1024), MB.decode_steps(MB.PROMPTS)) if k else []
            prompts = MB.add_prompts(sch, size)
            steps = drive(sch, [])
            fresh = []
            for st in steps:
                pre = [s for s in st.seqs if s.n > 1]
                dec = [s for s in st.seqs if s.n == 1]
                if pre:
                    self.assertEqual(len(pre), 1)
                    fresh.append((len(dec), pre[0].n, pre[0].start))
            self.assertEqual(fresh, [(k, MB.chunk_for(size), 0)] * MB.PROMPTS, (size, k))
            self.assertTrue(all(p.finished for p in prompts))
            self.assertEqual(len(reqs), k)


    def test_chunk_points(self):
        pts = MB.chunk_points(["fill", "s256", "half"])
        # per graph: fill 9 counts x 3 contexts + 10 baselines (chunks S - k, k = 0 included), s256 27 + 1, half 9 + 1
        self.assertEqual(len(pts), 4 * (37 + 28 + 10))
        self.assertEqual(len({p[:4] for p in pts}), len(pts))
        base = {(s, ch) for s, k, c, ch, _ in pts if k == 0}
        for s, k, c, ch, mode in pts:
            self.assertLessEqual(ch + k, s)
            self.assertIn((s, ch), base, (s, k, c, ch))  # every point has its own chunk's baseline
            if k and mode == "fill":
                self.assertEqual(ch + k, s)
        self.assertIn((2048, 255, 1024, 1793, "fill"), pts)
        self.assertIn((2048, 0, 512, 1793, "fill"), pts)
        self.assertIn((512, 64, 2048, 256, "s256"), pts)
        self.assertIn((1536, 16, 1024, 640, "half"), pts)
        self.assertNotIn((1536, 16, 512, 640, "half"), pts)  # half: the middle context only
        self.assertEqual([p for p in pts if p[0] == 1024 and p[4] == "half" and p[1] == 0], [(1024, 0, 512, 384, "half")])
        with self.assertRaises(ValueError):
            MB.chunk_points(["quarter"])
        self.assertEqual(MB.mode_chunk("fill", 1024, 64), 960)
        self.assertEqual(MB.mode_chunk("s256", 1024, 64), 768)
        self.assertEqual(MB.mode_chunk("half", 1024, 64), 384)

    def test_schedule_gives_the_chunk_points_steps(self):
        """As test_schedule_gives_the_points_steps for the chunk modes: the budget-filled chunk (S - k) and the
        smaller ones each run in a step of exactly k decodes and the whole fresh chunk, within S tokens."""
        for size, k, mode in [(512, 255, "fill"), (2048, 1, "fill"), (1024, 0, "fill"), (1536, 128, "half"),
                              (2048, 64, "fill"), (512, 16, "half")]:
            ch = MB.mode_chunk(mode, size, k)
            sch = S.make("vllm_v1", 200_000, max_num_seqs=k + 1, max_num_batched_tokens=size)
            reqs = S.preload_running(sch, MB.spread(k, 1024), MB.decode_steps(MB.PROMPTS)) if k else []
            prompts = MB.add_prompts(sch, size, chunk=ch)
            fresh = []
            for st in drive(sch, []):
                pre = [s for s in st.seqs if s.n > 1]
                dec = [s for s in st.seqs if s.n == 1]
                if pre:
                    self.assertEqual(len(pre), 1)
                    self.assertLessEqual(st.num_tokens, size)
                    fresh.append((len(dec), pre[0].n, pre[0].start, st.num_tokens))
            self.assertEqual(fresh, [(k, ch, 0, ch + k)] * MB.PROMPTS, (size, k, mode))
            self.assertTrue(all(p.finished for p in prompts))
            self.assertEqual(len(reqs), k)

    def test_chunk_summary(self):
        rows = [dict(size=1024, decodes=0, context=512, chunk=960, gpu_ms=5.0),
                dict(size=1024, decodes=64, context=512, chunk=960, gpu_ms=5.56),
                dict(size=1024, decodes=0, context=512, chunk=768, gpu_ms=4.0),
                dict(size=1024, decodes=64, context=512, chunk=768, gpu_ms=4.28),
                dict(size=1024, decodes=64, context=1024, chunk=384, gpu_ms=3.0)]
        self.assertEqual(MB.summary(rows, 28), ["graph 1024, decodes@context/chunk ms per layer: 64@512/768 0.0100, "
                                                "64@512/960 0.0200, 64@1024/384 no baseline"])

    def test_summary(self):
        rows = [dict(size=1024, decodes=0, context=512, gpu_ms=5.0), dict(size=1024, decodes=16, context=512, gpu_ms=5.28),
                dict(size=1024, decodes=16, context=512, gpu_ms=5.56), dict(size=2048, decodes=16, context=512, gpu_ms=9.0)]
        self.assertEqual(MB.summary(rows, 28), ["graph 1024 (5.000 ms without decodes), decodes@context ms per layer: "
                                                "16@512 0.0150", "graph 2048: no point without decodes"])


if __name__ == "__main__":
    unittest.main()
