//go:build js && wasm

package main

import (
	"errors"
	"net/http"
	"runtime/debug"
	"sync"
	"syscall/js"
	"time"

	"github.com/syumai/workers"
)

// yield lets the JavaScript event loop run (Go's timers go through it), so a
// streamed progress line reaches the page while the simulation continues.
func yield() { time.Sleep(time.Millisecond) }

// tuneGC trades memory for speed: in wasm the collector runs on the one
// thread the simulation uses, with no parallel marking, and its write
// barriers cost more; collecting at 4x the live heap instead of 2x makes a
// 10k-request run ~20% faster. The soft limit brings the default pace back
// well before a 32-bit wasm memory (4 GiB) fills.
func tuneGC() {
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(2 << 30)
}

// serve serves h through syumai/workers. syumai's own browser glue starts a
// new Go instance for every request, and its Serve returns (ending the
// instance) once the first response body has been read. servesim's worker
// glue (web/assets/worker.js) instead starts one instance and marks its
// runtime context with servesim.persistent; then every answer's body is
// handed over as a JavaScript ReadableStream (syumai's raw-body path), the
// per-request pipe that would end the instance is never read, and the
// instance keeps serving. Without the mark (Cloudflare Workers, where the
// host manages instances) this is plain workers.Serve.
func serve(h http.Handler, persistent bool) {
	if !persistent {
		workers.Serve(h)
		return
	}
	workers.ServeNonBlock(rawBody(h))
	workers.Ready()
	select {} // serve until the worker is terminated
}

// persistent reports whether servesim's worker glue started this instance.
func persistent() bool {
	ctx := js.Global().Get("context")
	if ctx.Type() != js.TypeObject {
		return false
	}
	mark := ctx.Get("servesim")
	return mark.Type() == js.TypeObject && mark.Get("persistent").Truthy()
}

// rawBodyWriter is what syumai/workers' ResponseWriter offers for a body
// that is already a JavaScript stream.
type rawBodyWriter interface {
	WriteRawJSBody(body js.Value)
}

// rawBody runs h with a writer that feeds a JavaScript ReadableStream, and
// answers with that stream as soon as h has written its header (streamed
// answers keep flowing after ServeHTTP returns). An answer h cuts off on
// purpose (panic(http.ErrAbortHandler), as net/http servers take it) errors
// the stream, so its reader sees a failed body, not a short one.
func rawBody(h http.Handler) http.Handler {
	reg := newStreams()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := w.(rawBodyWriter)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		sw := reg.add()
		go func() {
			defer func() {
				p := recover()
				switch {
				case p == nil:
					sw.finish()
				case p == http.ErrAbortHandler:
					sw.abort("the answer was cut off (the run failed after its first bytes; see the server's error)")
				default:
					sw.abort("internal error")
					panic(p)
				}
			}()
			h.ServeHTTP(sw, r)
		}()
		<-sw.started
		for k, v := range sw.header {
			w.Header()[k] = v
		}
		w.WriteHeader(sw.status)
		raw.WriteRawJSBody(sw.stream)
	})
}

// streamQueue is the most bytes an answer's stream holds unread: a Write
// beyond it waits until the reader has taken enough (backpressure), so a
// large file goes out at the pace of whoever saves it, in bounded memory.
const streamQueue = 4 << 20

// streams are the answers' streams still being written. Their sources share
// one pull and one cancel callback, which find the stream by the source's
// id (a stream may call them until its reader is done, after the writer
// has finished: a late call finds no stream and does nothing).
type streams struct {
	mu     sync.Mutex
	next   int
	open   map[int]*streamWriter
	total  int64 // bytes enqueued, all streams
	pull   js.Func
	cancel js.Func
	// enqueue, the worker glue's servesimEnqueue(controller, array, n),
	// enqueues a copy of array's first n bytes.
	enqueue js.Value
}

// enqueued counts n more bytes handed to the streams, in total, as the
// worker's servesimEnqueued (the page's tests read it through the worker's
// stats: with a stalled reader it stops growing).
func (reg *streams) enqueued(n int) {
	reg.mu.Lock()
	reg.total += int64(n)
	t := reg.total
	reg.mu.Unlock()
	js.Global().Set("servesimEnqueued", float64(t))
}

func newStreams() *streams {
	reg := &streams{open: map[int]*streamWriter{}, enqueue: js.Global().Get("servesimEnqueue")}
	of := func(this js.Value) *streamWriter {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		return reg.open[this.Get("id").Int()]
	}
	reg.pull = js.FuncOf(func(this js.Value, _ []js.Value) any {
		if sw := of(this); sw != nil {
			select {
			case sw.pulled <- struct{}{}:
			default:
			}
		}
		return nil
	})
	reg.cancel = js.FuncOf(func(this js.Value, _ []js.Value) any {
		if sw := of(this); sw != nil {
			sw.mu.Lock()
			if !sw.ended {
				sw.ended = true
				close(sw.gone)
			}
			sw.mu.Unlock()
		}
		return nil
	})
	return reg
}

// streamWriter is an http.ResponseWriter writing into a ReadableStream.
type streamWriter struct {
	reg     *streams
	id      int
	header  http.Header
	status  int
	stream  js.Value
	ctrl    js.Value
	started chan struct{} // closed once the header is final
	once    sync.Once
	pulled  chan struct{} // the reader wants more (the stream's pull)
	gone    chan struct{} // closed when the reader cancelled the stream
	mu      sync.Mutex
	ended   bool     // closed, errored or cancelled: nothing more is enqueued
	stage   js.Value // a Write's bytes, copied into a chunk by reg.enqueue
}

// errCancelled is what a Write returns once the stream's reader has
// cancelled it (a download stopped, say): the handler stops there.
var errCancelled = errors.New("the reader cancelled the answer")

func (reg *streams) add() *streamWriter {
	reg.mu.Lock()
	reg.next++
	sw := &streamWriter{reg: reg, id: reg.next, header: http.Header{}, status: http.StatusOK, started: make(chan struct{}),
		pulled: make(chan struct{}, 1), gone: make(chan struct{})}
	reg.open[sw.id] = sw
	reg.mu.Unlock()
	start := js.FuncOf(func(_ js.Value, args []js.Value) any {
		sw.ctrl = args[0]
		return nil
	})
	src := js.Global().Get("Object").New()
	src.Set("id", sw.id)
	src.Set("start", start)
	src.Set("pull", reg.pull)
	src.Set("cancel", reg.cancel)
	strategy := js.Global().Get("Object").New()
	strategy.Set("highWaterMark", streamQueue)
	sw.stream = js.Global().Get("ReadableStream").New(src,
		js.Global().Get("ByteLengthQueuingStrategy").New(strategy)) // calls start synchronously
	start.Release()
	return sw
}

func (sw *streamWriter) Header() http.Header { return sw.header }

func (sw *streamWriter) WriteHeader(status int) {
	sw.once.Do(func() {
		sw.status = status
		close(sw.started)
	})
}

func (sw *streamWriter) isEnded() bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.ended
}

// Write enqueues p, then waits while the stream holds streamQueue bytes or
// more, until its reader takes some or cancels it.
func (sw *streamWriter) Write(p []byte) (int, error) {
	sw.WriteHeader(http.StatusOK)
	if sw.isEnded() {
		return 0, errCancelled
	}
	if len(p) == 0 {
		return 0, nil
	}
	// The chunk is made on the JavaScript side, from a staging array this
	// writer reuses: a js.Value Go holds keeps its object alive until Go's
	// collector finalizes it, and Go's heap does not see those bytes, so a
	// new array per chunk held by Go piled up a file's worth of them.
	if sw.stage.IsUndefined() || sw.stage.Length() < len(p) {
		sw.stage = js.Global().Get("Uint8Array").New(max(len(p), 1<<16))
	}
	js.CopyBytesToJS(sw.stage, p)
	if enq := sw.reg.enqueue; enq.Type() == js.TypeFunction {
		enq.Invoke(sw.ctrl, sw.stage, len(p))
	} else { // glue without the helper: a new array per chunk
		chunk := js.Global().Get("Uint8Array").New(len(p))
		js.CopyBytesToJS(chunk, p)
		sw.ctrl.Call("enqueue", chunk)
	}
	sw.reg.enqueued(len(p))
	for !sw.isEnded() && sw.ctrl.Get("desiredSize").Float() <= 0 {
		select {
		case <-sw.pulled:
		case <-sw.gone:
		}
	}
	return len(p), nil
}

// Flush is a no-op: every Write is enqueued at once.
func (sw *streamWriter) Flush() {}

// finish closes the stream (unless its reader cancelled it).
func (sw *streamWriter) finish() { sw.end(js.Value{}) }

// abort errors the stream with why.
func (sw *streamWriter) abort(why string) { sw.end(js.Global().Get("Error").New(why)) }

// end closes the stream (err undefined) or errors it, once, and forgets it.
func (sw *streamWriter) end(err js.Value) {
	sw.WriteHeader(http.StatusOK)
	sw.mu.Lock()
	was := sw.ended
	sw.ended = true
	sw.mu.Unlock()
	if !was {
		if err.IsUndefined() {
			sw.ctrl.Call("close")
		} else {
			sw.ctrl.Call("error", err)
		}
	}
	sw.reg.mu.Lock()
	delete(sw.reg.open, sw.id)
	sw.reg.mu.Unlock()
}
