package predict_test

import (
	"math"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/servesim/servesim/engine/predict"
)

// mixedDecodeEngine is testEngineJSON with mixed graphs of 8-64 tokens of
// sequence bound min(size, 16) and measured mixed-graph decode rows for
// bounds 8 and 16 (no decode launch model, so no shape correction), read at
// contexts rounded up to 10 keys.
const mixedDecodeEngine = `{"engine": "test engine 1.0", "overlap": "async",
 "cuda_graph_batch_sizes": [1, 2, 4, 8], "mixed_graph_token_sizes": [8, 16, 32, 64],
 "sync_ms": 0.01, "fused_ops": ["add", "qk_norm"], "mixed_graph_logit_rows": 16, "decode_attention_batched": true, "decode_context_granularity": 10,
 "mixed_decode": {"source": "hand-made", "graphs": [
  {"seq_bound": 8, "rows": [[1, 100, 0.01], [1, 300, 0.03], [4, 100, 0.02], [4, 300, 0.06]]},
  {"seq_bound": 16, "rows": [[1, 100, 0.1], [1, 300, 0.3], [8, 100, 0.8], [8, 300, 1.6]]}]}}`

// mixedOpts are engine timing's predictor options: decode_context_granularity
// applies (DecodeShape).
func mixedOpts() predict.Options {
	o := engineOpts()
	o.DecodeShape = true
	return o
}

// openMixed opens the test set with engine.json's text js and a predictor
// of it with mixedOpts.
func openMixed(t *testing.T, js string) (*predict.Set, *predict.Predictor) {
	t.Helper()
	fsys := engineFS(t)
	fsys["engine.json"] = &fstest.MapFile{Data: []byte(js)}
	set, err := predict.Open(fsys, "test/engine")
	if err != nil {
		t.Fatal(err)
	}
	p, err := predict.New(set, nil, mixedOpts())
	if err != nil {
		t.Fatal(err)
	}
	return set, p
}

// withGraphs is mixedDecodeEngine with graphs (JSON objects, each followed
// by a comma but the last) after bound 16's plain rows.
func withGraphs(t *testing.T, graphs string) string {
	t.Helper()
	const last = `"rows": [[1, 100, 0.1], [1, 300, 0.3], [8, 100, 0.8], [8, 300, 1.6]]}`
	js := strings.Replace(mixedDecodeEngine, last+`]}}`, last+`,`+graphs+`]}}`, 1)
	if js == mixedDecodeEngine {
		t.Fatal("fixture not extended")
	}
	return js
}

// mixedStep stages a mixed-graph step: decodes at context ctx beside one
// prefill chunk.
func mixedStep(stage func(predict.Batch) predict.Breakdown) func(decodes, ctx, chunk int) predict.Breakdown {
	return func(decodes, ctx, chunk int) predict.Breakdown {
		return stage(predict.Batch{NumRequests: decodes + 1, Tokens: decodes + chunk, NumDecodes: decodes,
			DecodeContextSum: int64(decodes * ctx), DecodeContextMax: ctx, Prefills: []predict.Prefill{{Chunk: chunk}}, LogitSeqs: decodes + 1})
	}
}

// TestMixedDecode_Rows: a step in a mixed graph costs its sequence bound's
// measured row, interpolated by hand; a decode-only step keeps attn_decode's
// row (the constant set's 0.003).
func TestMixedDecode_Rows(t *testing.T) {
	set, p := openMixed(t, mixedDecodeEngine)
	stage := stager(t, p, set)
	near := nearer(t)
	mixed := mixedStep(stage)
	// 2 decodes at 200 + 4 tokens: the 8-token graph (bound 8). Between
	// decodes 1 and 4 at context 200: 0.02 and 0.04, so 0.02 + (0.04-0.02)/3.
	near("bound 8, 2 decodes at 200", mixed(2, 200, 4).AttnDecode, 0.02+0.02/3)
	// 4 decodes at 300 + 20 tokens: the 32-token graph, bound min(32, 16) = 16.
	// Between decodes 1 (0.3) and 8 (1.6): 0.3 + 1.3*3/7.
	near("bound 16, 4 decodes at 300", mixed(4, 300, 20).AttnDecode, 0.3+1.3*3.0/7)
	// The 64-token graph shares bound 16: the same row.
	near("64-token graph, bound 16", mixed(4, 300, 50).AttnDecode, 0.3+1.3*3.0/7)
	// A context under the rows' first is read at it (100).
	near("context under the rows", mixed(1, 40, 4).AttnDecode, 0.01)
	near("no decodes", mixed(0, 0, 6).AttnDecode, 0)
	near("decode graph", stage(predict.Batch{NumRequests: 3, Tokens: 3, NumDecodes: 3, DecodeContextSum: 300, DecodeContextMax: 100, LogitSeqs: 3}).AttnDecode, 0.003)
	// Beyond the rows: a grid error naming engine.json, unless extrapolating.
	k := p.KeyOf(predict.Batch{NumRequests: 10, Tokens: 14, NumDecodes: 9, DecodeContextSum: 900, DecodeContextMax: 100, Prefills: []predict.Prefill{{Chunk: 5}}, LogitSeqs: 10})
	if _, _, _, err := p.EngineStage(set.Engine, k); err == nil || !strings.Contains(err.Error(), "test/engine/engine.json") || !strings.Contains(err.Error(), "mixed_decode") {
		t.Fatalf("9 decodes in bound 16 with rows to 8: %v", err)
	}
	o := mixedOpts()
	o.Extrapolate = true
	px, err := predict.New(set, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _, err := px.EngineStage(set.Engine, px.KeyOf(predict.Batch{NumRequests: 10, Tokens: 14, NumDecodes: 9, DecodeContextSum: 900, DecodeContextMax: 100,
		Prefills: []predict.Prefill{{Chunk: 5}}, LogitSeqs: 10}))
	if err != nil || px.Extrapolated == 0 {
		t.Fatalf("extrapolated: %v, %d", err, px.Extrapolated)
	}
	near("extrapolated past decodes 8", b.AttnDecode, 0.8+0.1)
}

// TestMixedDecode_MinTokens: a bound's rows with min_tokens apply to its
// mixed graphs of at least that many tokens (the largest such), the
// others keep the bound's plain rows.
func TestMixedDecode_MinTokens(t *testing.T) {
	set, p := openMixed(t, withGraphs(t, `
  {"seq_bound": 16, "min_tokens": 64, "rows": [[1, 100, 0.2], [1, 300, 0.6], [8, 100, 1.6], [8, 300, 3.2]]},
  {"seq_bound": 16, "min_tokens": 32, "rows": [[1, 100, 0.15], [1, 300, 0.45], [8, 100, 1.2], [8, 300, 2.4]]}`))
	near := nearer(t)
	mixed := mixedStep(stager(t, p, set))
	near("16-token graph: the bound's plain rows", mixed(4, 300, 8).AttnDecode, 0.3+1.3*3.0/7)
	near("32-token graph: min_tokens 32", mixed(4, 300, 20).AttnDecode, 0.45+1.95*3.0/7)
	near("64-token graph: min_tokens 64 (the largest at or under 64)", mixed(4, 300, 50).AttnDecode, 0.6+2.6*3.0/7)
	// the same decodes in the 32-token graph again: the memo keeps the graphs apart
	near("32-token graph again", mixed(4, 300, 20).AttnDecode, 0.45+1.95*3.0/7)
}

// TestMixedDecode_PrefillTokens: a bound and min_tokens with graphs per
// prefill chunk (prefill_tokens 12 and 24: the second's rows twice the
// first's) read at the step's own prefill tokens (tokens less decodes),
// linearly between the two chunks and held at the nearest outside them; a
// min_tokens without prefill_tokens, and the bound's plain rows, are read
// whatever the chunk. Hand-computed: at 4 decodes and context 300 the
// 12-token chunk's row is A = 0.3 + 1.3*3/7 = 6/7.
func TestMixedDecode_PrefillTokens(t *testing.T) {
	set, p := openMixed(t, withGraphs(t, `
  {"seq_bound": 16, "min_tokens": 64, "rows": [[1, 100, 0.3], [1, 300, 0.9], [8, 100, 2.4], [8, 300, 4.8]]},
  {"seq_bound": 16, "min_tokens": 32, "prefill_tokens": 24, "rows": [[1, 100, 0.2], [1, 300, 0.6], [8, 100, 1.6], [8, 300, 3.2]]},
  {"seq_bound": 16, "min_tokens": 32, "prefill_tokens": 12, "rows": [[1, 100, 0.1], [1, 300, 0.3], [8, 100, 0.8], [8, 300, 1.6]]}`))
	near := nearer(t)
	mixed := mixedStep(stager(t, p, set))
	const a = 6.0 / 7
	for _, tc := range []struct {
		name                string
		decodes, ctx, chunk int
		want                float64
	}{
		{"16-token graph: the bound's plain rows", 4, 300, 8, a},
		{"32-token graph, chunk 20: 2/3 of the way from 12 to 24", 4, 300, 20, a * (1 + 2.0/3)},
		{"chunk 14: 1/6 of the way", 4, 300, 14, a * 7 / 6},
		{"chunk 28: held at 24's", 4, 300, 28, 2 * a},
		{"8 decodes, chunk 10: held at 12's", 8, 300, 10, 1.6},
		{"8 decodes at 100, chunk 18: half way", 8, 100, 18, 0.8 + 0.5*0.8},
		{"64-token graph: min_tokens 64, no prefill_tokens", 4, 300, 50, 3 * a},
		{"chunk 14 again: the memo keeps the chunks apart", 4, 300, 14, a * 7 / 6},
		{"chunk 20 again", 4, 300, 20, a * (1 + 2.0/3)},
	} {
		near(tc.name, mixed(tc.decodes, tc.ctx, tc.chunk).AttnDecode, tc.want)
	}
}

// TestMixedDecode_Validation: engine.json's mixed_decode is checked whole.
func TestMixedDecode_Validation(t *testing.T) {
	base := `{"engine":"e","overlap":"sync","mixed_graph_token_sizes":[8,16],"mixed_graph_logit_rows":8,"mixed_decode":`
	for _, tc := range []struct{ md, want string }{
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]]}]}`, ""},
		{`{"source":" ","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]]}]}`, `"mixed_decode"."source": expected where the numbers come from`},
		{`{"source":"s","graphs":[{"seq_bound":4,"rows":[[1,64,0.1]]}]}`, `mixed graph size 8 has sequence bound 8 and no graph`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64]]}]}`, `"rows"[0]: expected [decodes, context, ms], got 2 numbers`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[9,64,0.1]]}]}`, `expected decodes an integer 1-8, got 9`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1.5,64,0.1]]}]}`, `expected decodes an integer 1-8, got 1.5`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,0,0.1]]}]}`, `expected a context an integer`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,-0.1]]}]}`, `expected ms a finite number >= 0, got -0.1`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1],[1,64,0.2]]}]}`, `decodes 1 at context 64 is listed twice`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[]}]}`, `expected at least one [decodes, context, ms] row`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]]},{"seq_bound":8,"rows":[[1,64,0.1]]}]}`, `"seq_bound": 8 is listed twice`},
		{`{"source":"s","graphs":[{"seq_bound":0,"rows":[[1,64,0.1]]}]}`, `"seq_bound": expected an integer >= 1, got 0`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]]},{"seq_bound":8,"min_tokens":16,"rows":[[1,64,0.2]]}]}`, ""},
		{`{"source":"s","graphs":[{"seq_bound":8,"min_tokens":16,"rows":[[1,64,0.2]]}]}`, `mixed graph size 8 has sequence bound 8 and no graph with that "seq_bound" (and min_tokens <= 8)`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]]},{"seq_bound":8,"min_tokens":16,"rows":[[1,64,0.2]]},{"seq_bound":8,"min_tokens":16,"rows":[[1,64,0.2]]}]}`, `seq_bound 8 with min_tokens 16 is listed twice`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]]},{"seq_bound":8,"min_tokens":-1,"rows":[[1,64,0.2]]}]}`, `"min_tokens": expected an integer >= 0, got -1`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]],"bound":3}]}`, `unknown field "bound"`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]]},{"seq_bound":8,"min_tokens":16,"prefill_tokens":8,"rows":[[1,64,0.2]]},{"seq_bound":8,"min_tokens":16,"prefill_tokens":12,"rows":[[1,64,0.3]]}]}`, ""},
		{`{"source":"s","graphs":[{"seq_bound":8,"prefill_tokens":4,"rows":[[1,64,0.1]]}]}`, ""},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]]},{"seq_bound":8,"min_tokens":16,"prefill_tokens":8,"rows":[[1,64,0.2]]},{"seq_bound":8,"min_tokens":16,"prefill_tokens":8,"rows":[[1,64,0.3]]}]}`, `seq_bound 8 with min_tokens 16 and prefill_tokens 8 is listed twice`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]]},{"seq_bound":8,"min_tokens":16,"prefill_tokens":8,"rows":[[1,64,0.2]]},{"seq_bound":8,"min_tokens":16,"rows":[[1,64,0.3]]}]}`, `seq_bound 8 with min_tokens 16 has graphs with and without "prefill_tokens"`},
		{`{"source":"s","graphs":[{"seq_bound":8,"rows":[[1,64,0.1]]},{"seq_bound":8,"min_tokens":16,"rows":[[1,64,0.3]]},{"seq_bound":8,"min_tokens":16,"prefill_tokens":8,"rows":[[1,64,0.2]]}]}`, `seq_bound 8 with min_tokens 16 has graphs with and without "prefill_tokens"`},
		{`{"source":"s","graphs":[{"seq_bound":8,"prefill_tokens":-2,"rows":[[1,64,0.1]]}]}`, `"prefill_tokens": expected an integer >= 0, got -2`},
	} {
		_, err := predict.ParseEngineSpec([]byte(base+tc.md+"}"), "x/engine.json")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.md, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.md, err, tc.want)
		}
	}
}

// TestMixedDecode_Shape: on the H200 set, mixed-graph decodes of one mean
// context differ by the decode launch model's time at their shapes, taken
// at the graph's sequence bound (256 for a 256-token graph): 128 uniform
// decodes at 4096 against 128 spread from 2048 to 6144 (the rows' own
// spread, which the model leaves as measured). Fewer, shorter decodes
// split into the same 128-key partitions at either shape (equal times).
func TestMixedDecode_Shape(t *testing.T) {
	set, err := predict.Open(os.DirFS("../../profiles/h200/qwen3-0.6b"), "h200/qwen3-0.6b")
	if err != nil {
		t.Fatal(err)
	}
	if set.Engine.MixedDecode == nil || set.Engine.DecodeLaunch == nil {
		t.Fatal("the H200 set has no mixed_decode or decode_launch")
	}
	o := engineOpts()
	o.DecodeShape = true
	p, err := predict.New(set, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	stage := stager(t, p, set)
	step := func(longest int) predict.Breakdown {
		return stage(predict.Batch{NumRequests: 129, Tokens: 256, NumDecodes: 128, DecodeContextSum: 128 * 4096, DecodeContextMax: longest,
			Prefills: []predict.Prefill{{Chunk: 128}}, LogitSeqs: 129})
	}
	d := set.Engine.DecodeLaunch
	uniform := make([]int, 128)
	for i := range uniform {
		uniform[i] = 4096
	}
	want := d.DecodeMs(uniform, 256) - d.DecodeMs(predict.ShapeLens(nil, 128, 4096, 6144), 256)
	got := step(4096).AttnDecode - step(6144).AttnDecode
	if math.Abs(got-want) > 1e-12 || want == 0 {
		t.Fatalf("uniform less spread %v, want the model's %v", got, want)
	}
}
