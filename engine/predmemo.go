package engine

import "math"

// predMemo finds a replica's memoized predictions by key (stagePrediction):
// an open-addressing table of indices into the replica's predStore, with a
// hash of the key's fields. It answers as a Go map[stageKey]int32 would
// (keys equal by ==; a NaN PrefillAttn never matches, so each is a new
// entry), at a fraction of the cost under GOOS=js, where a map's generic
// hash and probe are calls into the runtime; a saturated run makes a new key
// almost every iteration.
type predMemo struct {
	slots []int32    // index+1 into keys (and the predStore); 0: empty
	keys  []stageKey // by index
}

func (k *stageKey) hash() uint64 {
	const m = 0x9e3779b97f4a7c15
	f := k.k.PrefillAttn
	if f == 0 {
		f = 0 // -0 == +0: one hash
	}
	h := uint64(uint32(k.k.T)) | uint64(uint32(k.k.Kd))<<32
	h = (h ^ (uint64(uint32(k.k.Bd)) | uint64(uint32(k.k.Kp))<<32)) * m
	h = (h ^ (uint64(uint32(k.k.Cp)) | uint64(uint32(k.k.NumRequests))<<32)) * m
	h = (h ^ (uint64(uint32(k.k.NewRequests)) | uint64(uint32(k.k.LogitSeqs))<<32)) * m
	h = (h ^ (uint64(uint32(k.k.NumPrefills)) | uint64(uint32(k.s))<<32)) * m
	h = (h ^ uint64(uint32(k.k.T8)) ^ math.Float64bits(f)) * m
	return h ^ h>>29
}

// get returns the index memoized for k, if any.
func (m *predMemo) get(k *stageKey) (int32, bool) {
	if len(m.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(m.slots) - 1)
	for i := k.hash() & mask; ; i = (i + 1) & mask {
		v := m.slots[i]
		if v == 0 {
			return 0, false
		}
		if m.keys[v-1] == *k {
			return v - 1, true
		}
	}
}

// put memoizes k at the next index (len(m.keys)), which must be absent.
func (m *predMemo) put(k *stageKey) {
	m.keys = append(m.keys, *k)
	if 4*len(m.keys) > 3*len(m.slots) {
		n := max(2*len(m.slots), 1024)
		m.slots = make([]int32, n)
		for j := range m.keys {
			m.place(&m.keys[j], int32(j+1))
		}
		return
	}
	m.place(k, int32(len(m.keys)))
}

func (m *predMemo) place(k *stageKey, v int32) {
	mask := uint64(len(m.slots) - 1)
	i := k.hash() & mask
	for m.slots[i] != 0 {
		i = (i + 1) & mask
	}
	m.slots[i] = v
}
