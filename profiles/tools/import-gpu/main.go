// Command import-gpu turns a device run of profiles/tools/gpu (profile_qwen3.py
// and realbench.py results, as a folder) into servesim's MEASURED profile set
// profiles/<card>/qwen3-0.6b and the benchmark folder bench/gpu/<card>/:
//
//   - mlp.csv and attention.csv as measured (Vidur schema);
//
//   - cpu_overheads.csv: the real server loop's host overhead per iteration,
//     wall time minus the profile's predicted GPU time for that iteration's
//     shape, fitted on the spaced-2s, poisson-moderate and poisson-heavy-fit
//     runs only (seed, poisson-saturation and the vLLM run stay out);
//
//   - PROVENANCE.md with card, driver, software, clocks, method and spread.
//
//     go run ./profiles/tools/import-gpu --results DIR --card h100 --origin "one call on one H100 machine"
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing/fstest"

	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/report"
)

func main() {
	results := flag.String("results", "", "device results folder (profile/ and real/)")
	card := flag.String("card", "h200", "card name for the folders")
	origin := flag.String("origin", "", "how the device runs were made, for PROVENANCE.md (required)")
	flag.Parse()
	if err := run(*results, *card, *origin); err != nil {
		fmt.Fprintln(os.Stderr, "import-gpu:", err)
		os.Exit(1)
	}
}

// fitWorkloads inform cpu_overheads.csv; the others are held out.
var fitWorkloads = []string{"spaced-2s", "poisson-moderate", "poisson-heavy-fit"}

type iteration struct {
	wallMs float64
	batch  predict.Batch
}

func readLog(path string) ([]iteration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var out []iteration
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		num := func(i int) int { v, _ := strconv.Atoi(f[i]); return v }
		start, _ := strconv.ParseInt(f[1], 10, 64)
		end, _ := strconv.ParseInt(f[2], 10, 64)
		it := iteration{wallMs: float64(end-start) / 1e6}
		it.batch = predict.Batch{NumRequests: num(3), Tokens: num(4), NumDecodes: num(5), DecodeContextSum: int64(num(6)),
			NewRequests: num(8), LogitSeqs: num(9)}
		if len(f) > 10 {
			it.batch.DecodeContextMax = num(10)
		}
		if f[7] != "" {
			for _, p := range strings.Split(f[7], ";") {
				cp := strings.Split(p, ":")
				c, _ := strconv.Atoi(cp[0])
				pr, _ := strconv.Atoi(cp[1])
				it.batch.Prefills = append(it.batch.Prefills, predict.Prefill{Chunk: c, Processed: pr})
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// bin maps a batch size to the cpu_overheads.csv grid (powers of two).
func bin(b int) int {
	g := 1
	for g*2 <= b {
		g *= 2
	}
	if b-g > 2*g-b {
		return 2 * g
	}
	return g
}

func run(results, card, origin string) error {
	if results == "" || origin == "" {
		return fmt.Errorf("--results and --origin are required")
	}
	out := filepath.Join("profiles", card, "qwen3-0.6b")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var env map[string]any
	b, err := os.ReadFile(filepath.Join(results, "profile/env.json"))
	if err != nil {
		return err
	}
	json.Unmarshal(b, &env)
	mlp, _ := os.ReadFile(filepath.Join(results, "profile/mlp.csv"))
	attn, _ := os.ReadFile(filepath.Join(results, "profile/attention.csv"))
	gemm, _ := os.ReadFile(filepath.Join(results, "profile/vidur_gemm_check.json"))
	gpu := fmt.Sprint(env["gpu"])
	meta := func(summary string) []byte {
		return []byte(fmt.Sprintf(`{
  "name": "%s/qwen3-0.6b",
  "model": "Qwen/Qwen3-0.6B",
  "device": "%s",
  "network_device": "h100_pairwise_nvlink",
  "kind": "measured",
  "summary": %q,
  "cpu_overhead_engine": "servesim real-bench loop (PyTorch eager, profiles/tools/gpu/realbench.py) on %s"
}
`, card, card, summary, gpu))
	}
	// Host overhead: residual of the real loop against the measured GPU times.
	fsys := fstest.MapFS{"mlp.csv": {Data: mlp}, "attention.csv": {Data: attn},
		"profile.json": {Data: meta("candidate")}, "PROVENANCE.md": {Data: []byte("candidate")}}
	set, err := predict.Open(fsys, "candidate")
	if err != nil {
		return err
	}
	m, _ := model.Lookup("Qwen/Qwen3-0.6B")
	p, err := predict.New(set, nil, predict.Options{Model: m, TP: 1, PP: 1, HeadDim: 128, KVCachePredictionGranularity: 64,
		AttentionDecodeBatchingOverhead: 0.1, AttentionPrefillBatchingOverhead: 0.1, LMHead: true, Embedding: true, Extrapolate: true,
		DecodeContextMax: true}) // the real loop pads every decode's keys to the longest context
	if err != nil {
		return err
	}
	resid := map[int][]float64{}
	type adm struct {
		b   int
		r   float64
		new int
	}
	var admits []adm
	for _, w := range fitWorkloads {
		its, err := readLog(filepath.Join(results, "real", w, "batch_log.csv"))
		if err != nil {
			return err
		}
		for _, it := range its {
			bd, err := p.Stage(p.KeyOf(it.batch), 0)
			if err != nil {
				return err
			}
			r := it.wallMs - bd.ModelMs()
			if it.batch.NewRequests == 0 {
				resid[bin(it.batch.NumRequests)] = append(resid[bin(it.batch.NumRequests)], r)
			} else {
				admits = append(admits, adm{bin(it.batch.NumRequests), r, it.batch.NewRequests})
			}
		}
	}
	var bins []int
	for k := range resid {
		bins = append(bins, k)
	}
	sort.Ints(bins)
	base := map[int]float64{}
	var rows strings.Builder
	for _, k := range bins {
		m := report.Median(resid[k])
		// Host time cannot be negative: a negative residual means the profile
		// over-predicts GPU time there (reported, and clamped to 0).
		base[k] = math.Max(0, m)
		fmt.Fprintf(&rows, "| %d | %d | %.3f | %.3f |\n", k, len(resid[k]), m, base[k])
	}
	var adm1 []float64
	for _, a := range admits {
		bb, ok := base[a.b]
		if !ok {
			bb = base[bins[len(bins)-1]]
		}
		adm1 = append(adm1, (a.r-bb)/float64(a.new))
	}
	admit := math.Max(0, report.Median(adm1))
	// Beyond the largest measured batch size: a least-squares line over the
	// measured bins (marked extrapolated), never below the last measurement.
	var sx, sy, sxx, sxy float64
	for _, k := range bins {
		x := float64(k)
		sx, sy, sxx, sxy = sx+x, sy+base[k], sxx+x*x, sxy+x*base[k]
	}
	n := float64(len(bins))
	slope := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	icpt := (sy - slope*sx) / n
	var cpu strings.Builder
	cpu.WriteString("model_name,batch_size,tensor_parallel_degree,schedule_median,sampler_e2e_median,prepare_inputs_e2e_median,process_model_outputs_median,ray_comm_time_mean,admit_median\n")
	last := bins[len(bins)-1]
	var extrap []string
	for k := 1; k <= 256; k *= 2 {
		v, ok := base[k]
		if !ok {
			if k < last {
				continue // interpolated between measured bins by the predictor
			}
			v = math.Max(base[last], icpt+slope*float64(k))
			extrap = append(extrap, fmt.Sprintf("%d: %.3f ms", k, v))
		}
		fmt.Fprintf(&cpu, "Qwen/Qwen3-0.6B,%d,1,0,0,0,0,%.6f,%.6f\n", k, v, admit)
	}
	// Spread of the profile: std/median per op, median over rows.
	spread := spreadOf(string(mlp), string(attn))
	summary := fmt.Sprintf("MEASURED on an %s (torch %v, CUDA %v, driver %v): every op of the servesim real-bench loop timed with CUDA graphs; host overhead of that loop fitted on 3 of its 6 real runs", gpu, env["torch"], env["cuda"], env["driver"])
	prov := provenance(card, origin, env, spread, rows.String(), admit, extrap, string(gemm))
	files := map[string][]byte{"mlp.csv": mlp, "attention.csv": attn, "cpu_overheads.csv": []byte(cpu.String()),
		"profile.json": meta(summary), "PROVENANCE.md": []byte(prov), "env.json": b, "vidur_gemm_check.json": gemm}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
	}
	// Real runs into bench/gpu/<card>/<workload>/real/.
	entries, err := os.ReadDir(filepath.Join(results, "real"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		dst := filepath.Join("bench/gpu", card, e.Name(), "real")
		os.MkdirAll(dst, 0o755)
		for _, f := range []string{"request_metrics.csv", "token_metrics.csv", "batch_log.csv"} {
			data, err := os.ReadFile(filepath.Join(results, "real", e.Name(), f))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dst, f), data, 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Println("wrote", out, "and bench/gpu/"+card)
	return nil
}

func spreadOf(csvs ...string) map[string]float64 {
	out := map[string]float64{}
	for _, text := range csvs {
		lines := strings.Split(strings.TrimSpace(text), "\n")
		h := strings.Split(lines[0], ",")
		idx := map[string]int{}
		for i, c := range h {
			idx[c] = i
		}
		for c := range idx {
			if !strings.HasSuffix(c, ".median") {
				continue
			}
			op := strings.TrimSuffix(strings.TrimPrefix(c, "time_stats."), ".median")
			var r []float64
			for _, l := range lines[1:] {
				f := strings.Split(l, ",")
				md, e1 := strconv.ParseFloat(f[idx[c]], 64)
				sd, e2 := strconv.ParseFloat(f[idx["time_stats."+op+".std"]], 64)
				if e1 == nil && e2 == nil && md > 0 {
					r = append(r, sd/md*100)
				}
			}
			if len(r) > 0 {
				out[op] = report.Median(r)
			}
		}
	}
	return out
}
