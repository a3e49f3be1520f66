package ui

import (
	"fmt"

	"github.com/servesim/servesim/engine"
	"strings"
	"testing"
)

// TestServingRules: each serving setting is enabled only where it applies
// (per router, replica count, scheduler and workload kind), prefix_affinity
// turns prefix caching on and sends it, and a setting that does not apply
// is not sent.
func TestServingRules(t *testing.T) {
	base := settings{"scheduler.type": "sarathi", "cluster.num_replicas": "1", "cluster.global_scheduler": "round_robin",
		"replica.num_pipeline_stages": "1", "predictor.profile": "a100/qwen3-0.6b", "replica.tensor_parallel_size": "1"}
	c := &Root{Cfg: map[string]string{}, Preset: "seed",
		Presets:  []Preset{{Name: "seed", Files: []string{"seed/vidur_trace.csv"}, Config: base}, {Name: "synthetic", Config: base}},
		Profiles: []Profile{{Name: "a100/qwen3-0.6b", TensorParallel: []int{1, 2}}}}
	why := func(key string) string { return c.Why(field(key)) }
	type want struct{ key, why string } // why "": enabled
	check := func(step string, ws ...want) {
		t.Helper()
		for _, w := range ws {
			got := why(w.key)
			if (w.why == "") != (got == "") || !strings.Contains(got, w.why) {
				t.Errorf("%s: %s disabled %q, want %q", step, w.key, got, w.why)
			}
		}
	}
	check("seed, 1 replica",
		want{"cluster.global_scheduler", "more than one replica"}, want{"cluster.prefill_replicas", "at least 2 replicas"},
		want{"cluster.kv_transfer_link", "prefill replicas > 0"}, want{"cluster.prefix_affinity_load_cap", "prefix_affinity router"},
		want{"workload.system_prompt_tokens", "generated workloads only"}, want{"workload.session_turns", "generated workloads only"},
		want{"scheduler.enable_prefix_caching", ""})
	c.Cfg["cluster.num_replicas"] = "4"
	c.Cfg["cluster.prefill_replicas"] = "2"
	check("4 replicas, 2 prefill", want{"cluster.global_scheduler", ""}, want{"cluster.prefill_replicas", ""},
		want{"cluster.kv_transfer_link", ""}, want{"cluster.kv_transfer_gbps", ""}, want{"cluster.decode_tensor_parallel_size", ""})
	c.Cfg["cluster.kv_transfer_gbps"] = "25"
	check("custom bandwidth", want{"cluster.kv_transfer_link", "custom bandwidth replaces"})
	c.Cfg["scheduler.type"] = "orca"
	check("orca", want{"cluster.prefill_replicas", "sarathi or vllm_v1"}, want{"cluster.kv_transfer_gbps", "prefill replicas > 0"})
	for _, o := range c.OptionsOf(field("cluster.global_scheduler")) {
		if o.Value == "prefix_affinity" && (!o.Disabled || !strings.Contains(o.Title, "needs prefix caching")) {
			t.Errorf("orca: prefix_affinity offered: %+v", o)
		}
	}
	if in, _ := c.inputs(); strings.Contains(in.body, "prefill_replicas") || strings.Contains(in.body, "kv_transfer") {
		t.Errorf("orca run body sends disaggregation: %s", in.body)
	}
	c.Cfg["scheduler.type"] = "vllm_v1"
	c.Cfg["cluster.global_scheduler"] = "prefix_affinity"
	c.servingChoice(field("cluster.global_scheduler"))
	check("prefix_affinity", want{"scheduler.enable_prefix_caching", "prefix_affinity routing needs it"}, want{"cluster.prefix_affinity_load_cap", ""})
	if in, _ := c.inputs(); !strings.Contains(in.body, `"enable_prefix_caching":true`) || !strings.Contains(in.body, `"prefill_replicas":2`) || !strings.Contains(in.body, `"kv_transfer_gbps":25`) {
		t.Errorf("prefix_affinity run body: %s", in.body)
	}
	c.Preset = "synthetic"
	check("synthetic", want{"workload.system_prompt_tokens", ""}, want{"workload.session_turns", ""},
		want{"workload.system_prompt_share", "system prompt tokens > 0"})
	c.Cfg["workload.system_prompt_tokens"] = "512"
	check("synthetic with a system prompt", want{"workload.system_prompt_share", ""}, want{"workload.num_system_prompts", ""})
	if s := servingSummary(settings{"scheduler.enable_prefix_caching": "true", "cluster.prefill_replicas": "2", "cluster.kv_transfer_link": "pcie"}); s != ", prefix caching, disaggregated: 2 prefill replicas, KV over pcie" {
		t.Errorf("summary %q", s)
	}
	var labels []string
	for _, o := range c.OptionsOf(field("cluster.kv_transfer_link")) {
		labels = append(labels, o.Label)
	}
	if strings.Join(labels, "|") != "NVLink 4 (450 GB/s)|PCIe 5.0 x16 (64 GB/s)|RDMA, one 400 Gb/s NIC (50 GB/s)" {
		t.Errorf("link labels %v", labels)
	}
}

// The page's link labels state the engine's preset bandwidths.
func TestLinkLabels_AreTheEngines(t *testing.T) {
	if len(linkLabels) != len(engine.KVLinkNames) {
		t.Errorf("%d labels, %d presets", len(linkLabels), len(engine.KVLinkNames))
	}
	for i, n := range engine.KVLinkNames {
		if !strings.HasSuffix(linkLabels[n], fmt.Sprintf("(%g GB/s)", engine.KVLinks[n])) || field("cluster.kv_transfer_link").Options[i] != n {
			t.Errorf("%s: label %q, engine %g GB/s", n, linkLabels[n], engine.KVLinks[n])
		}
	}
	for _, g := range engine.GlobalSchedulerNames {
		if _, ok := routerLabels[g]; !ok {
			t.Errorf("router %s is not offered", g)
		}
	}
}

// TestEngineTimedSet_LocksCPUOverhead: with an engine-timed set (engine.json)
// the CPU-overhead toggle is disabled, shown on, and the run sends
// skip_cpu_overhead_modeling true even where the preset turns the model on
// (spaced-2s-sarathi-serve); the A100 set leaves the preset's choice.
func TestEngineTimedSet_LocksCPUOverhead(t *testing.T) {
	sarathiServe := settings{"scheduler.type": "sarathi", "predictor.skip_cpu_overhead_modeling": "false", "predictor.profile": "a100/qwen3-0.6b", "cluster.num_replicas": "1"}
	c := &Root{Cfg: map[string]string{}, Preset: "spaced-2s-sarathi-serve",
		Presets:  []Preset{{Name: "spaced-2s-sarathi-serve", Files: []string{"x"}, Config: sarathiServe}},
		Profiles: []Profile{{Name: "a100/qwen3-0.6b", HasCPUOverheads: true}, {Name: "h200/qwen3-0.6b", Device: "h200", HasCPUOverheads: true, EngineTiming: true}}}
	f := field("predictor.skip_cpu_overhead_modeling")
	if in, _ := c.inputs(); c.Why(f) != "" || strings.Contains(in.body, "skip_cpu") {
		t.Errorf("a100: why %q, body %s", c.Why(f), in.body)
	}
	c.Cfg["predictor.profile"] = "h200/qwen3-0.6b"
	in, _ := c.inputs()
	if !strings.Contains(c.Why(f), "engine timing") || c.Value(f) != "true" || !strings.Contains(in.body, `"skip_cpu_overhead_modeling":true`) {
		t.Errorf("h200: why %q, value %q, body %s", c.Why(f), c.Value(f), in.body)
	}
}

// A serving setting typed as 0 where the run's config left it out (0 is
// omitted) is not a change.
func TestSameValue_OmittedZero(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"0", "", true}, {"", "0", true}, {" 0 ", "", true}, {"2", "", false}, {"", "", true}, {"true", "", false}, {"false", "", true}} {
		if got := sameValue(c.a, c.b); got != c.want {
			t.Errorf("sameValue(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// Calibration needs the run on screen to have used an engine-timed
// embedded set; otherwise the button says which sets can be calibrated.
func TestCalibrateWhy(t *testing.T) {
	c := &Root{Profiles: []Profile{{Name: "a100/qwen3-0.6b"}, {Name: "h200/qwen3-0.6b", EngineTiming: true}}}
	p := &RealPanel{Root: c}
	c.Result = &Result{Profile: Profile{Name: "a100/qwen3-0.6b"}}
	if w := p.CalibrateWhy(); !strings.HasSuffix(w, "(engine.json): h200/qwen3-0.6b") {
		t.Errorf("a100: %q", w)
	}
	c.Result.Profile.Name = "h200/qwen3-0.6b"
	if w := p.CalibrateWhy(); w != "" {
		t.Errorf("h200: %q", w)
	}
	c.shown.state.ProfileFiles = []File{{Name: "mlp.csv"}}
	if w := p.CalibrateWhy(); !strings.HasPrefix(w, "this run used your own profile files") {
		t.Errorf("own files: %q", w)
	}
}
