package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/profiles"
)

// countingOpen is a userSets.open that counts its calls and makes a
// distinct set each time (err, when set, is returned and cleared).
type countingOpen struct {
	calls atomic.Int64
	mu    sync.Mutex
	err   error
}

func (c *countingOpen) open(map[string][]byte, profiles.For) (*predict.Set, error) {
	c.calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.err; err != nil {
		c.err = nil
		return nil, err
	}
	return &predict.Set{}, nil
}

// TestUserSets_OpensOnce: a sequence of gets opens a set only for files
// (or a For) not among the last two used; the same files get the same set.
func TestUserSets_OpensOnce(t *testing.T) {
	a := map[string][]byte{"mlp.csv": []byte("a")}
	b := map[string][]byte{"mlp.csv": []byte("b")}
	c := map[string][]byte{"mlp.csv": []byte("a"), "attention.csv": nil}
	qwen := profiles.For{Model: "qwen3-0.6b", Device: "a100", NetworkDevice: "a100_pairwise_nvlink"}
	h100 := profiles.For{Model: "qwen3-0.6b", Device: "h100", NetworkDevice: "a100_pairwise_nvlink"}
	steps := []struct {
		name  string
		files map[string][]byte
		f     profiles.For
		opens int64 // calls of open so far
	}{
		{"first", a, qwen, 1},
		{"same files", a, qwen, 1},
		{"same files, a third trial", a, qwen, 1},
		{"other bytes", b, qwen, 2},
		{"first again (two kept)", a, qwen, 2},
		{"another file", c, qwen, 3}, // drops b, the least recently used
		{"a kept", a, qwen, 3},
		{"b dropped", b, qwen, 4},
		{"other device", a, h100, 5},
	}
	open := &countingOpen{}
	users := userSets{open: open.open}
	got := map[*predict.Set]bool{}
	var first *predict.Set
	for _, s := range steps {
		set, err := users.get(s.files, s.f)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n := open.calls.Load(); n != s.opens {
			t.Errorf("%s: %d opens, want %d", s.name, n, s.opens)
		}
		if first == nil {
			first = set
		}
		if s.name == "same files" && set != first {
			t.Errorf("same files: another set")
		}
		got[set] = true
		if len(users.entries) > userSetsSize {
			t.Errorf("%s: %d sets kept, over %d", s.name, len(users.entries), userSetsSize)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d distinct sets, want 5 (one per open)", len(got))
	}
}

// TestUserSets_ErrorRetried: a failed open is reported and not kept: the
// next get of the same files opens them again.
func TestUserSets_ErrorRetried(t *testing.T) {
	files := map[string][]byte{"mlp.csv": []byte("x")}
	open := &countingOpen{err: errors.New("broken")}
	users := userSets{open: open.open}
	if _, err := users.get(files, profiles.For{}); err == nil || err.Error() != "broken" {
		t.Fatalf("first get: %v, want the open's error", err)
	}
	if len(users.entries) != 0 {
		t.Errorf("%d entries kept after an error", len(users.entries))
	}
	set, err := users.get(files, profiles.For{})
	if err != nil || set == nil || open.calls.Load() != 2 {
		t.Errorf("second get: %v, %d opens, want a set from a second open", err, open.calls.Load())
	}
}

// TestUserSets_ConcurrentOpenOnce: gets of the same files at once wait for
// the one open (run with -race).
func TestUserSets_ConcurrentOpenOnce(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	users := userSets{open: func(map[string][]byte, profiles.For) (*predict.Set, error) {
		calls.Add(1)
		<-release
		return &predict.Set{}, nil
	}}
	files := map[string][]byte{"mlp.csv": []byte("x")}
	const n = 8
	sets := make([]*predict.Set, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sets[i], _ = users.get(files, profiles.For{})
		}()
	}
	close(release)
	wg.Wait()
	for i, s := range sets {
		if s == nil || s != sets[0] {
			t.Fatalf("get %d: set %p, want the one set %p", i, s, sets[0])
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d opens for %d concurrent gets of the same files, want 1", calls.Load(), n)
	}
}

// TestUserSetKey: no two inputs share a key by moving bytes between a
// name and its content, between files, or between For's fields.
func TestUserSetKey(t *testing.T) {
	keys := []struct {
		files map[string][]byte
		f     profiles.For
	}{
		{map[string][]byte{"a": []byte("bc")}, profiles.For{}},
		{map[string][]byte{"ab": []byte("c")}, profiles.For{}},
		{map[string][]byte{"a": []byte("b"), "c": nil}, profiles.For{}},
		{map[string][]byte{"a": []byte("bc")}, profiles.For{Model: "x"}},
		{map[string][]byte{"a": []byte("bc")}, profiles.For{Device: "x"}},
		{map[string][]byte{"a": []byte("bc")}, profiles.For{NetworkDevice: "x"}},
		{map[string][]byte{}, profiles.For{}},
	}
	seen := map[[32]byte]int{}
	for i, k := range keys {
		key := userSetKey(k.files, k.f)
		if j, dup := seen[key]; dup {
			t.Errorf("inputs %d and %d share a key", j, i)
		}
		seen[key] = i
	}
	if userSetKey(keys[2].files, keys[2].f) != userSetKey(map[string][]byte{"c": nil, "a": []byte("b")}, profiles.For{}) {
		t.Error("the same files give another key")
	}
}

// TestUserSets_PoolSearchOpensOnce: a search with the caller's profile
// files whose trials go to a pool worker (the page's Web Worker, a
// `servesim serve` endpoint) opens the files there once for all its
// trials, two at once sharing the set (run with -race), and answers the
// same bytes as the search in process. Before, every trial re-parsed the
// files. Its trials name no "auto" profile (the files are every trial's).
func TestUserSets_PoolSearchOpensOnce(t *testing.T) {
	var files []File
	for _, f := range []string{"mlp.csv", "attention.csv"} {
		b, err := os.ReadFile("../profiles/a100/qwen3-0.6b/" + f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Name: f, Content: string(b)})
	}
	body, _ := json.Marshal(map[string]any{"preset": "splitwise-conv-2qps", "config": map[string]any{"replica": map[string]any{"device": "h100"}},
		"profile_files": files, "search": map[string]any{"requests": 40, "precision": 0.2, "axes": map[string]any{"batch_cap": []int{8, 64}}}})
	var opens atomic.Int64
	worker := NewHandler(Options{}).(*handler)
	worker.users.open = func(files map[string][]byte, f profiles.For) (*predict.Set, error) {
		opens.Add(1)
		return profiles.OpenUserFiles(files, f)
	}
	var trials atomic.Int64
	var mu sync.Mutex
	named := map[string]int{}
	pool := poolFunc(func(r *http.Request) (*http.Response, error) {
		trials.Add(1)
		var req struct {
			Config struct {
				Predictor struct {
					Profile string `json:"profile"`
				} `json:"predictor"`
			} `json:"config"`
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		_ = json.Unmarshal(b, &req)
		mu.Lock()
		named[req.Config.Predictor.Profile]++
		mu.Unlock()
		rec := httptest.NewRecorder()
		worker.ServeHTTP(rec, r)
		return rec.Result(), nil
	})
	post := func(h http.Handler) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/api/search", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		return rec
	}
	pooled := post(NewHandler(Options{SearchPool: func() (http.RoundTripper, int) { return pool, 2 }}))
	local := post(NewHandler(Options{}))
	if pooled.Body.String() != local.Body.String() {
		t.Errorf("pooled search differs from the in-process one:\n%.1000s\n%.1000s", pooled.Body, local.Body)
	}
	if n := trials.Load(); n < 4 || opens.Load() != 1 {
		t.Errorf("%d trials opened the profile files %d times, want once", n, opens.Load())
	}
	if named[runner.ProfileAuto] != 0 {
		t.Errorf("trials' predictor.profile: %v, want none \"auto\"", named)
	}
}

type poolFunc func(*http.Request) (*http.Response, error)

func (f poolFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
