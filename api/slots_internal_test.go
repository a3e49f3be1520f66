package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestSlots_FullIs503WithRetryAfter: with every simulation slot taken and
// the queue full, a simulation is refused at once with 503 and
// Retry-After; a queued one runs when a slot frees; OnIdle runs when the
// last one ends.
func TestSlots_FullIs503WithRetryAfter(t *testing.T) {
	idle := make(chan struct{}, 4)
	lim := DefaultLimits()
	lim.MaxConcurrent, lim.MaxQueued, lim.Timeout = 1, 1, 30*time.Second
	h := NewHandler(Options{Limits: lim, OnIdle: func() { idle <- struct{}{} }}).(*handler)
	release, err := h.acquire(context.Background()) // the one slot
	if err != nil {
		t.Fatal(err)
	}
	queued := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/simulate?preset=seed", nil))
		queued <- rec.Code
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		h.mu.Lock()
		q := h.queue
		h.mu.Unlock()
		if q == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second request never queued")
		}
		time.Sleep(5 * time.Millisecond)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/workload", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "3" {
		t.Fatalf("full: %d, Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	release()
	if code := <-queued; code != 200 {
		t.Errorf("the queued run: %d", code)
	}
	select {
	case <-idle:
	case <-time.After(10 * time.Second):
		t.Error("OnIdle was not called after the last run")
	}
}
