package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/internal/calibrate"
	"github.com/servesim/servesim/profiles"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// cmdCalibrate fits a profile set to real runs and writes the new set.
func cmdCalibrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("calibrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("base", "", "profile set to start from: an embedded name or a directory (it needs engine.json)")
	out := fs.String("out", "", "directory to write the calibrated profile set into")
	name := fs.String("name", "", "name of the new set in its profile.json (default: the base's name + \"-calibrated\")")
	config := fs.String("config", "", "JSON config (keys as in run_meta.json's config) of the runs: scheduler and its settings")
	var fit, held listFlag
	fs.Var(&fit, "fit", "a real run the fit may use (repeatable): a directory (request_metrics.csv, token_metrics.csv, optional step_log.csv), an AIPerf profile_export.jsonl or a vllm bench serve result JSON")
	fs.Var(&held, "heldout", "a real run held out of the fit, scored with the new set (repeatable; same forms as --fit)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: servesim calibrate --base SET --out DIR [--config FILE] --fit RUN... [--heldout RUN...]\n\n"+
			"Fits a scale per op class (gemm, attention, elementwise) and the host table host_overheads.csv on the\n"+
			"--fit runs (least squares on their step logs; without step logs, a search on their medians), writes the\n"+
			"new set to DIR with a PROVENANCE.md saying what it was calibrated on and its error on the --heldout runs.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if *base == "" || *out == "" || len(fit) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	reg := profiles.Embedded()
	set, err := reg.Resolve(*base)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	cfg := engine.DefaultConfig()
	cfg.Replica.Device, cfg.Replica.NetworkDevice = set.Meta.Device, set.Meta.NetworkDevice
	cfg.Predictor.TimingModel = engine.TimingEngine
	if *config != "" {
		f, err := os.Open(*config)
		if err != nil {
			return fail(stderr, exitUsage, err)
		}
		err = engine.DecodeConfig(f, &cfg)
		f.Close()
		if err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("%s: %w", *config, err))
		}
	}
	var runs []calibrate.Run
	for _, l := range []struct {
		paths []string
		split string
	}{{fit, calibrate.SplitFit}, {held, calibrate.SplitHeldOut}} {
		for _, p := range l.paths {
			r, err := calibrate.LoadPath(p, l.split, cfg)
			if err != nil {
				return fail(stderr, exitInput, err)
			}
			runs = append(runs, r)
		}
	}
	res, err := calibrate.Calibrate(ctx, set, reg.Network(), runs, calibrate.Options{Name: *name})
	if err != nil {
		return fail(stderr, errCode(err), err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(stderr, exitInternal, err)
	}
	names := make([]string, 0, len(res.Files))
	for n := range res.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(*out, n), res.Files[n], 0o644); err != nil {
			return fail(stderr, exitInternal, err)
		}
	}
	b, _ := json.MarshalIndent(struct {
		Fit    calibrate.Fit     `json:"fit"`
		Scores []calibrate.Score `json:"scores"`
	}{res.Fit, res.Scores}, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "calibration.json"), append(b, '\n'), 0o644); err != nil {
		return fail(stderr, exitInternal, err)
	}
	fmt.Fprintf(stdout, "calibrated %s on %s (%s)\n", set.Meta.Name, strings.Join(res.Fit.FitRuns, ", "), res.Fit.Method)
	for _, c := range calibrate.Classes {
		fmt.Fprintf(stdout, "  scale %-11s %.4f\n", c, res.Fit.Scale[c])
	}
	for _, s := range res.Scores {
		var cells []string
		for _, r := range s.Rows {
			if r.Quantile != "P99" {
				cells = append(cells, fmt.Sprintf("%s %s %+.1f%%", r.Metric, r.Quantile, r.RelErr()*100))
			}
		}
		fmt.Fprintf(stdout, "  %-8s %s: %s\n", s.Split, s.Run, strings.Join(cells, ", "))
	}
	fmt.Fprintf(stdout, "  wrote %s (%s; calibration.json)\n", *out, strings.Join(names, ", "))
	return exitOK
}
