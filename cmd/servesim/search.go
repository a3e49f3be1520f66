package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/internal/search"
	"github.com/servesim/servesim/internal/searchrun"
	"github.com/servesim/servesim/profiles"
)

// intList is a comma-separated list of integers flag.
type intList []int

func (l *intList) String() string {
	var s []string
	for _, v := range *l {
		s = append(s, strconv.Itoa(v))
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%q is not an integer", f)
		}
		*l = append(*l, n)
	}
	return nil
}

// strList is a comma-separated list flag.
type strList []string

func (l *strList) String() string { return strings.Join(*l, ",") }
func (l *strList) Set(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			*l = append(*l, f)
		}
	}
	return nil
}

const searchUsage = `usage: servesim search [--workload PATH]... [--preset NAME] [--config FILE] [sweep flags] [flags] [--out DIR]

Finds the largest Poisson arrival rate at which each configuration meets the SLO (the --slo_* flags;
defaults P90 TTFT <= 1 s, P90 time between tokens <= 100 ms, P90 E2E <= 60 s): every trial runs
--search_requests requests with the workload's lengths and Poisson arrivals; the rate is doubled or
halved from --start_qps until one passes and one fails, then bisected until the failing rate is within
--precision (relative) of the passing one. --*_values sweep configurations (their product, at most
--max_points, checked before any work); each point's max QPS, goodput per GPU, cost per 1M output
tokens at --gpu_hour_usd, the Pareto front (goodput per GPU vs P90 E2E at max QPS) and, with
--target_qps, the cheapest point meeting the SLO there. Writes DIR/search.json, search.csv (a row
per point) and search_curve.csv (every trial: the attainment-vs-QPS curves).
Trials run on --parallel goroutines, or on servesim API endpoints (--endpoints), with the same answer.
Exit 4 when no point meets the SLO at any rate (the files are still written).

`

func cmdSearch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg0 := engine.DefaultConfig()
	pre, po := simulateFlags(&cfg0)
	addSearchFlags(pre, &search.Spec{}, new(searchOpts))
	_ = pre.Parse(args)
	cfg, err := runner.Config(*po.preset)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	var configKeys configPresence
	if *po.configPath != "" {
		b, err := os.ReadFile(*po.configPath)
		if err != nil {
			return fail(stderr, exitUsage, err)
		}
		if err := engine.DecodeConfig(bytes.NewReader(b), &cfg); err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("%s: %w", *po.configPath, err))
		}
		configKeys = presentKeys(b)
	}
	fs, opts := simulateFlags(&cfg)
	var spec search.Spec
	so := &searchOpts{}
	addSearchFlags(fs, &spec, so)
	help := func(w io.Writer) {
		fmt.Fprint(w, searchUsage)
		fs.printHelp(w)
		fmt.Fprint(w, "Examples:\n  servesim search --preset splitwise-conv-2qps --out out/search\n"+
			"  servesim search --preset splitwise-conv-2qps --replicas_values 1,2 --scheduler_values sarathi,vllm --target_qps 40 --out out/sweep\n"+
			"  servesim search --preset splitwise-conv-2qps --endpoints http://10.0.0.2:8080,http://10.0.0.3:8080 --out out/remote\n")
	}
	if code, done := fs.parse(args, help, stdout, stderr); done {
		return code
	}
	cfg.NormalizeSLO()
	if fs.NArg() > 0 {
		return fail(stderr, exitUsage, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	// --model PATH to a config.json, a GPU by its numbers: as simulate takes them
	if err := modelFromFile(&cfg); err != nil {
		return fail(stderr, exitInput, err)
	}
	if err := opts.gpu.apply(fs, &cfg); err != nil {
		return fail(stderr, exitUsage, err)
	}
	// Trials in process choose their set as simulate does without
	// --profile; one sent to --endpoints carries its whole configuration,
	// which names its profile there, so the choice goes in as "auto".
	runner.NameChoice(&cfg, fs.given("profile") || configKeys.profile)
	if fs.given("profile") && !fs.given("replica_config_device") && !runner.ChosenProfile(cfg.Predictor.Profile) {
		set, err := runner.OpenProfile(cfg)
		if err != nil {
			return fail(stderr, errCode(err), err)
		}
		implyDevice(&cfg, set, fs.given("replica_config_network_device"))
	}
	var files []searchrun.File
	for _, p := range opts.workloads {
		wf, err := openWorkload(p)
		if err != nil {
			return fail(stderr, exitInput, err)
		}
		for _, f := range wf {
			b, err := io.ReadAll(f.R)
			f.R.(io.Closer).Close()
			if err != nil {
				return fail(stderr, exitInput, err)
			}
			files = append(files, searchrun.File{Name: f.Name, Content: string(b)})
		}
	}
	lengthsOnly := searchrun.LengthsOnly(*opts.preset, len(files))
	if _, err := search.Plan(spec.WithDefaults(), cfg); err != nil {
		return fail(stderr, exitUsage, err)
	}
	// The request count against the trace's rows, once, before any trial
	// (else every point's trials would fail alike).
	if err := searchrun.CheckTrace(ctx, spec, cfg, *opts.preset, files, lengthsOnly, nil); err != nil {
		return fail(stderr, errCode(err), err)
	}
	// --profile DIR (a user's folder or a full set on disk): opened once and
	// every trial's, in process; its files go with each trial sent to
	// --endpoints (a profile path would name the endpoint's disk there).
	var userSet *predict.Set
	var profileFiles []searchrun.File
	if dir := cfg.Predictor.Profile; fs.given("profile") || configKeys.profile {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			if userSet, err = runner.OpenProfile(cfg); err != nil {
				return fail(stderr, errCode(err), err)
			}
			if profileFiles, err = readProfileDir(dir); err != nil {
				return fail(stderr, exitInput, err)
			}
		}
	}
	var eval search.Evaluator
	par := so.parallel
	if len(so.endpoints) > 0 {
		r := &searchrun.Remote{Endpoints: so.endpoints, Preset: *opts.preset, Files: files, ProfileFiles: profileFiles, Attempts: so.attempts,
			Log: func(s string) {
				if !*opts.quiet {
					fmt.Fprintln(stderr, "servesim: search:", s)
				}
			}}
		eval = r
		if par <= 0 {
			par = 2 * len(so.endpoints)
		}
	} else {
		l, err := searchrun.NewLocal(*opts.preset, files, userSet, runner.Limits{}, lengthsOnly)
		if err != nil {
			return fail(stderr, exitInput, err)
		}
		eval = l
		if par <= 0 {
			par = runtime.GOMAXPROCS(0)
		}
	}
	res, err := search.Run(ctx, spec, cfg, lengthsOnly, eval, par)
	var none *search.NoneError
	if err != nil && !errors.As(err, &none) {
		return fail(stderr, errCode(err), err)
	}
	if werr := writeSearch(*opts.out, res); werr != nil {
		return fail(stderr, exitUsage, fmt.Errorf("--out %s: %w", *opts.out, werr))
	}
	if !*opts.quiet {
		printSearch(stdout, res, *opts.out)
	}
	if none != nil {
		return fail(stderr, exitRun, none)
	}
	return exitOK
}

// readProfileDir reads a profile folder's files (profiles.UserFiles, those
// present) to send with trials, as a profile dropped on the page is sent.
func readProfileDir(dir string) ([]searchrun.File, error) {
	var files []searchrun.File
	for _, name := range profiles.UserFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files = append(files, searchrun.File{Name: name, Content: string(b)})
	}
	return files, nil
}

type searchOpts struct {
	parallel, attempts int
	endpoints          strList
}

func addSearchFlags(fs *cliFlags, s *search.Spec, o *searchOpts) {
	fs.group("Search (max QPS under the SLO; 0 = the default shown)")
	fs.IntVar(&s.Requests, "search_requests", search.DefaultRequests, "requests per trial (the workload's lengths, Poisson arrivals)")
	fs.Float64Var(&s.Precision, "precision", search.DefaultPrecision, "relative precision of each max QPS (0.02: the failing rate is within 2% above it)")
	fs.Float64Var(&s.StartQPS, "start_qps", search.DefaultStartQPS, "first rate tried")
	fs.Float64Var(&s.MinQPS, "min_qps", search.DefaultMinQPS, "lowest rate tried (below it a point has no max QPS)")
	fs.Float64Var(&s.MaxQPS, "max_qps", search.DefaultMaxQPS, "highest rate tried")
	fs.IntVar(&s.MaxTrials, "max_trials", search.DefaultMaxTrials, "most trials per point")
	fs.IntVar(&s.PilotRequests, "pilot_requests", 0, "requests per pilot trial: each point's capacity is first estimated from two bursts (3/10 of this and this many requests at once), then it is searched with trials of this size below one step above that estimate, its full trials then start near that answer (fewer full trials, the same precision; 0: a tenth of --search_requests, -1: none, also none below 100)")
	fs.BoolVar(&s.FullTrials, "full_trials", false, "run every trial to its last request (default: a trial stops once its SLO can no longer be met; the answers are the same, the curve then has stopped trials' attainment as an upper bound)")
	fs.IntVar(&s.Probes, "probes", 1, "rates a point tries at once per round (1: bisection; k: k rates doubling/halving, then k inside the bracket; the answer depends on it, not on --parallel)")
	fs.Float64Var(&s.GPUHourUSD, "gpu_hour_usd", search.DefaultGPUHourUSD, "price of one GPU-hour in USD for cost per 1M tokens (an editable example, not a quote)")
	fs.Float64Var(&s.TargetQPS, "target_qps", 0, "find the cheapest point meeting the SLO at this rate")
	fs.group("Sweep (comma-separated values; an axis not given keeps the configuration's value)")
	fs.Var((*intList)(&s.Axes.Replicas), "replicas_values", "replica counts")
	fs.Var((*intList)(&s.Axes.TP), "tp_values", "tensor parallel degrees")
	fs.Var((*intList)(&s.Axes.PP), "pp_values", "pipeline stages")
	fs.Var((*strList)(&s.Axes.Scheduler), "scheduler_values", "replica schedulers: "+strings.Join(engine.SchedulerNames, ", "))
	fs.Var((*intList)(&s.Axes.ChunkSize), "chunk_size_values", "Sarathi chunk sizes")
	fs.Var((*intList)(&s.Axes.BatchCap), "batch_cap_values", "batch size caps")
	fs.IntVar(&s.MaxPoints, "max_points", search.DefaultMaxPoints, "the most points a sweep may have")
	fs.group("Where trials run")
	fs.IntVar(&o.parallel, "parallel", 0, "points searched at once (0: GOMAXPROCS, or 2 per endpoint)")
	fs.Var(&o.endpoints, "endpoints", "servesim API base URLs (servesim serve, a Workers deployment), comma-separated: trials go there")
	fs.IntVar(&o.attempts, "attempts", 0, "tries per trial over the endpoints before the point fails (0: 3 per endpoint, at least 4)")
}

// writeSearch writes search.json, search.csv and search_curve.csv.
func writeSearch(dir string, res *search.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files, err := search.Files(res)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func printSearch(w io.Writer, res *search.Result, out string) {
	fmt.Fprintf(w, "search: %d points, %d trials of %d requests; SLO %s; precision %g\n", len(res.Points), res.Trials, res.Spec.Requests, sloText(res.SLO), res.Spec.Precision)
	fmt.Fprintf(w, "  %3s  %-52s %10s %14s %12s %10s  %s\n", "#", "point", "max QPS", "tok/s per GPU", "$/1M tok", "E2E p90", "")
	for i, p := range res.Points {
		mark := ""
		if p.Pareto {
			mark = "pareto"
		}
		if p.Error != "" {
			mark = p.Error
		}
		if !p.Found {
			fmt.Fprintf(w, "  %3d  %-52s %10s %14s %12s %10s  %s\n", i, p.Point, "none", "-", "-", "-", mark)
			continue
		}
		fmt.Fprintf(w, "  %3d  %-52s %10.4g %14.1f %12.4f %8.0fms  %s\n", i, p.Point, p.MaxQPS, p.GoodputTokensPerSPerGPU, p.CostPer1MTokensUSD, p.E2EP90Ms, mark)
	}
	if c := res.Cheapest; c != nil {
		fmt.Fprintf(w, "  cheapest at %g QPS: #%d (%s), %d GPUs, $%.2f/hour at $%g/GPU-hour, attainment %.1f%%\n", res.Spec.TargetQPS, c.Index, c.Point, c.GPUs, c.CostPerHUS, res.Spec.GPUHourUSD, 100*c.Probe.Attainment)
	}
	if res.Note != "" {
		fmt.Fprintf(w, "  %s\n", res.Note)
	}
	fmt.Fprintf(w, "  wrote %s/{search.json,search.csv,search_curve.csv}\n", out)
}

func sloText(s slo.Spec) string {
	var parts []string
	for _, m := range []struct {
		name    string
		thr, pc float64
	}{{"TTFT", s.TTFTMs, s.TTFTPercentile}, {"TBT", s.TBTMs, s.TBTPercentile}, {"E2E", s.E2EMs, s.E2EPercentile}} {
		if m.thr > 0 {
			parts = append(parts, fmt.Sprintf("P%g %s <= %g ms", m.pc, m.name, m.thr))
		}
	}
	return strings.Join(parts, ", ")
}
