//go:build js && wasm

package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"syscall/js"

	"github.com/servesim/servesim/internal/searchrun"
)

// searchPool is the page's pool of Web Workers for a search's trials, when
// the glue that started this instance offers one (web/assets/worker.js sets
// globalThis.servesimPool = {size, trial(url, body, kind) -> Promise<{status,
// contentType, body}>} in the search's coordinating worker; kind is the
// trial's search.Trial.Kind); nil otherwise.
func searchPool() (http.RoundTripper, int) {
	p := js.Global().Get("servesimPool")
	if p.Type() != js.TypeObject {
		return nil, 0
	}
	return poolTransport{p}, p.Get("size").Int()
}

// poolTransport sends a request to the pool and waits for its answer.
type poolTransport struct{ pool js.Value }

func (t poolTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	type answer struct {
		status int
		ct     string
		body   string
		err    error
	}
	done := make(chan answer, 1)
	var onOK, onErr js.Func
	onOK = js.FuncOf(func(_ js.Value, args []js.Value) any {
		onOK.Release()
		onErr.Release()
		a := args[0]
		done <- answer{status: a.Get("status").Int(), ct: a.Get("contentType").String(), body: a.Get("body").String()}
		return nil
	})
	onErr = js.FuncOf(func(_ js.Value, args []js.Value) any {
		onOK.Release()
		onErr.Release()
		msg := "the trial's worker failed"
		if len(args) > 0 {
			msg = js.Global().Get("String").Invoke(args[0]).String()
		}
		done <- answer{err: errors.New(msg)}
		return nil
	})
	t.pool.Call("trial", r.URL.RequestURI(), string(body), r.Header.Get(searchrun.TrialKindHeader)).Call("then", onOK, onErr)
	select {
	case a := <-done:
		if a.err != nil {
			return nil, a.err
		}
		return &http.Response{StatusCode: a.status, Status: strconv.Itoa(a.status) + " " + http.StatusText(a.status),
			Header: http.Header{"Content-Type": {a.ct}}, Body: io.NopCloser(bytes.NewReader([]byte(a.body))),
			ContentLength: int64(len(a.body)), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}
