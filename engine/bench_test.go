package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/servesim/servesim/internal/cputime"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/profiles"
)

// splitwiseLengths returns splitwise_conv.csv's rows repeated until there are
// at least n, as one length-only CSV.
func splitwiseLengths(b testing.TB, n int) []byte {
	raw, err := os.ReadFile("../presets/data/traces/splitwise_conv.csv")
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var out bytes.Buffer
	out.WriteString("num_prefill_tokens,num_decode_tokens\n")
	for k := 0; k < n; {
		for _, l := range lines[1:] {
			f := strings.Split(l, ",")
			out.WriteString(f[1] + "," + f[2] + "\n")
			if k++; k == n {
				break
			}
		}
	}
	return out.Bytes()
}

// BenchmarkSimulate runs n requests with splitwise_conv.csv lengths, Poisson
// arrivals at 2 to 32 QPS and Sarathi on the embedded A100 profile, and
// reports simulated requests/s and tokens/s (simulation only; writing files
// excluded). Each row runs three ways: "records" keeps every iteration's
// record (what batch_metrics.csv and chrome_trace.json need; the default),
// "lean" keeps none (--outputs without batch and trace), and "step" is
// records with every event through the queue (Options.StepByStep; 10k only),
// "watched" is lean with Options.StopOnSLOFail (a capacity search's trial:
// the SLO watch sees every token; "stopped" says whether it stopped early).
//
// With -benchtime 1x each row is one run, and it is the first run of its
// code paths in the process: under GOOS=js that run also pays V8's compiles
// of them (Liftoff on first call, then TurboFan on background threads, which
// Node's process.cpuUsage counts). BenchmarkSimulateWarm times them warm.
func BenchmarkSimulate(b *testing.B) { simulateRows(b, false) }

// BenchmarkSimulateWarm is BenchmarkSimulate with one untimed run of the row
// (same config, workload and mode) before its timed ones: the steady state
// of a process that has run that row's code paths already, as a page
// worker's second run of the same settings or a capacity search's later
// trials are. The warm-up's CPU and wall time are excluded from every
// metric.
func BenchmarkSimulateWarm(b *testing.B) { simulateRows(b, true) }

func simulateRows(b *testing.B, warm bool) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		b.Fatal(err)
	}
	modes := []struct {
		name string
		opt  engine.Options
	}{{"records", engine.Options{}}, {"lean", engine.Options{SkipBatches: true}}, {"step", engine.Options{StepByStep: true}},
		{"watched", engine.Options{SkipBatches: true, StopOnSLOFail: true}}}
	for _, n := range []int{10_000, 100_000} {
		for _, qps := range []float64{2, 4, 16, 32} {
			cfg := engine.DefaultConfig()
			cfg.Workload.NumRequests = n
			cfg.Workload.QPS = qps
			// The profile's tables are parsed once, outside the timed loop (as
			// the page and the server do before their first run): the rows
			// time simulation only, whichever runs first.
			if err := engine.Prepare(cfg, engine.Inputs{Profile: set}); err != nil {
				b.Fatal(err)
			}
			var w *workload.Workload // loaded by the first sub-benchmark that runs
			tokens := 0
			for _, m := range modes {
				if m.name == "step" && n > 10_000 {
					continue
				}
				b.Run(fmt.Sprintf("splitwise_conv_%dk_qps%g/%s", n/1000, qps, m.name), func(b *testing.B) {
					if w == nil {
						data := splitwiseLengths(b, n)
						if w, err = workload.Load([]workload.File{{Name: "lengths.csv", R: bytes.NewReader(data)}}, cfg.WorkloadOptions()); err != nil {
							b.Fatal(err)
						}
						for _, r := range w.Requests {
							tokens += r.Prefill + r.Decode
						}
					}
					var res *engine.Result
					if warm {
						if _, err = engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, m.opt); err != nil {
							b.Fatal(err)
						}
					}
					cpu := cputime.Seconds()
					for b.Loop() { // its first call resets the timer
						if res, err = engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, m.opt); err != nil {
							b.Fatal(err)
						}
					}
					if c := cputime.Seconds(); c > 0 {
						b.ReportMetric((c-cpu)/float64(b.N), "cpu_s/op")
					}
					b.ReportMetric(float64(res.NumBatches), "iterations")
					if m.opt.StopOnSLOFail {
						stopped := 0.0
						if res.Stopped != nil {
							stopped = 1
						}
						b.ReportMetric(stopped, "stopped")
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(float64(n)/sec, "requests/s")
					b.ReportMetric(float64(tokens)/sec, "tokens/s")
				})
			}
		}
	}
}

// sharedPrefixTrace is a Mooncake trace of n requests at qps: each prompt is
// 2 of 4 system-prompt blocks then 1 to 3 blocks of its own (512 tokens each)
// and 64 to 319 output tokens, deterministic.
func sharedPrefixTrace(n int, qps float64) []byte {
	var out bytes.Buffer
	rng := uint64(1)
	next := func() uint64 { rng = rng*6364136223846793005 + 1442695040888963407; return rng >> 33 }
	own := 1000
	for i := 0; i < n; i++ {
		sys := int(next() % 4)
		ids := []string{fmt.Sprint(10 * sys), fmt.Sprint(10*sys + 1)}
		for k := int(next()%3) + 1; k > 0; k-- {
			ids = append(ids, fmt.Sprint(own))
			own++
		}
		fmt.Fprintf(&out, `{"timestamp":%d,"input_length":%d,"output_length":%d,"hash_ids":[%s]}`+"\n",
			int64(float64(i)*1000/qps), 512*len(ids), 64+next()%256, strings.Join(ids, ","))
	}
	return out.Bytes()
}

// BenchmarkPrefixCaching runs a shared-prefix trace with prefix caching off
// and on (sarathi and vllm_v1): what the cache costs in simulation speed (and
// what it saves: fewer prefill tokens make fewer, cheaper iterations).
func BenchmarkPrefixCaching(b *testing.B) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		b.Fatal(err)
	}
	const n = 10_000
	data := sharedPrefixTrace(n, 4)
	for _, sched := range []string{"sarathi", "vllm_v1"} {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s_prefix_caching_%v", sched, on), func(b *testing.B) {
				cfg := engine.DefaultConfig()
				cfg.Scheduler.Type, cfg.Scheduler.EnablePrefixCaching = sched, on
				w, err := workload.Load([]workload.File{{Name: "shared.jsonl", R: bytes.NewReader(data)}}, cfg.WorkloadOptions())
				if err != nil {
					b.Fatal(err)
				}
				var res *engine.Result
				for b.Loop() {
					if res, err = engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(res.NumBatches), "iterations")
				b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "requests/s")
				if res.PrefixCache != nil {
					b.ReportMetric(float64(res.PrefixCache.HitTokens)/float64(res.PrefixCache.PromptTokens), "hit_rate")
				}
			})
		}
	}
}

// BenchmarkRouting runs the shared-prefix trace at 32 QPS on 8 replicas
// (vllm_v1, prefix caching on) under each global scheduler: what routing
// costs in simulation speed, and the prefix hit rate it leads to.
func BenchmarkRouting(b *testing.B) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		b.Fatal(err)
	}
	const n = 10_000
	data := sharedPrefixTrace(n, 32)
	for _, gs := range engine.GlobalSchedulerNames {
		b.Run(gs, func(b *testing.B) {
			cfg := engine.DefaultConfig()
			cfg.Scheduler.Type, cfg.Scheduler.EnablePrefixCaching = "vllm_v1", true
			cfg.Cluster.NumReplicas, cfg.Cluster.GlobalScheduler = 8, gs
			w, err := workload.Load([]workload.File{{Name: "shared.jsonl", R: bytes.NewReader(data)}}, cfg.WorkloadOptions())
			if err != nil {
				b.Fatal(err)
			}
			var res *engine.Result
			for b.Loop() {
				if res, err = engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(res.NumBatches), "iterations")
			b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "requests/s")
			b.ReportMetric(float64(res.PrefixCache.HitTokens)/float64(res.PrefixCache.PromptTokens), "hit_rate")
		})
	}
}

// BenchmarkDisaggregation runs splitwise_conv lengths at 16 QPS on 4
// replicas, colocated and as 2 prefill + 2 decode over each link preset
// (Sarathi): what disaggregation costs in simulation speed.
func BenchmarkDisaggregation(b *testing.B) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		b.Fatal(err)
	}
	const n = 10_000
	data := splitwiseLengths(b, n)
	for _, link := range append([]string{"colocated"}, engine.KVLinkNames...) {
		b.Run(link, func(b *testing.B) {
			cfg := engine.DefaultConfig()
			cfg.Workload.NumRequests, cfg.Workload.QPS = n, 16
			cfg.Cluster.NumReplicas, cfg.Cluster.GlobalScheduler = 4, "least_loaded"
			if link != "colocated" {
				cfg.Cluster.PrefillReplicas, cfg.Cluster.KVTransferLink = 2, link
			}
			w, err := workload.Load([]workload.File{{Name: "lengths.csv", R: bytes.NewReader(data)}}, cfg.WorkloadOptions())
			if err != nil {
				b.Fatal(err)
			}
			var res *engine.Result
			for b.Loop() {
				if res, err = engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(res.NumBatches), "iterations")
			b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "requests/s")
		})
	}
}

// BenchmarkSimulateMillion runs 1M requests as BenchmarkSimulate's lean mode
// does, at 32 QPS, then report.Analyze (the page's key results and plots),
// and reports the memory the process got from the system (sys_MiB: under
// GOOS=js, the wasm32 linear memory, at most 4 GiB). It runs only with
// SERVESIM_BENCH_1M=1 (a minute natively, several under GOOS=js).
func BenchmarkSimulateMillion(b *testing.B) {
	if os.Getenv("SERVESIM_BENCH_1M") != "1" {
		b.Skip("SERVESIM_BENCH_1M=1 runs it")
	}
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		b.Fatal(err)
	}
	const n = 1_000_000
	cfg := engine.DefaultConfig()
	cfg.Workload.NumRequests = n
	cfg.Workload.QPS = 32
	w, err := workload.Load([]workload.File{{Name: "lengths.csv", R: bytes.NewReader(splitwiseLengths(b, n))}}, cfg.WorkloadOptions())
	if err != nil {
		b.Fatal(err)
	}
	cpu := cputime.Seconds()
	var k report.KeyResults
	for b.Loop() {
		res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{SkipBatches: true})
		if err != nil {
			b.Fatal(err)
		}
		k, _ = report.Analyze(res)
	}
	if c := cputime.Seconds(); c > 0 {
		b.ReportMetric((c-cpu)/float64(b.N), "cpu_s/op")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<20), "sys_MiB")
	b.ReportMetric(float64(k.DecodeTokens), "decode_tokens")
}

// BenchmarkEngineTiming runs 5,000 requests of splitwise_conv.csv lengths,
// Poisson at 4 and 16 QPS, Sarathi, on the measured H200 set in engine
// timing (CUDA-graph padding, host table, overlap, the prefill and decode
// launch models), lean: the cost of the engine timing model's predictions.
func BenchmarkEngineTiming(b *testing.B) {
	set, err := profiles.Embedded().Open("h200/qwen3-0.6b")
	if err != nil {
		b.Fatal(err)
	}
	data := splitwiseLengths(b, 5000)
	for _, qps := range []float64{4, 16} {
		cfg := engine.DefaultConfig()
		cfg.Workload.NumRequests, cfg.Workload.QPS = 5000, qps
		cfg.Replica.Device, cfg.Replica.NetworkDevice = set.Meta.Device, set.Meta.NetworkDevice
		cfg.Predictor.TimingModel = engine.TimingEngine
		w, err := workload.Load([]workload.File{{Name: "lengths.csv", R: bytes.NewReader(data)}}, cfg.WorkloadOptions())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("splitwise_conv_5k_qps%g", qps), func(b *testing.B) {
			var res *engine.Result
			cpu := cputime.Seconds()
			for b.Loop() {
				if res, err = engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set, Network: profiles.Embedded().Network()}, engine.Options{SkipBatches: true}); err != nil {
					b.Fatal(err)
				}
			}
			if c := cputime.Seconds(); c > 0 {
				b.ReportMetric((c-cpu)/float64(b.N), "cpu_s/op")
			}
			b.ReportMetric(float64(res.NumBatches), "iterations")
		})
	}
}
