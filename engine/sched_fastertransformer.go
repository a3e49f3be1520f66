package engine

// --- FasterTransformer (§5.5) --------------------------------------------

// fasterTransformer batches at request level: a batch's members run until
// all finish. Unlike Vidur ([quirk, bug] fixed), members that finish early
// free their blocks at once instead of leaking them.
type fasterTransformer struct{}

func (fasterTransformer) nextBatch(rp *replica, buf []member) []member {
	ms := buf
	if len(rp.ftBatches) > 0 {
		reqs := rp.ftBatches[0]
		rp.ftBatches = rp.ftBatches[1:]
		for _, r := range reqs {
			if !r.done {
				ms = append(ms, memberOf(r, nextTokens(r)))
			}
		}
		return ms
	}
	for rp.waiting.len() > 0 && len(ms) < rp.res.MaxBatchSize && rp.numBlocks-rp.allocated >= rp.res.MaxBlocksPerSequence {
		r := rp.waiting.popFront()
		rp.allocate(r, rp.res.MaxBlocksPerSequence)
		ms = append(ms, memberOf(r, nextTokens(r)))
	}
	return ms
}

func (fasterTransformer) onBatchEnd(rp *replica, b *batch) {
	var left []*request
	for _, m := range b.members {
		r := &rp.reqs[m.id]
		if r.done {
			rp.release(r)
		} else {
			left = append(left, r)
		}
	}
	if len(left) > 0 {
		rp.ftBatches = append(rp.ftBatches, left)
	}
}
