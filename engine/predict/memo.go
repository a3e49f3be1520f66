package predict

// u64Memo is the predictor's memo of one term by a 64-bit key, as a
// map[uint64]float64 would hold it, in an open-addressing table (a hash
// of the key, linear probing, at most half full) whose slot keeps the key
// next to its value: a lookup reads one cache line, without the runtime's
// generic map code (which is several calls under GOOS=js). A saturated
// run makes a new prefill key every other step.
type u64Memo struct {
	slots []memoSlot
	shift uint8 // 64 - log2(len(slots))
	n     int
	// The key 2^64-1, whose slot mark would be 0 (empty).
	hasMax bool
	maxV   float64
}

type memoSlot struct {
	k uint64 // the key + 1; 0: empty
	v float64
}

func memoHash(k uint64) uint64 { // splitmix64's finalizer: every key bit reaches the top bits
	k ^= k >> 30
	k *= 0xbf58476d1ce4e5b9
	k ^= k >> 27
	k *= 0x94d049bb133111eb
	return k ^ k>>31
}

// len is the number of keys held.
func (m *u64Memo) len() int { return m.n }

// get returns k's value, if held.
func (m *u64Memo) get(k uint64) (float64, bool) {
	if k+1 == 0 {
		return m.maxV, m.hasMax
	}
	if len(m.slots) == 0 {
		return 0, false
	}
	mask, kk := uint64(len(m.slots)-1), k+1
	for i := memoHash(k) >> m.shift; ; i = (i + 1) & mask {
		e := &m.slots[i]
		if e.k == kk {
			return e.v, true
		}
		if e.k == 0 {
			return 0, false
		}
	}
}

// put sets k's value (k held or not, as a map assignment does).
func (m *u64Memo) put(k uint64, v float64) {
	if k+1 == 0 {
		if !m.hasMax {
			m.n++
		}
		m.hasMax, m.maxV = true, v
		return
	}
	if 2*(m.n+1) > len(m.slots) {
		n, shift := 256, uint8(56)
		if len(m.slots) > 0 {
			n, shift = 2*len(m.slots), m.shift-1
		}
		old := m.slots
		m.slots, m.shift = make([]memoSlot, n), shift
		for _, e := range old {
			if e.k != 0 {
				m.place(e.k, e.v)
			}
		}
	}
	if m.place(k+1, v) {
		m.n++
	}
}

// place sets the slot of key+1 kk to v; it reports whether kk was new.
func (m *u64Memo) place(kk uint64, v float64) bool {
	mask := uint64(len(m.slots) - 1)
	i := memoHash(kk-1) >> m.shift
	for ; m.slots[i].k != 0; i = (i + 1) & mask {
		if m.slots[i].k == kk {
			m.slots[i].v = v
			return false
		}
	}
	m.slots[i] = memoSlot{kk, v}
	return true
}
