package api

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
	"sync"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/profiles"
)

// userSetsSize is how many of the caller's own profile sets a handler keeps
// opened: a search's trials all carry the same files, so one would do; two
// let a page alternate between two dropped sets without re-parsing.
const userSetsSize = 2

// userSets keeps the profile sets a handler last opened from a request's
// profile files, by their content (a SHA-256 of every file's name and bytes)
// and what they are taken to be for (profiles.For): a search's trials,
// every one carrying the same profile_files to a page's pool worker or a
// `servesim serve` endpoint, parse the files and build their tables once
// per handler instead of once per trial. A set is shared by the runs that
// use it, as the embedded sets are (its tables are read-only once built).
// Requests that find a set being opened wait for it; an error is not kept.
type userSets struct {
	mu      sync.Mutex
	entries []*userSet // most recently used first, at most userSetsSize
	// open opens a set (nil: profiles.OpenUserFiles); tests count calls.
	open func(map[string][]byte, profiles.For) (*predict.Set, error)
}

type userSet struct {
	key  [sha256.Size]byte
	done chan struct{} // closed once set and err are
	set  *predict.Set
	err  error
}

// get returns the set of files for f, opened once for as long as it stays
// among the last userSetsSize used.
func (c *userSets) get(files map[string][]byte, f profiles.For) (*predict.Set, error) {
	key := userSetKey(files, f)
	c.mu.Lock()
	for i, e := range c.entries {
		if e.key == key {
			copy(c.entries[1:i+1], c.entries[:i])
			c.entries[0] = e
			c.mu.Unlock()
			<-e.done
			return e.set, e.err
		}
	}
	e := &userSet{key: key, done: make(chan struct{})}
	c.entries = slices.Insert(c.entries, 0, e)
	c.entries = c.entries[:min(len(c.entries), userSetsSize)]
	open := c.open
	c.mu.Unlock()
	if open == nil {
		open = profiles.OpenUserFiles
	}
	e.set, e.err = open(files, f)
	if e.err != nil { // a broken file is reported again, not kept
		c.mu.Lock()
		c.entries = slices.DeleteFunc(c.entries, func(x *userSet) bool { return x == e })
		c.mu.Unlock()
	}
	close(e.done)
	return e.set, e.err
}

// userSetKey hashes the files (by name, in order) and f, each part
// length-prefixed so that no two inputs share a key by concatenation.
func userSetKey(files map[string][]byte, f profiles.For) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range []string{f.Model, f.Device, f.NetworkDevice} {
		writePart(h, []byte(s))
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		writePart(h, []byte(n))
		writePart(h, files[n])
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func writePart(h hash.Hash, b []byte) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
