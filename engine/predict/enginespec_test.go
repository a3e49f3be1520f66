package predict_test

import (
	"errors"
	"io/fs"
	"math"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/enginetest"
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
