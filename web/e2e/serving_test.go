package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// runMeta runs body natively through the same API (the test server) and
// returns its run_meta.json: the numbers the page must show.
func runMeta(t *testing.T, url, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(url+"/api/simulate?file=run_meta.json", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("run_meta.json: %d %s", resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// commas renders an integer as the page does (thousands separators).
func commas(v float64) string {
	s := strconv.FormatInt(int64(v), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// disabled reads whether each configuration input is disabled.
func disabled(keys ...string) string {
	q, _ := json.Marshal(keys)
	return `(` + string(q) + `).map((k) => k + "=" + document.getElementById("cfg-" + k).disabled).join(" ")`
}

// TestPage_ServingSettings: the router, disaggregation and synthetic
// shared-prefix settings are enabled only where they apply, with a note
// saying why not; prefix_affinity is offered only where prefix caching
// works, and choosing it turns prefix caching on (locked).
func TestPage_ServingSettings(t *testing.T) {
	srv, ctx := setup(t)
	keys := []string{"cluster.global_scheduler", "cluster.prefill_replicas", "cluster.kv_transfer_link", "cluster.kv_transfer_gbps",
		"cluster.decode_tensor_parallel_size", "cluster.prefix_affinity_load_cap", "workload.system_prompt_tokens", "workload.session_turns"}
	var seed, four, disagg, custom, orca, synthetic, affinity, linkWhy, promptWhy, affinityTitle, links string
	var cachingLocked, cachingOn bool
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		chromedp.Click("#seed-run", chromedp.ByQuery), waitRequests("4"),
		chromedp.Evaluate(disabled(keys...), &seed),
		chromedp.Text(`[id="why-workload.system_prompt_tokens"]`, &promptWhy, chromedp.ByQuery),
		setField("cluster.num_replicas", "4"), chromedp.Evaluate(disabled(keys...), &four),
		chromedp.Text(`[id="why-cluster.kv_transfer_link"]`, &linkWhy, chromedp.ByQuery),
		setField("cluster.prefill_replicas", "2"), chromedp.Evaluate(disabled(keys...), &disagg),
		chromedp.Evaluate(`Array.from(document.getElementById("cfg-cluster.kv_transfer_link").options).map((o) => o.textContent).join("|")`, &links),
		setField("cluster.kv_transfer_gbps", "25"), chromedp.Evaluate(disabled("cluster.kv_transfer_link"), &custom),
		setField("scheduler.type", "orca"), chromedp.Evaluate(disabled(keys...), &orca),
		chromedp.Evaluate(`(() => { const o = document.querySelector('[id="cfg-cluster.global_scheduler"] option[value="prefix_affinity"]'); return o.disabled + " " + o.title; })()`, &affinityTitle),
		pickPreset("synthetic"), waitRequests("128"), chromedp.Evaluate(disabled(keys...), &synthetic),
		setField("scheduler.type", "vllm_v1"), setField("cluster.global_scheduler", "prefix_affinity"),
		chromedp.Evaluate(disabled(keys...), &affinity),
		chromedp.Evaluate(`document.getElementById("cfg-scheduler.enable_prefix_caching").disabled`, &cachingLocked),
		chromedp.Evaluate(`document.getElementById("cfg-scheduler.enable_prefix_caching").checked`, &cachingOn),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-config", "prefix caching"), waitText("#run-config", "disaggregated: 2 prefill replicas, KV over 25 GB/s"),
		waitText("#prefix-summary", "hit rate"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ step, got, want string }{
		{"seed, 1 replica", seed, "cluster.global_scheduler=true cluster.prefill_replicas=true cluster.kv_transfer_link=true cluster.kv_transfer_gbps=true cluster.decode_tensor_parallel_size=true cluster.prefix_affinity_load_cap=true workload.system_prompt_tokens=true workload.session_turns=true"},
		{"4 replicas", four, "cluster.global_scheduler=false cluster.prefill_replicas=false cluster.kv_transfer_link=true cluster.kv_transfer_gbps=true cluster.decode_tensor_parallel_size=true cluster.prefix_affinity_load_cap=true workload.system_prompt_tokens=true workload.session_turns=true"},
		{"2 prefill replicas", disagg, "cluster.global_scheduler=false cluster.prefill_replicas=false cluster.kv_transfer_link=false cluster.kv_transfer_gbps=false cluster.decode_tensor_parallel_size=false cluster.prefix_affinity_load_cap=true workload.system_prompt_tokens=true workload.session_turns=true"},
		{"custom bandwidth", custom, "cluster.kv_transfer_link=true"},
		{"orca", orca, "cluster.global_scheduler=false cluster.prefill_replicas=true cluster.kv_transfer_link=true cluster.kv_transfer_gbps=true cluster.decode_tensor_parallel_size=true cluster.prefix_affinity_load_cap=true workload.system_prompt_tokens=true workload.session_turns=true"},
		{"synthetic preset (orca)", synthetic, "cluster.global_scheduler=false cluster.prefill_replicas=true cluster.kv_transfer_link=true cluster.kv_transfer_gbps=true cluster.decode_tensor_parallel_size=true cluster.prefix_affinity_load_cap=true workload.system_prompt_tokens=false workload.session_turns=false"},
		{"vllm_v1 + prefix_affinity", affinity, "cluster.global_scheduler=false cluster.prefill_replicas=false cluster.kv_transfer_link=true cluster.kv_transfer_gbps=false cluster.decode_tensor_parallel_size=false cluster.prefix_affinity_load_cap=false workload.system_prompt_tokens=false workload.session_turns=false"},
		{"link note", linkWhy, "applies with prefill replicas > 0 (disaggregation)"},
		{"system prompt note", promptWhy, "shapes generated workloads only (the synthetic preset): a trace's hash_ids and sessions say what it shares"},
		{"prefix_affinity under orca", affinityTitle, "true needs prefix caching, which not used by orca (sarathi, vllm_v1 only)"},
		{"link presets", links, "NVLink 4 (450 GB/s)|PCIe 5.0 x16 (64 GB/s)|RDMA, one 400 Gb/s NIC (50 GB/s)"},
	} {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.step, c.got, c.want)
		}
	}
	if !cachingLocked || !cachingOn {
		t.Errorf("prefix_affinity: prefix caching checked %v, locked %v (want both)", cachingOn, cachingLocked)
	}
}

// TestPage_PrefixCachingRun: a synthetic workload with a shared system
// prompt and prefix caching shows its hit rate, prefill tokens saved and
// the hit rate over time, the numbers of run_meta.json for the same run.
func TestPage_PrefixCachingRun(t *testing.T) {
	srv, ctx := setup(t)
	var summary string
	var drawn int
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		pickPreset("synthetic"), waitRequests("128"),
		setField("workload.system_prompt_tokens", "512"), setField("workload.system_prompt_share", "0.75"),
		setField("workload.session_turns", "2"),
		chromedp.Click(`[id="cfg-scheduler.enable_prefix_caching"]`, chromedp.ByQuery),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#prefix-summary", "hit rate"),
		waitChartsDrawn(), chromedp.Sleep(300*time.Millisecond), // (charts are drawn one per task, after the result's first frame)
		chromedp.Text("#prefix-summary", &summary, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const c = servesim.chartOf("chart-prefix-hit"); return c ? c.getOption().series[0].data.length : 0; })()`, &drawn),
		shot("page-prefix-caching.png"))
	if err != nil {
		t.Fatal(err)
	}
	meta := runMeta(t, srv.URL, `{"preset":"synthetic","config":{"scheduler":{"enable_prefix_caching":true},"workload":{"session_turns":2,"system_prompt_share":0.75,"system_prompt_tokens":512}}}`)
	pc := meta["prefix_cache"].(map[string]any)
	want := fmt.Sprintf("(%s of %s prompt tokens of admitted requests found cached, blocks of 16 tokens); %s prefill tokens saved",
		commas(pc["hit_tokens"].(float64)), commas(pc["prompt_tokens"].(float64)), commas(pc["prefill_tokens_saved"].(float64)))
	if pc["hit_tokens"].(float64) == 0 || !strings.Contains(summary, want) {
		t.Errorf("prefix cache on the page:\n %s\nrun_meta.json says\n %s", summary, want)
	}
	if n := len(pc["hit_rate_over_time"].([]any)); drawn != n {
		t.Errorf("hit-rate chart has %d points, run_meta.json %d buckets", drawn, n)
	}
}

// TestPage_DisaggregatedRun: 2 prefill + 2 decode replicas over PCIe with
// the least-loaded router show per-pool metrics and per-replica load, the
// numbers of run_meta.json for the same run.
func TestPage_DisaggregatedRun(t *testing.T) {
	srv, ctx := setup(t)
	var pools, replicas, link string
	var loadSeries int
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		setField("scheduler.type", "vllm_v1"), setField("cluster.num_replicas", "4"), setField("cluster.prefill_replicas", "2"),
		setField("cluster.kv_transfer_link", "pcie"), setField("cluster.global_scheduler", "least_loaded"),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-config", "disaggregated"), waitText("#pools", "decode"),
		waitChartsDrawn(), chromedp.Sleep(300*time.Millisecond), // (charts are drawn one per task, after the result's first frame)
		chromedp.Text("#pools", &pools, chromedp.ByQuery), chromedp.Text("#replicas", &replicas, chromedp.ByQuery),
		chromedp.Text("#link-summary", &link, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const c = servesim.chartOf("chart-replica-load"); return c ? c.getOption().series.length : 0; })()`, &loadSeries),
		shot("page-disaggregation.png"))
	if err != nil {
		t.Fatal(err)
	}
	meta := runMeta(t, srv.URL, `{"preset":"splitwise-conv-2qps","config":{"cluster":{"global_scheduler":"least_loaded","kv_transfer_link":"pcie","num_replicas":4,"prefill_replicas":2},"scheduler":{"type":"vllm_v1"}}}`)
	d := meta["disaggregation"].(map[string]any)
	for _, name := range []string{"prefill", "decode"} {
		p := d[name].(map[string]any)
		row := strings.Join([]string{name, commas(p["replicas"].(float64)), "TP" + commas(p["tensor_parallel_size"].(float64)),
			commas(p["num_blocks_per_replica"].(float64)), commas(p["batches"].(float64))}, "\t")
		if !strings.Contains(pools, row) || !strings.Contains(pools, commas(p["prefill_tokens"].(float64))+"\t"+commas(p["decode_tokens"].(float64))) {
			t.Errorf("pools table:\n%s\nmissing run_meta.json's %s row %q", pools, name, row)
		}
	}
	if want := "KV link pcie, 64.00 GB/s; " + commas(d["transfers"].(float64)) + " transfers of " + commas(d["transfer_bytes"].(float64)) + " bytes"; !strings.HasPrefix(link, want) {
		t.Errorf("link: %q, want %q…", link, want)
	}
	for _, r := range meta["routing"].(map[string]any)["replicas"].([]any) {
		r := r.(map[string]any)
		row := strings.Join([]string{commas(r["replica"].(float64)), commas(r["requests"].(float64)), commas(r["prompt_tokens"].(float64))}, "\t")
		if !strings.Contains(replicas, row) {
			t.Errorf("replicas table:\n%s\nmissing run_meta.json's %q", replicas, row)
		}
	}
	if loadSeries != 4 {
		t.Errorf("replica-load chart: %d series, want 4", loadSeries)
	}
}

// TestPage_EngineTimedSetCPUOverhead (issue 13): with the engine-timed H200
// set the CPU-overhead toggle is disabled and on, with why; the
// spaced-2s-sarathi-serve preset (which turns Vidur's CPU-overhead model
// on) then runs on it instead of failing with a configuration error.
func TestPage_EngineTimedSetCPUOverhead(t *testing.T) {
	srv, ctx := setup(t)
	var why string
	var disabledA100, disabledH200, checked bool
	q := `document.getElementById("cfg-predictor.skip_cpu_overhead_modeling")`
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		pickPreset("spaced-2s-sarathi-serve"), waitRequests("8"),
		chromedp.Evaluate(q+`.disabled`, &disabledA100),
		setField("predictor.profile", "h200/qwen3-0.6b"),
		chromedp.Evaluate(q+`.disabled`, &disabledH200), chromedp.Evaluate(q+`.checked`, &checked),
		chromedp.Text(`[id="why-predictor.skip_cpu_overhead_modeling"]`, &why, chromedp.ByQuery),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-config", "h200/qwen3-0.6b"), waitRequests("8"))
	if err != nil {
		t.Fatal(err)
	}
	if disabledA100 || !disabledH200 || !checked || !strings.Contains(why, "engine timing (h200/qwen3-0.6b has engine.json)") {
		t.Errorf("CPU-overhead toggle: disabled %v on A100, %v (checked %v) on H200: %q", disabledA100, disabledH200, checked, why)
	}
}

// TestPage_ServingSettingsInShareLink: the serving settings travel in the
// share link: the link reopens the same run (same id, same header).
func TestPage_ServingSettingsInShareLink(t *testing.T) {
	srv, ctx := setup(t)
	var runID, config, link, runID2, config2 string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		pickPreset("synthetic"), waitRequests("128"),
		setField("scheduler.type", "vllm_v1"), setField("cluster.num_replicas", "3"), setField("cluster.prefill_replicas", "1"),
		setField("cluster.kv_transfer_link", "rdma"), setField("cluster.global_scheduler", "prefix_affinity"),
		setField("cluster.prefix_affinity_load_cap", "4096"), setField("workload.system_prompt_tokens", "256"),
		setField("workload.session_turns", "3"),
		chromedp.Click("#run", chromedp.ByQuery), waitText("#run-config", "KV over rdma"), waitText("#prefix-summary", "hit rate"),
		chromedp.Text("#run-id", &runID, chromedp.ByQuery), chromedp.Text("#run-config", &config, chromedp.ByQuery),
		chromedp.Click("#share", chromedp.ByQuery), waitText("#notice", "Link copied"), chromedp.Evaluate(`location.href`, &link))
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Run(ctx2, chromedp.Navigate(link), waitText("#run-config", "KV over rdma"), waitText("#replicas", "replica"),
		chromedp.Text("#run-id", &runID2, chromedp.ByQuery), chromedp.Text("#run-config", &config2, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if runID2 != runID || config2 != config || !strings.Contains(config, "prefix caching") || !strings.Contains(config, "3-turn sessions") {
		t.Errorf("the link opened %q (%s), the run was %q (%s)", runID2, config2, runID, config)
	}
}
