package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/engine/workload"
)

// capFiles are a run's outputs that do not print its configuration (the
// cap is in run_meta.json and summary.md), with its key results and the
// page's plot data.
func capFiles(t *testing.T, res *engine.Result) map[string][]byte {
	t.Helper()
	names := []string{"request_metrics.csv", "token_metrics.csv"}
	if res.Batches != nil {
		names = append(names, "batch_metrics.csv", "chrome_trace.json")
	}
	out := files(t, res, names)
	for k, v := range map[string]any{"keys": report.Compute(res), "plots": report.PlotData(res),
		"counts": []any{res.NumBatches, res.Replicas, res.Iterations, res.EndNs, res.Restarts, res.TermMs, res.PrefixCache, res.Stopped}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

// Result.BatchCapFreeFrom is what a capacity search shares points by: a run
// reporting N > 0 must be the same simulation under every cap from N up
// (checked by running them: caps N, between N and the run's own, the run's
// own and above, every output byte for byte and the same N reported), and
// N must be the least such cap (at N-1 the cap binds: 0 reported). Over
// randomRun's configurations (every scheduler, replicas, PP, TP, prefix
// caching, disaggregation, time limits, four timing sources), early
// stopping on a random objective, and a memory budget.
func TestBatchCapFreeFrom_SameSimulation(t *testing.T) {
	n := 80
	if testing.Short() {
		n = 25
	}
	rng := rand.New(rand.NewPCG(15, 15))
	shown, bound := 0, 0
	for i := range n {
		name, cfg, in := randomRun(t, rng)
		opt := engine.Options{}
		switch rng.IntN(4) {
		case 0:
			spec := slo.Default()
			spec.TTFTMs, spec.TTFTPercentile = 50+rng.Float64()*2000, 50+rng.Float64()*50
			cfg.SLO = &spec
			opt.StopOnSLOFail = true
		case 1:
			opt.SkipBatches = true
		case 2:
			opt.MemoryBudget = 1 << 20 << rng.IntN(4)
		}
		t.Run(fmt.Sprint(i, "-", name), func(t *testing.T) {
			run := func(c int) (*engine.Result, error) {
				cc := cfg
				cc.Scheduler.BatchSizeCap = c
				return engine.Run(context.Background(), cc, in, opt)
			}
			c := cfg.Scheduler.BatchSizeCap
			ref, err := run(c)
			if err != nil {
				var lim *workload.LimitError
				if errors.As(err, &lim) {
					t.Skip(err) // the memory budget refused it
				}
				t.Fatal(err)
			}
			nf := ref.BatchCapFreeFrom
			pp := cfg.Replica.NumPipelineStages
			if (cfg.Scheduler.Type != "sarathi" && cfg.Scheduler.Type != "vllm" || cfg.Cluster.PrefillReplicas > 0) && nf != 0 {
				t.Fatalf("%s: BatchCapFreeFrom %d, not worked out for it", cfg.Scheduler.Type, nf)
			}
			if nf == 0 {
				if cfg.Scheduler.Type == "sarathi" || cfg.Scheduler.Type == "vllm" {
					bound++
				}
				return
			}
			shown++
			if nf > c || nf < pp {
				t.Fatalf("BatchCapFreeFrom %d outside [pp %d, cap %d]", nf, pp, c)
			}
			want := capFiles(t, ref)
			for _, c2 := range []int{nf, (nf + c) / 2, c + 1, 2 * c, 4096} {
				got, err := run(c2)
				if err != nil {
					t.Fatalf("cap %d (BatchCapFreeFrom %d): %v", c2, nf, err)
				}
				if got.BatchCapFreeFrom != nf {
					t.Errorf("cap %d: BatchCapFreeFrom %d, at cap %d it was %d", c2, got.BatchCapFreeFrom, c, nf)
				}
				for f, b := range capFiles(t, got) {
					if !bytes.Equal(b, want[f]) {
						t.Errorf("cap %d (BatchCapFreeFrom %d, run at cap %d): %s differs", c2, nf, c, f)
					}
				}
			}
			if nf-1 >= max(1, pp) {
				got, err := run(nf - 1)
				if err == nil && got.BatchCapFreeFrom != 0 {
					t.Errorf("cap %d: BatchCapFreeFrom %d, but the cap %d run compared a value of %d with it", nf-1, got.BatchCapFreeFrom, c, nf-1)
				}
			}
		})
	}
	t.Logf("%d of %d runs reported a cap from which they are the same (%d sarathi/vllm runs where the cap bound)", shown, n, bound)
	if shown < n/8 || bound < n/16 {
		t.Errorf("only %d runs reported a free cap and %d bound: the test does not exercise both", shown, bound)
	}
}
