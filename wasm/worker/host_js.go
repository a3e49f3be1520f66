//go:build js && wasm

package main

import (
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
// answers keep flowing after ServeHTTP returns).
func rawBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := w.(rawBodyWriter)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		sw := newStreamWriter()
		go func() {
			defer sw.finish()
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

// streamWriter is an http.ResponseWriter writing into a ReadableStream.
type streamWriter struct {
	header  http.Header
	status  int
	stream  js.Value
	ctrl    js.Value
	started chan struct{} // closed once the header is final
	once    sync.Once
}

func newStreamWriter() *streamWriter {
	sw := &streamWriter{header: http.Header{}, status: http.StatusOK, started: make(chan struct{})}
	start := js.FuncOf(func(_ js.Value, args []js.Value) any {
		sw.ctrl = args[0]
		return nil
	})
	init := js.Global().Get("Object").New()
	init.Set("start", start)
	sw.stream = js.Global().Get("ReadableStream").New(init) // calls start synchronously
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

func (sw *streamWriter) Write(p []byte) (int, error) {
	sw.WriteHeader(http.StatusOK)
	if len(p) == 0 {
		return 0, nil
	}
	chunk := js.Global().Get("Uint8Array").New(len(p))
	js.CopyBytesToJS(chunk, p)
	sw.ctrl.Call("enqueue", chunk)
	return len(p), nil
}

// Flush is a no-op: every Write is enqueued at once.
func (sw *streamWriter) Flush() {}

func (sw *streamWriter) finish() {
	sw.WriteHeader(http.StatusOK)
	sw.ctrl.Call("close")
}
