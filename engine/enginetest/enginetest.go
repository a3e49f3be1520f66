// Package enginetest builds small profile sets with hand-chosen timings, so
// tests can compute expected run times by hand.
package enginetest

import (
	"fmt"
	"strings"
	"testing/fstest"

	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
)

// Timings are per-layer op times in ms, constant over every key.
type Timings struct {
	MLP     map[string]float64 // by Vidur op name (input_layernorm, attn_pre_proj, …)
	KVSave  float64
	Decode  float64
	Prefill float64
	// CPU is each of the five cpu_overheads.csv terms (ms); Admit the
	// admit_median extension. Zero CPU writes no cpu_overheads.csv.
	CPU, Admit float64
	// Engine, if set, is written as engine.json; mlp.csv then has no
	// column for its fused_ops. Host rows, if any, are written as
	// host_overheads.csv.
	Engine string
	Host   []HostRow
}

// HostRow is one host_overheads.csv row (ms).
type HostRow struct {
	Batch                      int
	Base, PerPrefill, PerToken float64
}

// MLPOps are the mlp.csv ops the predictor reads.
var MLPOps = []string{"input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm",
	"mlp_up_proj", "mlp_act", "mlp_down_proj", "add"}

// Uniform gives every MLP op the same time.
func Uniform(opMs, kvSave, decode, prefill float64) Timings {
	t := Timings{MLP: map[string]float64{}, KVSave: kvSave, Decode: decode, Prefill: prefill}
	for _, op := range MLPOps {
		t.MLP[op] = opMs
	}
	return t
}

// LayerMLP is the sum of the MLP ops.
func (t Timings) LayerMLP() float64 {
	s := 0.0
	for _, op := range MLPOps {
		s += t.MLP[op]
	}
	return s
}

// mlpColumns are the ops mlp.csv gets: MLPOps less engine.json's fused ops,
// plus the emb and lm_head extensions when t.MLP times them.
func (t Timings) mlpColumns() []string {
	var spec *predict.EngineSpec
	if t.Engine != "" {
		var err error
		if spec, err = predict.ParseEngineSpec([]byte(t.Engine), "engine.json"); err != nil {
			panic(err) // the fixture itself is wrong
		}
	}
	var ops []string
	for _, op := range MLPOps {
		if !spec.Fused(op) {
			ops = append(ops, op)
		}
	}
	for _, op := range []string{"emb", "lm_head"} {
		if _, ok := t.MLP[op]; ok {
			ops = append(ops, op)
		}
	}
	return ops
}

// Set builds a profile set for m at TP 1, 2, 4 and 8 covering num_tokens 1..maxTokens,
// decode batch 1..maxBatch x kv 0..maxTokens, prefill chunk 1..maxTokens x
// kv 0..maxTokens.
func Set(m model.Model, t Timings, maxTokens, maxBatch int) *predict.Set {
	fs := fstest.MapFS{}
	tps := []int{1, 2, 4, 8}
	var b strings.Builder
	b.WriteString("num_tokens,num_tensor_parallel_workers,n_head,n_kv_head,n_embd,n_expanded_embd,vocab_size,use_gated_mlp")
	ops := t.mlpColumns()
	for _, op := range ops {
		b.WriteString(",time_stats." + op + ".median")
	}
	b.WriteString("\n")
	gated := "False"
	if m.UseGatedMLP {
		gated = "True"
	}
	for _, n := range []int{1, maxTokens} {
		for _, tp := range tps {
			fmt.Fprintf(&b, "%d,%d,%d,%d,%d,%d,%d,%s", n, tp, m.NumQHeads, m.NumKVHeads, m.EmbeddingDim, m.MLPHiddenDim, m.VocabSize, gated)
			for _, op := range ops {
				fmt.Fprintf(&b, ",%g", t.MLP[op])
			}
			b.WriteString("\n")
		}
	}
	fs["mlp.csv"] = &fstest.MapFile{Data: []byte(b.String())}
	b.Reset()
	b.WriteString("n_embd,n_q_head,n_kv_head,num_tensor_parallel_workers,batch_size,prefill_chunk_size,kv_cache_size," +
		"time_stats.attn_decode.median,time_stats.attn_prefill.median,time_stats.attn_kv_cache_save.median\n")
	row := func(batch, chunk, kv int) {
		d, p := "", ""
		if chunk == 0 {
			d = fmt.Sprint(t.Decode)
		} else {
			p = fmt.Sprint(t.Prefill)
		}
		for _, tp := range tps {
			fmt.Fprintf(&b, "%d,%d,%d,%d,%d,%d,%d,%s,%s,%g\n", m.EmbeddingDim, m.NumQHeads, m.NumKVHeads, tp, batch, chunk, kv, d, p, t.KVSave)
		}
	}
	for _, batch := range []int{1, maxBatch} {
		for _, kv := range []int{0, maxTokens} {
			row(batch, 0, kv)
		}
	}
	for _, c := range []int{1, maxTokens} {
		for _, kv := range []int{0, maxTokens} {
			row(1, c, kv)
		}
	}
	fs["attention.csv"] = &fstest.MapFile{Data: []byte(b.String())}
	if t.CPU > 0 {
		b.Reset()
		b.WriteString("model_name,batch_size,tensor_parallel_degree,schedule_median,sampler_e2e_median,prepare_inputs_e2e_median,process_model_outputs_median,ray_comm_time_mean,admit_median\n")
		for _, bs := range []int{1, maxBatch} {
			for _, tp := range tps {
				fmt.Fprintf(&b, "%s,%d,%d,%g,%g,%g,%g,%g,%g\n", m.Name, bs, tp, t.CPU, t.CPU, t.CPU, t.CPU, t.CPU, t.Admit)
			}
		}
		fs["cpu_overheads.csv"] = &fstest.MapFile{Data: []byte(b.String())}
	}
	if t.Engine != "" {
		fs["engine.json"] = &fstest.MapFile{Data: []byte(t.Engine)}
	}
	if len(t.Host) > 0 {
		b.Reset()
		b.WriteString("batch_size,host_base_ms,host_per_prefill_ms,host_per_prefill_token_ms\n")
		for _, h := range t.Host {
			fmt.Fprintf(&b, "%d,%g,%g,%g\n", h.Batch, h.Base, h.PerPrefill, h.PerToken)
		}
		fs["host_overheads.csv"] = &fstest.MapFile{Data: []byte(b.String())}
	}
	fs["profile.json"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(`{"name":"test/const","model":%q,"device":"a100","network_device":"a100_pairwise_nvlink","kind":"synthesized","summary":"hand-chosen constant timings for tests"}`, m.Name))}
	fs["PROVENANCE.md"] = &fstest.MapFile{Data: []byte("# test profile\nSYNTHESIZED: constant timings chosen by hand for tests.\n")}
	s, err := predict.Open(fs, "test/const")
	if err != nil {
		panic(err) // the fixture itself is wrong
	}
	return s
}

// Network builds network profiles for node "a100_pairwise_nvlink" (and
// a100_dgx) with constant all-reduce and send/recv times in ms, covering
// 1..65536 tokens of embedding dim e.
func Network(e int, allReduce, sendRecv float64) fstest.MapFS {
	fs := fstest.MapFS{}
	for _, node := range []string{"a100_pairwise_nvlink", "a100_dgx"} {
		var ar, sr strings.Builder
		ar.WriteString(",time_stats.all_reduce.median,rank,num_workers,size,collective,devices_per_node,max_devices_per_node\n")
		sr.WriteString(",time_stats.send_recv.median,rank,num_workers,size,collective,devices_per_node,max_devices_per_node\n")
		i := 0
		for _, tok := range []int{1, 65536} {
			size := tok * e * 2
			for _, w := range []int{2, 4, 8} {
				fmt.Fprintf(&ar, "%d,%g,0,%d,%d,all_reduce,%d,8\n", i, allReduce, w, size, w)
				i++
			}
			for _, dpn := range []int{1, 2} {
				fmt.Fprintf(&sr, "%d,%g,0,2,%d,send_recv,%d,8\n", i, sendRecv, size, dpn)
				i++
			}
		}
		fs[node+"/all_reduce.csv"] = &fstest.MapFile{Data: []byte(ar.String())}
		fs[node+"/send_recv.csv"] = &fstest.MapFile{Data: []byte(sr.String())}
	}
	return fs
}
