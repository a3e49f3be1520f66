"""The step compositions of sched.py's vLLM V1 scheduler on fixed cases, as
the fixture both schedulers are tested against: the engine's Go vllm_v1
(engine/sched_vllm_v1_test.go) and this module (test_sched.py checks that
the committed fixture is what sched.py does).

Cases: requests all arriving at t=0 (so composition depends on the rules
alone), blocks freed when a step ends (the simulator's Vidur timing).

Usage (from profiles/tools/gpu): python3 -m refengine.steps_fixture > ../../../engine/testdata/vllm_v1_steps.json
"""
import json
import random

from . import sched as S

CASES = [
    dict(name="chunked prefills, decodes first", num_blocks=2000, max_num_seqs=4, max_num_batched_tokens=100,
         long_prefill_token_threshold=0, seed=1, n=10),
    dict(name="threshold caps one prefill", num_blocks=2000, max_num_seqs=8, max_num_batched_tokens=256,
         long_prefill_token_threshold=33, seed=2, n=8),
    dict(name="KV full: recompute preemption", num_blocks=40, max_num_seqs=16, max_num_batched_tokens=128,
         long_prefill_token_threshold=0, seed=3, n=12),
]


def run_case(c):
    rng = random.Random(c["seed"])
    reqs = [S.Request(i, 0, rng.randint(1, 200), rng.randint(1, 40)) for i in range(c["n"])]
    sch = S.VllmV1(c["num_blocks"], max_num_seqs=c["max_num_seqs"], max_num_batched_tokens=c["max_num_batched_tokens"],
                   long_prefill_token_threshold=c["long_prefill_token_threshold"])
    for r in reqs:
        sch.add(r)
    steps = []
    while sch.has_work():
        st = sch.schedule()
        for s in st.seqs:
            if s.finishes:
                sch.release(s.req)
        steps.append("".join(f"[{s.req.id}:{s.n}]" for s in st.seqs))
        if len(steps) > 100000:
            raise RuntimeError("no progress")
    return dict(name=c["name"], usable_blocks=c["num_blocks"] - 1, max_num_seqs=c["max_num_seqs"],
                max_num_batched_tokens=c["max_num_batched_tokens"],
                long_prefill_token_threshold=c["long_prefill_token_threshold"],
                requests=[[r.P, r.D] for r in reqs], preemptions=sch.num_preemptions, steps=steps)


def fixture():
    return [run_case(c) for c in CASES]


if __name__ == "__main__":
    print(json.dumps(fixture(), indent=1))
