package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/roofline"
)

// decodeFitMinKV is the smallest context whose decode attention rows the
// fit takes (Vidur's first key). The H200 set's rows under it (16-48 keys,
// measured later) are launch-bound in the graph: with them the decode floor
// rose from 10.4 to 12.9 us and the ten-step check (Qwen3-0.6B on the H200)
// went from 18.8% to 22.8%, so they are left out of the fit.
const decodeFitMinKV = 64

// vidurGPUs maps Vidur's profiling folders to catalogue GPUs.
var vidurGPUs = map[string]string{"a100": "a100", "h100": "h100", "a40": "a40"}

// h200Set is the measured set of servesim's reference engine.
const h200Set = "profiles/h200/qwen3-0.6b"

// readCSV reads a CSV into rows keyed by header name.
func readCSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var rows []map[string]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		row := map[string]string{}
		for i, h := range head {
			if i < len(rec) {
				row[h] = rec[i]
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func num(row map[string]string, col, file string) (float64, error) {
	v, err := strconv.ParseFloat(row[col], 64)
	if err != nil {
		return 0, fmt.Errorf("%s: column %s: %w", file, col, err)
	}
	return v, nil
}

// keepTokens thins Vidur's token grid (every 16 or 64 tokens up to 4k or
// 32k) to the powers of two and the multiples of 256: the curves are smooth
// between them, and the fit runs in seconds, not minutes.
func keepTokens(n float64) bool {
	i := int(n)
	return i&(i-1) == 0 || i%256 == 0
}

// vidurSamples reads Vidur's public per-op MLP timings (every GPU, model,
// TP degree and token count of ../shared/vidur-data/profiling/compute).
func vidurSamples(shared string) ([]roofline.Sample, error) {
	var out []roofline.Sample
	files, _ := filepath.Glob(filepath.Join(shared, "vidur-data/profiling/compute/*/*/*/mlp.csv"))
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no Vidur MLP profiles under %s/vidur-data/profiling/compute", shared)
	}
	for _, f := range files {
		parts := strings.Split(filepath.ToSlash(f), "/")
		n := len(parts)
		gpuName, ok := vidurGPUs[parts[n-4]]
		if !ok {
			return nil, fmt.Errorf("%s: unknown GPU folder %s", f, parts[n-4])
		}
		g, err := model.LookupGPU(gpuName)
		if err != nil {
			return nil, err
		}
		m, err := model.Lookup(parts[n-3] + "/" + parts[n-2])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		rows, err := readCSV(f)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			if row["n_embd"] != strconv.Itoa(m.EmbeddingDim) || row["n_expanded_embd"] != strconv.Itoa(m.MLPHiddenDim) {
				return nil, fmt.Errorf("%s: row shape %s/%s is not %s's", f, row["n_embd"], row["n_expanded_embd"], m.Name)
			}
			tp, err := num(row, "num_tensor_parallel_workers", f)
			if err != nil {
				return nil, err
			}
			tokens, err := num(row, "num_tokens", f)
			if err != nil {
				return nil, err
			}
			if !keepTokens(tokens) {
				continue
			}
			sh := roofline.Shard{M: m, TP: int(tp)}
			for _, op := range roofline.MLPOps {
				col := "time_stats." + op.Name + ".median"
				if _, ok := row[col]; !ok || row[col] == "" {
					continue
				}
				ms, err := num(row, col, f)
				if err != nil {
					return nil, err
				}
				smp := roofline.NewSample(op.Class, op.Name, g, m.Name, sh.MLPWork(op.Name, tokens), ms)
				smp.TP, smp.Tokens = tp, tokens
				out = append(out, smp)
			}
		}
	}
	return out, nil
}

// h200Samples reads the measured H200 set: mlp.csv (each kernel of a step
// as the engine's graphs run it) and attention.csv. Its norms are the
// engine's fused residual-add + RMSNorm, its RoPE the fused QK-norm + RoPE,
// its lm_head the final norm, the LM head GEMM and the argmax (priced as
// the GEMM).
func h200Samples(root string) ([]roofline.Sample, error) {
	g, err := model.LookupGPU("h200")
	if err != nil {
		return nil, err
	}
	m, err := model.Lookup("Qwen/Qwen3-0.6B")
	if err != nil {
		return nil, err
	}
	sh := roofline.Shard{M: m, TP: 1}
	var out []roofline.Sample
	f := filepath.Join(root, h200Set, "mlp.csv")
	rows, err := readCSV(f)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		tokens, err := num(row, "num_tokens", f)
		if err != nil {
			return nil, err
		}
		for _, op := range roofline.MLPOps {
			col := "time_stats." + op.Name + ".median"
			if row[col] == "" || op.Name == "lm_head" && tokens > 256 {
				continue // lm_head is keyed by sampled sequences, at most 256 (a decode graph)
			}
			ms, err := num(row, col, f)
			if err != nil {
				return nil, err
			}
			w := sh.MLPWork(op.Name, tokens)
			if op.Name == "input_layernorm" || op.Name == "post_attention_layernorm" {
				w = sh.FusedAddNorm(tokens)
			}
			smp := roofline.NewSample(op.Class, op.Name, g, m.Name, w, ms)
			smp.TP, smp.Tokens = 1, tokens
			out = append(out, smp)
		}
	}
	f = filepath.Join(root, h200Set, "attention.csv")
	if rows, err = readCSV(f); err != nil {
		return nil, err
	}
	saved := map[float64]bool{}
	for _, row := range rows {
		var v [3]float64
		for i, c := range []string{"batch_size", "prefill_chunk_size", "kv_cache_size"} {
			if v[i], err = num(row, c, f); err != nil {
				return nil, err
			}
		}
		b, c, kv := v[0], v[1], v[2]
		save, err := num(row, "time_stats.attn_kv_cache_save.median", f)
		if err != nil {
			return nil, err
		}
		mk := func(cl roofline.Class, op string, w roofline.Work, ms float64, tokens float64) {
			smp := roofline.NewSample(cl, op, g, m.Name, w, ms)
			smp.TP, smp.Tokens, smp.Context = 1, tokens, kv
			out = append(out, smp)
		}
		if !saved[max(b, c)] { // one sample per token count (rows repeat it)
			saved[max(b, c)] = true
			mk(roofline.KVSave, "attn_kv_cache_save", sh.KVSaveWork(max(b, c)), save, max(b, c))
		}
		if c == 0 {
			if kv < decodeFitMinKV {
				continue
			}
			ms, err := num(row, "time_stats.attn_decode.median", f)
			if err != nil {
				return nil, err
			}
			mk(roofline.AttnDecode, "attn_decode", sh.DecodeWork(b, kv), ms, b)
			continue
		}
		ms, err := num(row, "time_stats.attn_prefill.median", f)
		if err != nil {
			return nil, err
		}
		mk(roofline.AttnPrefill, "attn_prefill", sh.PrefillWork(c, kv), ms, c)
	}
	return out, nil
}

// loadAll reads every measured sample: Vidur's and the H200 set's.
func loadAll(root, shared string) ([]roofline.Sample, error) {
	v, err := vidurSamples(shared)
	if err != nil {
		return nil, err
	}
	h, err := h200Samples(root)
	if err != nil {
		return nil, err
	}
	return append(v, h...), nil
}

// opgridFile holds cuBLAS GEMM times of other dense decoders' linear
// layers measured on the H200 (profiles/tools/gpu/opgrid.py): models with
// no profile set, never in the fit.
const opgridFile = "bench/gpu/h200/opgrid/opgrid.csv"

// opgridSamples reads opgridFile as GEMM samples of n tokens x k inputs x
// n outputs (n and k are the file's output and input dimensions).
func opgridSamples(root string) ([]roofline.Sample, error) {
	g, err := model.LookupGPU("h200")
	if err != nil {
		return nil, err
	}
	f := filepath.Join(root, opgridFile)
	rows, err := readCSV(f)
	if err != nil {
		return nil, err
	}
	var out []roofline.Sample
	for _, row := range rows {
		var v [4]float64
		for i, c := range []string{"num_tokens", "n", "k", "median_ms"} {
			if v[i], err = num(row, c, f); err != nil {
				return nil, err
			}
		}
		tokens, nOut, k, ms := v[0], v[1], v[2], v[3]
		w := roofline.Work{FLOPs: 2 * tokens * k * nOut, Bytes: 2 * (k*nOut + tokens*k + tokens*nOut)}
		s := roofline.NewSample(roofline.GEMM, row["op"], g, row["model"], w, ms)
		s.TP, s.Tokens = 1, tokens
		out = append(out, s)
	}
	return out, nil
}
