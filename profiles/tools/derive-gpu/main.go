// Command derive-gpu derives a profile set for another GPU from a measured
// one: every GPU time of the set (mlp.csv and attention.csv rows, engine.json's
// launch-model costs and mixed-graph decode rows) is multiplied by the roofline
// estimate's ratio of the target GPU's time to the measured GPU's for that
// operator at that shape (engine/roofline: the same fitted coefficients on
// both, so the ratio is the datasheets' compute and bandwidth where each op
// is bound by them, and 1 where its fixed cost dominates). Host time,
// CUDA-graph sizes and the scheduler stay: they are the engine's, and the
// host's CPU is not the GPU's. The result is SYNTHESIZED: no GPU of the target
// kind was timed for it.
//
// It checks the ratios on operators timed on both GPUs by one profiler
// (-check_from, -check_to: the eager loop's per-op sets, whose cuBLAS GEMMs are
// the reference engine's own calls) and writes the check into PROVENANCE.md.
//
// Run from the repository root:
//
//	go run ./profiles/tools/derive-gpu
package main

import (
	"github.com/servesim/servesim/profiles/internal/packdir"

	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/report"
	"github.com/servesim/servesim/engine/roofline"
)

func main() {
	from := flag.String("from", "profiles/h200/qwen3-0.6b", "the measured set to derive from")
	fromGPU := flag.String("from_gpu", "h200", "the GPU it was measured on (catalogue name)")
	to := flag.String("to", "h100", "the GPU to derive for (catalogue name)")
	out := flag.String("out", "profiles/h100/qwen3-0.6b", "output folder")
	checkFrom := flag.String("check_from", "bench/gpu/h200-eager/profile/mlp.csv", "one profiler's mlp.csv on the measured GPU")
	checkTo := flag.String("check_to", "profiles/h100/qwen3-0.6b-eager-loop/mlp.csv", "the same profiler's mlp.csv on the target GPU")
	flag.Parse()
	if err := run(*from, *fromGPU, *to, *out, *checkFrom, *checkTo); err != nil {
		fmt.Fprintln(os.Stderr, "derive-gpu:", err)
		os.Exit(1)
	}
}

// deriver holds the two GPUs and the model's shard.
type deriver struct {
	src, dst model.GPU
	shard    roofline.Shard
	k        roofline.Coeffs
}

// ratio is the estimate's time on dst over its time on src for work w of class c.
func (d *deriver) ratio(c roofline.Class, w roofline.Work) float64 {
	k := d.k[c]
	return k.Time(w, d.dst) / k.Time(w, d.src)
}

// mlpRatio is the ratio for an mlp.csv operator on n tokens (false: no such operator).
func (d *deriver) mlpRatio(op string, n float64) (float64, bool) {
	for _, o := range roofline.MLPOps {
		if o.Name == op {
			return d.ratio(o.Class, d.shard.MLPWork(op, n)), true
		}
	}
	return 0, false
}

func run(from, fromGPU, to, out, checkFrom, checkTo string) error {
	var meta struct {
		Name          string `json:"name"`
		Model         string `json:"model"`
		NetworkDevice string `json:"network_device"`
	}
	if err := readJSON(filepath.Join(from, "profile.json"), &meta); err != nil {
		return err
	}
	m, err := model.Lookup(meta.Model)
	if err != nil {
		return err
	}
	if meta.NetworkDevice == "" {
		return fmt.Errorf("%s: profile.json names no network_device", from)
	}
	src, err := model.LookupGPU(fromGPU)
	if err != nil {
		return err
	}
	dst, err := model.LookupGPU(to)
	if err != nil {
		return err
	}
	fit, err := roofline.Embedded()
	if err != nil {
		return err
	}
	d := &deriver{src: src, dst: dst, shard: roofline.Shard{M: m, TP: 1}, k: fit.Coeffs}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	mlpSpan, err := d.scaleCSV(filepath.Join(from, "mlp.csv"), filepath.Join(out, "mlp.csv"), d.mlpRowRatio)
	if err != nil {
		return err
	}
	attnSpan, err := d.scaleCSV(filepath.Join(from, "attention.csv"), filepath.Join(out, "attention.csv"), d.attnRowRatio)
	if err != nil {
		return err
	}
	if err := d.engineJSON(filepath.Join(from, "engine.json"), filepath.Join(out, "engine.json"), to); err != nil {
		return err
	}
	host, err := os.ReadFile(filepath.Join(from, "host_overheads.csv"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "host_overheads.csv"), host, 0o644); err != nil {
		return err
	}
	check, err := d.check(checkFrom, checkTo)
	if err != nil {
		return err
	}
	name := to + "/" + strings.SplitN(meta.Name, "/", 2)[1]
	summary := fmt.Sprintf("SYNTHESIZED for the %s from %s (MEASURED on the %s): every GPU time scaled by the roofline "+
		"estimate's %s/%s ratio for its operator and shape (MLP-side ops x%.2f-%.2f, attention x%.2f-%.2f); host time, "+
		"CUDA graphs and scheduling as measured; not validated on a real %s run (none could be had); the ratio's check "+
		"on the cuBLAS GEMMs timed on both GPUs: median |error| %.1f%%, P90 %.1f%%",
		strings.ToUpper(to), meta.Name, strings.ToUpper(fromGPU), to, fromGPU, mlpSpan[0], mlpSpan[1], attnSpan[0], attnSpan[1],
		strings.ToUpper(to), 100*check.gemmMed, 100*check.gemmP90)
	pj, err := json.MarshalIndent(map[string]string{"name": name, "model": meta.Model, "device": to,
		"network_device": meta.NetworkDevice, "kind": "synthesized", "summary": summary}, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "profile.json"), append(pj, '\n'), 0o644); err != nil {
		return err
	}
	prov := provenance(name, meta.Name, fromGPU, to, src, dst, mlpSpan, attnSpan, check)
	if err := os.WriteFile(filepath.Join(out, "PROVENANCE.md"), []byte(prov), 0o644); err != nil {
		return err
	}
	if err := packdir.Pack(out); err != nil { // the packs the profiles package embeds
		return err
	}
	fmt.Println(summary)
	return nil
}

// mlpRowRatio gives the multiplier of each timing column of an mlp.csv row.
func (d *deriver) mlpRowRatio(row map[string]string, col string) (float64, error) {
	n, err := strconv.ParseFloat(row["num_tokens"], 64)
	if err != nil {
		return 0, fmt.Errorf("num_tokens %q: %w", row["num_tokens"], err)
	}
	op := strings.Split(col, ".")[1]
	r, ok := d.mlpRatio(op, n)
	if !ok {
		return 0, fmt.Errorf("no roofline operator for mlp.csv column %s", col)
	}
	return r, nil
}

// attnRowRatio gives the multiplier of each timing column of an attention.csv row.
func (d *deriver) attnRowRatio(row map[string]string, col string) (float64, error) {
	num := func(k string) (float64, error) { return strconv.ParseFloat(row[k], 64) }
	b, err1 := num("batch_size")
	c, err2 := num("prefill_chunk_size")
	kv, err3 := num("kv_cache_size")
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, err
	}
	switch strings.Split(col, ".")[1] {
	case "attn_decode":
		return d.ratio(roofline.AttnDecode, d.shard.DecodeWork(b, max(kv, 1))), nil
	case "attn_prefill":
		return d.ratio(roofline.AttnPrefill, d.shard.PrefillWork(max(c, 1), kv)), nil
	case "attn_kv_cache_save":
		n := b
		if row["is_prefill"] == "True" {
			n = c
		}
		return d.ratio(roofline.KVSave, d.shard.KVSaveWork(max(n, 1))), nil
	}
	return 0, fmt.Errorf("no roofline operator for attention.csv column %s", col)
}

// scaleCSV writes in's rows with every time_stats column multiplied by its
// ratio; returns the least and largest ratio used.
func (d *deriver) scaleCSV(in, outPath string, ratio func(map[string]string, string) (float64, error)) ([2]float64, error) {
	span := [2]float64{math.Inf(1), math.Inf(-1)}
	f, err := os.ReadFile(in)
	if err != nil {
		return span, err
	}
	recs, err := csv.NewReader(bytes.NewReader(f)).ReadAll()
	if err != nil {
		return span, fmt.Errorf("%s: %w", in, err)
	}
	head := recs[0]
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(head)
	for li, rec := range recs[1:] {
		row := map[string]string{}
		for i, h := range head {
			row[h] = rec[i]
		}
		outRec := slices.Clone(rec)
		for i, h := range head {
			if !strings.HasPrefix(h, "time_stats.") || rec[i] == "" {
				continue
			}
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil {
				return span, fmt.Errorf("%s:%d: column %s: %w", in, li+2, h, err)
			}
			r, err := ratio(row, h)
			if err != nil {
				return span, fmt.Errorf("%s:%d: %w", in, li+2, err)
			}
			span[0], span[1] = min(span[0], r), max(span[1], r)
			outRec[i] = strconv.FormatFloat(v*r, 'f', 6, 64)
		}
		w.Write(outRec)
	}
	w.Flush()
	return span, os.WriteFile(outPath, buf.Bytes(), 0o644)
}

// engineJSON copies engine.json with its GPU-time constants scaled: the
// decode launch model's costs and the mixed graphs' decode rows by the
// decode attention ratio at their shapes, the prefill launch's by the
// prefill ratio at a 512-token chunk (its model is read as a ratio to the
// grid, so only its shape matters), the idle GPU's wake-up cost as is (a
// clock ramp, not a kernel).
func (d *deriver) engineJSON(in, outPath, to string) error {
	var e map[string]any
	if err := readJSON(in, &e); err != nil {
		return err
	}
	e["engine"] = fmt.Sprintf("%v, derived for the %s (servesim derive-gpu)", e["engine"], strings.ToUpper(to))
	if dl, ok := e["decode_launch"].(map[string]any); ok {
		r := d.ratio(roofline.AttnDecode, d.shard.DecodeWork(32, 1024))
		for _, k := range []string{"block_ms", "key_ms", "combine_ms"} {
			if v, ok := dl[k].(float64); ok {
				dl[k] = v * r
			}
		}
		dl["source"] = fmt.Sprintf("%v; costs x%.3f (derive-gpu: the decode attention ratio at 32 x 1024 keys)", dl["source"], r)
	}
	if pl, ok := e["prefill_launch"].(map[string]any); ok {
		r := d.ratio(roofline.AttnPrefill, d.shard.PrefillWork(512, 512))
		for _, k := range []string{"floor_ms", "block_ms", "key_ms"} {
			if v, ok := pl[k].(float64); ok {
				pl[k] = v * r
			}
		}
	}
	if md, ok := e["mixed_decode"].(map[string]any); ok {
		gs, _ := md["graphs"].([]any)
		for _, g := range gs {
			rows, _ := g.(map[string]any)["rows"].([]any)
			for _, row := range rows {
				r := row.([]any)
				k, c, ms := r[0].(float64), r[1].(float64), r[2].(float64)
				r[2] = round6(ms * d.ratio(roofline.AttnDecode, d.shard.DecodeWork(max(k, 1), max(c, 1))))
			}
		}
		md["source"] = fmt.Sprintf("%v; each row x the decode attention ratio at its decodes and context (derive-gpu)", md["source"])
	}
	b, err := json.MarshalIndent(e, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(outPath, append(b, '\n'), 0o644)
}

// checkResult compares the derived ratio with the measured one.
type checkResult struct {
	gemmMed, gemmP90, otherMed float64
	gemmN, otherN              int
	gemmMeasuredMed            float64
	from, to                   string
}

// check scores the ratio on every operator and token count both profiles of
// one profiler have: |derived ratio / measured ratio - 1|, the GEMMs (the
// same cuBLAS calls as the reference engine's) apart from the rest (other
// kernels than the engine's).
func (d *deriver) check(fromPath, toPath string) (checkResult, error) {
	res := checkResult{from: repoPath(fromPath), to: repoPath(toPath)}
	a, err := readMLP(fromPath)
	if err != nil {
		return res, err
	}
	b, err := readMLP(toPath)
	if err != nil {
		return res, err
	}
	var gemm, other, measured []float64
	for n, ra := range a {
		rb, ok := b[n]
		if !ok {
			continue
		}
		for op, ta := range ra {
			tb, ok := rb[op]
			r, known := d.mlpRatio(op, float64(n))
			if !ok || !known || ta <= 0 || tb <= 0 {
				continue
			}
			e := math.Abs(r/(tb/ta) - 1)
			if strings.HasSuffix(op, "_proj") || op == "lm_head" {
				gemm = append(gemm, e)
				measured = append(measured, tb/ta)
			} else {
				other = append(other, e)
			}
		}
	}
	if len(gemm) == 0 {
		return res, fmt.Errorf("check: %s and %s share no GEMM rows", fromPath, toPath)
	}
	res.gemmMed, res.gemmP90, res.gemmN = quantile(gemm, 0.5), quantile(gemm, 0.9), len(gemm)
	res.otherMed, res.otherN = quantile(other, 0.5), len(other)
	res.gemmMeasuredMed = quantile(measured, 0.5)
	return res, nil
}

func readMLP(p string) (map[int]map[string]float64, error) {
	f, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	recs, err := csv.NewReader(bytes.NewReader(f)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	head := recs[0]
	out := map[int]map[string]float64{}
	for li, rec := range recs[1:] {
		var n int
		row := map[string]float64{}
		for i, h := range head {
			switch {
			case h == "num_tokens":
				if n, err = strconv.Atoi(rec[i]); err != nil {
					return nil, fmt.Errorf("%s:%d: num_tokens: %w", p, li+2, err)
				}
			case strings.HasPrefix(h, "time_stats.") && strings.HasSuffix(h, ".median") && rec[i] != "":
				v, err := strconv.ParseFloat(rec[i], 64)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %s: %w", p, li+2, h, err)
				}
				row[strings.Split(h, ".")[1]] = v
			}
		}
		out[n] = row
	}
	return out, nil
}

func provenance(name, from, fromGPU, to string, src, dst model.GPU, mlpSpan, attnSpan [2]float64, c checkResult) string {
	up := strings.ToUpper
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: SYNTHESIZED (derived from the measured %s set)\n\n", name, up(fromGPU))
	fmt.Fprintf(&b, "Written by `go run ./profiles/tools/derive-gpu` (do not edit). No %s was available to run servesim's\n", up(to))
	fmt.Fprintf(&b, "reference engine on; this set is what that engine's measured %s set (`%s`, its PROVENANCE.md says\n", up(fromGPU), from)
	fmt.Fprintf(&b, "how it was measured and its validated error on %s real runs) becomes on the %s by hardware scaling alone.\n\n", up(fromGPU), up(to))
	b.WriteString("## Method\n\n")
	fmt.Fprintf(&b, "Every GPU time of the %s set is multiplied by the roofline estimate's (`engine/roofline`, coefficients in\n", up(fromGPU))
	b.WriteString("`engine/roofline/coeffs.json`) ratio of its time on the target to its time on the source for that operator at\n")
	b.WriteString("that row's shape: one set of fitted coefficients per operator class on both GPUs, so the ratio is the datasheet\n")
	fmt.Fprintf(&b, "ratio where the op is compute- or bandwidth-bound (%s: %.0f BF16 TFLOP/s, %.0f GB/s; %s: %.0f, %.0f) and\n",
		up(fromGPU), src.BF16TFLOPS, src.HBMGBps, up(to), dst.BF16TFLOPS, dst.HBMGBps)
	b.WriteString("near 1 where the kernel's fixed cost dominates.\n\n")
	fmt.Fprintf(&b, "- `mlp.csv`: each op's row at its token count (x%.3f to x%.3f); the rows were already the in-situ graph times.\n", mlpSpan[0], mlpSpan[1])
	fmt.Fprintf(&b, "- `attention.csv`: decode rows at their batch and context, prefill rows at their chunk and cached keys, the KV\n  write at its tokens (x%.3f to x%.3f).\n", attnSpan[0], attnSpan[1])
	b.WriteString("- `engine.json`: the decode launch model's costs and every mixed-graph decode row by the decode ratio (at 32 x\n")
	b.WriteString("  1024 keys, and at each row's own decodes and context), the prefill launch's by the prefill ratio at a 512-token\n")
	b.WriteString("  chunk (its model is read as a ratio to the grid, so its scale cancels); CUDA-graph sizes, overlap, sync and the\n")
	b.WriteString("  idle GPU's wake-up cost as measured; the eager launch (host time) and the decode graphs' in-run factors\n")
	fmt.Fprintf(&b, "  (`decode_in_run`, ratios fitted on the %s's served runs) as they are.\n", up(fromGPU))
	fmt.Fprintf(&b, "- `host_overheads.csv`: as measured on the %s's host: host time is the engine's Python on the host CPU, which\n  no GPU ratio describes; an %s host with another CPU will differ.\n\n", up(fromGPU), up(to))
	b.WriteString("## Check and validated error\n\n")
	fmt.Fprintf(&b, "Not validated on a real %s run of the reference engine: none could be had. The ratio itself is checked\n", up(to))
	fmt.Fprintf(&b, "against one profiler's per-op timings on both GPUs (`%s` on the %s, `%s` on the %s: the eager loop's\n", c.from, up(fromGPU), c.to, up(to))
	b.WriteString("profiler, whose GEMMs are the same cuBLAS `F.linear` calls the reference engine makes): |derived ratio / measured\n")
	fmt.Fprintf(&b, "ratio - 1| over %d GEMM rows: median %.1f%%, P90 %.1f%% (the measured GEMM ratio's median is x%.3f); over the %d\n",
		c.gemmN, 100*c.gemmMed, 100*c.gemmP90, c.gemmMeasuredMed, c.otherN)
	fmt.Fprintf(&b, "rows of other kernels (the eager loop's own norm, RoPE, activation and embedding kernels, not the engine's):\n")
	fmt.Fprintf(&b, "median %.1f%%. Attention has no such check: the eager loop's attention gathers keys through PyTorch SDPA\n", 100*c.otherMed)
	b.WriteString("(its decode ran x1.04-1.18 slower on the H100 than on the H200), the reference engine's Triton kernel reads the\n")
	b.WriteString("paged cache directly, close to the bandwidth the ratio scales by; expect its decode steps to be off by up to the\n")
	b.WriteString("difference between those.\n")
	return b.String()
}

// repoPath is p from the repository root (the tool runs there, its tests
// from their package), for what PROVENANCE.md names.
func repoPath(p string) string {
	p = filepath.ToSlash(filepath.Clean(p))
	for strings.HasPrefix(p, "../") {
		p = p[3:]
	}
	return p
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// quantile is report.Quantile of v (unsorted; NaN when empty).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	return report.Quantile(s, q)
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
