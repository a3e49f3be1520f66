package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/servesim/servesim/api"
)

// cmdServe serves the page (dist/) and the API until ctx ends.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lim := api.DefaultLimits()
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dist := fs.String("dist", "dist", "directory of the built page (./build.sh); empty serves the API only")
	origin := fs.String("allow_origin", "", "an origin allowed to call the API cross-origin (CORS); default same-origin only")
	fs.Int64Var(&lim.MaxBodyBytes, "max_body_bytes", lim.MaxBodyBytes, "largest request body")
	fs.IntVar(&lim.MaxRequests, "max_requests", lim.MaxRequests, "most requests per simulation")
	fs.Int64Var(&lim.MaxTokens, "max_tokens", lim.MaxTokens, "most simulated tokens per simulation")
	fs.DurationVar(&lim.Timeout, "timeout", lim.Timeout, "wall-clock budget per simulation")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	opt := api.Options{Limits: lim, AllowOrigin: *origin}
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
	srv := &http.Server{Handler: api.NewHandler(opt), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "servesim: serving on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
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
