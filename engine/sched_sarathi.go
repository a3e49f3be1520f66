package engine

// --- Sarathi-Serve (§5.3) ------------------------------------------------

type sarathi struct{}

func (sarathi) nextBatch(rp *replica, buf []member) []member {
	ms := buf
	budget := rp.cfg.ChunkSize
	tokens := 0
	prefills := rp.prefillBuf[:0]
	bs := rp.cfg.BlockSize
	seen := 0 // the last len(ms) compared with the cap
	for rp.running.len() > 0 && len(ms) < rp.res.MaxMicroBatchSize {
		seen = len(ms)
		r := rp.running.popFront()
		if !r.prefillDone {
			prefills = append(prefills, r)
			continue
		}
		// admitDecode's common case, without its call (one per decode token):
		// the request holds blocks, needs at most one more, and one is free.
		if need := r.processed - r.blocks*bs; r.blocks > 0 && need <= 1 && rp.numBlocks > rp.allocated && rp.pc == nil {
			if need == 1 {
				r.blocks++
				rp.allocated++
			}
		} else if !rp.admitDecode(r) {
			continue
		}
		ms = append(ms, memberOf(r, 1))
		tokens++
		rp.dec.sum += int64(r.processed)
		rp.dec.max = max(rp.dec.max, r.processed)
	}
	if rp.running.len() > 0 {
		seen = len(ms) // the comparison that ended the loop
	}
	rp.noteCap(0, seen)
	rp.dec.n = len(ms) - len(buf) // the leading decodes, summed for buildBatch
	skipped := 0
	for _, r := range prefills {
		n := max(0, min(r.target-r.processed, budget-tokens))
		if n == 0 {
			prefills[skipped] = r
			skipped++
			continue
		}
		ms = append(ms, memberOf(r, n))
		tokens += n
	}
	for i := skipped - 1; i >= 0; i-- {
		rp.running.pushFront(prefills[i])
	}
	if cap(prefills) != cap(rp.prefillBuf) { // it grew (else the same array: no pointer written, no GC write barrier)
		rp.prefillBuf = prefills[:0]
	}
	rp.sortRunning()
	for rp.waiting.len() > 0 {
		rp.noteCap(rp.numAllocated, len(ms))
		if rp.numAllocated == rp.cfg.BatchSizeCap || len(ms) == rp.res.MaxMicroBatchSize {
			break
		}
		r := rp.waiting.front()
		hit, unref := rp.prefixHit(r)
		if !rp.canAdmit(r, hit, unref) {
			break
		}
		n := min(r.target-hit*rp.cfg.BlockSize, budget-tokens)
		if n <= 0 {
			break
		}
		rp.waiting.popFront()
		rp.takePrefix(r, hit)
		rp.allocate(r, ceilDiv(r.target, rp.cfg.BlockSize)-hit)
		ms = append(ms, memberOf(r, n))
		tokens += n
	}
	return ms
}

func (sarathi) onBatchEnd(rp *replica, b *batch) { defaultOnBatchEnd(rp, b) }
