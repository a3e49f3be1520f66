package engine

// --- vLLM V1 ----------------------------------------------------------------
//
// vllm_v1 is vLLM V1's scheduler as servesim's reference engine runs it
// (profiles/tools/gpu/refengine/sched.py; both are tested against the same
// step compositions, engine/testdata/vllm_v1_steps.json):
//   - one token budget per step (max_num_batched_tokens, default 2048) and
//     max_num_seqs (the batch size cap); chunked prefill always on;
//   - running requests first, decodes then partial prefills, each in
//     admission order; a prefill part is min(rest of the prompt, budget,
//     long_prefill_token_threshold when > 0);
//   - KV blocks are allocated as tokens are computed (no watermark, no
//     whole-prompt reservation); when a running request cannot get the blocks
//     it needs, the most recently admitted running request not yet scheduled
//     in this step is preempted (recompute), possibly the request itself;
//   - then waiting requests in order while budget, max_num_seqs and free
//     blocks allow; none is admitted in a step that preempted.

// DefaultMaxNumBatchedTokens is vllm_v1's token budget when none is given.
const DefaultMaxNumBatchedTokens = 2048

type vllmV1 struct{}

func (vllmV1) budget(rp *replica) int {
	if rp.cfg.MaxNumBatchedTokens > 0 {
		return rp.cfg.MaxNumBatchedTokens
	}
	return DefaultMaxNumBatchedTokens
}

// part is the number of prefill tokens r may compute in a step with budget left.
func (v vllmV1) part(rp *replica, r *request, budget int) int {
	return v.partFrom(rp, r, r.processed, budget)
}

// partFrom is part for r with processed tokens already computed (or cached).
func (vllmV1) partFrom(rp *replica, r *request, processed, budget int) int {
	n := min(r.target-processed, budget)
	if t := rp.cfg.LongPrefillTokenThreshold; t > 0 {
		n = min(n, t)
	}
	return n
}

// kvTokens is the KV r holds once it computes n more tokens (servesim counts
// the first output token as processed when the prompt completes, so a
// decode's own token is already in processed).
func kvTokens(r *request, n int) int {
	if r.prefillDone {
		return r.processed
	}
	return r.processed + n
}

func (rp *replica) blocksFor(r *request, tokens int) int {
	return max(0, ceilDiv(tokens, rp.cfg.BlockSize)-r.blocks)
}

func (v vllmV1) nextBatch(rp *replica, buf []member) []member {
	ms := buf
	budget := v.budget(rp)
	cands := rp.prefillBuf[:0]
	for _, id := range rp.running.ids() {
		cands = append(cands, &rp.reqs[id])
	}
	rp.running.clear()
	// marks of this step (no per-step allocation): scheduled, or preempted
	rp.step++
	sched, gone := 2*rp.step, 2*rp.step+1
	preempted := false
	for pass := 0; pass < 2; pass++ {
		for _, r := range cands {
			if r.mark == gone || r.mark == sched || r.prefillDone != (pass == 0) {
				continue
			}
			if budget == 0 || len(ms) == rp.res.MaxMicroBatchSize {
				continue
			}
			n := 1
			if !r.prefillDone {
				n = v.part(rp, r, budget)
			}
			need := rp.blocksFor(r, kvTokens(r, n))
			ok := true
			for need > rp.numBlocks-rp.allocated {
				victim := (*request)(nil)
				for i := len(cands) - 1; i >= 0; i-- {
					if c := cands[i]; c.mark != gone && c.mark != sched {
						victim = c
						break
					}
				}
				victim.mark = gone
				preempted = true
				rp.restart(victim)
				if victim == r {
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
			if need > 0 {
				rp.allocate(r, need)
			}
			r.mark = sched
			ms = append(ms, memberOf(r, n))
			budget -= n
		}
	}
	for _, r := range cands {
		if r.mark != gone && r.mark != sched {
			rp.running.pushBack(r)
		}
	}
	clear(cands)
	rp.prefillBuf = cands[:0]
	if preempted {
		return ms
	}
	for rp.waiting.len() > 0 && budget > 0 && len(ms) < rp.res.MaxMicroBatchSize && rp.numAllocated < rp.cfg.BatchSizeCap {
		r := rp.waiting.front()
		hit, unref := rp.prefixHit(r)
		start := r.processed + hit*rp.cfg.BlockSize
		n := v.partFrom(rp, r, start, budget)
		need := max(0, ceilDiv(start+n, rp.cfg.BlockSize)-r.blocks-hit)
		if need+unref > rp.numBlocks-rp.allocated {
			break
		}
		rp.waiting.popFront()
		rp.takePrefix(r, hit)
		rp.allocate(r, need)
		rp.admissions++
		r.admitted = rp.admissions
		ms = append(ms, memberOf(r, n))
		budget -= n
	}
	return ms
}

// onBatchEnd re-queues the members in admission order: the running list of
// vLLM V1 keeps the order requests were admitted in, whatever a step's order.
func (vllmV1) onBatchEnd(rp *replica, b *batch) {
	defaultOnBatchEnd(rp, b)
	s := rp.running.ids()
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && rp.reqs[s[j]].admitted < rp.reqs[s[j-1]].admitted; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
