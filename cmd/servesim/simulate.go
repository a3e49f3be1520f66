package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/presets"
	"github.com/servesim/servesim/profiles"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// simFlags are the simulate command's own flags (not configuration).
type simFlags struct {
	workloads          multi
	preset, configPath *string
	out, outputs       *string
	trace, progress    *bool
	wall, quiet        *bool
	gpu                *gpuNumbers
}

// simulateFlags declares every flag of simulate, in groups, the config
// flags bound to c with Vidur's flattened names where Vidur has the option
// and a short alias for the common ones.
func simulateFlags(c *engine.Config) (*cliFlags, *simFlags) {
	fs, o := newCLIFlags("simulate"), &simFlags{}
	fs.group("Workload (a file or folder, a preset, or the synthetic generators)")
	fs.Var(&o.workloads, "workload", "workload `PATH`: a file or a directory (repeatable)")
	o.preset = fs.String("preset", "", "embedded workload preset `NAME` and its settings (servesim presets)")
	o.configPath = fs.String("config", "", "JSON config `FILE` (keys as in run_meta.json's config)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed (synthetic arrivals and lengths, random global scheduler)")
	fs.Float64Var(&c.TimeLimitS, "time_limit", c.TimeLimitS, "stop after this much simulated time in seconds (0 = none); unfinished requests are reported")
	w := &c.Workload
	fs.IntVar(&w.NumRequests, "synthetic_request_generator_config_num_requests", w.NumRequests, "requests to generate (synthetic or length trace; 0 = whole trace)")
	fs.short("num-requests", "synthetic_request_generator_config_num_requests")
	fs.Float64Var(&w.DurationS, "synthetic_request_generator_config_duration", w.DurationS, "generate arrivals for this many seconds instead of a count")
	fs.StringVar(&w.IntervalGenerator, "interval_generator_config_type", w.IntervalGenerator, "arrival process: poisson, gamma, static")
	fs.Float64Var(&w.QPS, "poisson_request_interval_generator_config_qps", w.QPS, "arrival rate in requests per second (poisson, gamma)")
	fs.short("qps", "poisson_request_interval_generator_config_qps")
	fs.Float64Var(&w.CV, "gamma_request_interval_generator_config_cv", w.CV, "coefficient of variation (gamma)")
	fs.BoolVar(&w.TruncatePoisson, "truncate_poisson", w.TruncatePoisson, "reproduce Vidur's cap of Poisson gaps at 3/qps")
	fs.StringVar(&w.LengthGenerator, "length_generator_config_type", w.LengthGenerator, "synthetic lengths: fixed, uniform, zipf")
	fs.IntVar(&w.PrefillTokens, "fixed_request_length_generator_config_prefill_tokens", w.PrefillTokens, "fixed prompt length")
	fs.IntVar(&w.DecodeTokens, "fixed_request_length_generator_config_decode_tokens", w.DecodeTokens, "fixed output length")
	fs.IntVar(&w.MinTokens, "length_generator_config_min_tokens", w.MinTokens, "uniform/zipf minimum total tokens")
	fs.Float64Var(&w.PrefillToDecodeRatio, "length_generator_config_prefill_to_decode_ratio", w.PrefillToDecodeRatio, "uniform/zipf prompt:output ratio")
	fs.Float64Var(&w.Theta, "zipf_request_length_generator_config_theta", w.Theta, "zipf exponent")
	fs.IntVar(&w.MaxTokens, "request_generator_config_max_tokens", w.MaxTokens, "max prompt+output tokens per request (Vidur clips to it)")
	fs.Float64Var(&w.PrefillScaleFactor, "prefill_scale_factor", w.PrefillScaleFactor, "multiply prompt lengths")
	fs.Float64Var(&w.DecodeScaleFactor, "decode_scale_factor", w.DecodeScaleFactor, "multiply output lengths")
	fs.Float64Var(&w.TimeScaleFactor, "time_scale_factor", w.TimeScaleFactor, "multiply trace arrival times")
	fs.BoolVar(&w.TraceLengthsOnly, "trace_lengths_only", w.TraceLengthsOnly, "use a Vidur trace's lengths with synthetic arrivals")
	fs.StringVar(&w.ModelFilter, "model_filter", w.ModelFilter, "keep only a BurstGPT trace's rows of this Model (e.g. ChatGPT, GPT-4)")
	fs.IntVar(&w.HashBlockTokens, "hash_block_tokens", w.HashBlockTokens, "prompt tokens per hash_ids block of a trace with hash_ids (0: the format's own, Mooncake 512, Bailian 16; vLLM's timed_trace: 16)")
	fs.IntVar(&w.SystemPromptTokens, "synthetic_system_prompt_tokens", w.SystemPromptTokens, "synthetic: a shared system prompt of this many tokens before the prompt (0 = none)")
	fs.short("system-prompt", "synthetic_system_prompt_tokens")
	fs.Float64Var(&w.SystemPromptShare, "synthetic_system_prompt_share", w.SystemPromptShare, "synthetic: fraction of sessions that start with a system prompt, in [0, 1]")
	fs.short("system-prompt-share", "synthetic_system_prompt_share")
	fs.IntVar(&w.NumSystemPrompts, "synthetic_num_system_prompts", w.NumSystemPrompts, "synthetic: distinct system prompts, drawn uniformly (0 = 1)")
	fs.IntVar(&w.SessionTurns, "synthetic_session_turns", w.SessionTurns, "synthetic: turns per session; each turn's prompt repeats the previous prompt and output (0 or 1 = single-turn)")
	fs.short("session-turns", "synthetic_session_turns")

	fs.group("Replica scheduler")
	s := &c.Scheduler
	fs.StringVar(&s.Type, "replica_scheduler_config_type", s.Type, "replica scheduler: "+strings.Join(engine.SchedulerNames, ", "))
	fs.short("scheduler", "replica_scheduler_config_type")
	fs.IntVar(&s.BatchSizeCap, "replica_scheduler_config_batch_size_cap", s.BatchSizeCap, "maximum requests per replica")
	fs.short("batch-cap", "replica_scheduler_config_batch_size_cap")
	fs.IntVar(&s.ChunkSize, "sarathi_scheduler_config_chunk_size", s.ChunkSize, "Sarathi token budget per iteration")
	fs.short("chunk-size", "sarathi_scheduler_config_chunk_size")
	fs.IntVar(&s.BlockSize, "replica_scheduler_config_block_size", s.BlockSize, "tokens per KV block")
	fs.Float64Var(&s.WatermarkBlocksFraction, "replica_scheduler_config_watermark_blocks_fraction", s.WatermarkBlocksFraction, "KV blocks kept free when admitting")
	fs.IntVar(&s.NumBlocks, "replica_scheduler_config_num_blocks", s.NumBlocks, "KV blocks per replica (0 = memory planner)")
	fs.IntVar(&s.MaxTokensInBatch, "vllm_scheduler_config_max_tokens_in_batch", s.MaxTokensInBatch, "vLLM/LightLLM padded token budget")
	fs.IntVar(&s.MaxWaitingIters, "lightllm_scheduler_config_max_waiting_iters", s.MaxWaitingIters, "LightLLM decode iterations before retrying prefill")
	fs.IntVar(&s.MaxNumBatchedTokens, "vllm_v1_scheduler_config_max_num_batched_tokens", s.MaxNumBatchedTokens, "vLLM V1 token budget per step (0: 2048)")
	fs.short("max-num-batched-tokens", "vllm_v1_scheduler_config_max_num_batched_tokens")
	fs.IntVar(&s.LongPrefillTokenThreshold, "vllm_v1_scheduler_config_long_prefill_token_threshold", s.LongPrefillTokenThreshold, "vLLM V1 cap on one prefill's tokens per step (0: off)")
	fs.BoolVar(&s.EnablePrefixCaching, "replica_scheduler_config_enable_prefix_caching", s.EnablePrefixCaching, "reuse cached prompt blocks named by the workload's hash_ids (sarathi, vllm_v1); adds num_cached_prefill_tokens to request_metrics.csv")
	fs.short("prefix-caching", "replica_scheduler_config_enable_prefix_caching")

	fs.group("Cluster (replicas, parallelism, model and device)")
	fs.IntVar(&c.Cluster.NumReplicas, "cluster_config_num_replicas", c.Cluster.NumReplicas, "number of replicas")
	fs.short("replicas", "cluster_config_num_replicas")
	fs.StringVar(&c.Cluster.GlobalScheduler, "global_scheduler_config_type", c.Cluster.GlobalScheduler, "global scheduler: "+strings.Join(engine.GlobalSchedulerNames, ", ")+" (least_loaded, power_of_two: by queued tokens; prefix_affinity: longest cached prefix, needs --prefix-caching)")
	fs.short("router", "global_scheduler_config_type")
	fs.IntVar(&c.Cluster.PrefillReplicas, "prefill_replicas", c.Cluster.PrefillReplicas, "prefill/decode disaggregation: this many of the replicas prefill, the rest decode (0 = off)")
	fs.short("prefill-replicas", "prefill_replicas")
	fs.IntVar(&c.Cluster.DecodeTensorParallelSize, "decode_tensor_parallel_size", c.Cluster.DecodeTensorParallelSize, "disaggregation: the decode pool's tensor parallel degree (0 = --tp)")
	fs.short("decode-tp", "decode_tensor_parallel_size")
	fs.StringVar(&c.Cluster.KVTransferLink, "kv_transfer_link", c.Cluster.KVTransferLink, "disaggregation: KV link nvlink (450 GB/s), pcie (64 GB/s, PCIe 5.0 x16), rdma (50 GB/s, 400 Gb/s NIC); default nvlink")
	fs.Float64Var(&c.Cluster.KVTransferGBps, "kv_transfer_gbps", c.Cluster.KVTransferGBps, "disaggregation: KV link bandwidth in GB/s, overriding --kv_transfer_link (0 = the preset)")
	fs.IntVar(&c.Cluster.PrefixAffinityLoadCap, "prefix_affinity_load_cap", c.Cluster.PrefixAffinityLoadCap, "prefix_affinity: a replica more than this many queued tokens above the least loaded is not chosen for its prefix (0 = 16384)")
	r := &c.Replica
	fs.IntVar(&r.TensorParallelSize, "replica_config_tensor_parallel_size", r.TensorParallelSize, "tensor parallel degree")
	fs.short("tp", "replica_config_tensor_parallel_size")
	fs.IntVar(&r.NumPipelineStages, "replica_config_num_pipeline_stages", r.NumPipelineStages, "pipeline stages")
	fs.short("pp", "replica_config_num_pipeline_stages")
	fs.StringVar(&r.Device, "replica_config_device", r.Device, "device SKU (memory planner, MFU); implied by --profile when not given")
	fs.short("device", "replica_config_device")
	fs.StringVar(&r.NetworkDevice, "replica_config_network_device", r.NetworkDevice, "node SKU (network profiles); implied by --profile when not given")
	fs.StringVar(&r.Model, "replica_config_model_name", r.Model, "model: a catalogue `NAME` (servesim models) or the path of a Hugging Face config.json (dense decoders); a model or device without --profile uses the embedded set for the pair, else the roofline estimate")
	fs.short("model", "replica_config_model_name")
	o.gpu = gpuFlags(fs)
	dtypeFlags(fs, &c.Replica)
	fs.Float64Var(&r.MemoryMarginFraction, "replica_config_memory_margin_fraction", r.MemoryMarginFraction, "GPU memory kept free")
	fs.BoolVar(&r.CompatHeadDim64, "compat_head_dim_64", r.CompatHeadDim64, "reproduce Vidur's head_dim = embedding_dim/num_q_heads (64 for Qwen3) in the memory planner")

	fs.group("Predictor (profile set and iteration timing)")
	p := &c.Predictor
	fs.StringVar(&p.Profile, "profile", p.Profile, "profile set: an embedded `NAME` (servesim profiles), a directory, estimate (the roofline estimate for --model on --device) or auto (the embedded set for the pair, else the estimate); an embedded set sets the device too unless it is given")
	fs.StringVar(&p.TimingModel, "timing_model", p.TimingModel, "iteration timing: vidur (GPU + optional CPU overhead, summed), engine (the set's engine.json: CUDA-graph padding, host_overheads.csv, host/GPU overlap) or auto (engine when the set has engine.json; the default)")
	fs.BoolVar(&p.SkipCPUOverheadModeling, "skip_cpu_overhead_modeling", p.SkipCPUOverheadModeling, "leave out the serving engine's host overhead (Vidur default); =false uses the set's cpu_overheads.csv")
	fs.BoolVar(&p.LMHead, "lm_head", p.LMHead, "charge the LM head (logits GEMM) per iteration")
	fs.BoolVar(&p.Embedding, "embedding", p.Embedding, "charge the embedding lookup per iteration")
	fs.BoolVar(&p.Extrapolate, "predictor_extrapolate", p.Extrapolate, "allow lookups outside the profiled grids (counted in run_meta.json)")
	fs.StringVar(&p.AttentionDecodeContext, "attention_decode_context", p.AttentionDecodeContext, "key decode attention by the batch's mean context (Vidur) or max (servers that pad keys)")
	fs.IntVar(&p.KVCachePredictionGranularity, "kv_cache_prediction_granularity", p.KVCachePredictionGranularity, "decode/prefill KV rounding (tokens)")
	fs.Float64Var(&p.AttentionDecodeBatchingOverhead, "attention_decode_batching_overhead_fraction", p.AttentionDecodeBatchingOverhead, "GQA decode batching overhead")
	fs.Float64Var(&p.AttentionPrefillBatchingOverhead, "attention_prefill_batching_overhead_fraction", p.AttentionPrefillBatchingOverhead, "GQA multi-prefill overhead")
	fs.Float64Var(&p.NCCLCPULaunchOverheadMs, "nccl_cpu_launch_overhead_ms", p.NCCLCPULaunchOverheadMs, "per all-reduce launch overhead")
	fs.Float64Var(&p.NCCLCPUSkewOverheadPerDeviceMs, "nccl_cpu_skew_overhead_per_device_ms", p.NCCLCPUSkewOverheadPerDeviceMs, "per-device NCCL skew")

	fs.group("SLO (how the run is judged: summary, run_meta.json's slo; no simulated time changes; 0 = not checked)")
	spec := c.SLOSpec()
	c.SLO = &spec // cmdSimulate normalizes it after parsing
	fs.Float64Var(&spec.TTFTMs, "slo_ttft_ms", spec.TTFTMs, "TTFT threshold in ms")
	fs.Float64Var(&spec.TTFTPercentile, "slo_ttft_percentile", spec.TTFTPercentile, "percentile of requests the TTFT threshold holds for")
	fs.Float64Var(&spec.TBTMs, "slo_tbt_ms", spec.TBTMs, "time-between-tokens threshold in ms (per token: every gap pooled; a request passes on its own gap at the percentile)")
	fs.Float64Var(&spec.TBTPercentile, "slo_tbt_percentile", spec.TBTPercentile, "percentile of gaps the time-between-tokens threshold holds for")
	fs.Float64Var(&spec.E2EMs, "slo_e2e_ms", spec.E2EMs, "end-to-end latency threshold in ms")
	fs.Float64Var(&spec.E2EPercentile, "slo_e2e_percentile", spec.E2EPercentile, "percentile of requests the E2E threshold holds for")

	fs.group("Outputs")
	o.out = fs.String("out", "servesim_out", "output directory `DIR`")
	o.trace = fs.Bool("chrome_trace", true, "write chrome_trace.json (one event per batch stage)")
	o.outputs = fs.String("outputs", "", "the files to write, comma-separated `LIST` of "+strings.Join(runner.Outputs, ", ")+
		" (default: all; without batch and trace the run keeps no per-iteration records and needs far less memory)")
	o.progress = fs.Bool("progress", false, "show a progress bar (default: when stderr is a terminal)")
	o.wall = fs.Bool("record_wall_clock", false, "record started_at/ended_at in run_meta.json (outputs then differ run to run)")
	o.quiet = fs.Bool("quiet", false, "print nothing on success")
	return fs, o
}

const simulateUsage = `usage: servesim simulate [--workload PATH]... [--preset NAME] [--config FILE] [--out DIR] [flags]

Without --workload and --preset it runs the seed workload (4 requests) with the default
configuration (the seed's Vidur config: Qwen3-0.6B, A100, Sarathi chunk 512, batch cap 128).
--workload takes a file or a directory (every .csv and .jsonl in it); repeat it for several files.
Settings apply in this order: defaults, then --preset, then --config (JSON), then flags.
Short flags (--qps, --scheduler, --tp, ...) set the same value as Vidur's long names beside them.

`

// simulateExamples are the help's examples (the tests run each of them,
// paths relative to the repository root). The profile-set example names an
// embedded set of another device than the default's.
func simulateExamples() string {
	ex := []string{
		"servesim simulate --out out/seed",
		"servesim simulate --preset splitwise-conv-2qps --scheduler vllm --batch-cap 64 --out out/vllm",
		"servesim simulate --preset synthetic --qps 4 --num-requests 200 --chunk-size 256 --out out/synthetic",
		"servesim simulate --workload presets/data/spaced-2s --replicas 2 --out out/two-replicas",
		"servesim simulate --preset spaced-2s --skip_cpu_overhead_modeling=false --out out/overhead",
	}
	if name := otherDeviceSet(); name != "" {
		ex = append(ex, "servesim simulate --profile "+name+" --out out/other-device   # the set's device is implied")
	}
	return "Examples:\n  " + strings.Join(ex, "\n  ") + "\n"
}

// otherDeviceSet names the first embedded profile set made for another
// device than the default configuration's, or "".
func otherDeviceSet() string {
	reg := profiles.Embedded()
	def := engine.DefaultConfig().Replica.Device
	for _, n := range reg.Names() {
		if set, err := reg.Open(n); err == nil && set.Meta.Device != def {
			return n
		}
	}
	return ""
}

func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Pass 1: find --preset and --config, which set the base the flags go on.
	cfg0 := engine.DefaultConfig()
	pre, po := simulateFlags(&cfg0)
	_ = pre.Parse(args)
	preset, configPath := po.preset, po.configPath

	cfg, err := runner.Config(*preset)
	if err != nil {
		return fail(stderr, exitUsage, err)
	}
	var configKeys configPresence
	if *configPath != "" {
		b, err := os.ReadFile(*configPath)
		if err != nil {
			return fail(stderr, exitUsage, err)
		}
		if err := engine.DecodeConfig(bytes.NewReader(b), &cfg); err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("%s: %w", *configPath, err))
		}
		configKeys = presentKeys(b)
	}
	fs, opts := simulateFlags(&cfg)
	help := func(w io.Writer) {
		fmt.Fprint(w, simulateUsage)
		fs.printHelp(w)
		fmt.Fprint(w, simulateExamples())
	}
	if code, done := fs.parse(args, help, stdout, stderr); done {
		return code
	}
	cfg.NormalizeSLO()
	workloads, out, trace, progress, wall, quiet := opts.workloads, opts.out, opts.trace, opts.progress, opts.wall, opts.quiet
	if fs.NArg() > 0 {
		return fail(stderr, exitUsage, fmt.Errorf("unexpected arguments %q (workloads go after --workload)", fs.Args()))
	}
	if err := modelFromFile(&cfg); err != nil {
		return fail(stderr, exitInput, err)
	}
	if err := opts.gpu.apply(fs, &cfg); err != nil {
		return fail(stderr, exitUsage, err)
	}
	given := func(long string, inConfig bool, changed func(engine.Config) bool) bool {
		return fs.given(long) || inConfig || changed(cfg0Preset(*preset))
	}
	profileGiven := given("profile", configKeys.profile, func(c engine.Config) bool { return c.Predictor.Profile != engine.DefaultConfig().Predictor.Profile })
	deviceGiven := given("replica_config_device", configKeys.device, func(c engine.Config) bool { return c.Replica.Device != engine.DefaultConfig().Replica.Device })
	networkGiven := given("replica_config_network_device", configKeys.networkDevice, func(c engine.Config) bool {
		return c.Replica.NetworkDevice != engine.DefaultConfig().Replica.NetworkDevice
	})
	job := runner.Job{Preset: *preset, ProfileNamed: profileGiven}
	if profileGiven && !deviceGiven && !runner.ChosenProfile(cfg.Predictor.Profile) {
		set, err := runner.OpenProfile(cfg)
		if err != nil {
			return fail(stderr, errCode(err), err)
		}
		if implyDevice(&cfg, set, networkGiven) && !*quiet {
			fmt.Fprintf(stderr, "servesim: note: device %s (and node %s) from profile set %s; --device overrides\n", cfg.Replica.Device, cfg.Replica.NetworkDevice, cfg.Predictor.Profile)
		}
		job.Profile = set
	}
	job.Config = cfg
	// chrome_trace.json names each batch by its members, as the API's and
	// the golden file do; the engine records them only when asked.
	names := runner.Files(*trace)
	if *opts.outputs != "" {
		if names, err = runner.ParseOutputs(*opts.outputs); err != nil {
			return fail(stderr, exitUsage, fmt.Errorf("--outputs: %w", err))
		}
		if fs.given("chrome_trace") && !*trace {
			names = slices.DeleteFunc(names, func(n string) bool { return n == "chrome_trace.json" })
		}
	}
	runner.KeepFor(&job.Options, names)
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
	chosen := "the workload " + job.WorkloadName
	switch {
	case len(workloads) > 0:
	case *preset == "":
		chosen = "the default workload (preset " + presets.Default + "; --preset synthetic generates requests)"
	default:
		chosen = "preset " + *preset
	}
	job.Check = func(w *workload.Workload) error {
		if err := unusedWorkloadFlags(fs, w, cfg.Workload.TraceLengthsOnly, chosen); err != nil {
			return &engine.ConfigError{Err: err}
		}
		return nil
	}
	if *progress || isTerminal(stderr) && !*quiet {
		job.Options.OnProgress = progressBar(stderr)
	}
	// An --out that cannot be written is a usage error (exit 2), not a bug.
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fail(stderr, exitUsage, fmt.Errorf("--out %s: cannot create the output directory: %w", *out, err))
	}
	// request_metrics.csv and token_metrics.csv are written as the run
	// produces them; the other files after it.
	stream, rest, finish, err := streamFiles(*out, names)
	if err != nil {
		return fail(stderr, exitUsage, fmt.Errorf("--out %s: cannot write the output files: %w", *out, err))
	}
	if stream != nil {
		job.Options.Sink = stream
	}
	started := time.Now()
	o, err := runner.Run(ctx, job)
	if job.Options.OnProgress != nil {
		fmt.Fprintln(stderr)
	}
	if ferr := finish(err == nil); err == nil && ferr != nil {
		return fail(stderr, exitUsage, fmt.Errorf("--out %s: cannot write the output files: %w", *out, ferr))
	}
	if err != nil {
		return fail(stderr, errCode(err), err)
	}
	o.Meta.OutputDir = *out
	if *wall {
		o.Meta.StartedAt, o.Meta.EndedAt = started.UTC().Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano)
	}
	err = o.WriteFiles(rest, func(name string) (io.WriteCloser, error) {
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
		if c := o.Result.Profile.Choice; c != "" {
			fmt.Fprintln(stderr, "servesim: note:", c)
		}
		for _, n := range o.Result.Workload.Notes {
			fmt.Fprintln(stderr, "servesim: note:", n)
		}
		if o.Workload != nil && (len(o.Workload.Sessions) > 0 || o.Workload.BlockTokens > 0) {
			fmt.Fprintln(stderr, "servesim: workload:", describeTrace(o.Workload))
		}
		printKeyResults(stdout, o, *out, names)
	}
	return exitOK
}

// streamFiles creates request_metrics.csv and token_metrics.csv in dir
// when names has them, for the run to write as it goes (report.Stream; nil
// when neither is asked for). rest are the names to write after the run.
// finish flushes and closes them, and removes them unless the run
// succeeded (ok), as no file is written for a failed run.
func streamFiles(dir string, names []string) (stream *report.Stream, rest []string, finish func(ok bool) error, err error) {
	var files []*os.File
	finish = func(ok bool) error {
		var err error
		if stream != nil && ok {
			err = stream.Close()
		}
		for _, f := range files {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if !ok || err != nil {
				os.Remove(f.Name())
			}
		}
		return err
	}
	open := func(name string) (io.Writer, error) {
		if !slices.Contains(names, name) {
			return nil, nil
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		return f, nil
	}
	req, err := open("request_metrics.csv")
	if err == nil {
		var tok io.Writer
		if tok, err = open("token_metrics.csv"); err == nil && len(files) > 0 {
			stream = report.NewStream(req, tok)
		}
	}
	if err != nil {
		finish(false)
		return nil, nil, nil, err
	}
	for _, n := range names {
		if n != "request_metrics.csv" && n != "token_metrics.csv" {
			rest = append(rest, n)
		}
	}
	return stream, rest, finish, nil
}

// cfg0Preset is the default config with the preset applied (no config file,
// no flags): what says whether the preset itself set a value.
func cfg0Preset(preset string) engine.Config {
	cfg, _ := runner.Config(preset)
	return cfg
}

// implyDevice sets the replica's device (and, unless it was given, its
// network node) to the profile set's, as a set holds one device's times.
// It reports whether anything changed.
func implyDevice(cfg *engine.Config, set *predict.Set, networkGiven bool) bool {
	r, m := &cfg.Replica, set.Meta
	changed := false
	if m.Device != "" && r.Device != m.Device {
		r.Device, changed = m.Device, true
	}
	if !networkGiven && m.NetworkDevice != "" && r.NetworkDevice != m.NetworkDevice {
		r.NetworkDevice, changed = m.NetworkDevice, true
	}
	return changed
}

// configPresence says which of the keys that imply one another a config
// file sets.
type configPresence struct{ profile, device, networkDevice bool }

// presentKeys reads which keys a config file (already decoded without
// error) sets.
func presentKeys(b []byte) configPresence {
	var top struct {
		Replica   map[string]json.RawMessage `json:"replica"`
		Predictor map[string]json.RawMessage `json:"predictor"`
	}
	_ = json.Unmarshal(b, &top)
	_, dev := top.Replica["device"]
	_, net := top.Replica["network_device"]
	_, prof := top.Predictor["profile"]
	return configPresence{profile: prof, device: dev, networkDevice: net}
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

func printKeyResults(w io.Writer, o *runner.Output, out string, names []string) {
	k := o.Keys()
	ms := func(v float64) string { return fmt.Sprintf("%.3f ms", v/1e6) }
	fmt.Fprintf(w, "run %s: %d requests (%d ok), %d iterations, simulated %.3f s\n", report.RunID(o.Result), k.Requests, k.OK, o.Result.NumBatches, float64(o.Result.EndNs)/1e9)
	fmt.Fprintf(w, "  profile %s (%s)\n", o.Result.Profile.Name, strings.ToUpper(o.Result.Profile.Kind))
	fmt.Fprintf(w, "  TTFT          median %s  p90 %s  p99 %s\n", ms(k.TTFT.P50), ms(k.TTFT.P90), ms(k.TTFT.P99))
	fmt.Fprintf(w, "  token latency median %s  p90 %s  p99 %s  mean %s\n", ms(k.TokenLatency.P50), ms(k.TokenLatency.P90), ms(k.TokenLatency.P99), ms(k.TokenLatency.Mean))
	fmt.Fprintf(w, "  E2E           median %s  p90 %s  p99 %s\n", ms(k.E2E.P50), ms(k.E2E.P90), ms(k.E2E.P99))
	fmt.Fprintf(w, "  decode throughput %.1f tokens/s\n", k.DecodeThroughput)
	printSLO(w, k.SLO)
	fmt.Fprintf(w, "  wrote %s/{%s}\n", out, strings.Join(names, ","))
}

func cmdProfiles(args []string, stdout, stderr io.Writer) int {
	fs := newCLIFlags("profiles")
	prov := fs.String("provenance", "", "print the full PROVENANCE.md of this set")
	help := func(w io.Writer) {
		fmt.Fprint(w, "usage: servesim profiles [--provenance NAME]\n\nLists the embedded profile sets (name, model and device, status, CPU-overhead model).\n\n")
		fs.printHelp(w)
	}
	if code, done := fs.parse(args, help, stdout, stderr); done {
		return code
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

func cmdPresets(args []string, stdout, stderr io.Writer) int {
	fs := newCLIFlags("presets")
	long := fs.Bool("v", false, "print each preset's full description too")
	help := func(w io.Writer) {
		fmt.Fprint(w, "usage: servesim presets [-v]\n\nLists the embedded workload presets, one a line (servesim simulate --preset NAME).\n\n")
		fs.printHelp(w)
	}
	if code, done := fs.parse(args, help, stdout, stderr); done {
		return code
	}
	all := presets.All()
	width := 0
	for _, p := range all {
		width = max(width, len(p.Name))
	}
	for _, p := range all {
		fmt.Fprintf(stdout, "%-*s  %s\n", width, p.Name, p.Title)
		if *long {
			fmt.Fprintf(stdout, "%-*s  %s\n", width, "", p.Description)
		}
	}
	return exitOK
}

// printSLO prints the run's SLO outcome, goodput and load verdict.
func printSLO(w io.Writer, r slo.Report) {
	met := "MET"
	if !r.Met {
		met = "NOT MET"
	}
	var parts []string
	for _, m := range []struct {
		name string
		m    *slo.Metric
	}{{"TTFT", r.TTFT}, {"TBT", r.TBT}, {"E2E", r.E2E}} {
		if m.m == nil {
			continue
		}
		v := "never"
		if m.m.ValueMs != nil {
			v = fmt.Sprintf("%.3f ms", *m.m.ValueMs)
		}
		parts = append(parts, fmt.Sprintf("%s p%g %s <= %g ms %.1f%%", m.name, m.m.Percentile, v, m.m.ThresholdMs, 100*m.m.Within))
	}
	fmt.Fprintf(w, "  SLO %s (%s); attainment %.2f%% (%d requests)\n", met, strings.Join(parts, ", "), 100*r.Attainment, r.GoodRequests)
	fmt.Fprintf(w, "  goodput %.3f requests/s, %.1f tokens/s; load offered %.3f requests/s, achieved %.3f requests/s\n",
		r.GoodputRPS, r.GoodputTokensPerS, r.Load.OfferedRPS, r.Load.AchievedRPS)
	fmt.Fprintf(w, "  load %s\n", r.Load.Verdict)
}

// describeTrace is the summary of a trace with sessions or prefix blocks
// (what the page shows before running).
func describeTrace(w *workload.Workload) string {
	sm := workload.Summarize(w)
	d := fmt.Sprintf("%s, %d requests, open-loop arrivals over %.3f s (%.3f QPS); prompt p50/p90/p99/max %d/%d/%d/%d, output %d/%d/%d/%d",
		w.Format, sm.Requests, sm.DurationS, sm.MeanRateQPS, sm.Prompt.P50, sm.Prompt.P90, sm.Prompt.P99, sm.Prompt.Max,
		sm.Output.P50, sm.Output.P90, sm.Output.P99, sm.Output.Max)
	if sm.Sessions > 0 {
		d += fmt.Sprintf("; %d sessions (%d turns arrive after their previous turn completes)", sm.Sessions, sm.ClosedLoopRequests)
	}
	if sm.BlockTokens > 0 {
		d += fmt.Sprintf("; %d prefix blocks of %d tokens, %d distinct", sm.PrefixBlocks, sm.BlockTokens, sm.DistinctPrefixBlocks)
	}
	return d
}
