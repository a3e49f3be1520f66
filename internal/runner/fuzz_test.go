package runner_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/profiles"
)

// FuzzRun: any configuration JSON (over the synthetic preset) and any
// workload bytes, run with limits on, end in a run whose requests are all
// accounted for or in an error that is not internal, within the limits.
func FuzzRun(f *testing.F) {
	f.Add([]byte(`{"workload":{"num_requests":8}}`), []byte(""), false)
	f.Add([]byte(`{"workload":{"duration_s":500,"qps":10000}}`), []byte(""), false)
	f.Add([]byte(`{"workload":{"length_generator":"zipf","max_tokens":300000000}}`), []byte(""), false)
	f.Add([]byte(`{"workload":{"interval_generator":"gamma","cv":1e-200,"num_requests":4}}`), []byte(""), false)
	f.Add([]byte(`{"cluster":{"num_replicas":3,"global_scheduler":"lor"},"scheduler":{"type":"vllm"}}`), []byte("arrived_at,num_prefill_tokens,num_decode_tokens\n0,12,64\n0.5,10,3\n"), true)
	f.Add([]byte(`{"scheduler":{"num_blocks":3},"time_limit_s":0.01}`), []byte("num_prefill_tokens,num_decode_tokens\n100,20\n4000,1\n"), true)
	f.Add([]byte(`{"workload":{"prefill_scale_factor":1e6}}`), []byte("num_prefill_tokens,num_decode_tokens\n2147483647,1\n"), true)
	names := map[string]bool{}
	for _, n := range profiles.Embedded().Names() {
		names[n] = true
	}
	f.Fuzz(func(t *testing.T, cfgJSON, content []byte, useFile bool) {
		cfg, err := runner.Config("synthetic")
		if err != nil {
			t.Fatal(err)
		}
		if err := engine.DecodeConfig(bytes.NewReader(cfgJSON), &cfg); err != nil {
			return
		}
		if !names[cfg.Predictor.Profile] { // embedded sets only: a path would read the disk
			cfg.Predictor.Profile = engine.DefaultProfile
		}
		lim := runner.Limits{MaxRequests: 64, MaxTokens: 200_000, MaxReplicas: 4, MemoryBudget: 8 << 20}
		job := runner.Job{Preset: "synthetic", Config: cfg, Limits: lim}
		if useFile {
			job.Files = []workload.File{{Name: "w.csv", R: bytes.NewReader(content)}}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := runner.Run(ctx, job)
		if err != nil {
			if runner.Classify(err) == runner.KindInternal || err.Error() == "" {
				t.Fatalf("internal error: %v", err)
			}
			return
		}
		res := out.Result
		if len(res.Requests) != len(out.Workload.Requests) || len(res.Requests) > lim.MaxRequests {
			t.Fatalf("%d results for %d requests", len(res.Requests), len(out.Workload.Requests))
		}
		if out.Workload.Tokens() > lim.MaxTokens {
			t.Fatalf("%d tokens ran past the limit", out.Workload.Tokens())
		}
		for _, r := range res.Requests {
			switch r.Status {
			case engine.StatusOK:
				if r.DecodeActual != r.Decode || r.FirstTokenNs < r.ArrivalNs || r.CompletionNs < r.FirstTokenNs {
					t.Fatalf("request %+v", r)
				}
			case engine.StatusRejectedTooLong, engine.StatusUnfinished:
			default:
				t.Fatalf("status %q", r.Status)
			}
		}
	})
}
