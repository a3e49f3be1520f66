"""CPU tests of the reference engine's schedulers (python3 -m unittest)."""
import random
import unittest

from refengine import sched as S


def drive(sch, reqs, max_steps=100000, async_release=True):
    """Schedule until done, releasing finished requests one step late (as the
    async engine does). Returns the steps."""
    for r in reqs:
        sch.add(r)
    steps, late = [], []
    while sch.has_work():
        st = sch.schedule()
        for r in late:
            sch.release(r)
        late = [s.req for s in st.seqs if s.finishes]
        if not async_release:
            for r in late:
                sch.release(r)
            late = []
        steps.append(st)
        if len(steps) > max_steps:
            raise AssertionError("no progress")
    for r in late:
        sch.release(r)
    return steps


class VllmV1Test(unittest.TestCase):
    def test_budget_chunks_and_order(self):
        sch = S.VllmV1(1000, max_num_seqs=8, max_num_batched_tokens=100)
        a, b = S.Request(0, 0, 150, 3), S.Request(1, 0, 30, 2)
        steps = drive(sch, [a, b])
        # step 0: a's first 100 prompt tokens; step 1: a's last 50 (first token), then b's 30;
        # step 2: a decodes, b's... b sampled its first token in step 1, so both decode
        self.assertEqual([(s.req.id, s.n, s.start) for s in steps[0].seqs], [(0, 100, 0)])
        self.assertEqual([(s.req.id, s.n, s.start) for s in steps[1].seqs], [(0, 50, 100), (1, 30, 0)])
        self.assertTrue(steps[1].seqs[0].samples and steps[1].seqs[1].samples)
        self.assertEqual([(s.req.id, s.n, s.start) for s in steps[2].seqs], [(0, 1, 150), (1, 1, 30)])
        self.assertTrue(steps[2].seqs[1].finishes)  # b: 2 tokens
        self.assertEqual([(s.req.id, s.n, s.start) for s in steps[3].seqs], [(0, 1, 151)])
        self.assertTrue(steps[3].seqs[0].finishes)
        self.assertEqual(len(steps), 4)

    def test_decodes_before_partial_prefills(self):
        sch = S.VllmV1(1000, max_num_seqs=8, max_num_batched_tokens=64)
        long, short = S.Request(0, 0, 200, 2), S.Request(1, 0, 10, 5)
        sch.add(short)
        st = sch.schedule()  # short: whole prompt, first token
        self.assertEqual([(s.req.id, s.n) for s in st.seqs], [(1, 10)])
        sch.add(long)
        st = sch.schedule()  # short decodes first, then long gets the rest of the budget
        self.assertEqual([(s.req.id, s.n) for s in st.seqs], [(1, 1), (0, 63)])
        st = sch.schedule()  # running: short (decode) first, then long's partial prefill
        self.assertEqual([(s.req.id, s.n, s.start) for s in st.seqs], [(1, 1, 11), (0, 63, 63)])

    def test_max_num_seqs_and_threshold(self):
        sch = S.VllmV1(1000, max_num_seqs=2, max_num_batched_tokens=1000, long_prefill_token_threshold=40)
        rs = [S.Request(i, 0, 100, 2) for i in range(3)]
        for r in rs:
            sch.add(r)
        st = sch.schedule()
        self.assertEqual([(s.req.id, s.n) for s in st.seqs], [(0, 40), (1, 40)])

    def test_preempts_most_recently_admitted_and_recomputes(self):
        # 1 padding block + 6 usable: two requests of 40 prompt tokens (3 blocks each) fill it
        sch = S.VllmV1(7, max_num_seqs=8, max_num_batched_tokens=1000)
        a, b = S.Request(0, 0, 40, 20), S.Request(1, 0, 40, 20)
        sch.add(a)
        sch.add(b)
        st = sch.schedule()
        self.assertEqual([(s.req.id, s.n) for s in st.seqs], [(0, 40), (1, 40)])
        self.assertEqual(sch.pool.num_free(), 0)
        # decodes at positions 40..47 fit in block 3 (tokens 32..47); position 48 needs a new block
        for _ in range(8):
            st = sch.schedule()
            self.assertEqual(len(st.preempted), 0)
        st = sch.schedule()
        self.assertEqual([r.id for r in st.preempted], [1])  # b was admitted last
        self.assertEqual([(s.req.id, s.n) for s in st.seqs], [(0, 1)])
        self.assertEqual(b.num_computed, 0)
        self.assertEqual(b.num_tokens, 40 + 9)  # recompute covers the generated tokens too
        self.assertEqual(sch.waiting[0], b)

    def test_every_request_completes_random(self):
        rng = random.Random(7)
        for trial in range(200):
            nb = rng.randint(40, 400)
            sch = S.VllmV1(nb, max_num_seqs=rng.choice([1, 4, 64]), max_num_batched_tokens=rng.choice([16, 100, 512]),
                           long_prefill_token_threshold=rng.choice([0, 0, 33]))
            reqs = [S.Request(i, 0, rng.randint(1, 300), rng.randint(1, 60)) for i in range(rng.randint(1, 30))]
            reqs = [r for r in reqs if S.cdiv(r.P + r.D, S.BLOCK_SIZE) <= nb - 2]
            samples = {r.id: 0 for r in reqs}
            for st in drive(sch, reqs):
                self.assertLessEqual(st.num_tokens, sch.budget)
                self.assertLessEqual(len(st.seqs), sch.max_num_seqs)
                seen = set()
                for s in st.seqs:
                    self.assertNotIn(s.req.id, seen)
                    seen.add(s.req.id)
                    self.assertGreater(s.n, 0)
                    samples[s.req.id] += s.samples
                held = sum(len(r.blocks) for r in reqs)
                self.assertLessEqual(held + sch.pool.num_free(), nb - 1)
            self.assertEqual(samples, {r.id: r.D for r in reqs}, f"trial {trial}")
            self.assertEqual(sch.pool.num_free(), nb - 1)
            self.assertEqual(len(set(sch.pool.free)), nb - 1)


class SarathiTest(unittest.TestCase):
    def test_chunk_budget_includes_decodes_and_cap(self):
        sch = S.Sarathi(1000, chunk_size=64, batch_cap=2)
        a, b, c = S.Request(0, 0, 10, 5), S.Request(1, 0, 100, 5), S.Request(2, 0, 10, 5)
        for r in (a, b, c):
            sch.add(r)
        st = sch.schedule()
        self.assertEqual([(s.req.id, s.n) for s in st.seqs], [(0, 10), (1, 54)])  # cap 2: c waits
        st = sch.schedule()
        self.assertEqual([(s.req.id, s.n) for s in st.seqs], [(0, 1), (1, 46)])

    def test_watermark_admission(self):
        sch = S.Sarathi(101, chunk_size=1000, batch_cap=8, watermark_fraction=0.1)  # watermark 10 blocks
        big = S.Request(0, 0, 16 * 95, 2)  # 95 blocks of 100 free would leave 5 < 10
        sch.add(big)
        st = sch.schedule()
        self.assertEqual(st.seqs, [])
        small = S.Request(1, 0, 16 * 80, 2)
        sch2 = S.Sarathi(101, chunk_size=2000, batch_cap=8, watermark_fraction=0.1)
        sch2.add(small)
        self.assertEqual([(s.req.id, s.n) for s in sch2.schedule().seqs], [(1, 1280)])

    def test_every_request_completes_random(self):
        rng = random.Random(3)
        for trial in range(200):
            nb = rng.randint(60, 400)
            sch = S.Sarathi(nb, chunk_size=rng.choice([32, 256]), batch_cap=rng.choice([1, 8, 64]))
            reqs = [S.Request(i, 0, rng.randint(1, 300), rng.randint(1, 60)) for i in range(rng.randint(1, 30))]
            reqs = [r for r in reqs if S.cdiv(r.P + r.D, S.BLOCK_SIZE) <= nb - 2 - sch.watermark]
            samples = {r.id: 0 for r in reqs}
            for st in drive(sch, reqs):
                self.assertLessEqual(st.num_tokens, sch.chunk)
                for s in st.seqs:
                    samples[s.req.id] += s.samples
            self.assertEqual(samples, {r.id: r.D for r in reqs}, f"trial {trial}")
            self.assertEqual(sch.pool.num_free(), nb - 1)


class SeqCapTest(unittest.TestCase):
    def test_cap_against_decode_rows(self):
        for name, kw, ok in [("vllm_v1", {}, True), ("vllm_v1", dict(max_num_seqs=256), True),
                             ("vllm_v1", dict(max_num_seqs=257), False), ("sarathi", dict(batch_cap=256), True),
                             ("sarathi", dict(batch_cap=512), False)]:
            sch = S.make(name, 100, **kw)
            if ok:
                self.assertIs(S.check_seq_cap(sch, 256), sch)
            else:
                with self.assertRaisesRegex(ValueError, "hold 256 decode rows"):
                    S.check_seq_cap(sch, 256)


class FixtureTest(unittest.TestCase):
    def test_committed_fixture_is_what_sched_does(self):
        """engine/testdata/vllm_v1_steps.json (which the Go vllm_v1 is tested against) is sched.py's output."""
        import json
        import os
        from refengine import steps_fixture
        path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "engine", "testdata", "vllm_v1_steps.json")
        with open(path) as f:
            committed = json.load(f)
        self.assertEqual(committed, steps_fixture.fixture())
        self.assertTrue(any(c["preemptions"] > 0 for c in committed))


if __name__ == "__main__":
    unittest.main()
