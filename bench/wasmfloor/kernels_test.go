package wasmfloor

import "testing"

// TestKernels checks each kernel's result on a small input against values
// worked out by hand.
func TestKernels(t *testing.T) {
	if a := Chain(10); a != (acc{sum: 45, even: 5, n: 10}) { // 0+...+9; 0,2,4,6,8
		t.Errorf("Chain(10) = %+v, want {45 5 10}", a)
	}

	// NewReqs(6): {state, ctx, left} = {0,0,1} {1,1,2} {2,2,3} {0,3,4} {1,4,5} {2,5,1}.
	rs := NewReqs(6)
	for pass, want := range []struct {
		waiting  int64
		finished int
	}{{3, 0}, {3, 1}, {3, 0}} { // waiting: contexts 0+3; request 1 finishes on the second pass
		if w, f := Scan(rs); w != want.waiting || f != want.finished {
			t.Errorf("Scan pass %d = %d, %d, want %d, %d", pass+1, w, f, want.waiting, want.finished)
		}
	}
	if rs[1].state != 2 || rs[1].ctx != 3 || rs[4].ctx != 7 || rs[4].left != 2 || rs[0].ctx != 0 {
		t.Errorf("Scan left %+v", rs)
	}

	m := NewMemo(4)
	// Values 0..3 found on rounds 0 and 2 (6 each), the 4 keys of round 1 absent.
	if s, miss := MemoLookups(m, 4, 3); s != 12 || miss != 4 || m.n != 4 {
		t.Errorf("MemoLookups(4, 3) = %v, %d (n %d), want 12, 4 (n 4)", s, miss, m.n)
	}
	if _, ok := m.Get(key{3, 6, 3, 1}); !ok {
		t.Error("key {3 6 3 1} not found")
	}
	if _, ok := m.Get(key{3, 6, 3, 2}); ok {
		t.Error("key {3 6 3 2} found")
	}

	g := NewGrid(4) // x 0 16 32 48, y 5 53 101 149
	for _, c := range []struct{ x, y float64 }{{-1, 5}, {0, 5}, {8, 29}, {16, 53}, {40, 125}, {48, 149}, {100, 149}} {
		if y := g.At(c.x); y != c.y {
			t.Errorf("At(%v) = %v, want %v", c.x, y, c.y)
		}
	}
	if s := Interp(g, 3); s != 28.5 { // 3x+5 at 0.5, 1.5, 2.5: 6.5+9.5+12.5
		t.Errorf("Interp(3) = %v, want 28.5", s)
	}

	// t < 13: d = t+1, so t/d = 0 and t%d = t (0+...+12 = 78); t = 13: d = 1, 13/1 = 13.
	if q, r := Div(14); q != 13 || r != 78 {
		t.Errorf("Div(14) = %d, %d, want 13, 78", q, r)
	}

	if rs := Append(5); len(rs) != 5 || rs[4] != (rec{t: 4, tokens: 4, reqs: 4, dur: 2}) || rs[0] != (rec{}) {
		t.Errorf("Append(5) = %+v", rs)
	}
}
