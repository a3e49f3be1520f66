package engine

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/engine/strictjson"
	"github.com/servesim/servesim/engine/workload"
)

// Config is a whole simulation's configuration. DefaultConfig is the seed
// run's Vidur configuration; JSON decoding over it keeps absent keys at
// their defaults.
type Config struct {
	Seed       uint64          `json:"seed"`
	TimeLimitS float64         `json:"time_limit_s"` // 0 = no limit
	Cluster    ClusterConfig   `json:"cluster"`
	Replica    ReplicaConfig   `json:"replica"`
	Scheduler  SchedulerConfig `json:"scheduler"`
	Workload   WorkloadConfig  `json:"workload"`
	Predictor  PredictorConfig `json:"predictor"`
	// SLO is the latency objective the run is judged against (engine/slo);
	// absent: slo.Default(). It changes no simulated time.
	SLO *slo.Spec `json:"slo,omitempty"`
}

// SLOSpec is the run's latency objective: SLO, or slo.Default().
func (c Config) SLOSpec() slo.Spec {
	if c.SLO != nil {
		return *c.SLO
	}
	return slo.Default()
}

// ClusterConfig is Vidur's cluster_config.
type ClusterConfig struct {
	NumReplicas     int    `json:"num_replicas"`
	GlobalScheduler string `json:"global_scheduler"` // round_robin | random | lor | least_loaded | power_of_two | prefix_affinity
	// PrefixAffinityLoadCap is prefix_affinity's load cap: a replica is
	// chosen for its cached prefix only if its queued tokens are at most the
	// least loaded replica's plus this (0: DefaultPrefixAffinityLoadCap).
	PrefixAffinityLoadCap int `json:"prefix_affinity_load_cap,omitempty"`
	// Prefill/decode disaggregation (disagg.go): PrefillReplicas > 0 of the
	// num_replicas replicas prefill, the others decode, with
	// DecodeTensorParallelSize (0: replica.tensor_parallel_size); KV moves
	// over KVTransferLink (nvlink, pcie, rdma; "": nvlink) or, when > 0,
	// KVTransferGBps GB/s.
	PrefillReplicas          int     `json:"prefill_replicas,omitempty"`
	DecodeTensorParallelSize int     `json:"decode_tensor_parallel_size,omitempty"`
	KVTransferLink           string  `json:"kv_transfer_link,omitempty"`
	KVTransferGBps           float64 `json:"kv_transfer_gbps,omitempty"`
}

// ReplicaConfig is Vidur's replica_config.
type ReplicaConfig struct {
	Model                string  `json:"model_name"`
	Device               string  `json:"device"`
	NetworkDevice        string  `json:"network_device"`
	TensorParallelSize   int     `json:"tensor_parallel_size"`
	NumPipelineStages    int     `json:"num_pipeline_stages"`
	MemoryMarginFraction float64 `json:"memory_margin_fraction"`
	// CompatHeadDim64 reproduces Vidur's [quirk] of deriving head_dim as
	// embedding_dim / num_q_heads (64 for Qwen3-0.6B instead of 128) in the
	// memory planner only: it changes the KV-cache size and so num_blocks;
	// attention times are still looked up at the model's head_dim.
	CompatHeadDim64 bool `json:"compat_head_dim_64"`
	// ModelSpec is the shape of a model outside the catalogue (read from
	// its config.json by model.ParseHFConfig); its name is model_name.
	ModelSpec *model.Model `json:"model_spec,omitempty"`
	// GPU is a device outside the catalogue by its numbers; its name is
	// device.
	GPU *model.GPU `json:"gpu,omitempty"`
	// WeightDtype is the dtype of the layers' weights and of the GEMMs'
	// input activations: "" or "bf16" (the default), or "fp8" (W8A8: GEMMs
	// at the GPU's dense FP8 rate, one byte per weight). Only the roofline
	// estimate models fp8; a profile set's times are its own dtype's.
	WeightDtype string `json:"weight_dtype,omitempty"`
	// KVCacheDtype is the KV cache's dtype: "" or "bf16", or "fp8" (one
	// byte per element: the memory planner's KV capacity and the
	// estimate's attention bytes).
	KVCacheDtype string `json:"kv_cache_dtype,omitempty"`
}

// The dtypes of replica.weight_dtype and replica.kv_cache_dtype.
const (
	DtypeBF16 = "bf16"
	DtypeFP8  = "fp8"
)

// Dtype is a dtype setting with its default: "" is DtypeBF16.
func Dtype(s string) string {
	if s == "" {
		return DtypeBF16
	}
	return s
}

// clip16 shortens a bad value for a message.
func clip16(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// dtypeBytes is the bytes per element of a dtype setting.
func dtypeBytes(s string) int64 {
	if Dtype(s) == DtypeFP8 {
		return 1
	}
	return 2
}

// ModelShape is the replica's model: model_spec when given (named
// model_name), else the catalogue's model_name.
func (c Config) ModelShape() (model.Model, error) {
	if s := c.Replica.ModelSpec; s != nil {
		if s.Name != c.Replica.Model {
			return model.Model{}, fmt.Errorf("model_spec is named %q but model_name is %q (they must agree)", s.Name, c.Replica.Model)
		}
		if err := s.Validate(); err != nil {
			return model.Model{}, fmt.Errorf("model_spec: %w", err)
		}
		return *s, nil
	}
	return model.Lookup(c.Replica.Model)
}

// GPUSpec is the replica's GPU by its numbers: gpu when given (named
// device), else the GPU catalogue's device.
func (c Config) GPUSpec() (model.GPU, error) {
	if g := c.Replica.GPU; g != nil {
		if g.Name != c.Replica.Device {
			return model.GPU{}, fmt.Errorf("gpu is named %q but device is %q (they must agree)", g.Name, c.Replica.Device)
		}
		return *g, g.Validate()
	}
	return model.LookupGPU(c.Replica.Device)
}

// device is the replica's device as the memory planner sees it.
func (c Config) device() (model.Device, error) {
	if c.Replica.GPU != nil {
		g, err := c.GPUSpec()
		return g.Device(), err
	}
	return model.LookupDevice(c.Replica.Device)
}

// SchedulerConfig is Vidur's replica_scheduler_config (all types).
type SchedulerConfig struct {
	Type                    string  `json:"type"` // sarathi | vllm | vllm_v1 | orca | faster_transformer | lightllm
	BatchSizeCap            int     `json:"batch_size_cap"`
	BlockSize               int     `json:"block_size"`
	WatermarkBlocksFraction float64 `json:"watermark_blocks_fraction"`
	NumBlocks               int     `json:"num_blocks"`          // 0 = from the memory planner
	ChunkSize               int     `json:"chunk_size"`          // sarathi
	MaxTokensInBatch        int     `json:"max_tokens_in_batch"` // vllm, lightllm
	MaxWaitingIters         int     `json:"max_waiting_iters"`   // lightllm
	// MaxNumBatchedTokens is vllm_v1's token budget per step (0: 2048).
	MaxNumBatchedTokens int `json:"max_num_batched_tokens,omitempty"`
	// LongPrefillTokenThreshold caps a vllm_v1 prefill's tokens per step (0: off).
	LongPrefillTokenThreshold int `json:"long_prefill_token_threshold,omitempty"`
	// EnablePrefixCaching reuses computed prompt blocks across requests,
	// identified by the workload's hash_ids (sarathi and vllm_v1; prefix.go).
	EnablePrefixCaching bool `json:"enable_prefix_caching,omitempty"`
}

// WorkloadConfig is Vidur's request generator config, flattened.
type WorkloadConfig struct {
	MaxTokens          int     `json:"max_tokens"`
	PrefillScaleFactor float64 `json:"prefill_scale_factor"`
	DecodeScaleFactor  float64 `json:"decode_scale_factor"`
	TimeScaleFactor    float64 `json:"time_scale_factor"`
	// TraceLengthsOnly uses a Vidur trace's lengths but not its arrival
	// times: arrivals come from the synthetic interval generator.
	TraceLengthsOnly bool `json:"trace_lengths_only"`
	// ModelFilter keeps only a BurstGPT trace's rows of this Model.
	ModelFilter string `json:"model_filter,omitempty"`
	// HashBlockTokens is the number of prompt tokens per hash_ids block of
	// a trace with hash_ids; 0: its format's (Mooncake 512, Bailian 16).
	HashBlockTokens int `json:"hash_block_tokens,omitempty"`
	// Synthetic arrivals (for length-only traces and synthetic runs) and
	// synthetic lengths.
	NumRequests          int     `json:"num_requests"` // 0: every row of a length trace; 128 (Vidur) when synthetic
	DurationS            float64 `json:"duration_s"`
	IntervalGenerator    string  `json:"interval_generator"` // poisson | gamma | static
	QPS                  float64 `json:"qps"`
	CV                   float64 `json:"cv"`
	TruncatePoisson      bool    `json:"truncate_poisson"`
	LengthGenerator      string  `json:"length_generator"` // fixed | uniform | zipf
	PrefillTokens        int     `json:"prefill_tokens"`
	DecodeTokens         int     `json:"decode_tokens"`
	MinTokens            int     `json:"min_tokens"`
	PrefillToDecodeRatio float64 `json:"prefill_to_decode_ratio"`
	Theta                float64 `json:"theta"`
	// Shared prefixes of synthetic workloads (workload.Prefixes): a
	// system prompt of this many tokens on a share of the sessions, one of
	// num_system_prompts; sessions of session_turns turns reusing their
	// history. Absent: none.
	SystemPromptTokens int     `json:"system_prompt_tokens,omitempty"`
	SystemPromptShare  float64 `json:"system_prompt_share,omitempty"`
	NumSystemPrompts   int     `json:"num_system_prompts,omitempty"`
	SessionTurns       int     `json:"session_turns,omitempty"`
}

// PredictorConfig is Vidur's execution_time_predictor_config plus servesim's
// profile selection and optional terms.
type PredictorConfig struct {
	Profile                          string  `json:"profile"` // embedded set name, e.g. "a100/qwen3-0.6b"
	KVCachePredictionGranularity     int     `json:"kv_cache_prediction_granularity"`
	AttentionDecodeBatchingOverhead  float64 `json:"attention_decode_batching_overhead_fraction"`
	AttentionPrefillBatchingOverhead float64 `json:"attention_prefill_batching_overhead_fraction"`
	NCCLCPULaunchOverheadMs          float64 `json:"nccl_cpu_launch_overhead_ms"`
	NCCLCPUSkewOverheadPerDeviceMs   float64 `json:"nccl_cpu_skew_overhead_per_device_ms"`
	SkipCPUOverheadModeling          bool    `json:"skip_cpu_overhead_modeling"`
	LMHead                           bool    `json:"lm_head"`
	Embedding                        bool    `json:"embedding"`
	Extrapolate                      bool    `json:"extrapolate"`
	// AttentionDecodeContext is how decode attention is keyed: "mean"
	// (Vidur: the batch's mean context) or "max" (servers that pad keys to
	// the longest context).
	AttentionDecodeContext string `json:"attention_decode_context"`
	// TimingModel is how an iteration's time is composed: "vidur" (GPU time
	// of Vidur's per-op sum plus optional CPU overhead, no padding), "engine"
	// (the profile set's engine.json: CUDA-graph padding of decode and mixed steps, host
	// time from host_overheads.csv, host/GPU overlap as the engine does it)
	// or "auto"/absent (engine when the set has engine.json, else vidur).
	TimingModel string `json:"timing_model,omitempty"`
}

// Timing models (PredictorConfig.TimingModel).
const (
	TimingAuto   = "auto"
	TimingVidur  = "vidur"
	TimingEngine = "engine"
)

// DefaultProfile is the embedded profile set used when none is named.
const DefaultProfile = "a100/qwen3-0.6b"

// DefaultConfig returns the configuration of the seed run
// (reference-runs/qwen3-a100-vidur-seed-4req/vidur_config.json): Qwen3-0.6B
// on one A100, Sarathi with chunk 512 and batch cap 128, block 16,
// watermark 0.01, TP1 PP1, CPU overhead not modelled.
func DefaultConfig() Config {
	s := workload.DefaultSynthetic()
	return Config{
		Seed:    42,
		Cluster: ClusterConfig{NumReplicas: 1, GlobalScheduler: "round_robin"},
		Replica: ReplicaConfig{Model: "Qwen/Qwen3-0.6B", Device: "a100", NetworkDevice: "a100_pairwise_nvlink",
			TensorParallelSize: 1, NumPipelineStages: 1, MemoryMarginFraction: 0.1},
		Scheduler: SchedulerConfig{Type: "sarathi", BatchSizeCap: 128, BlockSize: 16, WatermarkBlocksFraction: 0.01,
			ChunkSize: 512, MaxTokensInBatch: 4096, MaxWaitingIters: 10},
		Workload: WorkloadConfig{MaxTokens: 4096, PrefillScaleFactor: 1, DecodeScaleFactor: 1, TimeScaleFactor: 1,
			NumRequests: s.NumRequests, IntervalGenerator: s.Intervals.Type, QPS: s.Intervals.QPS, CV: s.Intervals.CV,
			LengthGenerator: s.Lengths.Type, PrefillTokens: s.Lengths.PrefillTokens, DecodeTokens: s.Lengths.DecodeTokens,
			MinTokens: s.Lengths.MinTokens, PrefillToDecodeRatio: s.Lengths.PrefillToDecode, Theta: s.Lengths.Theta},
		Predictor: PredictorConfig{Profile: DefaultProfile, KVCachePredictionGranularity: 64,
			AttentionDecodeBatchingOverhead: 0.1, AttentionPrefillBatchingOverhead: 0.1,
			NCCLCPULaunchOverheadMs: 0.02, SkipCPUOverheadModeling: true, AttentionDecodeContext: "mean"},
	}
}

// DecodeConfig decodes JSON over cfg strictly (strictjson: exact keys, no
// unknown keys, nothing after the value, errors with line and column);
// absent keys keep cfg's values.
func DecodeConfig(r io.Reader, cfg *Config) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := DecodeConfigJSON(b, cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// DecodeConfigJSON decodes b over cfg strictly. An "slo" object goes over
// cfg's objective (slo.Default() when it has none), so that a partial one
// keeps the other thresholds; an objective equal to the default is left
// absent (run ids stay as they were).
func DecodeConfigJSON(b []byte, cfg *Config) error {
	spec := cfg.SLOSpec() // a copy: cfg's pointer may be shared
	cfg.SLO = &spec
	err := strictjson.Decode(b, cfg)
	cfg.NormalizeSLO()
	return err
}

// NormalizeSLO leaves an objective equal to slo.Default() absent, so that
// a configuration's JSON (and its run id) does not depend on whether the
// default was spelled out.
func (c *Config) NormalizeSLO() {
	if c.SLO != nil && *c.SLO == slo.Default() {
		c.SLO = nil
	}
}

// WorkloadOptions converts the workload section for engine/workload.
func (c Config) WorkloadOptions() workload.Options {
	w := c.Workload
	return workload.Options{MaxTokens: w.MaxTokens, PrefillScale: w.PrefillScaleFactor, DecodeScale: w.DecodeScaleFactor,
		TimeScale: w.TimeScaleFactor, LengthsOnly: w.TraceLengthsOnly, Model: w.ModelFilter, HashBlockTokens: w.HashBlockTokens, Synthetic: workload.Synthetic{
			Seed: c.Seed, NumRequests: w.NumRequests, DurationS: w.DurationS,
			Intervals: workload.Intervals{Type: w.IntervalGenerator, QPS: w.QPS, CV: w.CV, TruncatePoisson: w.TruncatePoisson},
			Lengths: workload.Lengths{Type: w.LengthGenerator, PrefillTokens: w.PrefillTokens, DecodeTokens: w.DecodeTokens,
				MinTokens: w.MinTokens, MaxTokens: w.MaxTokens, PrefillToDecode: w.PrefillToDecodeRatio, Theta: w.Theta},
			Prefixes: workload.Prefixes{SystemPromptTokens: w.SystemPromptTokens, SystemPromptShare: w.SystemPromptShare,
				NumSystemPrompts: w.NumSystemPrompts, SessionTurns: w.SessionTurns},
		}}
}

// MaxReplicas bounds cluster.num_replicas (a host may set a lower limit).
const MaxReplicas = 4096

// SchedulerNames lists the replica schedulers.
var SchedulerNames = []string{"sarathi", "vllm", "vllm_v1", "orca", "faster_transformer", "lightllm"}

// GlobalSchedulerNames lists the global schedulers.
var GlobalSchedulerNames = []string{"round_robin", "random", "lor", "least_loaded", "power_of_two", "prefix_affinity"}

// Validate returns every problem with the configuration, each naming its
// JSON path.
func (c Config) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if !(c.TimeLimitS >= 0 && c.TimeLimitS <= workload.MaxTimeS) {
		bad("time_limit_s: must be a finite number in [0, %g] (0 = no limit), got %v", workload.MaxTimeS, c.TimeLimitS)
	}
	if c.Cluster.NumReplicas < 1 || c.Cluster.NumReplicas > MaxReplicas {
		bad("cluster.num_replicas: must be in [1, %d], got %d", MaxReplicas, c.Cluster.NumReplicas)
	}
	if !contains(GlobalSchedulerNames, c.Cluster.GlobalScheduler) {
		bad("cluster.global_scheduler: unknown %q (valid: %s)", c.Cluster.GlobalScheduler, strings.Join(GlobalSchedulerNames, ", "))
	}
	if c.Cluster.PrefixAffinityLoadCap < 0 {
		bad("cluster.prefix_affinity_load_cap: must be >= 0 queued tokens (0: %d), got %d", DefaultPrefixAffinityLoadCap, c.Cluster.PrefixAffinityLoadCap)
	}
	if cl := c.Cluster; cl.PrefillReplicas != 0 {
		if cl.PrefillReplicas < 0 || cl.PrefillReplicas >= cl.NumReplicas {
			bad("cluster.prefill_replicas: must be in [1, num_replicas - 1] (the rest decode) or 0 (off), got %d of %d replicas", cl.PrefillReplicas, cl.NumReplicas)
		}
		if c.Scheduler.Type != "sarathi" && c.Scheduler.Type != "vllm_v1" {
			bad("cluster.prefill_replicas: disaggregation runs sarathi or vllm_v1 replicas, not %s", c.Scheduler.Type)
		}
		if c.Replica.NumPipelineStages != 1 {
			bad("cluster.prefill_replicas: disaggregation models one pipeline stage, got num_pipeline_stages %d", c.Replica.NumPipelineStages)
		}
	}
	if c.Cluster.DecodeTensorParallelSize < 0 {
		bad("cluster.decode_tensor_parallel_size: must be >= 0 (0: replica.tensor_parallel_size), got %d", c.Cluster.DecodeTensorParallelSize)
	}
	if l := c.Cluster.KVTransferLink; l != "" && !contains(KVLinkNames, l) {
		bad("cluster.kv_transfer_link: unknown %q (valid: %s)", l, strings.Join(KVLinkNames, ", "))
	}
	if g := c.Cluster.KVTransferGBps; !(g >= 0) || math.IsInf(g, 0) {
		bad("cluster.kv_transfer_gbps: must be a finite number >= 0 (0: the link preset), got %v", g)
	}
	if c.Cluster.GlobalScheduler == "prefix_affinity" && !c.Scheduler.EnablePrefixCaching {
		bad("cluster.global_scheduler: prefix_affinity routes by the replicas' prefix caches; set scheduler.enable_prefix_caching")
	}
	m, err := c.ModelShape()
	if err != nil {
		bad("replica.model_name: %v", err)
	}
	if _, err := c.device(); err != nil {
		bad("replica.device: %v", err)
	}
	if _, err := model.LookupNode(c.Replica.NetworkDevice); err != nil {
		bad("replica.network_device: %v", err)
	}
	tp, pp := c.Replica.TensorParallelSize, c.Replica.NumPipelineStages
	if tp < 1 || pp < 1 {
		bad("replica: tensor_parallel_size and num_pipeline_stages must be >= 1, got %d and %d", tp, pp)
	} else if err == nil {
		if m.NumQHeads%tp != 0 || m.EmbeddingDim%tp != 0 {
			bad("replica.tensor_parallel_size: %d must divide num_q_heads %d and embedding_dim %d", tp, m.NumQHeads, m.EmbeddingDim)
		}
		if m.NoTensorParallel && tp > 1 {
			bad("replica.tensor_parallel_size: %s does not support tensor parallelism", m.Name)
		}
		if m.NumLayers%pp != 0 {
			bad("replica.num_pipeline_stages: %d must divide num_layers %d", pp, m.NumLayers)
		}
	}
	for _, d := range []struct{ key, v string }{{"weight_dtype", c.Replica.WeightDtype}, {"kv_cache_dtype", c.Replica.KVCacheDtype}} {
		if d.v != "" && d.v != DtypeBF16 && d.v != DtypeFP8 {
			bad("replica.%s: unknown %q (valid: bf16, fp8)", d.key, clip16(d.v))
		}
	}
	if f := c.Replica.MemoryMarginFraction; !(f >= 0 && f < 1) {
		bad("replica.memory_margin_fraction: must be in [0, 1), got %v", f)
	}
	s := c.Scheduler
	if !contains(SchedulerNames, s.Type) {
		bad("scheduler.type: unknown %q (valid: %s)", s.Type, strings.Join(SchedulerNames, ", "))
	}
	if s.BatchSizeCap < 1 {
		bad("scheduler.batch_size_cap: must be >= 1, got %d", s.BatchSizeCap)
	} else if pp >= 1 && s.BatchSizeCap < pp {
		bad("scheduler.batch_size_cap: must be >= num_pipeline_stages (%d), got %d", pp, s.BatchSizeCap)
	}
	if s.BlockSize < 1 {
		bad("scheduler.block_size: must be >= 1, got %d", s.BlockSize)
	} else if s.BlockSize > c.Workload.MaxTokens && c.Workload.MaxTokens >= 1 {
		bad("scheduler.block_size: %d is larger than workload.max_tokens %d, so the memory planner would leave no KV blocks", s.BlockSize, c.Workload.MaxTokens)
	}
	if f := s.WatermarkBlocksFraction; !(f >= 0 && f < 1) {
		bad("scheduler.watermark_blocks_fraction: must be in [0, 1), got %v", f)
	}
	if s.NumBlocks < 0 {
		bad("scheduler.num_blocks: must be >= 0 (0 = from the memory planner), got %d", s.NumBlocks)
	}
	if s.Type == "sarathi" && s.ChunkSize < 1 {
		bad("scheduler.chunk_size: must be >= 1, got %d", s.ChunkSize)
	}
	if s.MaxNumBatchedTokens < 0 {
		bad("scheduler.max_num_batched_tokens: must be >= 1 (or 0 for vllm_v1's default %d), got %d", DefaultMaxNumBatchedTokens, s.MaxNumBatchedTokens)
	}
	if s.LongPrefillTokenThreshold < 0 {
		bad("scheduler.long_prefill_token_threshold: must be >= 0 (0 = off), got %d", s.LongPrefillTokenThreshold)
	}
	if s.EnablePrefixCaching && s.Type != "sarathi" && s.Type != "vllm_v1" {
		bad("scheduler.enable_prefix_caching: supported by sarathi and vllm_v1, not %s", s.Type)
	}
	if (s.Type == "vllm" || s.Type == "lightllm") && s.MaxTokensInBatch < 1 {
		bad("scheduler.max_tokens_in_batch: must be >= 1, got %d", s.MaxTokensInBatch)
	}
	if s.Type == "lightllm" {
		if s.BlockSize != 1 {
			bad("scheduler.block_size: lightllm allocates tokens and needs block_size 1, got %d", s.BlockSize)
		}
		if pp != 1 {
			bad("replica.num_pipeline_stages: lightllm needs 1, got %d", pp)
		}
	}
	if c.Workload.MaxTokens < 1 {
		bad("workload.max_tokens: must be >= 1, got %d", c.Workload.MaxTokens)
	}
	if h := c.Workload.HashBlockTokens; h < 0 || h > workload.MaxHashBlockTokens {
		bad("workload.hash_block_tokens: must be 0 (the trace format's own) to %d, got %d", workload.MaxHashBlockTokens, h)
	}
	if err := c.WorkloadOptions().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("workload: %w", err))
	}
	p := c.Predictor
	if p.AttentionDecodeContext != "mean" && p.AttentionDecodeContext != "max" {
		bad("predictor.attention_decode_context: unknown %q (valid: mean, max)", p.AttentionDecodeContext)
	}
	if p.TimingModel != "" && !contains([]string{TimingAuto, TimingVidur, TimingEngine}, p.TimingModel) {
		bad("predictor.timing_model: unknown %q (valid: auto, vidur, engine)", p.TimingModel)
	}
	if p.TimingModel == TimingEngine {
		if pp > 1 {
			bad("predictor.timing_model: engine timing models one pipeline stage, got num_pipeline_stages %d", pp)
		}
		if !p.SkipCPUOverheadModeling {
			bad("predictor.skip_cpu_overhead_modeling: engine timing takes host time from host_overheads.csv; cpu_overheads.csv cannot be added too (set it to true)")
		}
	}
	if p.KVCachePredictionGranularity < 1 {
		bad("predictor.kv_cache_prediction_granularity: must be >= 1, got %d", p.KVCachePredictionGranularity)
	}
	for _, f := range []struct {
		n string
		v float64
	}{{"attention_decode_batching_overhead_fraction", p.AttentionDecodeBatchingOverhead},
		{"attention_prefill_batching_overhead_fraction", p.AttentionPrefillBatchingOverhead},
		{"nccl_cpu_launch_overhead_ms", p.NCCLCPULaunchOverheadMs}, {"nccl_cpu_skew_overhead_per_device_ms", p.NCCLCPUSkewOverheadPerDeviceMs}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			bad("predictor.%s: must be a finite number >= 0, got %v", f.n, f.v)
		}
	}
	if err := c.SLOSpec().Validate("slo."); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Resolved holds the values derived from a Config (Vidur §5.1's memory
// planner); it is written to run_meta.json next to the config.
type Resolved struct {
	Model                model.Model  `json:"model"`
	Device               model.Device `json:"device"`
	Node                 model.Node   `json:"node"`
	HeadDim              int          `json:"head_dim"`
	ParamsPerLayer       int64        `json:"params_per_layer_per_device"`
	ParamBytes           int64        `json:"param_bytes_per_device"`
	KVBytesPerRequest    int64        `json:"kv_bytes_per_request"`
	AvailableBytes       int64        `json:"available_bytes"`
	MaxBatchSizeMem      int          `json:"max_batch_size_from_memory"`
	MaxRequestSlots      int          `json:"max_request_slots"`
	MaxBlocksPerSequence int          `json:"max_blocks_per_sequence"`
	NumBlocks            int          `json:"num_blocks"`
	MaxBatchSize         int          `json:"max_batch_size"`
	MaxMicroBatchSize    int          `json:"max_micro_batch_size"`
	WatermarkBlocks      int          `json:"watermark_blocks"`
	LayersPerStage       int          `json:"layers_per_stage"`
}

func hintIf(hint bool, c Config, r Resolved) string {
	if !hint {
		return ""
	}
	return fitHint(c, r)
}

// fitHint says what would make a model fit that does not: its weights
// alone against the memory, and the smallest tensor-parallel degree (a
// power of two dividing the heads) that leaves room for one request's KV.
func fitHint(c Config, r Resolved) string {
	gib := func(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
	h := fmt.Sprintf(": the weights alone take %s per GPU of the %s available (device memory less the %g margin)",
		gib(r.ParamBytes), gib(r.AvailableBytes), c.Replica.MemoryMarginFraction)
	if r.ParamBytes < r.AvailableBytes {
		h = fmt.Sprintf(": the weights take %s per GPU of the %s available, leaving less than one request's KV cache (%s at max_tokens %d)",
			gib(r.ParamBytes), gib(r.AvailableBytes), gib(r.KVBytesPerRequest), c.Workload.MaxTokens)
	}
	tp := c.Replica.TensorParallelSize
	for t := 2 * tp; t <= 64; t *= 2 {
		cc := c
		cc.Replica.TensorParallelSize = t
		if cc.Validate() != nil {
			continue
		}
		if _, err := cc.resolve(false); err == nil {
			h += fmt.Sprintf("; it fits at tensor_parallel_size %d (or more pipeline stages, or a smaller max_tokens)", t)
			break
		}
	}
	// FP8 weights on a GPU that has FP8 tensor cores: one byte per weight.
	if g, err := c.GPUSpec(); err == nil && g.FP8TFLOPS > 0 && Dtype(c.Replica.WeightDtype) == DtypeBF16 {
		cc := c
		cc.Replica.WeightDtype = DtypeFP8
		if _, err := cc.resolve(false); err == nil {
			h += fmt.Sprintf("; with weight_dtype fp8 (the roofline estimate, not validated) it fits at tensor_parallel_size %d", tp)
		}
	}
	return h
}

// Resolve validates the config and runs the memory planner.
func (c Config) Resolve() (Resolved, error) { return c.resolve(true) }

// resolve is Resolve; hint adds fitHint to a model that does not fit.
func (c Config) resolve(hint bool) (Resolved, error) {
	if err := c.Validate(); err != nil {
		return Resolved{}, err
	}
	m, _ := c.ModelShape()
	dev, _ := c.device()
	node, _ := model.LookupNode(c.Replica.NetworkDevice)
	tp, pp := int64(c.Replica.TensorParallelSize), int64(c.Replica.NumPipelineStages)
	r := Resolved{Model: m, Device: dev, Node: node, HeadDim: m.HeadDim}
	if c.Replica.CompatHeadDim64 {
		r.HeadDim = m.DerivedHeadDim()
	}
	hd, e, f := int64(r.HeadDim), int64(m.EmbeddingDim), int64(m.MLPHiddenDim)
	q := int64(m.NumQHeads) / tp
	kv := (int64(m.NumKVHeads) + tp - 1) / tp
	k := int64(2)
	if m.UseGatedMLP {
		k = 3
	}
	r.ParamsPerLayer = e*hd*(q+2*kv) + e*hd*q + k*e*f/tp
	r.LayersPerStage = m.NumLayers / int(pp)
	r.ParamBytes = dtypeBytes(c.Replica.WeightDtype) * r.ParamsPerLayer * int64(r.LayersPerStage)
	// [quirk kept] Vidur counts every layer's KV per request even under PP and
	// then multiplies the slots by PP; the two cancel to first order.
	maxTok := int64(c.Workload.MaxTokens)
	r.KVBytesPerRequest = 2 * dtypeBytes(c.Replica.KVCacheDtype) * hd * kv * maxTok * int64(m.NumLayers)
	// [quirk kept] total_memory_gb is treated as GiB.
	r.AvailableBytes = int64(dev.TotalMemoryGB * (1 << 30) * (1 - c.Replica.MemoryMarginFraction))
	mem := (r.AvailableBytes - r.ParamBytes) / r.KVBytesPerRequest
	if mem <= 0 {
		return r, fmt.Errorf("memory planner: %s does not fit on %s with max_tokens %d (params %d B, KV per request %d B, available %d B)%s",
			m.Name, dev.Name, maxTok, r.ParamBytes, r.KVBytesPerRequest, r.AvailableBytes, hintIf(hint, c, r))
	}
	r.MaxBatchSizeMem = int(mem)
	r.MaxRequestSlots = r.MaxBatchSizeMem * int(pp)
	bs := c.Scheduler.BlockSize
	r.MaxBlocksPerSequence = int(maxTok) / bs
	r.NumBlocks = c.Scheduler.NumBlocks
	if r.NumBlocks == 0 {
		r.NumBlocks = r.MaxBlocksPerSequence * r.MaxRequestSlots
	}
	r.MaxBatchSize = min(r.MaxBatchSizeMem, c.Scheduler.BatchSizeCap)
	r.MaxMicroBatchSize = c.Scheduler.BatchSizeCap / int(pp)
	r.WatermarkBlocks = int(c.Scheduler.WatermarkBlocksFraction * float64(r.NumBlocks))
	if r.NumBlocks-r.WatermarkBlocks < 1 {
		return r, fmt.Errorf("memory planner: no KV block is free for admission (num_blocks %d, watermark %d): every request would be rejected", r.NumBlocks, r.WatermarkBlocks)
	}
	if (c.Scheduler.Type == "orca" || c.Scheduler.Type == "faster_transformer") && r.NumBlocks < r.MaxBlocksPerSequence {
		return r, fmt.Errorf("scheduler.num_blocks: %s reserves %d blocks per request but only %d exist", c.Scheduler.Type, r.MaxBlocksPerSequence, r.NumBlocks)
	}
	return r, nil
}
