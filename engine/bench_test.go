package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
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
// arrivals at 4 QPS and Sarathi on the embedded A100 profile, and reports
// simulated requests/s and tokens/s (simulation only; writing files excluded).
func BenchmarkSimulate(b *testing.B) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10_000, 100_000} {
		for _, qps := range []float64{4, 16, 32} {
			b.Run(fmt.Sprintf("splitwise_conv_%dk_qps%g", n/1000, qps), func(b *testing.B) {
				cfg := engine.DefaultConfig()
				cfg.Workload.NumRequests = n
				cfg.Workload.QPS = qps
				data := splitwiseLengths(b, n)
				w, err := workload.Load([]workload.File{{Name: "lengths.csv", R: bytes.NewReader(data)}}, cfg.WorkloadOptions())
				if err != nil {
					b.Fatal(err)
				}
				tokens := 0
				for _, r := range w.Requests {
					tokens += r.Prefill + r.Decode
				}
				b.ResetTimer()
				var res *engine.Result
				for b.Loop() {
					if res, err = engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set}, engine.Options{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(res.Batches)), "iterations")
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(float64(n)/sec, "requests/s")
				b.ReportMetric(float64(tokens)/sec, "tokens/s")
			})
		}
	}
}
