package engine

import (
	"testing"
	"unsafe"
)

// TestRequest_LineSized keeps request a multiple of 64 bytes (its padding
// adjusted when fields change), so that in the page-aligned s.reqs every
// request starts a cache line, the scheduler's per-token fields are in
// its first and the rest of the per-token fields in its second.
func TestRequest_LineSized(t *testing.T) {
	var r request
	if n := unsafe.Sizeof(r); n%64 != 0 {
		t.Errorf("sizeof(request) = %d, not a multiple of 64: adjust its padding", n)
	}
	if end := unsafe.Offsetof(r.leaving) + 1; end > 64 {
		t.Errorf("the scheduler's per-token fields end at byte %d, past the first cache line", end)
	}
	if end := unsafe.Offsetof(r.arrival) + 8; end > 128 {
		t.Errorf("the per-token fields end at byte %d, past two cache lines", end)
	}
}
