package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/servesim/servesim/internal/compare"
)

// cmdCompare scores a simulated run against a real one.
func cmdCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write compare.md and cdf_*.svg here (default: SIM_DIR)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: servesim compare [--out DIR] REAL_DIR SIM_DIR\n\nBoth directories hold request_metrics.csv and token_metrics.csv; requests are aligned by request_id.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return exitUsage
	}
	realDir, simDir := fs.Arg(0), fs.Arg(1)
	real, err := compare.Load(realDir)
	if err != nil {
		return fail(stderr, exitInput, err)
	}
	sim, err := compare.Load(simDir)
	if err != nil {
		return fail(stderr, exitInput, err)
	}
	res, err := compare.Compare(real, sim)
	if err != nil {
		return fail(stderr, exitInput, err)
	}
	res.Markdown(stdout, "real", "simulated")
	dir := *out
	if dir == "" {
		dir = simDir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(stderr, exitInternal, err)
	}
	f, err := os.Create(filepath.Join(dir, "compare.md"))
	if err != nil {
		return fail(stderr, exitInternal, err)
	}
	res.Markdown(f, realDir, simDir)
	f.Close()
	for name, metric := range map[string]string{"cdf_ttft.svg": "TTFT", "cdf_tbt.svg": "time between tokens", "cdf_e2e.svg": "E2E"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return fail(stderr, exitInternal, err)
		}
		err = res.SVG(f, metric)
		f.Close()
		if err != nil {
			return fail(stderr, exitInput, err)
		}
	}
	return exitOK
}
