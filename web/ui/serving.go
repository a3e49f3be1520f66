package ui

import (
	"fmt"
	"strconv"
	"strings"
)

// servingFields are the settings of routing, prefix caching's synthetic
// shared prefixes and prefill/decode disaggregation (issue 17), each
// enabled only where it applies (servingWhy).
var servingFields = []Field{
	{Key: "cluster.prefix_affinity_load_cap", Label: "prefix-affinity load cap (tokens)", Kind: "number",
		Help: "a replica is chosen for its cached prefix only within this many queued tokens of the least loaded (empty or 0: 16384)"},
	{Key: "workload.system_prompt_tokens", Label: "system prompt tokens (synthetic)", Kind: "number",
		Help: "a shared system prompt of this many tokens before the prompt of a share of the sessions (0: none)"},
	{Key: "workload.system_prompt_share", Label: "system prompt share", Kind: "number",
		Help: "the fraction of sessions, in [0, 1], that start with a system prompt"},
	{Key: "workload.num_system_prompts", Label: "distinct system prompts", Kind: "number",
		Help: "how many different system prompts (drawn uniformly; empty or 0: 1)"},
	{Key: "workload.session_turns", Label: "turns per session (synthetic)", Kind: "number",
		Help: "each turn resends the previous prompt and output, arriving its gap after the previous turn completes (0 or 1: single-turn)"},
	{Key: "cluster.prefill_replicas", Label: "prefill replicas (P/D disaggregation)", Kind: "number",
		Help: "replicas 0..P-1 prefill, the rest decode (empty or 0: off, every replica does both)"},
	{Key: "cluster.decode_tensor_parallel_size", Label: "decode tensor parallel", Kind: "select",
		Help: "the decode pool's tensor-parallel size (the prefill pool uses tensor parallel above)"},
	{Key: "cluster.kv_transfer_link", Label: "KV transfer link", Kind: "select", Options: []string{"nvlink", "pcie", "rdma"},
		Help: "the link the KV cache crosses from the prefill to the decode replica, GB/s per direction"},
	{Key: "cluster.kv_transfer_gbps", Label: "custom link bandwidth (GB/s)", Kind: "number",
		Help: "replaces the link preset when > 0 (1 GB/s = 1e9 bytes/s)"},
}

// linkLabels name the KV link presets with their bandwidth
// (engine.KVLinks; the page does not link the engine).
var linkLabels = map[string]string{
	"nvlink": "NVLink 4 (450 GB/s)",
	"pcie":   "PCIe 5.0 x16 (64 GB/s)",
	"rdma":   "RDMA, one 400 Gb/s NIC (50 GB/s)",
}

// routerLabels say what each global scheduler does.
var routerLabels = map[string]string{
	"round_robin":     "round_robin",
	"random":          "random",
	"lor":             "lor (fewest waiting requests)",
	"least_loaded":    "least_loaded (fewest queued tokens)",
	"power_of_two":    "power_of_two (less loaded of two)",
	"prefix_affinity": "prefix_affinity (longest cached prefix)",
}

// optionLabel is how a select shows one of its fixed choices.
func optionLabel(key, value string) string {
	switch key {
	case "cluster.kv_transfer_link":
		if l, ok := linkLabels[value]; ok {
			return l
		}
	case "cluster.global_scheduler":
		if l, ok := routerLabels[value]; ok {
			return l
		}
	}
	return value
}

// numericSelect reports whether a select's values are numbers (sent as such).
func numericSelect(key string) bool {
	return key == "replica.tensor_parallel_size" || key == "cluster.decode_tensor_parallel_size"
}

// intValue is a setting as an integer (0 when empty or not a number).
func (c *Root) intValue(key string) int {
	v, _ := strconv.ParseFloat(strings.TrimSpace(c.Value(field(key))), 64)
	return int(v)
}

// disaggregated reports whether the next run splits prefill from decode.
func (c *Root) disaggregated() bool {
	return c.intValue("cluster.prefill_replicas") > 0 && c.Why(field("cluster.prefill_replicas")) == ""
}

// generatedWorkload reports whether the next run's requests are generated
// (the synthetic preset), not read from files.
func (c *Root) generatedWorkload() bool {
	if len(c.Files) > 0 {
		return false
	}
	p := c.presetNamed(c.Preset)
	return p == nil || len(p.Files) == 0
}

// servingWhy is why a serving setting does not apply ("" if it does).
func (c *Root) servingWhy(f Field) string {
	sched := c.scheduler()
	switch f.Key {
	case "scheduler.enable_prefix_caching":
		if c.Value(field("cluster.global_scheduler")) == "prefix_affinity" && c.intValue("cluster.num_replicas") > 1 {
			return "prefix_affinity routing needs it (on)"
		}
	case "cluster.prefix_affinity_load_cap":
		if c.Value(field("cluster.global_scheduler")) != "prefix_affinity" || c.intValue("cluster.num_replicas") < 2 {
			return "applies to the prefix_affinity router"
		}
	case "workload.system_prompt_tokens", "workload.session_turns", "workload.system_prompt_share", "workload.num_system_prompts":
		if !c.generatedWorkload() {
			return "shapes generated workloads only (the synthetic preset): a trace's hash_ids and sessions say what it shares"
		}
		if f.Key != "workload.system_prompt_tokens" && f.Key != "workload.session_turns" && c.intValue("workload.system_prompt_tokens") <= 0 {
			return "applies with system prompt tokens > 0"
		}
	case "cluster.prefill_replicas":
		switch {
		case c.intValue("cluster.num_replicas") < 2:
			return "needs at least 2 replicas (some prefill, the rest decode)"
		case sched != "" && sched != "sarathi" && sched != "vllm_v1":
			return "disaggregation runs sarathi or vllm_v1 replicas, not " + sched
		case c.intValue("replica.num_pipeline_stages") > 1:
			return "disaggregation models one pipeline stage"
		}
	case "cluster.decode_tensor_parallel_size", "cluster.kv_transfer_link", "cluster.kv_transfer_gbps":
		if !c.disaggregated() {
			return "applies with prefill replicas > 0 (disaggregation)"
		}
		if f.Key == "cluster.kv_transfer_link" {
			if g, _ := strconv.ParseFloat(strings.TrimSpace(c.Value(field("cluster.kv_transfer_gbps"))), 64); g > 0 {
				return "the custom bandwidth replaces the preset"
			}
		}
	}
	return ""
}

// choiceWhy is why a select's choice cannot work with the other settings
// ("" if it can); such a choice is offered disabled, with the reason.
func (c *Root) choiceWhy(f Field, value string) string {
	if f.Key == "cluster.global_scheduler" && value == "prefix_affinity" {
		if w := c.Why(field("scheduler.enable_prefix_caching")); w != "" && !strings.HasPrefix(w, "prefix_affinity") {
			return "needs prefix caching, which " + w
		}
	}
	return ""
}

// servingChoice applies what a serving choice requires: prefix_affinity
// routes by the prefix caches, so choosing it turns prefix caching on.
func (c *Root) servingChoice(f Field) {
	if f.Key == "cluster.global_scheduler" && c.Cfg[f.Key] == "prefix_affinity" {
		c.Cfg["scheduler.enable_prefix_caching"] = "true"
	}
}

// ServingResult is the API result's serving section (run_meta.json's
// prefix_cache, routing and disaggregation; each nil when off).
type ServingResult struct {
	PrefixCache *struct {
		BlockSize    int     `json:"block_size"`
		HitTokens    int64   `json:"hit_tokens"`
		PromptTokens int64   `json:"prompt_tokens"`
		HitRate      float64 `json:"hit_rate"`
		Saved        int64   `json:"prefill_tokens_saved"`
		Evicted      int64   `json:"evicted_blocks"`
		OverTime     []struct {
			StartNs int64   `json:"start_ns"`
			HitRate float64 `json:"hit_rate"`
		} `json:"hit_rate_over_time"`
	} `json:"prefix_cache"`
	Routing *struct {
		GlobalScheduler string         `json:"global_scheduler"`
		LoadCap         int64          `json:"load_cap_tokens"`
		Replicas        []ReplicaStats `json:"replicas"`
	} `json:"routing"`
	Disaggregation *struct {
		Prefill       PoolStats `json:"prefill"`
		Decode        PoolStats `json:"decode"`
		Link          string    `json:"link"`
		LinkGBps      float64   `json:"link_gbps"`
		KVBytesPerTok int64     `json:"kv_bytes_per_token"`
		Transfers     int64     `json:"transfers"`
		Bytes         int64     `json:"transfer_bytes"`
		MeanNs        float64   `json:"mean_transfer_ns"`
		MaxNs         float64   `json:"max_transfer_ns"`
	} `json:"disaggregation"`
}

// ReplicaStats is one replica's routing totals.
type ReplicaStats struct {
	Replica   int   `json:"replica"`
	Requests  int   `json:"requests"`
	Prompt    int64 `json:"prompt_tokens"`
	Output    int64 `json:"output_tokens"`
	Cached    int64 `json:"cached_prefill_tokens"`
	MaxQueued int64 `json:"max_queued_tokens"`
}

// PoolStats is one disaggregation pool's totals.
type PoolStats struct {
	Replicas  int   `json:"replicas"`
	TP        int   `json:"tensor_parallel_size"`
	NumBlocks int   `json:"num_blocks_per_replica"`
	Batches   int   `json:"batches"`
	BusyNs    int64 `json:"busy_ns"`
	Prefill   int64 `json:"prefill_tokens"`
	Decode    int64 `json:"decode_tokens"`
}

// On reports whether any serving feature was on.
func (s ServingResult) On() bool {
	return s.PrefixCache != nil || s.Routing != nil || s.Disaggregation != nil
}

// hitSeries is the prefix cache's hit rate over time (s, fraction).
func (s ServingResult) hitSeries() (t, rate []float64) {
	if s.PrefixCache == nil {
		return nil, nil
	}
	for _, b := range s.PrefixCache.OverTime {
		t, rate = append(t, float64(b.StartNs)/1e9), append(rate, b.HitRate)
	}
	return t, rate
}

// percent renders a fraction as a percentage with four significant digits.
func percent(f float64) string { return sig4(100*f) + "%" }

// busy is a pool's busy share of the run's simulated time (per replica).
func busy(p PoolStats, simNs int64) string {
	if simNs <= 0 || p.Replicas == 0 {
		return "–"
	}
	return percent(float64(p.BusyNs) / float64(simNs) / float64(p.Replicas))
}

// ServingPanel shows a run's serving features: the prefix cache's hits,
// the router's per-replica totals and the disaggregation pools.
type ServingPanel struct {
	Res *Result
}

// S is the result's serving section.
func (p *ServingPanel) S() ServingResult { return p.Res.Serving }

// PrefixLine summarises the prefix cache.
func (p *ServingPanel) PrefixLine() string {
	pc := p.Res.Serving.PrefixCache
	return fmt.Sprintf("hit rate %s (%s of %s prompt tokens of admitted requests found cached, blocks of %d tokens); %s prefill tokens saved; %s blocks evicted",
		percent(pc.HitRate), num(pc.HitTokens), num(pc.PromptTokens), pc.BlockSize, num(pc.Saved), num(pc.Evicted))
}

// LinkLine summarises the KV transfers.
func (p *ServingPanel) LinkLine() string {
	d := p.Res.Serving.Disaggregation
	return fmt.Sprintf("KV link %s, %s GB/s; %s transfers of %s bytes (%s B per prompt token), mean %s, max %s",
		d.Link, sig4(d.LinkGBps), num(d.Transfers), num(d.Bytes), num(d.KVBytesPerTok), ms(d.MeanNs), ms(d.MaxNs))
}

// Pools are the disaggregation pools as table rows.
func (p *ServingPanel) Pools() [][]string {
	d := p.Res.Serving.Disaggregation
	row := func(name string, s PoolStats) []string {
		return []string{name, num(int64(s.Replicas)), "TP" + strconv.Itoa(s.TP), num(int64(s.NumBlocks)), num(int64(s.Batches)),
			busy(s, p.Res.SimulatedNs), num(s.Prefill), num(s.Decode)}
	}
	return [][]string{row("prefill", d.Prefill), row("decode", d.Decode)}
}

// Replicas are the router's per-replica totals as table rows.
func (p *ServingPanel) Replicas() [][]string {
	var out [][]string
	for _, r := range p.Res.Serving.Routing.Replicas {
		out = append(out, []string{strconv.Itoa(r.Replica), num(int64(r.Requests)), num(r.Prompt), num(r.Output), num(r.Cached), num(r.MaxQueued)})
	}
	return out
}

// RouterLine names the router (and prefix_affinity's load cap).
func (p *ServingPanel) RouterLine() string {
	r := p.Res.Serving.Routing
	s := "router " + r.GlobalScheduler
	if r.LoadCap > 0 {
		s += ", load cap " + num(r.LoadCap) + " queued tokens"
	}
	return s
}

// servingSend adds to a run's settings what a choice locks: prefix caching
// under the prefix_affinity router (its field is disabled, so not sent).
// And engine timing's host model: a preset that models Vidur's CPU
// overhead (spaced-2s-sarathi-serve) runs on an engine-timed set without it.
func (c *Root) servingSend(send map[string]string) {
	if strings.HasPrefix(c.Why(field("scheduler.enable_prefix_caching")), "prefix_affinity") {
		send["scheduler.enable_prefix_caching"] = "true"
	}
	if c.engineTimed() {
		send["predictor.skip_cpu_overhead_modeling"] = "true"
	}
}

// engineTimed reports whether the next run uses engine timing: the
// selected embedded set has engine.json and the timing model is auto or
// engine (the page does not offer vidur timing for it).
func (c *Root) engineTimed() bool {
	if len(c.ProfileFiles) > 0 {
		for _, f := range c.ProfileFiles {
			if strings.HasSuffix(f.Name, "engine.json") {
				return c.cfgValue("predictor.timing_model") != "vidur"
			}
		}
		return false
	}
	p := c.profileNamed(c.Value(field("predictor.profile")))
	return p != nil && p.EngineTiming && c.cfgValue("predictor.timing_model") != "vidur"
}

// servingSummary is the serving features' part of the run header.
func servingSummary(cfg settings) string {
	s := ""
	if cfg["scheduler.enable_prefix_caching"] == "true" {
		s += ", prefix caching"
	}
	if p := cfg["cluster.prefill_replicas"]; p != "" && p != "0" {
		link := cfg["cluster.kv_transfer_link"]
		if g := cfg["cluster.kv_transfer_gbps"]; g != "" && g != "0" {
			link = g + " GB/s"
		} else if link == "" {
			link = "nvlink"
		}
		s += ", disaggregated: " + p + " prefill replicas, KV over " + link
	}
	if t := cfg["workload.system_prompt_tokens"]; t != "" && t != "0" {
		s += ", system prompt " + t + " tokens"
	}
	if t := cfg["workload.session_turns"]; t != "" && t != "0" && t != "1" {
		s += ", " + t + "-turn sessions"
	}
	return s
}
