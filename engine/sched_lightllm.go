package engine

import "sort"

// --- LightLLM (§5.6) -----------------------------------------------------

// lightLLM allocates KV per token (block_size 1) and admits prompts only
// when its estimate of the peak future footprint fits and the prompt's
// tokens are free now.
//
// The estimate counts the running requests only. Under Vidur timing and
// sync engine timing that covers every allocated block, and the estimate
// (at least Σ processed, one more per request than it holds) implies the
// prompt fits. Under async engine timing it does not: the requests that
// finished in the step still on the GPU keep their blocks until the host
// processes its outputs, after this batch is built (timing.go's
// planComplete and processOutputs). So the prompt is also checked against
// the free blocks (Vidur's can_allocate): where that binds, the request
// waits for the next step instead of over-allocating the replica.
type lightLLM struct{}

func (lightLLM) prefillBatch(rp *replica, buf []member) []member {
	ms := buf
	sum := 0
	type est struct{ used, left int }
	var ests []est
	for _, id := range rp.running.ids() {
		r := &rp.reqs[id]
		ests = append(ests, est{r.processed, max(0, r.decode-r.generated-1)})
	}
	for rp.waiting.len() > 0 {
		r := rp.waiting.front()
		if sum+r.target > rp.cfg.MaxTokensInBatch || rp.numAllocated == rp.cfg.BatchSizeCap || len(ms) == rp.res.MaxMicroBatchSize {
			break
		}
		ests = append(ests, est{r.target + 1, max(0, r.decode-2)})
		sorted := append([]est(nil), ests...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].left > sorted[j].left })
		need, cum := 0, 0
		for i, e := range sorted {
			cum += e.used
			need = max(need, e.left*(i+1)+cum)
		}
		if need >= rp.numBlocks || rp.numBlocks-rp.allocated < r.target {
			break
		}
		rp.waiting.popFront()
		rp.allocate(r, r.target)
		ms = append(ms, memberOf(r, r.target))
		sum += r.target
	}
	return ms
}

func (l lightLLM) nextBatch(rp *replica, buf []member) []member {
	if rp.running.len() == 0 {
		ms := l.prefillBatch(rp, buf)
		if len(ms) > 0 {
			rp.numWaitingIters = 0
		}
		return ms
	}
	if rp.numWaitingIters >= rp.cfg.MaxWaitingIters {
		rp.numWaitingIters = 0
		if ms := l.prefillBatch(rp, buf); len(ms) > 0 {
			return ms
		}
	}
	if rp.numBlocks-rp.allocated < rp.running.len() {
		// Vidur raises "OOM handling not implemented"; the run loop turns an
		// empty batch with running requests into a stall error.
		return nil
	}
	rp.numWaitingIters++
	ms := buf
	for _, id := range rp.running.ids() {
		r := &rp.reqs[id]
		rp.allocate(r, 1)
		ms = append(ms, memberOf(r, 1))
	}
	rp.running.clear()
	return ms
}

func (lightLLM) onBatchEnd(rp *replica, b *batch) { defaultOnBatchEnd(rp, b) }
