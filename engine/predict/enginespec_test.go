package predict_test

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/enginetest"
	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
)

const testEngineJSON = `{"engine": "test engine 1.0", "overlap": "async",
 "cuda_graph_batch_sizes": [1, 2, 4, 8], "mixed_graph_token_sizes": [8, 16, 32, 64],
 "sync_ms": 0.01, "fused_ops": ["add", "qk_norm"]}`

// engineTimings is a constant set in the reference engine's layout: no add
// column, emb and lm_head timed, engine.json and host_overheads.csv.
func engineTimings() enginetest.Timings {
	tm := enginetest.Uniform(0.01, 0.002, 0.003, 0.004)
	tm.MLP["add"] = 0
	tm.MLP["emb"], tm.MLP["lm_head"] = 0.05, 0.07
	tm.Engine = testEngineJSON
	tm.Host = []enginetest.HostRow{{Batch: 1, Base: 1, PerPrefill: 0.1, PerToken: 0.001}, {Batch: 8, Base: 2.4, PerPrefill: 0.3, PerToken: 0.002}}
	return tm
}

func engineFS(t *testing.T) fstest.MapFS {
	src := enginetest.Set(qwen3(), engineTimings(), 512, 8)
	out := fstest.MapFS{}
	err := fs.WalkDir(src.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src.FS, p)
		out[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func engineOpts() predict.Options {
	o := opts(1, 1)
	o.HostOverheads, o.LMHead, o.Embedding = true, true, true
	return o
}

// TestEngineSet_Loads: a set without the add column loads when engine.json
// calls add fused, and host time follows host_overheads.csv by hand:
// batch 3 interpolates base 1 + (2.4-1)*2/7 = 1.4, per prefill
// 0.1 + 0.2*2/7, per token 0.001 + 0.001*2/7.
func TestEngineSet_Loads(t *testing.T) {
	set, err := predict.Open(engineFS(t), "test/engine")
	if err != nil {
		t.Fatal(err)
	}
	if !set.HasEngineSpec() || !set.HasHostOverheads() || set.Engine.Overlap != "async" || set.Engine.SyncMs != 0.01 {
		t.Fatalf("spec %+v", set.Engine)
	}
	p, err := predict.New(set, nil, engineOpts())
	if err != nil {
		t.Fatal(err)
	}
	// 3 sequences: one decode and two prefills of 100 and 50 tokens.
	k := p.KeyOf(predict.Batch{NumRequests: 3, Tokens: 151, NumDecodes: 1, DecodeContextSum: 10,
		Prefills: []predict.Prefill{{Chunk: 100}, {Chunk: 50}}})
	got, err := p.Host(k)
	if err != nil {
		t.Fatal(err)
	}
	f := 2.0 / 7
	want := (1 + 1.4*f) + (0.1+0.2*f)*2 + (0.001+0.001*f)*150
	if math.Abs(got-want) > 1e-12 {
		t.Fatalf("host %v, want %v", got, want)
	}
	b, err := p.Stage(k, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Add != 0 || b.InputLN != 0.01 {
		t.Fatalf("fused add costs %v, input_layernorm %v", b.Add, b.InputLN)
	}
	// Outside the host table's batch sizes is a grid miss, like any other lookup.
	if _, err := p.Host(predict.Key{T: 9, Bd: 9, NumRequests: 9}); err == nil || !strings.Contains(err.Error(), "host_overheads.csv") {
		t.Fatalf("batch 9: %v", err)
	}
}

func TestEngineSpec_Pad(t *testing.T) {
	spec, err := predict.ParseEngineSpec([]byte(testEngineJSON), "engine.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tokens, decodes, prefills int
		mode                      string
		padded                    int
	}{
		{1, 1, 0, "graph", 1},
		{3, 3, 0, "graph", 4},
		{8, 8, 0, "graph", 8},
		{9, 9, 0, "graph_mixed", 16}, // above the largest decode graph: a mixed graph
		{65, 65, 0, "eager", 65},
		{5, 0, 1, "graph_mixed", 8},
		{20, 4, 2, "graph_mixed", 32},
		{64, 0, 1, "graph_mixed", 64},
		{65, 1, 1, "eager", 65},
	} {
		mode, padded := spec.Pad(tc.tokens, tc.decodes, tc.prefills)
		if mode != tc.mode || padded != tc.padded {
			t.Errorf("Pad(%d, %d, %d) = %s %d, want %s %d", tc.tokens, tc.decodes, tc.prefills, mode, padded, tc.mode, tc.padded)
		}
	}
}

func TestEngineSet_BadFiles(t *testing.T) {
	tests := []struct {
		name, file string
		edit       func(string) string
		line, col  int
		wantInMsg  string
	}{
		{"host negative", "host_overheads.csv", func(s string) string { return strings.Replace(s, ",0.1,", ",-0.1,", 1) }, 2, 3, "a finite number >= 0"},
		{"host batch 0", "host_overheads.csv", func(s string) string { return strings.Replace(s, "\n1,", "\n0,", 1) }, 2, 1, "an integer >= 1"},
		{"host duplicate batch", "host_overheads.csv", func(s string) string { return strings.Replace(s, "\n8,", "\n1,", 1) }, 3, 1, "one row per batch_size"},
		{"host missing column", "host_overheads.csv", func(s string) string { return strings.Replace(s, "host_per_prefill_ms", "host_prefill_ms", 1) }, 1, 0, "host_per_prefill_ms"},
		{"host short row", "host_overheads.csv", func(s string) string { return strings.Replace(s, ",0.001\n", "\n", 1) }, 2, 0, "4 fields"},
		{"fused op still timed", "mlp.csv", func(s string) string {
			return strings.Replace(s, "use_gated_mlp,", "use_gated_mlp,time_stats.add.median,", 1)
		}, 1, 9, "fused_ops"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := engineFS(t)
			fsys[tc.file].Data = []byte(tc.edit(string(fsys[tc.file].Data)))
			set, err := predict.Open(fsys, "bad")
			if err != nil {
				t.Fatal(err)
			}
			_, err = predict.New(set, nil, engineOpts())
			var ce *csvin.Error
			if err == nil || !strings.Contains(err.Error(), tc.wantInMsg) || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("got %v", err)
			}
			if !errors.As(err, &ce) || ce.Line != tc.line || ce.Col != tc.col {
				t.Errorf("got %v, want line %d column %d", err, tc.line, tc.col)
			}
		})
	}
	// Without engine.json a missing add column stays an error.
	fsys := engineFS(t)
	delete(fsys, "engine.json")
	set, err := predict.Open(fsys, "noengine")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := predict.New(set, nil, engineOpts()); err == nil || !strings.Contains(err.Error(), "time_stats.add.median") {
		t.Fatalf("missing add without engine.json: %v", err)
	}
	// Engine timing needs the host table.
	fsys = engineFS(t)
	delete(fsys, "host_overheads.csv")
	set, _ = predict.Open(fsys, "nohost")
	if _, err := predict.New(set, nil, engineOpts()); err == nil || !strings.Contains(err.Error(), "host_overheads.csv") {
		t.Fatalf("no host table: %v", err)
	}
}

func TestParseEngineSpec_Errors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"engine":"e","overlap":"both","sync_ms":0}`, `"overlap": expected "async" or "sync"`},
		{`{"engine":"","overlap":"sync"}`, `"engine": expected`},
		{`{"engine":"e","overlap":"sync","cuda_graph_batch_sizes":[1,4,2]}`, `"cuda_graph_batch_sizes"[2]: expected sizes in strictly ascending order`},
		{`{"engine":"e","overlap":"sync","mixed_graph_token_sizes":[0]}`, `"mixed_graph_token_sizes"[0]: expected an integer >= 1`},
		{`{"engine":"e","overlap":"sync","sync_ms":-1}`, `"sync_ms": expected a finite number >= 0`},
		{`{"engine":"e","overlap":"sync","fused_ops":["gelu"]}`, `unknown op "gelu"`},
		{`{"engine":"e","overlap":"sync","fused_ops":["add","add"]}`, `listed twice`},
		{`{"engine":"e","overlap":"sync","graphs":[1]}`, `unknown field "graphs"`},
		{"{\"engine\":\"e\",\n\"overlap\": 3}", `line 2, column`},
		{`{"engine":"e","overlap":"sync"} {}`, `more after it`},
		{`{"engine":"e","overlap":"sync","mixed_graph_logit_rows":-1}`, `"mixed_graph_logit_rows": expected an integer >= 0`},
		{`{"engine":"e","overlap":"sync","cuda_graph_batch_sizes":[1,2],"decode_in_run":{"factors":{"4":1.01},"source":"s"}}`, `"decode_in_run"."factors": key 4 is not one of cuda_graph_batch_sizes`},
		{`{"engine":"e","overlap":"sync","cuda_graph_batch_sizes":[1,2],"decode_in_run":{"factors":{"2":2.5},"source":"s"}}`, `"decode_in_run"."factors"[2]: expected a factor in [0.5, 2], got 2.5`},
		{`{"engine":"e","overlap":"sync","cuda_graph_batch_sizes":[1,2],"decode_in_run":{"factors":{"2":1.01},"source":" "}}`, `"decode_in_run"."source": expected where the factors come from`},
		{`{"engine":"e","overlap":"sync","cuda_graph_batch_sizes":[1,2],"decode_in_run":{"factors":{"2":1.01},"source":"s","n":3}}`, `unknown field "n"`},
		{`{"engine":"e","overlap":"sync","mixed_graph_token_sizes":[8],"mixed_graph_mlp_scale":{"16":1.1}}`, `key 16 is not one of mixed_graph_token_sizes`},
		{`{"engine":"e","overlap":"sync","mixed_graph_token_sizes":[8],"mixed_graph_mlp_scale":{"8":0}}`, `"mixed_graph_mlp_scale"[8]: expected a finite number > 0`},
		{`{"engine":"e","overlap":"sync","mixed_graph_mlp_scale":{"x":1}}`, `mixed_graph_mlp_scale`},
		{`{"engine":"e","overlap":"sync","prefill_launch":{"sms":0,"query_tile":32,"tiles_per_query_block":8}}`, `"prefill_launch": expected sms, query_tile and tiles_per_query_block >= 1`},
		{`{"engine":"e","overlap":"sync","idle_host":{"after_ms":-1,"base_ms":0,"per_prefill_ms":0,"per_prefill_token_ms":0,"source":"s"}}`, `"idle_host"."after_ms": expected a finite number >= 0`},
		{`{"engine":"e","overlap":"sync","idle_host":{"after_ms":1,"base_ms":0,"per_prefill_ms":0,"per_prefill_token_ms":0,"source":" "}}`, `"idle_host"."source": expected where the numbers come from`},
		{`{"engine":"e","overlap":"sync","idle_host":{"after_ms":1,"base":0}}`, `unknown field "base"`},
		{`{"engine":"e","overlap":"sync","eager_launch":{"base_ms":-1,"decodes_ms":0,"per_decode_ms":0,"source":"s"}}`, `"eager_launch"."base_ms": expected a finite number of ms in [0, 10000], got -1`},
		{`{"engine":"e","overlap":"sync","eager_launch":{"base_ms":7,"decodes_ms":1e9,"per_decode_ms":0,"source":"s"}}`, `"eager_launch"."decodes_ms": expected a finite number of ms in [0, 10000], got 1e+09`},
		{`{"engine":"e","overlap":"sync","eager_launch":{"base_ms":7,"decodes_ms":1,"per_decode_ms":0,"source":""}}`, `"eager_launch"."source": expected where the numbers come from`},
		{`{"engine":"e","overlap":"sync","eager_launch":{"base_ms":7,"decodes_ms":1,"per_decode_ms":0,"in_run_ms":-0.5,"source":"s"}}`, `"eager_launch"."in_run_ms": expected a finite number of ms in [0, 10000], got -0.5`},
		{`{"engine":"e","overlap":"sync","eager_launch":{"base_ms":7,"launch":1}}`, `unknown field "launch"`},
		{`{"engine":"e","overlap":"sync","eager_launch":{"base_ms":7,"decodes_ms":1,"per_decode_ms":0,"source":"s","first_ms":-1,"first_source":"p"}}`, `"eager_launch"."first_ms": expected a finite number of ms in [0, 10000], got -1`},
		{`{"engine":"e","overlap":"sync","eager_launch":{"base_ms":7,"decodes_ms":1,"per_decode_ms":0,"source":"s","first_ms":1}}`, `"eager_launch"."first_source": expected where first_ms comes from`},
		{`{"engine":"e","overlap":"sync","eager_launch":{"base_ms":7,"decodes_ms":1,"per_decode_ms":0,"source":"s","start_frac":1,"start_source":"p"}}`, `"eager_launch"."start_frac": expected a share of the launch in [0, 1), got 1`},
		{`{"engine":"e","overlap":"sync","eager_launch":{"base_ms":7,"decodes_ms":1,"per_decode_ms":0,"source":"s","start_frac":-0.1,"start_source":"p"}}`, `"eager_launch"."start_frac": expected a share of the launch in [0, 1), got -0.1`},
		{`{"engine":"e","overlap":"sync","eager_launch":{"base_ms":7,"decodes_ms":1,"per_decode_ms":0,"source":"s","start_frac":0.1}}`, `"eager_launch"."start_source": expected where start_frac comes from`},
		{`{"engine":"e","overlap":"sync","idle_host":{"after_ms":1,"base_ms":0,"per_prefill_ms":0,"per_prefill_token_ms":0,"source":"s","gpu_extra_ms":0.1,"gpu_source":"p"}}`, `"idle_host"."gpu_tau_ms": expected a number > 0 with gpu_extra_ms 0.1, got 0`},
		{`{"engine":"e","overlap":"sync","idle_host":{"after_ms":1,"base_ms":0,"per_prefill_ms":0,"per_prefill_token_ms":0,"source":"s","gpu_extra_ms":0.1,"gpu_tau_ms":5}}`, `"idle_host"."gpu_source": expected where gpu_extra_ms comes from`},
		{`{"engine":"e","overlap":"sync","idle_host":{"after_ms":1,"base_ms":0,"per_prefill_ms":0,"per_prefill_token_ms":0,"source":"s","gpu_extra_ms":-0.1,"gpu_tau_ms":5,"gpu_source":"p"}}`, `"idle_host"."gpu_extra_ms": expected a finite number >= 0`},
	} {
		_, err := predict.ParseEngineSpec([]byte(tc.json), "x/engine.json")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x/engine.json") {
			t.Errorf("%s: got %v, want %q", tc.json, err, tc.want)
		}
	}
	// Open reports a bad engine.json.
	fsys := profileFS(t)
	fsys["engine.json"] = &fstest.MapFile{Data: []byte(`{"overlap":"sync"}`)}
	if _, err := predict.Open(fsys, "set"); err == nil || !strings.Contains(err.Error(), "set/engine.json") {
		t.Fatalf("Open: %v", err)
	}
}

func FuzzParseEngineSpec(f *testing.F) {
	f.Add([]byte(testEngineJSON))
	f.Add([]byte(`{"engine":"e","overlap":"sync"}`))
	f.Add([]byte(`{"engine":"e","overlap":"sync","decode_context_granularity":16,"decode_launch":{"bound_per_seq":2,"bound_min":80,` +
		`"part_min":128,"block_n":64,"max_parts":64,"heads":8,"sms":132,"blocks_per_sm":4,"block_ms":0.001,"key_ms":0.00001,"share":0.1,"combine_ms":0,"source":"s"}}`))
	f.Add([]byte(`{"engine":"e","overlap":"sync","mixed_graph_token_sizes":[8,16],"mixed_graph_logit_rows":8,"mixed_decode":{"source":"s",` +
		`"graphs":[{"seq_bound":8,"rows":[[1,64,0.1],[4,64,0.2]]}]}}`))
	f.Add([]byte(`{"engine":"e","overlap":"async","cuda_graph_batch_sizes":[1,2,4],"decode_in_run":{"factors":{"2":1.01,"4":0.99},"source":"s"},` +
		`"eager_launch":{"base_ms":7,"decodes_ms":1,"per_decode_ms":0.004,"in_run_ms":2.5,"source":"s","first_ms":1.2,"first_source":"p","start_frac":0.1,"start_source":"q"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		spec, err := predict.ParseEngineSpec(b, "engine.json")
		if err != nil {
			return
		}
		for _, n := range []int{1, 7, 300} {
			mode, padded := spec.Pad(n, n, 0)
			if padded < n || mode == "eager" && padded != n {
				t.Fatalf("Pad(%d) = %s %d", n, mode, padded)
			}
		}
	})
}

// TestEngineStage_Extensions checks engine.json's step-shape options by hand
// on the constant set (token ops 0.01, KV save 0.002, decode attention
// 0.003, prefill attention 0.004 per layer; emb 0.05, LM head 0.07; Vidur's
// batching overheads 0.1).
func TestEngineStage_Extensions(t *testing.T) {
	fsys := engineFS(t)
	fsys["engine.json"] = &fstest.MapFile{Data: []byte(`{"engine": "test engine 1.0", "overlap": "async",
 "cuda_graph_batch_sizes": [1, 2, 4, 8], "mixed_graph_token_sizes": [8, 16, 32, 64],
 "sync_ms": 0.01, "fused_ops": ["add", "qk_norm"], "mixed_graph_logit_rows": 4, "mixed_graph_mlp_scale": {"16": 1.5},
 "decode_attention_batched": true, "decode_graph_attention_by_keys": true,
 "prefill_launch": {"sms": 132, "query_tile": 32, "tiles_per_query_block": 8}}`)}
	set, err := predict.Open(fsys, "test/engine")
	if err != nil {
		t.Fatal(err)
	}
	p, err := predict.New(set, nil, engineOpts())
	if err != nil {
		t.Fatal(err)
	}
	stage := stager(t, p, set)
	near := nearer(t)
	// One prefill of 10 tokens runs in the 16-token mixed graph: its mlp.csv
	// ops x1.5 (the LM head too), attention not scaled.
	mixed := stage(predict.Batch{NumRequests: 1, Tokens: 10, Prefills: []predict.Prefill{{Chunk: 10}}, LogitSeqs: 1})
	near("mixed input_layernorm", mixed.InputLN, 0.015)
	near("mixed emb", mixed.Embedding, 0.075)
	near("mixed lm_head", mixed.LMHead, 0.105)
	near("mixed prefill attention", mixed.AttnPrefill, 0.004)
	// In the 8-token graph (no scale) the ops are as profiled.
	near("8-token mixed input_layernorm", stage(predict.Batch{NumRequests: 1, Tokens: 5, Prefills: []predict.Prefill{{Chunk: 5}}, LogitSeqs: 1}).InputLN, 0.01)
	// Decode attention of a batch is the profiled row (no 10% allowance).
	dec := stage(predict.Batch{NumRequests: 3, Tokens: 3, NumDecodes: 3, DecodeContextSum: 300, DecodeContextMax: 100, LogitSeqs: 3})
	near("decode attention", dec.AttnDecode, 0.003)
	near("decode input_layernorm", dec.InputLN, 0.01)
	// Two prefills in one launch: floor 0.004 + max(sum of 0, 0) = 0.004, not
	// Vidur's 0.004 x 1.1.
	two := stage(predict.Batch{NumRequests: 2, Tokens: 30, Prefills: []predict.Prefill{{Chunk: 20}, {Chunk: 10, Processed: 40}}, LogitSeqs: 2})
	near("two prefills' attention", two.AttnPrefill, 0.004)
}

// TestEngineStage_MeasuredShapes checks the options on the measured H200
// set's own rows: a mixed graph's LM head runs at its sequence bound, a
// partial decode graph's attention is the full graph's row at the same keys,
// prefills follow the wave model (a grid point alone costs its row), and,
// without the wave model, several prefills cost floor + max(sum of their
// GPU-share-scaled work, the longest one's).
func TestEngineStage_MeasuredShapes(t *testing.T) {
	set, err := predict.Open(os.DirFS("../../profiles/h200/qwen3-0.6b"), "h200/qwen3-0.6b")
	if err != nil {
		t.Fatal(err)
	}
	// the rows themselves: decode_in_run's factors (a served run's decode
	// graphs over them) are TestEngineStage_DecodeInRun's
	set.Engine.DecodeInRun = nil
	o := engineOpts()
	o.Node, _ = model.LookupNode("h100_pairwise_nvlink")
	p, err := predict.New(set, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	stage := stager(t, p, set)
	lim := set.Engine.MixedGraphLogitRows
	if lim != 256 {
		t.Fatalf("mixed_graph_logit_rows %d, want the reference engine's 256", lim)
	}
	mixed := stage(predict.Batch{NumRequests: 1, Tokens: 300, Prefills: []predict.Prefill{{Chunk: 300}}, LogitSeqs: 1})
	full := stage(predict.Batch{NumRequests: 256, Tokens: 256, NumDecodes: 256, DecodeContextSum: 256 * 100, DecodeContextMax: 100, LogitSeqs: 256})
	if mixed.LMHead != full.LMHead || mixed.LMHead <= stage(predict.Batch{NumRequests: 1, Tokens: 1, NumDecodes: 1, DecodeContextSum: 100, DecodeContextMax: 100, LogitSeqs: 1}).LMHead {
		t.Errorf("320-token mixed graph LM head %v, want the 256-row one %v", mixed.LMHead, full.LMHead)
	}
	part := stage(predict.Batch{NumRequests: 12, Tokens: 12, NumDecodes: 12, DecodeContextSum: 12 * 768, DecodeContextMax: 900, LogitSeqs: 12})
	same := stage(predict.Batch{NumRequests: 16, Tokens: 16, NumDecodes: 16, DecodeContextSum: 16 * 576, DecodeContextMax: 576, LogitSeqs: 16})
	if part.AttnDecode != same.AttnDecode || part.AttnDecode == stage(predict.Batch{NumRequests: 12, Tokens: 12, NumDecodes: 12, DecodeContextSum: 12 * 576, DecodeContextMax: 576, LogitSeqs: 12}).AttnDecode {
		t.Errorf("12 sequences at 768 in the 16-graph: attention %v, want 16 at 576's %v", part.AttnDecode, same.AttnDecode)
	}
	near := nearer(t)
	// the set's wave model: at the grid's own points a prefill alone costs its row (the grid's ratio to the
	// model is exact there); several cost their launch's model time times their ratio (all 1 at grid points)
	if !set.Engine.PrefillLaunch.Waves() {
		t.Fatal("the H200 set's prefill_launch has no wave model")
	}
	vidur := func(b predict.Batch) float64 {
		bd, err := p.Stage(p.KeyOf(b), 0)
		if err != nil {
			t.Fatal(err)
		}
		return bd.AttnPrefill
	}
	for _, ck := range [][2]int{{128, 0}, {1024, 2048}, {512, 4096}} {
		b := predict.Batch{NumRequests: 1, Tokens: ck[0], Prefills: []predict.Prefill{{Chunk: ck[0], Processed: ck[1]}}, LogitSeqs: 1}
		near(fmt.Sprintf("a prefill of %d over %d (the grid's row)", ck[0], ck[1]), stage(b).AttnPrefill, vidur(b))
	}
	var sixteen []predict.Prefill
	for range 16 {
		sixteen = append(sixteen, predict.Prefill{Chunk: 128})
	}
	l := set.Engine.PrefillLaunch
	ratio := vidur(predict.Batch{NumRequests: 1, Tokens: 128, Prefills: sixteen[:1], LogitSeqs: 1}) / l.WavesMs(sixteen[:1])
	near("16 fresh prefills of 128 (waves)", stage(predict.Batch{NumRequests: 16, Tokens: 2048, Prefills: sixteen, LogitSeqs: 16}).AttnPrefill,
		l.WavesMs(sixteen)*ratio)

	// without the wave model (the set's prefill_launch geometry only): the per-sequence rule
	noWaves := *set.Engine
	geo := *l
	geo.BlocksPerSM, geo.FloorMs, geo.BlockMs, geo.KeyMs, geo.SharedRate, geo.WavesSource = 0, 0, 0, 0, 0, ""
	noWaves.PrefillLaunch = &geo
	set2, err := predict.Open(os.DirFS("../../profiles/h200/qwen3-0.6b"), "h200/qwen3-0.6b")
	if err != nil {
		t.Fatal(err)
	}
	set2.Engine = &noWaves
	p2, err := predict.New(set2, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	stage = stager(t, p2, set2)
	one := func(c, k int) float64 {
		return stage(predict.Batch{NumRequests: 1, Tokens: c, Prefills: []predict.Prefill{{Chunk: c, Processed: k}}, LogitSeqs: 1}).AttnPrefill
	}
	floor := one(1, 0)
	var pfs []predict.Prefill
	sum := 0.0
	for range 16 {
		pfs = append(pfs, predict.Prefill{Chunk: 128})
		sum += (one(128, 0) - floor) * float64(4*8) / 132
	}
	got := stage(predict.Batch{NumRequests: 16, Tokens: 2048, Prefills: pfs, LogitSeqs: 16}).AttnPrefill
	near("16 fresh prefills of 128", got, floor+max(sum, one(128, 0)-floor))
	long := stage(predict.Batch{NumRequests: 2, Tokens: 1040, Prefills: []predict.Prefill{{Chunk: 1024, Processed: 3072}, {Chunk: 16}}, LogitSeqs: 2}).AttnPrefill
	w1, w2 := one(1024, 3072)-floor, (one(16, 0)-floor)*8/132
	near("a long cached prefill beside a short one", long, floor+max(w1+w2, w1))
	// 17 prefills of 128 over 1,000 cached tokens each: 17,000 cached in all, past the grid's 16,384, though each
	// prefill is inside it; each is priced from its own row, so the sum past the grid is no error
	var many []predict.Prefill
	for range 17 {
		many = append(many, predict.Prefill{Chunk: 128, Processed: 1000})
	}
	b := predict.Batch{NumRequests: 17, Tokens: 17 * 128, Prefills: many, LogitSeqs: 17}
	if bd, _, _, err := p.EngineStage(set.Engine, p.KeyOf(b)); err != nil || bd.AttnPrefill <= one(128, 1000) {
		t.Errorf("17 prefills of 128 over 1,000 cached each: %v, %v (one alone: %v)", bd.AttnPrefill, err, one(128, 1000))
	}
}

// stager predicts one batch's engine-timed stage with p on set.
func stager(t *testing.T, p *predict.Predictor, set *predict.Set) func(predict.Batch) predict.Breakdown {
	return func(b predict.Batch) predict.Breakdown {
		t.Helper()
		bd, _, _, err := p.EngineStage(set.Engine, p.KeyOf(b))
		if err != nil {
			t.Fatal(err)
		}
		return bd
	}
}

// nearer reports a value off its hand-computed one by more than 1e-12.
func nearer(t *testing.T) func(what string, got, want float64) {
	return func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
}

// TestIdleHost_GPUExtra: E * (1 - exp(-idle / tau)) by hand, none without E.
func TestIdleHost_GPUExtra(t *testing.T) {
	h := &predict.IdleHost{GPUExtraMs: 0.2, GPUTauMs: 10}
	for _, c := range []struct{ idle, want float64 }{{0, 0}, {-1, 0}, {10, 0.2 * (1 - 1/math.E)}, {1000, 0.2}} {
		if got := h.GPUExtra(c.idle); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("GPUExtra(%v) = %v, want %v", c.idle, got, c.want)
		}
	}
	if got := (&predict.IdleHost{}).GPUExtra(50); got != 0 {
		t.Errorf("no gpu_extra_ms: GPUExtra(50) = %v, want 0", got)
	}
}

// TestEngineStage_DecodeInRun: decode_in_run scales every GPU term of a
// decode graph step of a listed size by its factor, and nothing else: a
// size it does not list, a mixed graph, an eager step.
func TestEngineStage_DecodeInRun(t *testing.T) {
	set, err := predict.Open(os.DirFS("../../profiles/h200/qwen3-0.6b"), "h200/qwen3-0.6b")
	if err != nil {
		t.Fatal(err)
	}
	p, err := predict.New(set, nil, opts(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	decode := func(m int) predict.Batch {
		return predict.Batch{NumRequests: m, Tokens: m, NumDecodes: m, LogitSeqs: m, DecodeContextSum: int64(m * 1500), DecodeContextMax: 1700}
	}
	mixed := predict.Batch{NumRequests: 5, Tokens: 300, NumDecodes: 4, LogitSeqs: 5, DecodeContextSum: 4000, DecodeContextMax: 1200,
		NewRequests: 1, Prefills: []predict.Prefill{{Chunk: 296}}}
	eager := predict.Batch{NumRequests: 1, Tokens: 5000, LogitSeqs: 1, NewRequests: 1, Prefills: []predict.Prefill{{Chunk: 5000}}}
	stage := func(spec *predict.EngineSpec, b predict.Batch) (predict.Breakdown, string, int) {
		bd, mode, padded, err := p.EngineStage(spec, p.KeyOf(b))
		if err != nil {
			t.Fatal(err)
		}
		return bd, mode, padded
	}
	spec := *set.Engine
	spec.DecodeInRun = nil
	scaled := spec
	scaled.DecodeInRun = &predict.DecodeInRun{Factors: map[int]float64{16: 1.02, 8: 0.99}, Source: "test"}
	for _, c := range []struct {
		name string
		b    predict.Batch
		mode string
		want float64
	}{
		{"12 decodes (graph 16)", decode(12), predict.ModeGraph, 1.02},
		{"16 decodes", decode(16), predict.ModeGraph, 1.02},
		{"7 decodes (graph 8)", decode(7), predict.ModeGraph, 0.99},
		{"20 decodes (graph 24, not listed)", decode(20), predict.ModeGraph, 1},
		{"a mixed graph", mixed, predict.ModeGraphMixed, 1},
		{"an eager step", eager, predict.ModeEager, 1},
	} {
		base, mode, _ := stage(&spec, c.b)
		got, _, _ := stage(&scaled, c.b)
		if mode != c.mode {
			t.Fatalf("%s: mode %s, want %s", c.name, mode, c.mode)
		}
		bt, gt := base.Terms(), got.Terms()
		for i := range bt {
			want := bt[i] * c.want
			if i >= predict.NumTerms-2 { // cpu_overhead, admission
				want = bt[i]
			}
			if math.Abs(gt[i]-want) > 1e-12 {
				t.Errorf("%s: %s %v, want %v (x%v)", c.name, predict.TermNames[i], gt[i], want, c.want)
			}
		}
		if r := got.ModelMs() / base.ModelMs(); math.Abs(r-c.want) > 1e-12 {
			t.Errorf("%s: step %v ms against %v: x%v, want x%v", c.name, got.ModelMs(), base.ModelMs(), r, c.want)
		}
	}
}
