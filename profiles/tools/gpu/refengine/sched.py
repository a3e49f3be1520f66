"""Scheduling for the reference engine: requests, the paged KV block pool and
two schedulers (vLLM V1's and Sarathi-Serve's), with no torch import so that
the rules are tested on a CPU (test_sched.py).

Token accounting is the real engine's: a request knows num_tokens = prompt +
generated tokens; num_computed of them have their KV in the cache. A step
computes n <= num_tokens - num_computed tokens of it; when a step computes
the last known token, that step samples the next token (the first output
token when the prompt completes). Output lengths are fixed by the workload,
so the scheduler knows at scheduling time which step produces which token
and when a request finishes: with asynchronous scheduling it treats the step
in flight as done. A finished request's blocks are freed only when that
step's outputs are processed (Scheduler.release), as an async engine does.

Preemption is recompute: the victim frees its blocks, keeps its generated
tokens and goes back to the front of the waiting queue; when re-admitted it
prefills prompt + generated tokens again, then decodes on.
"""

BLOCK_SIZE = 16


def cdiv(a, b):
    return -(-a // b)


class Request:
    """One request of a workload: P prompt tokens, D output tokens."""

    __slots__ = ("id", "arrival", "P", "D", "generated", "num_computed", "blocks", "slot",
                 "admitted_seq", "finished", "preemptions", "first_scheduled")

    def __init__(self, rid, arrival_ns, prompt, output):
        if prompt < 1 or output < 1:
            raise ValueError(f"request {rid}: prompt and output lengths must be >= 1, got {prompt} and {output}")
        self.id, self.arrival, self.P, self.D = rid, arrival_ns, prompt, output
        self.generated = 0      # output tokens sampled (or scheduled to be, in the step in flight)
        self.num_computed = 0   # tokens whose KV is in the cache (after the scheduled steps)
        self.blocks = []        # physical block ids, in order
        self.slot = -1          # the engine's per-request row (sampled-token buffer, block table)
        self.admitted_seq = -1  # admission order, for "most recently admitted"
        self.finished = False
        self.preemptions = 0
        self.first_scheduled = False

    @property
    def num_tokens(self):
        return self.P + self.generated

    @property
    def pending(self):
        return self.num_tokens - self.num_computed

    def is_decode(self):
        """A decode: its prompt (and any recompute) is done; one token to compute."""
        return self.generated > 0 and self.pending == 1


class Scheduled:
    """One request's part of a step."""

    __slots__ = ("req", "n", "start", "new_blocks", "samples", "finishes")

    def __init__(self, req, n, start, new_blocks, samples, finishes):
        self.req = req
        self.n = n                    # tokens computed in this step
        self.start = start            # position of the first of them (= num_computed before the step)
        self.new_blocks = new_blocks  # [(index in the request's block list, physical block)]
        self.samples = samples        # the step samples a token for this request
        self.finishes = finishes      # ... and it is the request's last


class Step:
    """A step: decodes first, then prefill parts (partial, then new)."""

    def __init__(self, seqs, preempted):
        self.seqs = seqs
        self.preempted = preempted

    @property
    def num_tokens(self):
        return sum(s.n for s in self.seqs)

    def shape(self):
        dec = [s for s in self.seqs if s.n == 1 and s.start >= s.req.P]
        pre = [s for s in self.seqs if not (s.n == 1 and s.start >= s.req.P)]
        return dict(num_seqs=len(self.seqs), num_decodes=len(dec), num_prefills=len(pre),
                    num_new=sum(1 for s in pre if s.start == 0), num_tokens=self.num_tokens,
                    decode_ctx_sum=sum(s.start + 1 for s in dec),
                    decode_ctx_max=max((s.start + 1 for s in dec), default=0),
                    prefill_chunks=";".join(f"{s.n}:{s.start}" for s in pre))


class BlockPool:
    """Free list of physical KV blocks (block 0 is reserved as padding's target)."""

    def __init__(self, num_blocks):
        if num_blocks < 2:
            raise ValueError(f"KV pool needs at least 2 blocks, got {num_blocks}")
        self.num_blocks = num_blocks
        self.free = list(range(num_blocks - 1, 0, -1))  # pop() gives the lowest id first

    def num_free(self):
        return len(self.free)

    def need(self, req, total_tokens):
        return max(0, cdiv(total_tokens, BLOCK_SIZE) - len(req.blocks))

    def grow(self, req, total_tokens):
        """Give req blocks to hold total_tokens; returns [(index, block)]."""
        n = self.need(req, total_tokens)
        if n > len(self.free):
            raise RuntimeError(f"request {req.id}: {n} blocks needed, {len(self.free)} free")
        out = []
        for _ in range(n):
            b = self.free.pop()
            out.append((len(req.blocks), b))
            req.blocks.append(b)
        return out

    def release(self, req):
        self.free.extend(reversed(req.blocks))
        req.blocks = []


class Scheduler:
    """State shared by both schedulers: waiting (FIFO), running (admission order)."""

    def __init__(self, num_blocks, max_num_seqs):
        self.pool = BlockPool(num_blocks)
        self.max_num_seqs = max_num_seqs
        self.waiting = []
        self.running = []
        self.admissions = 0
        self.num_preemptions = 0

    def add(self, req):
        self.waiting.append(req)

    def has_work(self):
        return bool(self.waiting or self.running)

    def release(self, req):
        """Free a finished request's blocks (after its last step completed)."""
        self.pool.release(req)

    def _preempt(self, victim):
        self.pool.release(victim)
        victim.num_computed = 0
        victim.preemptions += 1
        self.num_preemptions += 1
        self.running.remove(victim)
        self.waiting.insert(0, victim)

    def _admit(self, req):
        self.waiting.remove(req)
        req.admitted_seq = self.admissions
        self.admissions += 1
        self.running.append(req)

    def _schedule_part(self, req, n):
        start = req.num_computed
        new = self.pool.grow(req, start + n)
        req.num_computed += n
        samples = req.num_computed == req.num_tokens
        finishes = False
        if samples:
            req.generated += 1
            if req.generated == req.D:
                finishes = True
                req.finished = True
        req.first_scheduled = True
        return Scheduled(req, n, start, new, samples, finishes)

    def _retire(self, step):
        for s in step.seqs:
            if s.finishes:
                self.running.remove(s.req)


class VllmV1(Scheduler):
    """vLLM V1's rules: one token budget per step, chunked prefill always on;
    running requests first (decodes, then partial prefills, each in admission
    order), then waiting requests in order while budget, max_num_seqs and
    free blocks allow. When a running request cannot get the blocks it
    needs, the most recently admitted running request is preempted
    (recompute), possibly the request itself; after a preemption no waiting
    request is admitted in that step. long_prefill_token_threshold (0: off)
    caps the tokens one prefill gets per step."""

    name = "vllm_v1"

    def __init__(self, num_blocks, max_num_seqs=256, max_num_batched_tokens=2048, long_prefill_token_threshold=0):
        super().__init__(num_blocks, max_num_seqs)
        if max_num_batched_tokens < 1:
            raise ValueError("max_num_batched_tokens must be >= 1")
        self.budget = max_num_batched_tokens
        self.threshold = long_prefill_token_threshold

    def _cap(self, n):
        return min(n, self.threshold) if self.threshold > 0 else n

    def schedule(self):
        budget = self.budget
        seqs, preempted = [], []
        scheduled = set()
        order = [r for r in self.running if r.is_decode()] + [r for r in self.running if not r.is_decode()]
        for req in order:
            if budget == 0:
                break
            if req not in self.running:  # preempted earlier in this step
                continue
            n = min(self._cap(req.pending), budget)
            ok = True
            while self.pool.need(req, req.num_computed + n) > self.pool.num_free():
                victim = max((r for r in self.running if id(r) not in scheduled), key=lambda r: r.admitted_seq)
                self._preempt(victim)
                preempted.append(victim)
                if victim is req:
                    ok = False
                    break
            if not ok:
                continue
            seqs.append(self._schedule_part(req, n))
            scheduled.add(id(req))
            budget -= n
        if not preempted:
            while self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
                req = self.waiting[0]
                n = min(self._cap(req.pending), budget)
                if self.pool.need(req, req.num_computed + n) > self.pool.num_free():
                    break
                self._admit(req)
                seqs.append(self._schedule_part(req, n))
                budget -= n
        step = Step(seqs, preempted)
        self._retire(step)
        return step


class Sarathi(Scheduler):
    """Sarathi-Serve as servesim (after Vidur) runs it: decodes first (each
    may need one more block: if none is free, the latest-admitted running
    request is preempted, possibly itself), then partial prefills, then new
    requests, all under one token budget (chunk_size) and a batch cap; a new
    request needs its whole prompt's blocks free above a watermark."""

    name = "sarathi"

    def __init__(self, num_blocks, chunk_size=512, batch_cap=128, watermark_fraction=0.01):
        super().__init__(num_blocks, batch_cap)
        self.chunk = chunk_size
        self.watermark = int(watermark_fraction * num_blocks)

    def schedule(self):
        budget = self.chunk
        seqs, preempted, partial = [], [], []
        for req in list(self.running):
            if req not in self.running or len(seqs) >= self.max_num_seqs:
                continue
            if not req.is_decode():
                partial.append(req)
                continue
            ok = True
            while self.pool.need(req, req.num_computed + 1) > self.pool.num_free():
                cands = [r for r in self.running if r not in (s.req for s in seqs)]
                victim = max(cands, key=lambda r: r.admitted_seq)
                self._preempt(victim)
                preempted.append(victim)
                if victim is req:
                    ok = False
                    break
            if ok:
                seqs.append(self._schedule_part(req, 1))
                budget -= 1
        for req in partial:
            if req not in self.running or len(seqs) >= self.max_num_seqs:
                continue
            n = min(req.pending, budget)
            if n <= 0 or self.pool.need(req, req.num_computed + n) > self.pool.num_free():
                continue
            seqs.append(self._schedule_part(req, n))
            budget -= n
        while self.waiting and len(self.running) < self.max_num_seqs and budget > 0:
            req = self.waiting[0]
            if self.pool.num_free() - cdiv(req.num_tokens, BLOCK_SIZE) < self.watermark:
                break
            n = min(req.pending, budget)
            self._admit(req)
            # Vidur reserves the whole prompt's blocks at admission.
            self.pool.grow(req, req.num_tokens)
            part = self._schedule_part(req, n)
            part.new_blocks = [(i, b) for i, b in enumerate(req.blocks)]
            seqs.append(part)
            budget -= n
        step = Step(seqs, preempted)
        self._retire(step)
        return step


def make(name, num_blocks, **kw):
    """A scheduler by name ("vllm_v1" or "sarathi") with its settings."""
    if name == "vllm_v1":
        return VllmV1(num_blocks, **kw)
    if name == "sarathi":
        return Sarathi(num_blocks, **kw)
    raise ValueError(f"unknown scheduler {name!r} (want vllm_v1 or sarathi)")


def check_seq_cap(sch, rows):
    """Refuses sch if a step of it could hold more sequences than rows, the decode rows the engine's buffers
    hold (model.DECODE_ROWS): a larger eager step would write past them on the GPU."""
    if sch.max_num_seqs > rows:
        raise ValueError(f"{sch.name}: at most {sch.max_num_seqs} sequences a step, but the engine's decode attention "
                         f"buffers hold {rows} decode rows; use a sequence cap of at most {rows}")
    return sch


def preload_running(sch, ctxs, nsteps, first_id=0):
    """Requests running in sch, one per entry of ctxs (ids from first_id), already at that context - 1 (their
    blocks taken from sch's pool), to decode nsteps tokens each; returns them. bench.preload_decodes adds the
    GPU's block table."""
    reqs = []
    for i, ctx in enumerate(ctxs, first_id):
        r = Request(i, 0, ctx - 1, nsteps + 1)
        r.num_computed = ctx - 1
        r.generated = 1
        sch.pool.grow(r, ctx + nsteps)
        r.admitted_seq = i
        sch.running.append(r)
        reqs.append(r)
    return reqs
