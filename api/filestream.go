package api

import (
	"bufio"
	"io"
	"net/http"
	"strings"

	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/internal/runner"
)

// fileChunk is the size of the chunks an output file's answer is written
// in: in the page every write crosses from Go to JavaScript and on through
// two streams, so fewer, larger chunks cost less; it also bounds what the
// answer holds before the host takes it.
const fileChunk = 1 << 20

// fileAnswer writes one output file (?file=), or the zip of several
// (format=zip, written from the run's result), as the answer's body while it
// is produced, never whole in memory: request_metrics.csv and
// token_metrics.csv as the run goes (engine.Options.Sink, report.Stream:
// the CLI's bytes), the other files rendered from the run's result straight
// into the body. The status and headers go out with the first bytes, so an
// error before any (a bad configuration, a limit checked up front) is still
// an ordinary problem answer; one after (the time budget, the memory budget,
// a reader that went away) aborts the answer (http.ErrAbortHandler), so a
// cut-off file never looks complete.
type fileAnswer struct {
	w       http.ResponseWriter
	name    string
	get     bool
	started bool
	body    *bufio.Writer
	stream  *report.Stream // nil: the file is written after the run
}

func newFileAnswer(w http.ResponseWriter, name string, get bool) *fileAnswer {
	f := &fileAnswer{w: w, name: name, get: get}
	f.body = bufio.NewWriterSize(headerOnWrite{f}, fileChunk)
	switch name {
	case "request_metrics.csv":
		f.stream = report.NewStream(f.body, nil)
	case "token_metrics.csv":
		f.stream = report.NewStream(nil, f.body)
	}
	return f
}

// headerOnWrite sends the answer's header before its first bytes.
type headerOnWrite struct{ f *fileAnswer }

func (h headerOnWrite) Write(p []byte) (int, error) {
	h.f.start()
	return h.f.w.Write(p)
}

func (f *fileAnswer) start() {
	if f.started {
		return
	}
	f.started = true
	ct := "text/csv; charset=utf-8"
	switch {
	case strings.HasSuffix(f.name, ".json"):
		ct = "application/json"
	case strings.HasSuffix(f.name, ".md"):
		ct = "text/markdown; charset=utf-8"
	case strings.HasSuffix(f.name, ".zip"):
		ct = "application/zip"
	}
	hd := f.w.Header()
	hd.Set("Content-Type", ct)
	hd.Set("Content-Disposition", `attachment; filename="`+f.name+`"`)
	if f.get { // the same request gives the same bytes
		hd.Set("Cache-Control", "public, max-age=86400")
	}
	f.w.WriteHeader(http.StatusOK)
}

// fail answers err: a problem if nothing was sent yet, else an abort.
func (f *fileAnswer) fail(err error) {
	if f.started {
		panic(http.ErrAbortHandler)
	}
	writeError(f.w, err)
}

// finish writes what is left of the file once the run succeeded.
func (f *fileAnswer) finish(out *runner.Output) {
	f.finishWith(func(w io.Writer) error {
		if f.stream != nil {
			return f.stream.Close()
		}
		return report.Write(f.name, w, out.Result, out.Meta)
	})
}

// finishWith writes the rest of the answer with write.
func (f *fileAnswer) finishWith(write func(w io.Writer) error) {
	err := write(f.body)
	if err == nil {
		err = f.body.Flush()
	}
	if err != nil {
		f.fail(err)
		return
	}
	f.start() // an empty file still gets its header
}
