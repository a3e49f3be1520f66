package search

import (
	"context"
	"errors"
	"math"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/slo"
)

// capFake is a trial whose outcome depends on the batch cap only where the
// cap binds: the point's load needs min(qps, 40) / 2 + 1 batch slots
// (rounded), a cap below that binds (capacity 0.9 x cap x 2, less at a
// shorter chunk), and a cap at or above it is the same simulation from that
// many slots up (BatchCapFreeFrom). It counts the trials it runs.
type capFake struct {
	calls atomic.Int64
	mu    sync.Mutex
	caps  map[int]int
	free  bool // report BatchCapFreeFrom (else never: no sharing)
}

func (f *capFake) Eval(_ context.Context, t Trial) (Outcome, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.caps[t.Config.Scheduler.BatchSizeCap]++
	f.mu.Unlock()
	c := t.Config
	q, b := c.Workload.QPS, c.Scheduler.BatchSizeCap
	need := int(math.Round(math.Min(q, 40)/2)) + 1
	k := 30 + float64(c.Scheduler.ChunkSize)/256 // capacity when the cap does not bind
	free := need
	if b < need {
		k, free = math.Min(k, 0.9*float64(b)*2), 0
	}
	if !f.free {
		free = 0
	}
	n := c.Workload.NumRequests
	att := math.Min(1, k/q)
	good := int64(math.Round(float64(n) * att))
	return Outcome{Requests: n, SLO: slo.Report{Met: q <= k, Attainment: float64(good) / float64(n), GoodTokens: 100 * good},
		E2EP90Ms: 100, BatchCapFreeFrom: free}, nil
}

// A sweep over batch caps gives the same result with trials shared as with
// none (the same evaluator not reporting BatchCapFreeFrom), at every
// parallelism, in fewer trials run; a trial is never taken from a run that
// does not cover its cap (the fake's outcomes differ there).
func TestShared_SameResult(t *testing.T) {
	base := engine.DefaultConfig()
	spec := Spec{Axes: Axes{ChunkSize: []int{256, 1024}, BatchCap: []int{8, 16, 24, 64, 256}}, TargetQPS: 20, Precision: 0.01, Requests: 1000}
	ref := &capFake{caps: map[int]int{}}
	want, err := Run(context.Background(), spec, base, false, ref, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, par := range []int{1, 2, 4, 16} {
		f := &capFake{caps: map[int]int{}, free: true}
		got, err := Run(context.Background(), spec, base, false, f, par)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("parallelism %d: the result with shared trials differs", par)
		}
		t.Logf("parallelism %d: %d trials run of %d (by cap: %v)", par, f.calls.Load(), ref.calls.Load(), f.caps)
		if f.calls.Load() >= ref.calls.Load() {
			t.Errorf("parallelism %d: %d trials run with sharing, %d without", par, f.calls.Load(), ref.calls.Load())
		}
	}
}

// A trial is taken only from an outcome that covers its cap, and errors are
// never shared.
func TestShared_Serves(t *testing.T) {
	for _, c := range []struct {
		free, cap int
		err       bool
		want      bool
	}{{0, 64, false, false}, {10, 9, false, false}, {10, 10, false, true}, {10, 500, false, true}, {10, 64, true, false}} {
		r := &sharedRun{o: Outcome{BatchCapFreeFrom: c.free}}
		if c.err {
			r.err = context.Canceled
		}
		if got := r.serves(c.cap); got != c.want {
			t.Errorf("free from %d, cap %d, error %v: serves %v", c.free, c.cap, c.err, got)
		}
	}
}

// blocking runs no trial to its end: each waits for the context. The points
// share every trial (a cap that never binds), so all but the first of a
// round wait for its run.
type blocking struct{ started atomic.Int64 }

func (b *blocking) Eval(ctx context.Context, t Trial) (Outcome, error) {
	b.started.Add(1)
	<-ctx.Done()
	return Outcome{}, ctx.Err()
}

// A search cancelled while its points wait for a shared trial ends with the
// context's error, and no waiting point starts a trial of its own: only the
// first round's two bursts (the same for every point) ran.
func TestShared_CancelWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b := &blocking{}
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Spec{Axes: Axes{BatchCap: []int{64, 128, 256, 512}}}, engine.DefaultConfig(), false, b, 4)
		done <- err
	}()
	for b.started.Load() < 2 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want the context's error", err)
	}
	if n := b.started.Load(); n != 2 {
		t.Errorf("%d trials started: the points waiting for the first two should start none", n)
	}
}
