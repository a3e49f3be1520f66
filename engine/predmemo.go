package engine

import "math"

// predMemo finds a replica's memoized predictions by key (stagePrediction):
// an open-addressing table of indices into the replica's predStore (whose
// predictions hold their keys), with a hash of the key's fields. It
// answers as a Go map[stageKey]int32 would (keys equal by ==; a NaN
// PrefillAttn never matches, so each is a new entry), at a fraction of the
// cost under GOOS=js, where a map's generic hash and probe are calls into
// the runtime; a saturated run makes a new key every few iterations. Each
// slot keeps its key's hash's top 32 bits, so that a probe reads a
// prediction only when they agree (and the table grows from them without
// reading a prediction). A slot is 8 bytes: the table, whose lookups are
// scattered, takes half the cache lines it would with the whole hash.
type predMemo struct {
	slots []memoSlot
	shift uint8 // 64 - log2(len(slots)): a slot is a hash's top bits (at most 32 of them)
	n     int
}

type memoSlot struct {
	h uint32 // the hash's top 32 bits
	v int32  // index+1 into the predStore; 0: empty
}

// hash mixes every field of k (TestStageKeyHash_EveryField): a multiply-xorshift per 64 bits of fields,
// then a finalizer, so that the top bits (the slot) depend on all of them
// (T8, Kd and Kp are multiples of 8 or of the KV granularity: their low
// bits are the same).
func (k *stageKey) hash() uint64 {
	const m = 0x9e3779b97f4a7c15
	f := k.k.PrefillAttn
	if f == 0 {
		f = 0 // -0 == +0: one hash
	}
	h := (uint64(uint32(k.k.T)) | uint64(uint32(k.k.Kd))<<32) * m
	h = (h ^ h>>32 ^ (uint64(uint32(k.k.Bd)) | uint64(uint32(k.k.Kp))<<32)) * m
	h = (h ^ h>>32 ^ (uint64(uint32(k.k.Cp)) | uint64(uint32(k.k.NumRequests))<<32)) * m
	h = (h ^ h>>32 ^ (uint64(uint32(k.k.NewRequests)) | uint64(uint32(k.k.LogitSeqs))<<32)) * m
	h = (h ^ h>>32 ^ (uint64(uint32(k.k.NumPrefills)) | uint64(uint32(k.s))<<32)) * m
	h = (h ^ h>>32 ^ (uint64(uint32(k.k.T8)) | uint64(uint32(k.k.KdMax))<<32)) * m
	h = (h ^ h>>32 ^ math.Float64bits(f)) * m
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>29
}

// get returns the index in ps memoized for k (of hash h), if any.
func (m *predMemo) get(k *stageKey, h uint64, ps *predStore) (int32, bool) {
	if len(m.slots) == 0 {
		return 0, false
	}
	mask, top := uint64(len(m.slots)-1), uint32(h>>32)
	for i := h >> m.shift; ; i = (i + 1) & mask {
		e := &m.slots[i]
		if e.v == 0 {
			return 0, false
		}
		if e.h == top && ps.at(e.v-1).sk.eq(k) {
			return e.v - 1, true
		}
	}
}

// eq is k == o (every field by ==: a NaN PrefillAttn equals nothing, ±0
// are equal), compared field by field inline rather than through the
// struct's generated equality function.
func (k *stageKey) eq(o *stageKey) bool {
	a, b := &k.k, &o.k
	return a.T == b.T && a.Kd == b.Kd && a.Kp == b.Kp && a.Cp == b.Cp && a.Bd == b.Bd && a.T8 == b.T8 &&
		a.NumRequests == b.NumRequests && a.NewRequests == b.NewRequests && a.LogitSeqs == b.LogitSeqs &&
		a.NumPrefills == b.NumPrefills && a.KdMax == b.KdMax && a.PrefillAttn == b.PrefillAttn && k.s == o.s
}

// put memoizes index i of ps, whose key (of hash h) must be absent.
func (m *predMemo) put(h uint64, i int32) {
	m.n++
	if 2*m.n > len(m.slots) { // at most half full: a miss probes 2.5 slots on average (linear probing)
		n, shift := 1024, uint8(54)
		if len(m.slots) > 0 {
			n, shift = 2*len(m.slots), m.shift-1
		}
		old := m.slots
		m.slots, m.shift = make([]memoSlot, n), shift
		for _, e := range old { // from the hashes the slots keep: no prediction read again
			if e.v != 0 {
				m.place(uint64(e.h)<<32, e.v)
			}
		}
	}
	m.place(h, i+1)
}

// place puts v in the first empty slot from h's. The slot is h's top bits,
// which the slot's 32 bits keep while the table has at most 2^32 slots
// (maxPredictions keeps it far smaller).
func (m *predMemo) place(h uint64, v int32) {
	mask := uint64(len(m.slots) - 1)
	i := h >> m.shift
	for m.slots[i].v != 0 {
		i = (i + 1) & mask
	}
	m.slots[i] = memoSlot{uint32(h >> 32), v}
}
