package engine

// --- Sarathi-Serve (§5.3) ------------------------------------------------

type sarathi struct{}

func (sarathi) nextBatch(rp *replica, buf []member) []member {
	ms := buf
	budget := rp.cfg.ChunkSize
	prefills := rp.prefillIDs[:0] // request indices: appending one stores no pointer (no GC write barrier)
	bs := rp.cfg.BlockSize
	maxMB, reqs, q := rp.res.MaxMicroBatchSize, rp.reqs, &rp.running
	var dsum int64 // the decodes' contexts, summed for buildBatch (decodeSums)
	dmax := 0
	seen := 0 // the last len(ms) compared with the cap
	// gn: the decode group's members (decodegroup.go), the batch's leading
	// decodes, taken at once and not in ms; ms's members come after them,
	// so the cap is compared with len(ms)+gn.
	gn := 0
	if g := &rp.grp; g.n > 0 {
		front := q.s[q.h : q.h+g.front]
		ok := true
		for _, id := range front {
			if reqs[id].prefillDone {
				// A decode ahead of the group (one the cap left out last
				// step; not expected: decodes hold blocks, and at most
				// batch_size_cap requests do): step by step.
				ok = false
				break
			}
		}
		if ok && g.take(rp, maxMB) {
			prefills = append(prefills, front...)
			if q.h += len(front); q.h == len(q.s) {
				q.s, q.h = q.s[:0], 0
			}
			gn, seen, dsum = g.n, g.n-1, g.ctxSum
		} else {
			rp.dissolve()
		}
	}
	for q.len() > 0 && len(ms)+gn < maxMB {
		// The running requests in order, without popping them one by one:
		// a decode that holds blocks, needs at most one more and finds one
		// free (admitDecode's common case) is taken here; the first that
		// is not ends the pass, is popped and goes through admitDecode
		// (which may preempt from the running list's back).
		ids, free := q.s[q.h:], rp.numBlocks-rp.allocated
		i := 0
		for ; i < len(ids) && len(ms)+gn < maxMB; i++ {
			seen = len(ms) + gn
			r := &reqs[ids[i]]
			if !r.prefillDone {
				prefills = append(prefills, ids[i])
				continue
			}
			need := r.processed - r.blocks*bs
			if r.blocks == 0 || need > 1 || free <= 0 || rp.pc != nil {
				break
			}
			if need == 1 {
				r.blocks++
				free--
			}
			ms = append(ms, member{ids[i], 1})
			dsum += int64(r.processed)
			dmax = max(dmax, r.processed)
		}
		rp.allocated = rp.numBlocks - free
		if q.h += i; q.h == len(q.s) {
			q.s, q.h = q.s[:0], 0
		}
		if i == len(ids) || len(ms)+gn == maxMB {
			break
		}
		r := q.popFront() // a decode
		if !rp.admitDecode(r) {
			continue
		}
		ms = append(ms, memberOf(r, 1))
		dsum += int64(r.processed)
		dmax = max(dmax, r.processed)
	}
	if q.len() > 0 {
		seen = len(ms) + gn // the comparison that ended the loop
	}
	rp.noteCap(0, seen)
	rp.dec = decodeSums{len(ms) - len(buf), dsum, dmax, gn}
	tokens := len(ms) - len(buf) + gn
	skipped := 0
	for _, id := range prefills {
		r := &reqs[id]
		n := max(0, min(r.target-r.processed, budget-tokens))
		if n == 0 {
			prefills[skipped] = id
			skipped++
			continue
		}
		ms = append(ms, memberOf(r, n))
		tokens += n
	}
	for i := skipped - 1; i >= 0; i-- {
		rp.running.pushFront(&reqs[prefills[i]])
	}
	if cap(prefills) != cap(rp.prefillIDs) { // it grew (else the same array: no pointer written, no GC write barrier)
		rp.prefillIDs = prefills[:0]
	}
	rp.sortRunning()
	rp.grp.front = q.len() // the group's place, at the step's end: after what is left now
	for rp.waiting.len() > 0 {
		rp.noteCap(rp.numAllocated, len(ms)+gn)
		if rp.numAllocated == rp.cfg.BatchSizeCap || len(ms)+gn == rp.res.MaxMicroBatchSize {
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
