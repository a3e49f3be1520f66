// Command fidelity scores servesim against the real GPU runs in
// bench/gpu/<card>/: it simulates each workload with the card's measured
// profile (host overhead, LM head and embedding on), writes the simulated
// metrics beside the real ones, compares them (servesim compare), writes
// bench/gpu/<card>/FIDELITY.md and records the held-out error in the profile
// set (PROVENANCE.md, profile.json's summary).
//
//	go run ./bench/gpu/fidelity --card h200
//
// With --heldout it runs the held-out protocol instead (heldout.go): every
// workload of profiles/tools/gpu/workloads/MANIFEST.json simulated with the
// card's measured set in engine timing, scored against its real run and set
// beside the real engine's run-to-run spread, in bench/gpu/<card>/HELDOUT.md.
//
//	go run ./bench/gpu/fidelity --heldout --card h200
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/internal/runner"
)

type run struct {
	name, workload, scheduler string
	heldOut                   bool
}

var runs = []run{
	{"seed", "seed", "sarathi", true},
	{"spaced-2s", "spaced-2s", "sarathi", false},
	{"poisson-moderate", "poisson-moderate", "sarathi", false},
	{"poisson-saturation", "poisson-saturation", "sarathi", true},
	{"poisson-heavy-fit", "poisson-heavy-fit", "sarathi", false},
	{"poisson-moderate-vllm", "poisson-moderate", "vllm", true},
}

func main() {
	card := flag.String("card", "h200", "card folder under bench/gpu")
	shared := flag.String("shared", "../shared", "shared/ (for Vidur's H100 profile)")
	held := flag.Bool("heldout", false, "the held-out protocol: simulate every workload of --manifest with the measured set (engine timing) and write bench/gpu/<card>/HELDOUT.md")
	manifest := flag.String("manifest", "profiles/tools/gpu/workloads/MANIFEST.json", "workload manifest (--heldout)")
	profile := flag.String("profile", "", "measured profile set folder (--heldout; default profiles/<card>/qwen3-0.6b)")
	out := flag.String("out", "", "report path (--heldout; default bench/gpu/<card>/HELDOUT.md)")
	keep := flag.String("keep_sims", "", "also write each run's simulated files under this folder (--heldout)")
	skip := flag.String("skip", "", "leave out the runs whose names start with this (--heldout: a batch kept blind while the model changes)")
	cal := flag.String("calibrate", "", "first calibrate the set on the manifest's fit runs only and write it to this folder; simulate with it (--heldout)")
	idle := flag.String("idle_gpu", "", "fit engine.json's idle_host GPU terms on the designed idle probes (bench/gpu/<card>/engine/idleprobe*) with --profile and write them to this file")
	dinrun := flag.String("decode_in_run", "", "fit engine.json's decode_in_run (a factor per decode graph size) on the manifest's general fit runs and those for decode_in_run (fit_for), and their repeats, with --profile, score it on the designed decode probes (bench/gpu/<card>/engine/decodeprobe*.json), and write it to this file")
	estart := flag.String("eager_start", "", "fit engine.json's eager_launch start_frac on the manifest's fit runs for eager_launch (their eager steps from idle) with --profile, score it on the designed eager probes (bench/gpu/<card>/engine/eagerprobe*.json, shapeprobe*.json), and write it to this file")
	waves := flag.String("prefill_waves", "", "fit the prefill launch's wave model (engine.json prefill_launch) on --profile's attention.csv and bench/gpu/<card>/engine/waveprobe.json and write it to this file")
	dwaves := flag.String("decode_waves", "", "fit the decode launch's wave model (engine.json decode_launch) on bench/gpu/<card>/engine/decodeprobe.json and write it to this file")
	dscore := flag.String("decode_score", "", "score --profile's whole-step prediction of every graph of this decode probe (refengine decodeprobe.py's output)")
	replay := flag.String("replay", "", "replay these runs' real step logs (comma-separated names; \"all\": every manifest run with one) through servesim's scheduler at the real step times and print, per run, the first step whose decisions differ (replay.go); with --out, write the table there")
	replaySim := flag.Bool("replay_sim", false, "with --replay, also simulate each run (engine timing, as --heldout) and replay the simulated schedule, for its preemptions and requests that waited for blocks beside the real run's")
	biasTop := flag.Int("step_bias_top", 25, "--step_bias: how many regions to list by summed |error|")
	biasCSV := flag.String("step_bias_csv", "", "--step_bias: also write every step's shape and real and predicted GPU time to this CSV")
	bias := flag.Bool("step_bias", false, "predict every real step of the held-out runs' step logs at its own shape (--profile, --skip) and print the GPU error by shape region (decode count x mean decode context x prefill tokens), the systematic ones first (stepbias.go); with --out, write the table there")
	flag.Parse()
	if *bias {
		if *profile == "" {
			*profile = filepath.Join("profiles", *card, "qwen3-0.6b")
		}
		steps, nruns, err := heldOutBiasSteps(heldOutOptions{Manifest: *manifest, Bench: "bench/gpu", Card: *card, Profile: *profile, Skip: *skip})
		if err != nil {
			fmt.Fprintln(os.Stderr, "fidelity:", err)
			os.Exit(1)
		}
		if *biasCSV != "" {
			f, err := os.Create(*biasCSV)
			if err == nil {
				err = writeBiasCSV(f, steps)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "fidelity:", err)
				os.Exit(1)
			}
		}
		var buf bytes.Buffer
		writeStepBias(&buf, stepBias(steps), len(steps), nruns, *biasTop)
		if *out != "" {
			err = os.WriteFile(*out, buf.Bytes(), 0o644)
		} else {
			_, err = os.Stdout.Write(buf.Bytes())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "fidelity:", err)
			os.Exit(1)
		}
		return
	}
	if *replay != "" {
		if *profile == "" {
			*profile = filepath.Join("profiles", *card, "qwen3-0.6b")
		}
		o := replayOptions{Manifest: *manifest, Bench: "bench/gpu", Card: *card, Profile: *profile}
		if *replay != "all" {
			o.Runs = strings.Split(*replay, ",")
		}
		var w io.Writer = os.Stdout
		var buf bytes.Buffer
		if *out != "" {
			w = &buf
		}
		o.Sim = *replaySim
		if _, err := replayRuns(context.Background(), o, w); err != nil {
			fmt.Fprintln(os.Stderr, "fidelity:", err)
			os.Exit(1)
		}
		if *out != "" {
			if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "fidelity:", err)
				os.Exit(1)
			}
		}
		return
	}
	if *dscore != "" {
		if *profile == "" {
			*profile = filepath.Join("profiles", *card, "qwen3-0.6b")
		}
		rows, skipped, err := scoreDecodeProbe(*profile, *dscore)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fidelity:", err)
			os.Exit(1)
		}
		writeDecodeScore(os.Stdout, *dscore, rows, skipped)
		return
	}
	if *dwaves != "" {
		if err := writeDecodeWaves(".", filepath.Join("bench/gpu", *card, "engine", "decodeprobe.json"), *dwaves, 132); err != nil {
			fmt.Fprintln(os.Stderr, "fidelity:", err)
			os.Exit(1)
		}
		return
	}
	// the fits that write one file from the card's set (--profile)
	setDir := func() string {
		if *profile == "" {
			return filepath.Join("profiles", *card, "qwen3-0.6b")
		}
		return *profile
	}
	for _, fit := range []struct {
		out string
		run func(set, out string) error
	}{
		{*waves, func(set, out string) error {
			return writePrefillWaves(".", set, filepath.Join("bench/gpu", *card, "engine", "waveprobe.json"), out)
		}},
		{*dinrun, func(set, out string) error { return writeDecodeInRun(set, *manifest, "bench/gpu", *card, out) }},
		{*estart, func(set, out string) error { return writeEagerStart(set, *manifest, "bench/gpu", *card, out) }},
		{*idle, func(set, out string) error { return writeIdleGPU(set, idleProbes("bench/gpu", *card), out) }},
	} {
		if fit.out == "" {
			continue
		}
		if err := fit.run(setDir(), fit.out); err != nil {
			fmt.Fprintln(os.Stderr, "fidelity:", err)
			os.Exit(1)
		}
		return
	}
	if *held {
		var line string
		o := heldOutOptions{Manifest: *manifest, Bench: "bench/gpu", Card: *card, Profile: *profile, Out: *out, KeepSims: *keep, Calibrate: *cal, Skip: *skip,
			Summarize: func(s string) { line = s; fmt.Printf("%s: %s\n", *card, s) }}
		// Scored on every held-out run, the card's own set records its
		// validated error (profile.json's summary, as the page and
		// summary.md show it).
		record := o.Profile == "" && o.Out == "" && o.Skip == "" && o.Calibrate == ""
		if o.Profile == "" {
			o.Profile = filepath.Join("profiles", *card, "qwen3-0.6b")
		}
		if o.Out == "" {
			o.Out = filepath.Join("bench/gpu", *card, "HELDOUT.md")
		}
		if err := heldOut(context.Background(), o); err != nil {
			fmt.Fprintln(os.Stderr, "fidelity:", err)
			os.Exit(1)
		}
		if record {
			if err := writeValidated(o.Profile, line); err != nil {
				fmt.Fprintln(os.Stderr, "fidelity:", err)
				os.Exit(1)
			}
		}
		return
	}
	if err := score(*card, *shared); err != nil {
		fmt.Fprintln(os.Stderr, "fidelity:", err)
		os.Exit(1)
	}
}

func score(card, shared string) error {
	var md strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&md, f, a...) }
	p("# Fidelity on a real %s\n\nGenerated by `go run ./bench/gpu/fidelity --card %s`. Real runs: `profiles/tools/gpu/realbench.py`\n", strings.ToUpper(card), card)
	p("(servesim's continuous-batching Qwen3-0.6B loop, PyTorch eager, random bf16 weights) replaying each workload in\n")
	p("real time on the card; simulated runs: servesim with the measured profile `%s`, its host-overhead\n", eagerSetName(card))
	p("model on (`cpu_overheads.csv`, fitted on spaced-2s, poisson-moderate and poisson-heavy-fit only), `--lm_head --embedding`,\n")
	p("`--attention_decode_context max` (the loop pads keys to the longest context), the same\n")
	p("scheduler settings (chunk 512, batch cap 128, block 16) and a KV cache of the real loop's size (16,384 blocks).\n")
	p("Workloads: `profiles/tools/gpu/workloads/`. Time between tokens pools every token with index > 0.\n\n")
	setName, setDir := eagerSet(card)
	if b, err := os.ReadFile(filepath.Join(setDir, "env.json")); err == nil {
		var env map[string]any
		json.Unmarshal(b, &env)
		p("Card and software of the real runs (`%s/env.json`): %v, driver %v, torch %v, CUDA %v.\n\n",
			setDir, env["gpu"], env["driver"], env["torch"], env["cuda"])
	}
	type agg struct{ p50, p90 []float64 }
	summary := map[string]*agg{}
	sat := map[string]float64{} // the held-out saturation run's signed error, %, by "metric quantile"
	var order []string
	for _, r := range runs {
		dir := filepath.Join("bench/gpu", card, r.name)
		cfg, _ := runner.Config("")
		cfg.Replica.Device = strings.TrimSuffix(card, "-eager")
		cfg.Predictor.Profile = setName
		cfg.Predictor.SkipCPUOverheadModeling = false
		cfg.Predictor.LMHead, cfg.Predictor.Embedding = true, true
		cfg.Predictor.AttentionDecodeContext = "max" // the real loop pads every decode's keys to the longest context
		cfg.Scheduler.Type = r.scheduler
		cfg.Scheduler.NumBlocks = 16384
		var files []workload.File
		for _, f := range []string{"trace_lengths.csv", "trace_intervals.csv"} {
			fh, err := os.Open(filepath.Join("profiles/tools/gpu/workloads", r.workload, f))
			if err != nil {
				return err
			}
			defer fh.Close()
			files = append(files, workload.File{Name: f, R: fh})
		}
		out, err := runner.Run(context.Background(), runner.Job{Files: files, Config: cfg, WorkloadName: r.workload})
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		simDir := filepath.Join(dir, "sim")
		os.MkdirAll(simDir, 0o755)
		if err := out.WriteFiles([]string{"request_metrics.csv", "token_metrics.csv"}, func(n string) (io.WriteCloser, error) {
			return os.Create(filepath.Join(simDir, n))
		}); err != nil {
			return err
		}
		real, err := compare.Load(filepath.Join(dir, "real"))
		if err != nil {
			return err
		}
		sim, err := compare.Load(simDir)
		if err != nil {
			return err
		}
		res, err := compare.Compare(real, sim)
		if err != nil {
			return err
		}
		tag := "used in the host-overhead fit"
		if r.heldOut {
			tag = "held out"
		}
		p("## %s (%s scheduler; %s)\n\n", r.name, r.scheduler, tag)
		res.Markdown(&md, "real", "simulated")
		p("\nCDFs: [TTFT](%s/cdf_ttft.svg), [time between tokens](%s/cdf_tbt.svg), [E2E](%s/cdf_e2e.svg)\n\n", r.name, r.name, r.name)
		for n, m := range map[string]string{"cdf_ttft.svg": "TTFT", "cdf_tbt.svg": "time between tokens", "cdf_e2e.svg": "E2E"} {
			f, _ := os.Create(filepath.Join(dir, n))
			res.SVG(f, m)
			f.Close()
		}
		for _, row := range res.Rows {
			if r.name == saturation && (row.Quantile == "P50" || row.Quantile == "P90") {
				sat[row.Metric+" "+row.Quantile] = row.RelErr() * 100
			}
			a := summary[row.Metric]
			if a == nil {
				a = &agg{}
				summary[row.Metric] = a
				order = append(order, row.Metric)
			}
			e := math.Abs(row.RelErr()) * 100
			switch row.Quantile {
			case "P50":
				a.p50 = append(a.p50, e)
			case "P90":
				a.p90 = append(a.p90, e)
			}
		}
	}
	p("## Summary: median over the six runs of |relative error|\n\n| metric | at P50 | at P90 | target |\n|---|---:|---:|---|\n")
	for _, m := range order {
		p("| %s | %.1f%% | %.1f%% | <= 5%% / <= 10%% |\n", m, report.Median(summary[m].p50), report.Median(summary[m].p90))
	}
	repeatTable(&md, card)
	gemmTable(&md, card, shared)
	if err := os.WriteFile(filepath.Join("bench/gpu", card, "FIDELITY.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	held := fmt.Sprintf("TTFT %+.1f%% / %+.1f%%, time between tokens %+.1f%% / %+.1f%%, E2E %+.1f%% / %+.1f%% (P50 / P90)",
		sat["TTFT P50"], sat["TTFT P90"], sat["time between tokens P50"], sat["time between tokens P90"], sat["E2E P50"], sat["E2E P90"])
	fmt.Printf("%s: held-out %s run: %s\n", card, saturation, held)
	return recordValidation(card, held)
}

// saturation is the run held out of every fit that the profile's validated
// error is quoted from.
const saturation = "poisson-saturation"

// recordValidation writes the held-out error into the profile set itself:
// a "Validated error" section at the end of PROVENANCE.md and a clause of
// profile.json's summary (both replaced when this runs again).
func recordValidation(card, held string) error {
	_, dir := eagerSet(card)
	prov, err := os.ReadFile(filepath.Join(dir, "PROVENANCE.md"))
	if err != nil {
		return err
	}
	const heading = "\n## Validated error\n"
	text, _, _ := strings.Cut(string(prov), heading)
	text = strings.TrimRight(text, "\n") + "\n" + heading + fmt.Sprintf(`
Written by `+"`go run ./bench/gpu/fidelity --card %s`"+`. Simulated with this set (host overhead, LM head and
embedding on) against the real %s runs in `+"`bench/gpu/%s/`"+`: the %s run, held out of every
fit, is off by %s. Every run's tables: `+"`bench/gpu/%s/FIDELITY.md`"+`.
`, card, strings.ToUpper(card), card, saturation, held, card)
	if err := os.WriteFile(filepath.Join(dir, "PROVENANCE.md"), []byte(text), 0o644); err != nil {
		return err
	}
	return writeValidated(dir, held)
}

// validatedClause ends a measured set's profile.json summary with its
// validated error.
const validatedClause = "; validated on real runs, held out: "

// writeValidated puts held as the validated-error clause of the summary in
// dir's profile.json (replacing the clause it had).
func writeValidated(dir, held string) error {
	b, err := os.ReadFile(filepath.Join(dir, "profile.json"))
	if err != nil {
		return err
	}
	var meta predict.Meta
	if err := json.Unmarshal(b, &meta); err != nil {
		return err
	}
	summary, _, _ := strings.Cut(meta.Summary, validatedClause)
	meta.Summary = summary + validatedClause + held
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(meta); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "profile.json"), out.Bytes(), 0o644)
}

// gemmTable sets this card's timings of Vidur's H100 GEMM shapes against
// Vidur's published H100 numbers (software-stack and card drift).
func gemmTable(md *strings.Builder, card, shared string) {
	_, setDir := eagerSet(card)
	b, err := os.ReadFile(filepath.Join(setDir, "vidur_gemm_check.json"))
	if err != nil {
		return
	}
	var rows []struct {
		Op        string  `json:"op"`
		NumTokens int     `json:"num_tokens"`
		MedianMs  float64 `json:"median_ms"`
	}
	json.Unmarshal(b, &rows)
	vidur := map[string]float64{}
	data, err := os.ReadFile(filepath.Join(shared, "vidur-data/profiling/compute/h100/meta-llama/Llama-2-7b-hf/mlp.csv"))
	if err == nil {
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		h := strings.Split(lines[0], ",")
		idx := map[string]int{}
		for i, c := range h {
			idx[c] = i
		}
		for _, l := range lines[1:] {
			f := strings.Split(l, ",")
			if f[idx["num_tensor_parallel_workers"]] != "1" {
				continue
			}
			for _, r := range rows {
				if f[idx["num_tokens"]] == fmt.Sprint(r.NumTokens) {
					var v float64
					fmt.Sscan(f[idx["time_stats."+r.Op+".median"]], &v)
					vidur[fmt.Sprint(r.Op, r.NumTokens)] = v
				}
			}
		}
	}
	fmt.Fprintf(md, "\n## Software-stack drift: Vidur's H100 GEMM shapes on this %s\n\nLlama-2-7B TP1 GEMMs timed here the same way as the profile, against Vidur's public H100 profile (older stack, H100). A ratio far from 1 at the same shape is card and stack drift, which a derived profile (like the A100 set) inherits.\n\n| op | tokens | here ms | Vidur H100 ms | ratio |\n|---|---:|---:|---:|---:|\n", strings.ToUpper(card))
	var off []float64 // |ratio - 1|, %
	for _, r := range rows {
		v := vidur[fmt.Sprint(r.Op, r.NumTokens)]
		ratio := "n/a"
		if v > 0 {
			ratio = fmt.Sprintf("%.2f", r.MedianMs/v)
			off = append(off, math.Abs(r.MedianMs/v-1)*100)
		}
		fmt.Fprintf(md, "| %s | %d | %.4f | %.4f | %s |\n", r.Op, r.NumTokens, r.MedianMs, v, ratio)
	}
	within := 0
	for _, o := range off {
		if o <= 15 {
			within++
		}
	}
	if len(off) > 0 {
		line := fmt.Sprintf("Median |ratio - 1| over %d shapes: %.1f%%; %d of %d within 15%%.", len(off), report.Median(off), within, len(off))
		fmt.Fprintf(md, "\n%s\n", line)
		fmt.Printf("%s: Vidur H100 GEMM shapes: %s\n", card, line)
	}
}

// repeatTable compares the real runs with a repeat of the same workloads
// (bench/gpu/<card>-repeat/, whose README.md says where it ran): the real
// loop's own run-to-run spread bounds what any simulator can match.
func repeatTable(md *strings.Builder, card string) {
	where, err := os.ReadFile(filepath.Join("bench/gpu", card+"-repeat", "README.md"))
	if err != nil {
		fmt.Fprintf(md, "\n## Reproducibility of the real runs\n\nNo repeat of the real runs on this card (`bench/gpu/%s-repeat/` is absent).\n", card)
		return
	}
	fmt.Fprintf(md, "\n## Reproducibility of the real runs\n\nThe same workloads run again (`bench/gpu/%s-repeat/`): %s The loop is host-bound at light load (PyTorch eager launches from Python), so its times there move with the host; the simulator cannot be closer to a real run than two real runs are to each other.\n\n| run | TTFT P50 here / repeat ms | time between tokens P50 here / repeat ms | change |\n|---|---:|---:|---:|\n", card, strings.TrimSpace(string(where)))
	for _, r := range runs {
		a, err1 := compare.Load(filepath.Join("bench/gpu", card, r.name, "real"))
		b, err2 := compare.Load(filepath.Join("bench/gpu", card+"-repeat", r.name, "real"))
		if err1 != nil || err2 != nil {
			continue
		}
		res, err := compare.Compare(b, a)
		if err != nil {
			continue
		}
		var ttft, tbt compare.Row
		for _, row := range res.Rows {
			if row.Quantile == "P50" && row.Metric == "TTFT" {
				ttft = row
			}
			if row.Quantile == "P50" && row.Metric == "time between tokens" {
				tbt = row
			}
		}
		fmt.Fprintf(md, "| %s | %.2f / %.2f | %.2f / %.2f | %+.0f%% |\n", r.name, ttft.Sim/1e6, ttft.Real/1e6, tbt.Sim/1e6, tbt.Real/1e6, tbt.RelErr()*100)
	}
}

// eagerSet is the profile set of the eager loop's runs in bench/gpu/<card>/:
// the set labelled as that loop's (<device>/qwen3-0.6b-eager-loop; the H200's
// eager runs are in bench/gpu/h200-eager/), else <card>/qwen3-0.6b.
func eagerSet(card string) (name, dir string) {
	dev := strings.TrimSuffix(card, "-eager")
	name = dev + "/qwen3-0.6b-eager-loop"
	dir = filepath.Join("profiles", name)
	if _, err := os.Stat(dir); err == nil {
		return name, dir
	}
	return card + "/qwen3-0.6b", filepath.Join("profiles", card, "qwen3-0.6b")
}

func eagerSetName(card string) string {
	n, _ := eagerSet(card)
	return n
}
