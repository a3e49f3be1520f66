package engine

import "testing"

// groupTestRequest is a decode that may join a group of block size 16
// (joinable): 20 tokens processed in 2 blocks, 9 tokens left, room for all.
func groupTestRequest(id int, lastToken int64) request {
	return request{id: id, processed: 20, blocks: 2, generated: 1, decode: 10, prefillDone: true,
		firstToken: 5, lastToken: lastToken, tokens: make([]uint32, 1, 16)}
}

// TestDecodeGroup_CanJoinLastT: a watched group (an SLO watch) takes a
// joiner only if its last token was the members' (lastT), unless the
// group is empty; an unwatched one takes any joinable decode; nothing
// takes one that is not joinable. Each case fails if one part of canJoin's
// condition is dropped or turned.
func TestDecodeGroup_CanJoinLastT(t *testing.T) {
	const bs, lastT = 16, 1000
	for _, c := range []struct {
		name      string
		watched   bool
		members   int
		lastToken int64
		done      bool // not joinable
		want      bool
	}{
		{"unwatched, another last token", false, 3, lastT - 7, false, true},
		{"unwatched, not joinable", false, 3, lastT, true, false},
		{"watched, empty group, any last token", true, 0, lastT - 7, false, true},
		{"watched, the members' last token", true, 3, lastT, false, true},
		{"watched, an earlier last token", true, 3, lastT - 7, false, false},
		{"watched, a later last token", true, 3, lastT + 7, false, false},
		{"watched, the members' last token, not joinable", true, 3, lastT, true, false},
		{"watched, empty group, not joinable", true, 0, lastT, true, false},
	} {
		g := decodeGroup{on: true, watched: c.watched, n: c.members, lastT: lastT}
		r := groupTestRequest(0, c.lastToken)
		r.done = c.done
		if got := g.canJoin(&r, bs); got != c.want {
			t.Errorf("%s: canJoin %t, want %t", c.name, got, c.want)
		}
	}
}

// TestDecodeGroup_AbsorbLastT: absorb takes the running list whole into
// an empty group only when every decode had its last token at once (as a
// step's end leaves them), into a watched group only decodes whose last
// token was the members' (canJoin), and otherwise changes nothing.
func TestDecodeGroup_AbsorbLastT(t *testing.T) {
	const bs, lastT = 16, 1000
	for _, c := range []struct {
		name    string
		watched bool
		members int     // the group's before (0: empty)
		front   int     // running entries ahead of the group's place
		last    []int64 // the running decodes' last tokens, in order
		want    bool
	}{
		{"empty group, one step's decodes", false, 0, 0, []int64{lastT, lastT, lastT}, true},
		{"empty group, a decode of another step", false, 0, 0, []int64{lastT, lastT, lastT - 7}, false},
		{"empty group, the first of another step", false, 0, 0, []int64{lastT - 7, lastT, lastT}, false},
		{"empty watched group, one step's decodes", true, 0, 0, []int64{lastT - 7, lastT - 7}, true},
		{"empty watched group, two steps'", true, 0, 0, []int64{lastT - 7, lastT}, false},
		{"watched group, the members' last token", true, 2, 0, []int64{lastT, lastT}, true},
		{"watched group, one of another step", true, 2, 0, []int64{lastT, lastT - 7}, false},
		{"unwatched group, another step's decodes", false, 2, 0, []int64{lastT - 7, lastT - 3}, true},
		{"a group with running entries ahead", false, 2, 1, []int64{lastT}, false},
	} {
		reqs := make([]request, len(c.last))
		for i, lt := range c.last {
			reqs[i] = groupTestRequest(i, lt)
		}
		rp := &replica{cfg: &SchedulerConfig{BlockSize: bs}}
		rp.setReqs(reqs)
		for i := range reqs {
			rp.running.pushBack(&reqs[i])
		}
		rp.grp = decodeGroup{on: true, watched: c.watched, n: c.members, front: c.front, lastT: lastT, phase: make([]int32, bs)}
		got := rp.absorb()
		members, running := rp.grp.n, rp.running.len()
		if got != c.want {
			t.Errorf("%s: absorb %t, want %t", c.name, got, c.want)
			continue
		}
		if c.want && (members != c.members+len(c.last) || running != 0) {
			t.Errorf("%s: %d members, %d running after absorb, want %d and 0", c.name, members, running, c.members+len(c.last))
		}
		if !c.want && (members != c.members || running != len(c.last) || reqs[0].inGrp) {
			t.Errorf("%s: a refused absorb changed the group: %d members, %d running", c.name, members, running)
		}
		if c.want && c.members == 0 && rp.grp.lastT != c.last[0] {
			t.Errorf("%s: lastT %d after absorb into an empty group, want the decodes' %d", c.name, rp.grp.lastT, c.last[0])
		}
	}
}
