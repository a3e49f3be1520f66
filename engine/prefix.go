package engine

import "fmt"

// --- Prefix caching -----------------------------------------------------------
//
// With scheduler.enable_prefix_caching (sarathi and vllm_v1), a replica keeps
// the KV blocks of prompts it computed, keyed by what they hold, as vLLM's
// automatic prefix caching does:
//   - a request's prompt blocks are identified by the workload's hash_ids
//     (one per Workload.BlockTokens prompt tokens: 512 for Mooncake/AIPerf,
//     16 for Bailian), converted to the engine's block size: engine block k
//     (tokens [k*bs, (k+1)*bs)) is keyed by a hash chained over the previous
//     block's key, the hash_ids of every trace block it overlaps and k, so
//     equal keys mean equal prefixes (up to a 64-bit hash collision). Only
//     full engine blocks inside the prompt and inside the hash_ids' span are
//     cacheable; a workload without hash_ids never hits;
//   - when a request is admitted (first time or after a restart) it reuses
//     the longest run of cached blocks from its start, at most
//     (prompt - 1) / bs blocks (vLLM always computes the last prompt token to
//     get logits); those tokens are not prefilled, but the prefill chunks
//     that follow attend to them (a chunk's kv_cache_size includes them);
//   - a block is cached as soon as a prefill step completes it (so requests
//     running at the same time share it); a block computed while an equal one
//     is already cached stays private to its request;
//   - cached blocks are reference-counted; when the last request holding one
//     frees it (finish or preemption) it stays cached, unreferenced, and is
//     evicted least recently freed first, only when an allocation needs a
//     physical block and none is free. Admission counts unreferenced cached
//     blocks as free (they can be evicted), as vLLM does.
//
// replica.allocated counts physical blocks referenced by requests (a shared
// block once); pc.unref counts the cached, unreferenced ones; their sum never
// exceeds num_blocks.

// prefixCache is one replica's cache of computed prompt blocks.
type prefixCache struct {
	index     map[uint64]int32 // key -> slot
	slots     []cblock
	freeSlots []int32
	// LRU of unreferenced blocks: head is the least recently freed.
	head, tail int32
	unref      int
	// stepHit counts the tokens hit by requests admitted in the batch being
	// built (BatchRecord.PrefixHitTokens).
	stepHit int
}

type cblock struct {
	key        uint64
	refs       int32
	prev, next int32 // LRU links while refs == 0
}

func newPrefixCache() *prefixCache {
	return &prefixCache{index: map[uint64]int32{}, head: -1, tail: -1}
}

// mix64 is splitmix64's finaliser: the chain hash of block keys.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// blockKeys appends to dst the keys of the full engine blocks of a prompt of
// prompt tokens whose hash_ids (one per traceBlock tokens) are ids.
func blockKeys(dst []uint64, ids []int64, traceBlock, bs, prompt int) []uint64 {
	if len(ids) == 0 || traceBlock <= 0 {
		return dst
	}
	span := min(prompt, len(ids)*traceBlock)
	var h uint64 = 0x70726566 // "pref"
	for k := 0; (k+1)*bs <= span; k++ {
		h = mix64(h ^ uint64(k))
		for j := k * bs / traceBlock; j <= ((k+1)*bs-1)/traceBlock; j++ {
			h = mix64(h ^ uint64(ids[j]))
		}
		dst = append(dst, h)
	}
	return dst
}

// prefixHit returns how many leading blocks of r are cached (at most
// (target-1)/bs, and none for a request that holds blocks), and how many of
// those no request references.
func (rp *replica) prefixHit(r *request) (hit, unref int) {
	pc := rp.pc
	if pc == nil || r.blocks > 0 {
		return 0, 0
	}
	limit := min(len(r.keys), (r.target-1)/rp.cfg.BlockSize)
	for hit < limit {
		s, ok := pc.index[r.keys[hit]]
		if !ok {
			break
		}
		if pc.slots[s].refs == 0 {
			unref++
		}
		hit++
	}
	return hit, unref
}

// takePrefix makes r hold its first hit cached blocks and skips their tokens.
func (rp *replica) takePrefix(r *request, hit int) {
	if hit == 0 {
		return
	}
	pc := rp.pc
	for k := 0; k < hit; k++ {
		s := pc.index[r.keys[k]]
		b := &pc.slots[s]
		if b.refs == 0 {
			pc.lruRemove(s)
			rp.allocated++
		}
		b.refs++
		r.held = append(r.held, s)
	}
	rp.numAllocated++
	r.blocks = hit
	tokens := hit * rp.cfg.BlockSize
	r.processed, r.skip = tokens, tokens
	if r.restarts == 0 {
		r.cachedPrefill = tokens
	}
	rp.prefillSaved += int64(tokens)
	rp.load -= int64(tokens)
	pc.stepHit += tokens
	if rp.allocated+pc.unref > rp.numBlocks {
		panic(fmt.Sprintf("engine: replica %d over-allocated KV blocks taking a prefix (%d + %d cached > %d)", rp.id, rp.allocated, pc.unref, rp.numBlocks))
	}
}

// makeRoom evicts unreferenced cached blocks, least recently freed first,
// until n more blocks can be allocated without exceeding num_blocks.
func (rp *replica) makeRoom(n int) {
	pc := rp.pc
	for over := rp.allocated + n + pc.unref - rp.numBlocks; over > 0 && pc.head >= 0; over-- {
		s := pc.head
		pc.lruRemove(s)
		delete(pc.index, pc.slots[s].key)
		pc.freeSlots = append(pc.freeSlots, s)
		rp.evicted++
	}
}

// cacheComputed caches r's prompt blocks that its computed tokens now fill.
func (rp *replica) cacheComputed(r *request) {
	pc := rp.pc
	full := min(min(r.processed, r.prefill)/rp.cfg.BlockSize, len(r.keys), r.blocks)
	for k := len(r.held); k < full; k++ {
		key := r.keys[k]
		if _, dup := pc.index[key]; dup {
			r.held = append(r.held, -1) // computed twice: stays private
			continue
		}
		var s int32
		if n := len(pc.freeSlots); n > 0 {
			s = pc.freeSlots[n-1]
			pc.freeSlots = pc.freeSlots[:n-1]
		} else {
			s = int32(len(pc.slots))
			pc.slots = append(pc.slots, cblock{})
		}
		pc.slots[s] = cblock{key: key, refs: 1, prev: -1, next: -1}
		pc.index[key] = s
		r.held = append(r.held, s)
	}
}

// freeHeld releases r's blocks under prefix caching: cached blocks lose a
// reference (and join the LRU at zero), private ones are freed.
func (rp *replica) freeHeld(r *request) {
	pc := rp.pc
	private := r.blocks
	for _, s := range r.held {
		if s < 0 {
			continue
		}
		private--
		b := &pc.slots[s]
		if b.refs <= 0 {
			panic(fmt.Sprintf("engine: replica %d freed cached block %d with %d references (request %d)", rp.id, s, b.refs, r.id))
		}
		if b.refs--; b.refs == 0 {
			pc.lruPush(s)
			rp.allocated--
		}
	}
	r.held = r.held[:0]
	rp.allocated -= private
	if rp.allocated < 0 {
		panic(fmt.Sprintf("engine: replica %d freed more KV blocks than it allocated (request %d)", rp.id, r.id))
	}
}

func (pc *prefixCache) lruPush(s int32) {
	b := &pc.slots[s]
	b.prev, b.next = pc.tail, -1
	if pc.tail >= 0 {
		pc.slots[pc.tail].next = s
	} else {
		pc.head = s
	}
	pc.tail = s
	pc.unref++
}

func (pc *prefixCache) lruRemove(s int32) {
	b := &pc.slots[s]
	if b.prev >= 0 {
		pc.slots[b.prev].next = b.next
	} else {
		pc.head = b.next
	}
	if b.next >= 0 {
		pc.slots[b.next].prev = b.prev
	} else {
		pc.tail = b.prev
	}
	b.prev, b.next = -1, -1
	pc.unref--
}

// PrefixCacheStats are a run's prefix-cache totals (all replicas).
type PrefixCacheStats struct {
	// HitTokens sums num_cached_prefill_tokens (each request's first admission).
	HitTokens int64 `json:"hit_tokens"`
	// PromptTokens sums the prompts of requests that were admitted.
	PromptTokens int64 `json:"prompt_tokens"`
	// PrefillTokensSaved counts prompt tokens not prefilled thanks to a hit,
	// over every admission (re-admissions after a preemption included).
	PrefillTokensSaved int64 `json:"prefill_tokens_saved"`
	// EvictedBlocks counts cached blocks evicted to make room.
	EvictedBlocks int64 `json:"evicted_blocks"`
}
