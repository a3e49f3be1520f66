package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/servesim/servesim/api"
)

// cmdServe serves the page (dist/) and the API until ctx ends.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newCLIFlags("serve")
	lim := api.DefaultLimits()
	fs.group("Server")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address `HOST:PORT` (port 0 picks a free one)")
	dist := fs.String("dist", "dist", "directory `DIR` of the built page (./build.sh); empty serves the API only")
	origin := fs.String("allow_origin", "", "an `ORIGIN` allowed to call the API cross-origin (CORS); default same-origin only")
	quiet := fs.Bool("quiet", false, "do not log requests (one line each on stderr: time, method, path, status, duration, bytes)")
	fs.group("Limits per simulation")
	fs.Int64Var(&lim.MaxBodyBytes, "max_body_bytes", lim.MaxBodyBytes, "largest request body")
	fs.IntVar(&lim.MaxRequests, "max_requests", lim.MaxRequests, "most requests per simulation")
	fs.Int64Var(&lim.MaxTokens, "max_tokens", lim.MaxTokens, "most simulated tokens per simulation")
	fs.DurationVar(&lim.Timeout, "timeout", lim.Timeout, "wall-clock budget per simulation")
	fs.IntVar(&lim.MaxReplicas, "max_replicas", lim.MaxReplicas, "most replicas per simulation")
	budgetMiB := fs.Int64("memory_budget_mib", lim.MemoryBudget>>20, "most MiB of records one simulation keeps (checked as it runs)")
	fs.group("Limits per search (POST /api/search: one simulation slot, its trials in turn)")
	fs.IntVar(&lim.MaxSearchPoints, "max_search_points", lim.MaxSearchPoints, "most points of a sweep")
	fs.Int64Var(&lim.MaxSearchRequests, "max_search_requests", lim.MaxSearchRequests, "most simulated requests of a search (points x max_trials x requests, refused before any work beyond)")
	fs.DurationVar(&lim.SearchTimeout, "search_timeout", lim.SearchTimeout, "wall-clock budget per search")
	fs.group("Load and connections")
	fs.IntVar(&lim.MaxConcurrent, "max_concurrent", lim.MaxConcurrent, "simulations at once (default: GOMAXPROCS)")
	fs.IntVar(&lim.MaxQueued, "max_queued", lim.MaxQueued, "simulations waiting for a slot; beyond, 503 with Retry-After")
	maxConns := fs.Int("max_conns", 256, "most open connections (more wait to be accepted)")
	readTimeout := fs.Duration("read_timeout", 30*time.Second, "time to read a whole request, body included")
	writeTimeout := fs.Duration("write_timeout", 0, "time to write a response (default: twice --timeout, or --search_timeout if longer, plus 30s, for a queued run and its answer)")
	idleTimeout := fs.Duration("idle_timeout", 60*time.Second, "how long an idle keep-alive connection stays open")
	help := func(w io.Writer) {
		fmt.Fprint(w, "usage: servesim serve [--addr HOST:PORT] [--dist DIR] [flags]\n\nServes the page (dist/, from ./build.sh) and the HTTP API; prints the URL, then one line per request.\n\n")
		fs.printHelp(w)
	}
	if code, done := fs.parse(args, help, stdout, stderr); done {
		return code
	}
	lim.MemoryBudget = *budgetMiB << 20
	if *writeTimeout == 0 {
		*writeTimeout = max(2*lim.Timeout, lim.SearchTimeout) + 30*time.Second
	}
	if *maxConns < 1 || lim.MaxConcurrent < 1 || lim.MaxQueued < 0 || lim.Timeout <= 0 || *readTimeout <= 0 || *idleTimeout <= 0 {
		return fail(stderr, exitUsage, errors.New("serve: --max_conns and --max_concurrent must be >= 1, --max_queued >= 0, and the timeouts > 0"))
	}
	// Freed memory goes back to the OS when the last run in flight ends, so
	// a burst does not leave the process at its peak.
	opt := api.Options{Limits: lim, AllowOrigin: *origin, OnIdle: debug.FreeOSMemory}
	if *dist != "" {
		if st, err := os.Stat(*dist); err != nil || !st.IsDir() {
			return fail(stderr, exitUsage, fmt.Errorf("serve: %s is not a directory; run ./build.sh first or pass --dist ''", *dist))
		}
		opt.Static = staticHandler(*dist)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	ln = limitListener(ln, *maxConns)
	var h http.Handler = api.NewHandler(opt)
	if !*quiet {
		h = logRequests(h, stderr, time.Now)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: *readTimeout, WriteTimeout: *writeTimeout, IdleTimeout: *idleTimeout, MaxHeaderBytes: 64 << 10}
	fmt.Fprintf(stdout, "servesim: serving on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		fmt.Fprintln(stdout, "servesim: stopped")
		return exitOK
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return exitOK
		}
		return fail(stderr, exitInternal, err)
	}
}

// staticHandler serves the built page; .wasm gets its MIME type and
// pre-compressed .br/.gz siblings are used when the client accepts them.
func staticHandler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// limitListener accepts at most n connections at once; more wait in the
// kernel's backlog until one closes.
func limitListener(l net.Listener, n int) net.Listener {
	return &limited{Listener: l, sem: make(chan struct{}, n)}
}

type limited struct {
	net.Listener
	sem chan struct{}
}

func (l *limited) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// logRequests writes one line per request to w when its handler returns:
// time, method, path, status, duration and response bytes.
func logRequests(h http.Handler, w io.Writer, now func() time.Time) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := now()
		lw := &loggedWriter{ResponseWriter: rw}
		defer func() {
			status := lw.status
			if status == 0 {
				status = http.StatusOK
			}
			d := now().Sub(start)
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(w, "%s %s %s %d %s %d B\n", start.Format("15:04:05.000"), r.Method, r.URL.Path, status, d.Round(time.Microsecond), lw.bytes)
		}()
		h.ServeHTTP(lw, r)
	})
}

// loggedWriter records the status and counts the body bytes; it flushes
// (streamed NDJSON) and unwraps (http.ResponseController) to the real writer.
type loggedWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (l *loggedWriter) WriteHeader(code int) {
	if l.status == 0 && code >= 200 {
		l.status = code
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *loggedWriter) Write(b []byte) (int, error) {
	if l.status == 0 {
		l.status = http.StatusOK
	}
	n, err := l.ResponseWriter.Write(b)
	l.bytes += int64(n)
	return n, err
}

func (l *loggedWriter) Flush() {
	if f, ok := l.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (l *loggedWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }
