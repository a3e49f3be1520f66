package engine

// A capacity search sweeps the batch cap, and a cap the run never reached
// changes nothing: the run is the same simulation under any cap that every
// one of its comparisons with the cap would have answered alike. The
// schedulers for which this is worked out (Sarathi-Serve and vLLM v0)
// compare the cap in two ways only: the requests holding blocks
// (numAllocated) against batch_size_cap before an admission, and a batch's
// members (len(ms)) against max_micro_batch_size = batch_size_cap /
// num_pipeline_stages, before each member is added; steadyDecode's
// len(ids) test only chooses between two paths that give the same state.
// noteCap records the largest values compared; a comparison that stopped
// the loop compared a value equal to the bound, so the cap bound exactly
// when a recorded value reaches it.

// noteCap records that the scheduler compared alloc requests holding blocks
// with batch_size_cap and micro members with max_micro_batch_size (either
// may be 0 when only the other was compared).
func (rp *replica) noteCap(alloc, micro int) {
	rp.capAlloc = max(rp.capAlloc, alloc)
	rp.capMicro = max(rp.capMicro, micro)
}

// capFreeFrom is Result.BatchCapFreeFrom: the smallest batch_size_cap from
// which every comparison the run made with the cap gives the same answer
// (so every cap from there up runs the same simulation), or 0 when not
// shown: the cap bound, a scheduler or mode this is not worked out for, or
// a memory budget the up-front estimate at that cap would exceed.
func (s *sim) capFreeFrom() int {
	switch s.cfg.Scheduler.Type {
	case "sarathi", "vllm":
	default:
		return 0
	}
	if s.disagg != nil || s.cfg.Cluster.PrefillReplicas > 0 {
		return 0
	}
	alloc, micro := 0, 0
	for _, rp := range s.replicas {
		alloc, micro = max(alloc, rp.capAlloc), max(micro, rp.capMicro)
	}
	pp := max(1, s.cfg.Replica.NumPipelineStages)
	// A cap c answers every comparison alike iff c > alloc and c/pp > micro
	// (integer division), i.e. c >= (micro+1)*pp.
	n := max(alloc+1, (micro+1)*pp, 1)
	c := s.cfg.Scheduler.BatchSizeCap
	if n > c {
		return 0 // the cap bound
	}
	if s.opt.MemoryBudget > 0 { // Run's up-front check reads the cap (leastIterations); it only falls as the cap grows
		cfg := s.cfg
		cfg.Scheduler.BatchSizeCap = n
		wl := s.wl
		if s.checkBudget(int64(len(wl))*costPerRequest+decodeTokens(wl)*costPerToken+leastIterations(cfg, wl)*costPerBatch) != nil {
			n = c
		}
	}
	return n
}
