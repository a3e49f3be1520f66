"""CPU tests of kvlayout.py's block layouts (python3 -m unittest)."""
import random
import unittest

from refengine import kvlayout as KL
from refengine import sched as S


def preload(ctxs, num_blocks=400):
    sch = S.make("vllm_v1", num_blocks, max_num_seqs=len(ctxs))
    return sch, S.preload_running(sch, ctxs, KL.STEPS)


class KVLayoutTest(unittest.TestCase):
    CTXS = [40, 100, 17, 64]

    def check_pool(self, sch, reqs, counts):
        held = [b for r in reqs for b in r.blocks]
        self.assertEqual([len(r.blocks) for r in reqs], counts)  # every request keeps its blocks' number
        self.assertEqual(len(set(held)), len(held))
        self.assertNotIn(0, held)  # the padding block
        self.assertEqual(sorted(held + sch.pool.free), list(range(1, sch.pool.num_blocks)))

    def test_consecutive_is_the_preload(self):
        sch, reqs = preload(self.CTXS)
        before = [list(r.blocks) for r in reqs]
        KL.relayout(sch.pool, reqs, "consecutive", random.Random(1))
        self.assertEqual([r.blocks for r in reqs], before)
        self.assertEqual(before[1], list(range(before[1][0], before[1][0] + len(before[1]))))

    def test_interleaved_takes_one_block_per_sequence_in_turn(self):
        sch, reqs = preload(self.CTXS)
        counts = [len(r.blocks) for r in reqs]  # 4, 8, 2, 5
        self.assertEqual(counts, [4, 8, 2, 5])
        free = list(sch.pool.free)
        KL.relayout(sch.pool, reqs, "interleaved", random.Random(1))
        self.check_pool(sch, reqs, counts)
        self.assertEqual(sch.pool.free, free)
        self.assertEqual(reqs[0].blocks[:2], [1, 5])  # block index 0 of the four sequences is 1-4, index 1 is 5-8
        self.assertEqual(reqs[2].blocks, [3, 7])
        self.assertEqual(reqs[1].blocks[-3:], [17, 18, 19])  # only the longest left at its last indices

    def test_scattered_draws_from_the_whole_pool(self):
        sch, reqs = preload(self.CTXS)
        counts = [len(r.blocks) for r in reqs]
        KL.relayout(sch.pool, reqs, "scattered", random.Random(7))
        self.check_pool(sch, reqs, counts)
        held = [b for r in reqs for b in r.blocks]
        self.assertGreater(max(held), 3 * sum(counts))  # not the preload's first ids
        sch2, reqs2 = preload(self.CTXS)
        KL.relayout(sch2.pool, reqs2, "scattered", random.Random(7))
        self.assertEqual([r.blocks for r in reqs2], [r.blocks for r in reqs])  # seeded
        with self.assertRaises(ValueError):
            KL.relayout(sch.pool, reqs, "sideways", random.Random(1))

    def test_released_blocks_return_to_the_pool(self):
        sch, reqs = preload(self.CTXS)
        KL.relayout(sch.pool, reqs, "scattered", random.Random(3))
        for r in reqs:
            sch.pool.release(r)
        self.assertEqual(sorted(sch.pool.free), list(range(1, sch.pool.num_blocks)))


    def test_summary(self):
        rows = [dict(batch=16, context=512, layout=lay, rep=rep, gpu_ms=ms)
                for rep in (0, 1) for lay, ms in (("consecutive", 2.0), ("scattered", 2.1 + 0.1 * rep))]
        self.assertEqual(KL.summary(rows), ["batch 16 at 512: consecutive 2.000 ms (+0.00%), scattered 2.150 ms (+7.50%)"])


if __name__ == "__main__":
    unittest.main()
