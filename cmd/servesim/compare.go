package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/internal/realrun"
)

// cmdCompare scores simulated runs against real ones, pair by pair; with a
// real step_log.csv it also aligns the steps, and over several pairs it
// aggregates the step shapes.
func cmdCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write compare.md and cdf_*.svg here (default: SIM_DIR; with several pairs, the aggregate too)")
	worst := fs.Int("worst", 10, "step shapes to list, worst-predicted first")
	quiet := fs.Bool("quiet", false, "print nothing on success (the tables are still written to compare.md)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: servesim compare [--out DIR] REAL SIM_DIR [REAL SIM_DIR]...\n\n"+
			"REAL is a directory with request_metrics.csv and token_metrics.csv (servesim, the reference engine),\n"+
			"an AIPerf profile_export.jsonl (or its artifact directory) or a `vllm bench serve` result JSON;\n"+
			"requests align by id (issue order). A REAL directory with step_log.csv is also aligned step by step\n"+
			"with SIM_DIR/batch_metrics.csv (predicted vs measured GPU and host time, worst step shapes).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() < 2 || fs.NArg()%2 != 0 || *worst < 1 {
		fs.Usage()
		return exitUsage
	}
	var steps []*compare.StepReport
	for i := 0; i < fs.NArg(); i += 2 {
		realDir, simDir := fs.Arg(i), fs.Arg(i+1)
		if fs.NArg() > 2 {
			fmt.Fprintf(stdout, "\n# %s vs %s\n\n", realDir, simDir)
		}
		dir := *out
		if dir == "" || fs.NArg() > 2 {
			dir = simDir
		}
		w := stdout
		if *quiet {
			w = io.Discard
		}
		rep, code := comparePair(realDir, simDir, dir, *worst, w, stderr)
		if code != exitOK {
			return code
		}
		if rep != nil {
			steps = append(steps, rep)
		}
	}
	if len(steps) > 1 {
		fmt.Fprintf(stdout, "\n# All %d runs with step logs\n", len(steps))
		compare.WriteSteps(stdout, steps, *worst)
		if *out != "" {
			if err := writeFile(filepath.Join(*out, "compare_steps.md"), func(w io.Writer) error {
				compare.WriteSteps(w, steps, *worst)
				return nil
			}); err != nil {
				return fail(stderr, exitInternal, err)
			}
		}
	}
	return exitOK
}

func writeFile(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// comparePair compares one real run with one simulation and writes
// compare.md and the CDF plots into dir; it returns the step alignment when
// the real run has a step log.
func comparePair(realDir, simDir, dir string, worst int, stdout, stderr io.Writer) (*compare.StepReport, int) {
	real, err := realrun.Load(realDir)
	if err != nil {
		return nil, fail(stderr, exitInput, err)
	}
	sim, err := compare.Load(simDir)
	if err != nil {
		return nil, fail(stderr, exitInput, err)
	}
	res, err := compare.Compare(real, sim)
	if err != nil {
		return nil, fail(stderr, exitInput, err)
	}
	steps, hasSteps, err := compare.LoadSteps(realDir, simDir)
	if err != nil {
		return nil, fail(stderr, exitInput, err)
	}
	res.Markdown(stdout, "real", "simulated")
	if hasSteps {
		compare.WriteSteps(stdout, []*compare.StepReport{steps}, worst)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fail(stderr, exitUsage, fmt.Errorf("--out %s: %w", dir, err))
	}
	err = writeFile(filepath.Join(dir, "compare.md"), func(w io.Writer) error {
		res.Markdown(w, realDir, simDir)
		if hasSteps {
			compare.WriteSteps(w, []*compare.StepReport{steps}, worst)
		}
		return nil
	})
	if err != nil {
		return nil, fail(stderr, exitUsage, fmt.Errorf("--out %s: %w", dir, err))
	}
	for _, c := range []struct{ file, metric string }{{"cdf_ttft.svg", "TTFT"}, {"cdf_tbt.svg", "time between tokens"}, {"cdf_e2e.svg", "E2E"}} {
		if !res.HasSamples(c.metric) { // 1-token outputs: no time between tokens (compare.md says so)
			os.Remove(filepath.Join(dir, c.file))
			continue
		}
		f, err := os.Create(filepath.Join(dir, c.file))
		if err != nil {
			return nil, fail(stderr, exitUsage, fmt.Errorf("--out %s: %w", dir, err))
		}
		err = res.SVG(f, c.metric)
		f.Close()
		if err != nil {
			return nil, fail(stderr, exitInternal, err)
		}
	}
	return steps, exitOK
}
