// Command servesim simulates LLM inference serving (Vidur's semantics) from
// profiled per-op GPU timings.
//
//	servesim simulate [--workload PATH]... [--preset NAME] [--out DIR] [flags]
//	servesim search [--preset NAME] [--*_values V,...] [--endpoints URL,...] [--out DIR] [flags]
//	servesim compare [--out DIR] REAL_DIR SIM_DIR
//	servesim profiles [--provenance NAME]
//	servesim presets
//	servesim version
//
// Exit codes: 0 success; 1 internal error; 2 bad usage or configuration;
// 3 bad input (workload or profile file), with file:line:column; 4 the
// simulation could not finish (for example a stall or a grid miss).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"

	"github.com/servesim/servesim/internal/runner"
)

// Exit codes a script can rely on.
const (
	exitOK       = 0
	exitInternal = 1
	exitUsage    = 2
	exitInput    = 3
	exitRun      = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: servesim <command> [flags]

commands:
  simulate   run a simulation and write its metric files (servesim simulate -h)
  search     max QPS under the SLO, configuration sweeps, cost and Pareto front (servesim search -h)
  serve      serve the web page and the HTTP API (servesim serve -h)
  compare    score a simulated run against a real one (servesim compare -h)
  calibrate  fit a profile set to real runs, score it on held-out runs (servesim calibrate -h)
  profiles   list the embedded profile sets with provenance
  presets    list the embedded workload presets
  models     list the model catalogue (any dense decoder's config.json works too: --model PATH)
  gpus       list the GPU catalogue with datasheet numbers (or give one: --device NAME --gpu_*)
  estimate   write the roofline estimate for a model on a GPU as a profile folder (ESTIMATED)
  version    print the version and the commit (also --version)
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "simulate":
		return cmdSimulate(ctx, args[1:], stdout, stderr)
	case "search":
		return cmdSearch(ctx, args[1:], stdout, stderr)
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "profiles":
		return cmdProfiles(args[1:], stdout, stderr)
	case "compare":
		return cmdCompare(args[1:], stdout, stderr)
	case "calibrate":
		return cmdCalibrate(ctx, args[1:], stdout, stderr)
	case "presets":
		return cmdPresets(args[1:], stdout, stderr)
	case "models":
		return cmdModels(args[1:], stdout, stderr)
	case "gpus":
		return cmdGPUs(args[1:], stdout, stderr)
	case "estimate":
		return cmdEstimate(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		info, ok := debug.ReadBuildInfo()
		fmt.Fprintln(stdout, versionLine(info, ok))
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "servesim: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// versionLine is the engine version with the commit the binary was built
// from (Go stamps it in go build and go install from a git checkout; go run
// and go test do not).
func versionLine(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return runner.Version + " (no build information)"
	}
	var commit, when string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if commit == "" {
		return fmt.Sprintf("%s (commit unknown: built without VCS information, as go run does; go build or go install records it; %s)", runner.Version, info.GoVersion)
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	s := "commit " + commit
	if when != "" {
		s += " of " + when
	}
	if modified {
		s += ", with uncommitted changes"
	}
	return fmt.Sprintf("%s (%s; %s)", runner.Version, s, info.GoVersion)
}

// maxMessage bounds an error message (which may echo a user's value).
const maxMessage = 4096

// fail prints err, shortened past maxMessage bytes, and returns code.
func fail(stderr io.Writer, code int, err error) int {
	msg := err.Error()
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "") + fmt.Sprintf("… (%d bytes in all)", len(msg))
	}
	fmt.Fprintln(stderr, "servesim:", msg)
	return code
}

// errCode maps an error to an exit code.
func errCode(err error) int {
	switch runner.Classify(err) {
	case runner.KindConfig, runner.KindLimit:
		return exitUsage
	case runner.KindInput:
		return exitInput
	case runner.KindInternal:
		return exitInternal
	}
	return exitRun
}
