package main

import (
	"fmt"
	"sort"
	"strings"
	"testing/fstest"
)

// tokenGrid is Vidur's num_tokens grid, extended to 8192.
func tokenGrid() []int {
	g := []int{1, 2, 4}
	for n := 8; n <= 1024; n += 8 {
		g = append(g, n)
	}
	for n := 1040; n <= 2048; n += 16 {
		g = append(g, n)
	}
	for n := 2080; n <= 4096; n += 32 {
		g = append(g, n)
	}
	for n := 4160; n <= 8192; n += 64 {
		g = append(g, n)
	}
	return g
}

func kvGrid(from int) []int {
	var g []int
	for k := from; k <= 1024; k += 64 {
		g = append(g, k)
	}
	for k := 1152; k <= 8192; k += 128 {
		g = append(g, k)
	}
	return g
}

func decodeBatches() []int {
	var g []int
	for b := 1; b <= 32; b++ {
		g = append(g, b)
	}
	for b := 40; b <= 128; b += 8 {
		g = append(g, b)
	}
	for b := 144; b <= 256; b += 16 {
		g = append(g, b)
	}
	return g
}

func prefillChunks() []int {
	g := []int{1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128}
	for c := 160; c <= 1024; c += 32 {
		g = append(g, c)
	}
	for c := 1088; c <= 4096; c += 64 {
		g = append(g, c)
	}
	return g
}

// derived holds everything the set is built from.
type derived struct {
	mlpUS  map[string]func(m float64) float64 // uncalibrated, µs
	attn   attnModel
	sFloor float64
	sAttn  float64
	cpuMs  float64 // per-iteration host overhead (flat in batch size)
	admMs  float64 // per admitted request
}

func ms(us float64) string { return fmt.Sprintf("%.6f", us/1000) }

var shapeCols = "n_head,n_kv_head,n_embd,n_expanded_embd,vocab_size,use_gated_mlp,num_tokens,num_tensor_parallel_workers"

// mlpCSV writes mlp.csv (median columns only), with the calibrated floor.
func (d derived) mlpCSV() string {
	var b strings.Builder
	cols := append(append([]string{}, ops...), "emb", "lm_head")
	for _, op := range cols {
		b.WriteString("time_stats." + op + ".median,")
	}
	b.WriteString(shapeCols + "\n")
	for _, n := range tokenGrid() {
		for _, op := range cols {
			f := d.mlpUS[op]
			floor := f(1)
			b.WriteString(ms(f(float64(n))+(d.sFloor-1)*floor) + ",")
		}
		fmt.Fprintf(&b, "16,8,1024,3072,151936,True,%d,1\n", n)
	}
	return b.String()
}

// attentionCSV writes attention.csv (median columns only, Vidur's context
// columns plus head_dim), with the calibrated attention scale.
func (d derived) attentionCSV() string {
	var b strings.Builder
	b.WriteString("time_stats.attn_kv_cache_save.median,time_stats.attn_prefill.median,time_stats.attn_decode.median," +
		"n_embd,n_q_head,n_kv_head,head_dim,block_size,num_tensor_parallel_workers,max_model_len,batch_size,prefill_chunk_size,kv_cache_size,is_prefill,attention_backend\n")
	a, s := d.attn, d.sAttn
	for _, c := range prefillChunks() {
		for _, kv := range kvGrid(0) {
			fmt.Fprintf(&b, "%s,%s,,1024,16,8,128,16,1,16384,1,%d,%d,True,SYNTHESIZED_ROOFLINE\n",
				ms(s*a.kvSaveUS(float64(c))), ms(s*a.prefillUS(float64(c), float64(kv))), c, kv)
		}
	}
	for _, bs := range decodeBatches() {
		for _, kv := range kvGrid(64) {
			fmt.Fprintf(&b, "%s,,%s,1024,16,8,128,16,1,16384,%d,0,%d,False,SYNTHESIZED_ROOFLINE\n",
				ms(s*a.kvSaveUS(float64(bs))), ms(s*a.decodeUS(float64(bs), float64(kv))), bs, kv)
		}
	}
	return b.String()
}

func (d derived) cpuCSV() string {
	var b strings.Builder
	b.WriteString("model_name,batch_size,tensor_parallel_degree,schedule_median,sampler_e2e_median,prepare_inputs_e2e_median,process_model_outputs_median,ray_comm_time_mean,admit_median\n")
	for bs := 1; bs <= 256; bs *= 2 {
		fmt.Fprintf(&b, "Qwen/Qwen3-0.6B,%d,1,0,0,0,0,%.6f,%.6f\n", bs, d.cpuMs, d.admMs)
	}
	return b.String()
}

const profileJSON = `{
  "name": "a100/qwen3-0.6b",
  "model": "Qwen/Qwen3-0.6B",
  "device": "a100",
  "network_device": "a100_pairwise_nvlink",
  "kind": "synthesized",
  "summary": %q,
  "cpu_overhead_engine": "sarathi-serve (A100, torch 2.9.1, CUDA 12.8; calibrated on one batch-1 run)"
}
`

func (d derived) files(summary, provenance string) fstest.MapFS {
	return fstest.MapFS{
		"mlp.csv":           {Data: []byte(d.mlpCSV())},
		"attention.csv":     {Data: []byte(d.attentionCSV())},
		"cpu_overheads.csv": {Data: []byte(d.cpuCSV())},
		"profile.json":      {Data: []byte(fmt.Sprintf(profileJSON, summary))},
		"PROVENANCE.md":     {Data: []byte(provenance)},
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}
