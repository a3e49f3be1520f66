package engine

// --- Orca (§5.4) ---------------------------------------------------------

type orca struct{}

func (orca) nextBatch(rp *replica, buf []member) []member {
	ms := buf
	for rp.running.len() > 0 && len(ms) < rp.res.MaxBatchSize {
		r := rp.running.popFront()
		ms = append(ms, memberOf(r, nextTokens(r)))
	}
	for rp.waiting.len() > 0 && len(ms) < rp.res.MaxBatchSize && rp.numBlocks-rp.allocated >= rp.res.MaxBlocksPerSequence {
		r := rp.waiting.popFront()
		rp.allocate(r, rp.res.MaxBlocksPerSequence)
		ms = append(ms, memberOf(r, nextTokens(r)))
	}
	return ms
}

func (orca) onBatchEnd(rp *replica, b *batch) { defaultOnBatchEnd(rp, b) }
