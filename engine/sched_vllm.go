package engine

// --- vLLM v0 (§5.2) ------------------------------------------------------

type vllm struct{}

func (vllm) nextBatch(rp *replica, buf []member) []member {
	ms := buf
	maxN := 0
	for rp.waiting.len() > 0 {
		r := rp.waiting.front()
		n := nextTokens(r)
		if !rp.canAllocate(r) {
			break
		}
		if (len(ms)+1)*max(maxN, n) > rp.cfg.MaxTokensInBatch {
			break
		}
		rp.noteCap(rp.numAllocated, len(ms))
		if rp.numAllocated == rp.cfg.BatchSizeCap || len(ms) == rp.res.MaxMicroBatchSize {
			break
		}
		rp.waiting.popFront()
		rp.allocateRequest(r)
		ms = append(ms, memberOf(r, n))
		maxN = max(maxN, n)
	}
	if len(ms) > 0 {
		return ms
	}
	rp.sortRunning()
	seen := 0 // the last len(ms) compared with the cap
	for rp.running.len() > 0 && len(ms) < rp.res.MaxMicroBatchSize {
		seen = len(ms)
		r := rp.running.popFront()
		if !rp.admitOrPreempt(r) {
			continue
		}
		rp.allocateRequest(r)
		ms = append(ms, memberOf(r, 1))
	}
	if rp.running.len() > 0 {
		seen = len(ms) // the comparison that ended the loop
	}
	rp.noteCap(0, seen)
	return ms
}

func (vllm) onBatchEnd(rp *replica, b *batch) { defaultOnBatchEnd(rp, b) }
