package engine_test

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/profiles"
)

// TestWatched_SameAsLean: a run with the SLO watch (a capacity search's
// trial) that is not stopped is the lean run, bit for bit: its requests,
// token gaps, per-replica totals, plot buckets, term sums and key results, at light load (decode
// runs, taken in chunks) and near saturation.
func TestWatched_SameAsLean(t *testing.T) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, qps := range []float64{2, 4, 16, 32} {
		cfg := engine.DefaultConfig()
		cfg.Workload.NumRequests = 2000
		cfg.Workload.QPS = qps
		w, err := workload.Load([]workload.File{{Name: "lengths.csv", R: bytes.NewReader(splitwiseLengths(t, 2000))}}, cfg.WorkloadOptions())
		if err != nil {
			t.Fatal(err)
		}
		in := engine.Inputs{Workload: w, Profile: set}
		lean, err := engine.Run(context.Background(), cfg, in, engine.Options{SkipBatches: true})
		if err != nil {
			t.Fatal(err)
		}
		watched, err := engine.Run(context.Background(), cfg, in, engine.Options{SkipBatches: true, StopOnSLOFail: true})
		if err != nil {
			t.Fatal(err)
		}
		if watched.Stopped != nil {
			t.Fatalf("%v QPS: stopped (%+v); the test needs a run that is not", qps, watched.Stopped)
		}
		if !reflect.DeepEqual(lean.Requests, watched.Requests) || !reflect.DeepEqual(lean.Replicas, watched.Replicas) ||
			!reflect.DeepEqual(lean.Iterations, watched.Iterations) || !reflect.DeepEqual(lean.TermMs, watched.TermMs) ||
			lean.NumBatches != watched.NumBatches || lean.EndNs != watched.EndNs {
			t.Fatalf("%v QPS: the watched run's requests, totals, plot buckets or term sums differ from the lean run's", qps)
		}
		for i := range lean.Requests {
			a, _ := lean.TokenGaps(i)
			b, _ := watched.TokenGaps(i)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("%v QPS: request %d's token gaps differ", qps, i)
			}
		}
		if k1, k2 := report.Compute(lean), report.Compute(watched); !reflect.DeepEqual(k1, k2) {
			t.Fatalf("%v QPS: key results differ:\n%+v\n%+v", qps, k1, k2)
		}
	}
}

// TestWatched_TBTStopsAtTheVerdict: with time between tokens the only
// objective, at thresholds whose count of gaps over them falls just below,
// at and just above what the percentile allows, a watched run stops exactly
// when the lean run's verdict is "not met", and a stop never counts more
// gaps over the threshold than the whole run has (the watch's TBT count,
// kept by advanceWatched, decodeRun and advanceSlow, is exact).
func TestWatched_TBTStopsAtTheVerdict(t *testing.T) {
	set, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	cases, stops := 0, 0
	for _, qps := range []float64{4, 24, 40} {
		cfg := engine.DefaultConfig()
		cfg.Workload.NumRequests = 600
		cfg.Workload.QPS = qps
		w, err := workload.Load([]workload.File{{Name: "lengths.csv", R: bytes.NewReader(splitwiseLengths(t, 600))}}, cfg.WorkloadOptions())
		if err != nil {
			t.Fatal(err)
		}
		in := engine.Inputs{Workload: w, Profile: set}
		lean, err := engine.Run(context.Background(), cfg, in, engine.Options{SkipBatches: true})
		if err != nil {
			t.Fatal(err)
		}
		var gaps []int64
		for i := range lean.Requests {
			g, ok := lean.TokenGaps(i)
			if !ok {
				t.Fatal("a gap over 2^32 ns")
			}
			for _, x := range g {
				gaps = append(gaps, int64(x))
			}
		}
		slices.Sort(gaps)
		const pc = 90.0
		at := int(float64(len(gaps)) * pc / 100)
		for _, d := range []int{-40, -3, -1, 0, 1, 3, 40} {
			k := min(max(at+d, 0), len(gaps)-1)
			thrMs := float64(gaps[k]) / 1e6
			c := cfg
			c.SLO = &slo.Spec{TBTMs: thrMs, TBTPercentile: pc}
			full, err := engine.Run(context.Background(), c, in, engine.Options{SkipBatches: true})
			if err != nil {
				t.Fatal(err)
			}
			met := report.Compute(full).SLO.Met
			watched, err := engine.Run(context.Background(), c, in, engine.Options{SkipBatches: true, StopOnSLOFail: true})
			if err != nil {
				t.Fatal(err)
			}
			cases++
			if (watched.Stopped != nil) == met {
				t.Fatalf("%v QPS, P90 TBT within %v ms: stopped %v, the full run's verdict met %v", qps, thrMs, watched.Stopped != nil, met)
			}
			if st := watched.Stopped; st != nil {
				stops++
				over := int64(len(gaps) - sort.Search(len(gaps), func(i int) bool { return float64(gaps[i]) > thrMs*1e6 }))
				if st.Metric != "tbt" || st.Failing > over || st.Failing <= st.Allowed {
					t.Fatalf("%v QPS, P90 TBT within %v ms: stop %+v, the run has %d gaps over", qps, thrMs, *st, over)
				}
			}
		}
	}
	if stops == 0 || stops == cases {
		t.Errorf("%d of %d cases stopped: the thresholds do not test both sides", stops, cases)
	}
}
