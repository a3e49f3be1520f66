package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/presets"
	"github.com/servesim/servesim/profiles"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// bindConfig declares every config flag on fs, bound to cfg, with Vidur's
// flattened flag names where Vidur has the option.
func bindConfig(fs *flag.FlagSet, c *engine.Config) {
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed (synthetic arrivals and lengths, random global scheduler)")
	fs.Float64Var(&c.TimeLimitS, "time_limit", c.TimeLimitS, "stop after this much simulated time in seconds (0 = none); unfinished requests are reported")
	fs.IntVar(&c.Cluster.NumReplicas, "cluster_config_num_replicas", c.Cluster.NumReplicas, "number of replicas")
	fs.StringVar(&c.Cluster.GlobalScheduler, "global_scheduler_config_type", c.Cluster.GlobalScheduler, "global scheduler: "+strings.Join(engine.GlobalSchedulerNames, ", "))
	r := &c.Replica
	fs.StringVar(&r.Model, "replica_config_model_name", r.Model, "model name")
	fs.StringVar(&r.Device, "replica_config_device", r.Device, "device SKU (memory planner, MFU)")
	fs.StringVar(&r.NetworkDevice, "replica_config_network_device", r.NetworkDevice, "node SKU (network profiles)")
	fs.IntVar(&r.TensorParallelSize, "replica_config_tensor_parallel_size", r.TensorParallelSize, "tensor parallel degree")
	fs.IntVar(&r.NumPipelineStages, "replica_config_num_pipeline_stages", r.NumPipelineStages, "pipeline stages")
	fs.Float64Var(&r.MemoryMarginFraction, "replica_config_memory_margin_fraction", r.MemoryMarginFraction, "GPU memory kept free")
	fs.BoolVar(&r.CompatHeadDim64, "compat_head_dim_64", r.CompatHeadDim64, "reproduce Vidur's head_dim = embedding_dim/num_q_heads (64 for Qwen3) in the memory planner")
	s := &c.Scheduler
	fs.StringVar(&s.Type, "replica_scheduler_config_type", s.Type, "replica scheduler: "+strings.Join(engine.SchedulerNames, ", "))
	fs.IntVar(&s.BatchSizeCap, "replica_scheduler_config_batch_size_cap", s.BatchSizeCap, "maximum requests per replica")
	fs.IntVar(&s.BlockSize, "replica_scheduler_config_block_size", s.BlockSize, "tokens per KV block")
	fs.Float64Var(&s.WatermarkBlocksFraction, "replica_scheduler_config_watermark_blocks_fraction", s.WatermarkBlocksFraction, "KV blocks kept free when admitting")
	fs.IntVar(&s.NumBlocks, "replica_scheduler_config_num_blocks", s.NumBlocks, "KV blocks per replica (0 = memory planner)")
	fs.IntVar(&s.ChunkSize, "sarathi_scheduler_config_chunk_size", s.ChunkSize, "Sarathi token budget per iteration")
	fs.IntVar(&s.MaxTokensInBatch, "vllm_scheduler_config_max_tokens_in_batch", s.MaxTokensInBatch, "vLLM/LightLLM padded token budget")
	fs.IntVar(&s.MaxWaitingIters, "lightllm_scheduler_config_max_waiting_iters", s.MaxWaitingIters, "LightLLM decode iterations before retrying prefill")
	w := &c.Workload
	fs.IntVar(&w.MaxTokens, "request_generator_config_max_tokens", w.MaxTokens, "max prompt+output tokens per request (Vidur clips to it)")
	fs.Float64Var(&w.PrefillScaleFactor, "prefill_scale_factor", w.PrefillScaleFactor, "multiply prompt lengths")
	fs.Float64Var(&w.DecodeScaleFactor, "decode_scale_factor", w.DecodeScaleFactor, "multiply output lengths")
	fs.Float64Var(&w.TimeScaleFactor, "time_scale_factor", w.TimeScaleFactor, "multiply trace arrival times")
	fs.BoolVar(&w.TraceLengthsOnly, "trace_lengths_only", w.TraceLengthsOnly, "use a Vidur trace's lengths with synthetic arrivals")
	fs.StringVar(&w.ModelFilter, "model_filter", w.ModelFilter, "keep only a BurstGPT trace's rows of this Model (e.g. ChatGPT, GPT-4)")
	fs.IntVar(&w.NumRequests, "synthetic_request_generator_config_num_requests", w.NumRequests, "requests to generate (synthetic or length trace; 0 = whole trace)")
	fs.Float64Var(&w.DurationS, "synthetic_request_generator_config_duration", w.DurationS, "generate arrivals for this many seconds instead of a count")
	fs.StringVar(&w.IntervalGenerator, "interval_generator_config_type", w.IntervalGenerator, "arrival process: poisson, gamma, static")
	fs.Float64Var(&w.QPS, "poisson_request_interval_generator_config_qps", w.QPS, "arrival rate (poisson, gamma)")
	fs.Float64Var(&w.CV, "gamma_request_interval_generator_config_cv", w.CV, "coefficient of variation (gamma)")
	fs.BoolVar(&w.TruncatePoisson, "truncate_poisson", w.TruncatePoisson, "reproduce Vidur's cap of Poisson gaps at 3/qps")
	fs.StringVar(&w.LengthGenerator, "length_generator_config_type", w.LengthGenerator, "synthetic lengths: fixed, uniform, zipf")
	fs.IntVar(&w.PrefillTokens, "fixed_request_length_generator_config_prefill_tokens", w.PrefillTokens, "fixed prompt length")
	fs.IntVar(&w.DecodeTokens, "fixed_request_length_generator_config_decode_tokens", w.DecodeTokens, "fixed output length")
	fs.IntVar(&w.MinTokens, "length_generator_config_min_tokens", w.MinTokens, "uniform/zipf minimum total tokens")
	fs.Float64Var(&w.PrefillToDecodeRatio, "length_generator_config_prefill_to_decode_ratio", w.PrefillToDecodeRatio, "uniform/zipf prompt:output ratio")
	fs.Float64Var(&w.Theta, "zipf_request_length_generator_config_theta", w.Theta, "zipf exponent")
	p := &c.Predictor
	fs.StringVar(&p.Profile, "profile", p.Profile, "profile set: an embedded name (servesim profiles) or a directory")
	fs.IntVar(&p.KVCachePredictionGranularity, "kv_cache_prediction_granularity", p.KVCachePredictionGranularity, "decode/prefill KV rounding (tokens)")
	fs.Float64Var(&p.AttentionDecodeBatchingOverhead, "attention_decode_batching_overhead_fraction", p.AttentionDecodeBatchingOverhead, "GQA decode batching overhead")
	fs.Float64Var(&p.AttentionPrefillBatchingOverhead, "attention_prefill_batching_overhead_fraction", p.AttentionPrefillBatchingOverhead, "GQA multi-prefill overhead")
	fs.Float64Var(&p.NCCLCPULaunchOverheadMs, "nccl_cpu_launch_overhead_ms", p.NCCLCPULaunchOverheadMs, "per all-reduce launch overhead")
	fs.Float64Var(&p.NCCLCPUSkewOverheadPerDeviceMs, "nccl_cpu_skew_overhead_per_device_ms", p.NCCLCPUSkewOverheadPerDeviceMs, "per-device NCCL skew")
	fs.BoolVar(&p.SkipCPUOverheadModeling, "skip_cpu_overhead_modeling", p.SkipCPUOverheadModeling, "leave out the serving engine's host overhead (Vidur default); =false uses the set's cpu_overheads.csv")
	fs.BoolVar(&p.LMHead, "lm_head", p.LMHead, "charge the LM head (logits GEMM) per iteration")
	fs.BoolVar(&p.Embedding, "embedding", p.Embedding, "charge the embedding lookup per iteration")
	fs.BoolVar(&p.Extrapolate, "predictor_extrapolate", p.Extrapolate, "allow lookups outside the profiled grids (counted in run_meta.json)")
	fs.StringVar(&p.TimingModel, "timing_model", p.TimingModel, "iteration timing: vidur (GPU + optional CPU overhead, summed), engine (the set's engine.json: CUDA-graph padding, host_overheads.csv, host/GPU overlap) or auto (engine when the set has engine.json; the default)")
	fs.StringVar(&p.AttentionDecodeContext, "attention_decode_context", p.AttentionDecodeContext, "key decode attention by the batch's mean context (Vidur) or max (servers that pad keys)")
}

const simulateUsage = `usage: servesim simulate [--workload PATH]... [--preset NAME] [--config FILE] [--out DIR] [flags]

Without --workload and --preset it runs the seed workload (4 requests) with the default
configuration (the seed's Vidur config: Qwen3-0.6B, A100, Sarathi chunk 512, batch cap 128).
--workload takes a file or a directory (every .csv and .jsonl in it); repeat it for several files.
Settings apply in this order: defaults, then --preset, then --config (JSON), then flags.

`

func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Pass 1: find --preset and --config, which set the base the flags go on.
	pre := flag.NewFlagSet("simulate", flag.ContinueOnError)
	pre.SetOutput(io.Discard)
	preset, configPath := pre.String("preset", "", ""), pre.String("config", "", "")
	var ignored multi
	pre.Var(&ignored, "workload", "")
	cfg0 := engine.DefaultConfig()
	bindConfig(pre, &cfg0)
	pre.String("out", "", "")
	pre.Bool("chrome_trace", true, "")
	pre.Bool("progress", false, "")
	pre.Bool("record_wall_clock", false, "")
	pre.Bool("quiet", false, "")
	_ = pre.Parse(args)

	cfg, err := runner.Config(*preset)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	if *configPath != "" {
		f, err := os.Open(*configPath)
		if err != nil {
			return fail(stderr, exitUsage, err)
		}
		err = engine.DecodeConfig(f, &cfg)
		f.Close()
		if err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("%s: %w", *configPath, err))
		}
	}
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, simulateUsage); fs.PrintDefaults() }
	var workloads multi
	fs.Var(&workloads, "workload", "workload file or directory (repeatable)")
	fs.String("preset", "", "embedded workload preset (servesim presets)")
	fs.String("config", "", "JSON config file (keys as in run_meta.json's config)")
	out := fs.String("out", "servesim_out", "output directory")
	trace := fs.Bool("chrome_trace", true, "write chrome_trace.json (one event per batch stage)")
	progress := fs.Bool("progress", false, "show a progress bar (default: when stderr is a terminal)")
	wall := fs.Bool("record_wall_clock", false, "record started_at/ended_at in run_meta.json (outputs then differ run to run)")
	quiet := fs.Bool("quiet", false, "print nothing on success")
	bindConfig(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		return fail(stderr, exitUsage, fmt.Errorf("unexpected arguments %q (workloads go after --workload)", fs.Args()))
	}
	job := runner.Job{Preset: *preset, Config: cfg}
	// chrome_trace.json names each batch by its members, as the API's and
	// the golden file do; the engine records them only when asked.
	job.Options.KeepMembers = *trace
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for _, p := range workloads {
		files, err := openWorkload(p)
		if err != nil {
			return fail(stderr, exitInput, err)
		}
		for _, f := range files {
			closers = append(closers, f.R.(io.Closer))
			job.Files = append(job.Files, f)
		}
	}
	if len(workloads) > 0 {
		job.WorkloadName = strings.Join(workloads, ",")
	}
	if *progress || isTerminal(stderr) && !*quiet {
		job.Options.OnProgress = progressBar(stderr)
	}
	started := time.Now()
	o, err := runner.Run(ctx, job)
	if job.Options.OnProgress != nil {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return fail(stderr, errCode(err), err)
	}
	o.Meta.OutputDir = *out
	if *wall {
		o.Meta.StartedAt, o.Meta.EndedAt = started.UTC().Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano)
	}
	// An --out that cannot be written is a usage error (exit 2), not a bug.
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(stderr, exitUsage, fmt.Errorf("--out %s: cannot create the output directory: %w", *out, err))
	}
	err = o.WriteFiles(runner.Files(*trace), func(name string) (io.WriteCloser, error) {
		return os.Create(filepath.Join(*out, name))
	})
	if err != nil {
		var pe *iofs.PathError
		if errors.As(err, &pe) { // the file system refused (permissions, space): not a bug
			return fail(stderr, exitUsage, fmt.Errorf("--out %s: cannot write the output files: %w", *out, err))
		}
		return fail(stderr, exitInternal, err)
	}
	if !*quiet { // notes stay in run_meta.json and summary.md
		for _, n := range o.Result.Workload.Notes {
			fmt.Fprintln(stderr, "servesim: note:", n)
		}
		printKeyResults(stdout, o, *out)
	}
	return exitOK
}

// openWorkload opens a file, or every .csv/.jsonl file of a directory.
func openWorkload(p string) ([]workload.File, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	var paths []string
	if st.IsDir() {
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			n := strings.ToLower(e.Name())
			if !e.IsDir() && (strings.HasSuffix(n, ".csv") || strings.HasSuffix(n, ".jsonl")) {
				paths = append(paths, filepath.Join(p, e.Name()))
			}
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("%s: no .csv or .jsonl files in the directory", p)
		}
		sort.Strings(paths)
	} else {
		paths = []string{p}
	}
	var files []workload.File
	for _, fp := range paths {
		f, err := os.Open(fp)
		if err != nil {
			return nil, err
		}
		files = append(files, workload.File{Name: fp, R: f})
	}
	return files, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func progressBar(w io.Writer) func(engine.Progress) {
	return func(p engine.Progress) {
		const width = 30
		n := 0
		if p.Total > 0 {
			n = p.Done * width / p.Total
		}
		fmt.Fprintf(w, "\r[%s%s] %d/%d requests, t=%.3f s", strings.Repeat("#", n), strings.Repeat(".", width-n), p.Done, p.Total, float64(p.Now)/1e9)
	}
}

func printKeyResults(w io.Writer, o *runner.Output, out string) {
	k := report.Compute(o.Result)
	ms := func(v float64) string { return fmt.Sprintf("%.3f ms", v/1e6) }
	fmt.Fprintf(w, "run %s: %d requests (%d ok), %d iterations, simulated %.3f s\n", report.RunID(o.Result), k.Requests, k.OK, len(o.Result.Batches), float64(o.Result.EndNs)/1e9)
	fmt.Fprintf(w, "  profile %s (%s)\n", o.Result.Profile.Name, strings.ToUpper(o.Result.Profile.Kind))
	fmt.Fprintf(w, "  TTFT          median %s  p90 %s  p99 %s\n", ms(k.TTFT.P50), ms(k.TTFT.P90), ms(k.TTFT.P99))
	fmt.Fprintf(w, "  token latency median %s  p90 %s  p99 %s  mean %s\n", ms(k.TokenLatency.P50), ms(k.TokenLatency.P90), ms(k.TokenLatency.P99), ms(k.TokenLatency.Mean))
	fmt.Fprintf(w, "  E2E           median %s  p90 %s  p99 %s\n", ms(k.E2E.P50), ms(k.E2E.P90), ms(k.E2E.P99))
	fmt.Fprintf(w, "  decode throughput %.1f tokens/s\n", k.DecodeThroughput)
	fmt.Fprintf(w, "  wrote %s/{%s}\n", out, strings.Join(runner.Files(true), ","))
}

func cmdProfiles(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("profiles", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prov := fs.String("provenance", "", "print the full PROVENANCE.md of this set")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	reg := profiles.Embedded()
	if *prov != "" {
		set, err := reg.Open(*prov)
		if err != nil {
			return fail(stderr, exitUsage, err)
		}
		fmt.Fprint(stdout, set.Provenance)
		return exitOK
	}
	for _, n := range reg.Names() {
		set, err := reg.Open(n)
		if err != nil {
			return fail(stderr, exitInternal, err)
		}
		m := set.Meta
		cpu := "no CPU-overhead model"
		if set.HasCPUOverheads() {
			cpu = "CPU overhead: " + m.CPUOverheadEngine
		}
		fmt.Fprintf(stdout, "%s\t%s on %s\t%s\t%s\n\t%s\n", n, m.Model, m.Device, strings.ToUpper(m.Kind), cpu, m.Summary)
	}
	return exitOK
}

func cmdPresets(stdout io.Writer) int {
	for _, p := range presets.All() {
		fmt.Fprintf(stdout, "%s\t%s\n\t%s\n", p.Name, p.Title, p.Description)
	}
	return exitOK
}
