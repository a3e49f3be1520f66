package calibrate

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/profiles"
)

// baseFS is a small engine-layout set for Qwen3-0.6B on an H200 whose op
// times grow with tokens at different rates per class, so the classes can
// be told apart: GEMMs 0.01 -> 0.4 ms over 1..4096 tokens, elementwise
// 0.004 -> 0.03, LM head 0.05 -> 0.3 over 1..256 sequences; attention by
// batch and context.
func baseFS() fstest.MapFS {
	var mlp strings.Builder
	ops := []string{"input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm", "mlp_up_proj", "mlp_act", "mlp_down_proj", "emb", "lm_head"}
	mlp.WriteString("num_tokens,num_tensor_parallel_workers,n_head,n_kv_head,n_embd,n_expanded_embd,vocab_size,use_gated_mlp")
	for _, op := range ops {
		mlp.WriteString(",time_stats." + op + ".median")
	}
	mlp.WriteString("\n")
	for _, n := range []int{1, 256, 4096} {
		fmt.Fprintf(&mlp, "%d,1,16,8,1024,3072,151936,True", n)
		f := float64(n-1) / 4095
		for _, op := range ops {
			v := 0.004 + 0.026*f
			switch opClass[op] {
			case "gemm":
				v = 0.01 + 0.39*f
			}
			if op == "lm_head" {
				v = 0.05 + 0.25*math.Min(1, float64(n-1)/255)
			}
			fmt.Fprintf(&mlp, ",%g", v)
		}
		mlp.WriteString("\n")
	}
	var at strings.Builder
	at.WriteString("n_embd,n_q_head,n_kv_head,num_tensor_parallel_workers,batch_size,prefill_chunk_size,kv_cache_size,time_stats.attn_decode.median,time_stats.attn_prefill.median,time_stats.attn_kv_cache_save.median\n")
	for _, b := range []int{1, 256} {
		for _, kv := range []int{0, 8192} {
			fmt.Fprintf(&at, "1024,16,8,1,%d,0,%d,%g,,%g\n", b, kv, 0.005+0.0002*float64(b)*(1+float64(kv)/1024), 0.002+0.0001*float64(b))
		}
	}
	for _, c := range []int{1, 4096} {
		for _, kv := range []int{0, 8192} {
			fmt.Fprintf(&at, "1024,16,8,1,1,%d,%d,,%g,%g\n", c, kv, 0.01+0.00002*float64(c)*(1+float64(kv)/2048), 0.002+0.00005*float64(c))
		}
	}
	return fstest.MapFS{
		"mlp.csv":            {Data: []byte(mlp.String())},
		"attention.csv":      {Data: []byte(at.String())},
		"engine.json":        {Data: []byte(`{"engine":"test engine","overlap":"async","cuda_graph_batch_sizes":[1,2,4,8,16,32,64,128,256],"mixed_graph_token_sizes":[64,128,256,512,1024,2048],"sync_ms":0.01,"fused_ops":["add","qk_norm"]}`)},
		"host_overheads.csv": {Data: []byte("batch_size,host_base_ms,host_per_prefill_ms,host_per_prefill_token_ms\n1,1,0,0\n256,1,0,0\n")},
		"profile.json":       {Data: []byte(`{"name":"test/base","model":"Qwen/Qwen3-0.6B","device":"h200","network_device":"h100_pairwise_nvlink","kind":"measured","summary":"MEASURED test base"}`)},
		"PROVENANCE.md":      {Data: []byte("# test base\nMEASURED (test fixture).\n")},
	}
}

func open(t *testing.T, m fstest.MapFS, name string) *predict.Set {
	t.Helper()
	s, err := predict.Open(m, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// trueSet is the base scaled by known class factors with a known host table.
func trueSet(t *testing.T, scale map[string]float64, host string) *predict.Set {
	m := baseFS()
	for _, n := range []string{"mlp.csv", "attention.csv"} {
		b, err := scaledCSV(m[n].Data, scale)
		if err != nil {
			t.Fatal(err)
		}
		m[n] = &fstest.MapFile{Data: b}
	}
	m["host_overheads.csv"] = &fstest.MapFile{Data: []byte(host)}
	return open(t, m, "test/true")
}

func config() engine.Config {
	cfg := engine.DefaultConfig()
	cfg.Replica.Device, cfg.Replica.NetworkDevice = "h200", "h100_pairwise_nvlink"
	cfg.Scheduler.BatchSizeCap = 64
	cfg.Predictor.TimingModel = engine.TimingEngine
	return cfg
}

// simulate runs w on set and returns the run as a real result would look.
func simulate(t *testing.T, set *predict.Set, cfg engine.Config, w *workload.Workload) *compare.Run {
	t.Helper()
	res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set, Network: profiles.Embedded().Network()}, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return SimRun(res)
}

func synth(t *testing.T, seed uint64, n int, qps float64) *workload.Workload {
	cfg := config()
	cfg.Seed, cfg.Workload.NumRequests, cfg.Workload.QPS = seed, n, qps
	cfg.Workload.LengthGenerator, cfg.Workload.MinTokens, cfg.Workload.MaxTokens = "uniform", 32, 1024
	w, err := workload.Generate(cfg.WorkloadOptions())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// randomSteps are step-log rows of random shapes timed on the true set:
// GPU from its per-class prediction, host from its host table.
func randomSteps(t *testing.T, truth *predict.Set, n int) []compare.RealStep {
	p, spec, err := engine.NewPredictor(config(), engine.Inputs{Profile: truth})
	if err != nil || spec == nil {
		t.Fatal(err, spec)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var out []compare.RealStep
	for i := range n {
		s := compare.RealStep{Step: i, Decodes: rng.IntN(40)}
		if rng.IntN(3) > 0 || s.Decodes == 0 {
			s.Prefills = 1 + rng.IntN(3)
		}
		s.Seqs, s.Tokens = s.Decodes+s.Prefills, s.Decodes
		for range s.Prefills {
			c := compare.Chunk{Tokens: 1 + rng.IntN(400), Cached: rng.IntN(2000)}
			s.Chunks = append(s.Chunks, c)
			s.Tokens += c.Tokens
		}
		s.DecodeCtxSum = int64(s.Decodes) * int64(100+rng.IntN(3000))
		c, err := classTimes(p, spec, s)
		if err != nil {
			t.Fatal(err)
		}
		s.GPUMs = c[0] + c[1] + c[2]
		ptok := s.Tokens - s.Decodes
		key := p.KeyOf(predict.Batch{NumRequests: s.Seqs, Tokens: s.Tokens, NumDecodes: s.Decodes, Prefills: make([]predict.Prefill, s.Prefills)})
		h, err := p.Host(key)
		if err != nil {
			t.Fatal(err)
		}
		_ = ptok
		s.HostMs, s.LoopHostMs = h, h
		out = append(out, s)
	}
	return out
}

// TestCalibrate_RecoversTheTruth: steps timed on the base scaled by gemm
// 1.3, attention 0.8, elementwise 1.15, with host = base(b) (2 ms at batch
// 1 to 4 at 64, linear) + 0.3 ms per prefill + 0.002 ms per prefill token:
// the fit finds those numbers, and a workload held out of the fit is then
// predicted as the truth predicts it.
func TestCalibrate_RecoversTheTruth(t *testing.T) {
	scale := map[string]float64{"gemm": 1.3, "attention": 0.8, "elementwise": 1.15}
	var host strings.Builder
	host.WriteString("batch_size,host_base_ms,host_per_prefill_ms,host_per_prefill_token_ms\n")
	for _, b := range []int{1, 2, 4, 8, 16, 32, 64} {
		fmt.Fprintf(&host, "%d,%g,0.3,0.002\n", b, 2+2*float64(b-1)/63)
	}
	truth := trueSet(t, scale, host.String())
	base := open(t, baseFS(), "test/base")
	net := profiles.Embedded().Network()
	wFit, wHeld := synth(t, 1, 40, 20), synth(t, 2, 60, 40)
	runs := []Run{
		{Name: "fit-a", Split: SplitFit, Real: simulate(t, truth, config(), wFit), Steps: randomSteps(t, truth, 400), Workload: wFit, Config: config()},
		{Name: "held-b", Split: SplitHeldOut, Real: simulate(t, truth, config(), wHeld), Workload: wHeld, Config: config()},
	}
	out, err := Calibrate(context.Background(), base, net, runs, Options{Name: "test/calibrated"})
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range scale {
		if got := out.Fit.Scale[c]; math.Abs(got/want-1) > 1e-6 {
			t.Errorf("scale %s = %v, want %v", c, got, want)
		}
	}
	for _, r := range out.Fit.Host {
		want := 2 + 2*float64(r.Batch-1)/63
		if math.Abs(r.Base-want) > 1e-6 || math.Abs(r.PerPrefill-0.3) > 1e-6 || math.Abs(r.PerToken-0.002) > 1e-8 {
			t.Errorf("host row %+v, want base %v, 0.3, 0.002", r, want)
		}
	}
	if len(out.Scores) != 2 || out.Scores[1].Split != SplitHeldOut {
		t.Fatalf("scores %+v", out.Scores)
	}
	for _, s := range out.Scores {
		for _, r := range s.Rows {
			if math.Abs(r.RelErr()) > 1e-4 {
				t.Errorf("%s %s %s: error %+.4f%% with the recovered set", s.Run, r.Metric, r.Quantile, r.RelErr()*100)
			}
		}
	}
	prov := string(out.Files["PROVENANCE.md"])
	for _, want := range []string{"CALIBRATED", "fit-a", "| held-b | heldout |", "## Validated error", "| gemm | 1.3000 |"} {
		if !strings.Contains(prov, want) {
			t.Errorf("PROVENANCE.md lacks %q:\n%s", want, prov)
		}
	}
	if !strings.Contains(out.Set.Meta.Summary, "validated on 1 held-out runs") || out.Set.Meta.Name != "test/calibrated" {
		t.Errorf("summary %q", out.Set.Meta.Summary)
	}
	// The held-out run is never looked at by the fit: changing its real
	// result changes its score only.
	runs[1].Real = simulate(t, base, config(), wHeld)
	again, err := Calibrate(context.Background(), base, net, runs, Options{Name: "test/calibrated"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again.Fit.Scale, again.Fit.Host) != fmt.Sprint(out.Fit.Scale, out.Fit.Host) {
		t.Error("the fit changed with a held-out run's result")
	}
	for _, n := range []string{"mlp.csv", "attention.csv", "host_overheads.csv"} {
		if string(again.Files[n]) != string(out.Files[n]) {
			t.Errorf("%s changed with a held-out run's result", n)
		}
	}
	if _, err := fs.ReadFile(out.Set.FS, "engine.json"); err != nil {
		t.Error(err)
	}
}

// TestCalibrate_RequestLevel: without step logs, one GPU scale and a flat
// host time are searched on the fit runs' medians: truth 1.5 and 2 ms.
func TestCalibrate_RequestLevel(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates ~100 times")
	}
	scale := map[string]float64{"gemm": 1.5, "attention": 1.5, "elementwise": 1.5}
	truth := trueSet(t, scale, "batch_size,host_base_ms,host_per_prefill_ms,host_per_prefill_token_ms\n1,2,0,0\n64,2,0,0\n")
	base := open(t, baseFS(), "test/base")
	w := synth(t, 5, 30, 10)
	runs := []Run{{Name: "vllm-like", Split: SplitFit, Real: simulate(t, truth, config(), w), Workload: w, Config: config()}}
	out, err := Calibrate(context.Background(), base, profiles.Embedded().Network(), runs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.Fit.Scale["gemm"]; math.Abs(s-1.5) > 0.03 {
		t.Errorf("scale %v, want 1.5", s)
	}
	if h := out.Fit.Host[0].Base; math.Abs(h-2) > 0.1 {
		t.Errorf("host %v, want 2", h)
	}
	if !strings.Contains(out.Set.Meta.Summary, "no run held out") {
		t.Errorf("summary %q", out.Set.Meta.Summary)
	}
}

func TestCalibrate_Errors(t *testing.T) {
	base := open(t, baseFS(), "test/base")
	w := synth(t, 1, 5, 10)
	r := Run{Name: "a", Split: SplitHeldOut, Real: simulate(t, base, config(), w), Workload: w, Config: config()}
	if _, err := Calibrate(context.Background(), base, nil, []Run{r}, Options{}); err == nil || !strings.Contains(err.Error(), "no run marked for the fit") {
		t.Errorf("no fit run: %v", err)
	}
	r.Split = "train"
	if _, err := Calibrate(context.Background(), base, nil, []Run{r}, Options{}); err == nil || !strings.Contains(err.Error(), `got "train"`) {
		t.Errorf("bad split: %v", err)
	}
	m := baseFS()
	delete(m, "engine.json")
	m["mlp.csv"].Data = []byte(strings.Replace(string(m["mlp.csv"].Data), "use_gated_mlp", "use_gated_mlp,time_stats.add.median", 1))
	r.Split = SplitFit
	if _, err := Calibrate(context.Background(), open(t, m, "noengine"), nil, []Run{r}, Options{}); err == nil || !strings.Contains(err.Error(), "no engine.json") {
		t.Errorf("no engine.json: %v", err)
	}
}
