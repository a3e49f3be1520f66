package predict_test

import (
	"errors"
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

func qwen3() model.Model { m, _ := model.Lookup("Qwen/Qwen3-0.6B"); return m }

func opts(tp, pp int) predict.Options {
	n, _ := model.LookupNode("a100_pairwise_nvlink")
	return predict.Options{Model: qwen3(), Node: n, TP: tp, PP: pp, HeadDim: 128, KVCachePredictionGranularity: 64,
		AttentionDecodeBatchingOverhead: 0.1, AttentionPrefillBatchingOverhead: 0.1, NCCLCPULaunchOverheadMs: 0.02}
}

// TestStage_Composition checks Vidur §6.1 by hand with TP 2, PP 2 and CPU
// overhead: all ops 0.01 ms, kv save 0.002, decode 0.003, prefill 0.004,
// all-reduce 0.005, send/recv 0.006, each CPU term 0.1, admission 0.5.
func TestStage_Composition(t *testing.T) {
	tm := enginetest.Uniform(0.01, 0.002, 0.003, 0.004)
	tm.CPU, tm.Admit = 0.1, 0.5
	set := enginetest.Set(qwen3(), tm, 4096, 128)
	o := opts(2, 2)
	o.CPUOverhead = true
	p, err := predict.New(set, enginetest.Network(1024, 0.005, 0.006), o)
	if err != nil {
		t.Fatal(err)
	}
	// 2 decodes (contexts 100, 200) + one new 30-token prefill.
	k := p.KeyOf(predict.Batch{NumRequests: 3, Tokens: 32, NumDecodes: 2, DecodeContextSum: 300,
		Prefills: []predict.Prefill{{Chunk: 30}}, NewRequests: 1, LogitSeqs: 3})
	if k.T8 != 32 || k.Bd != 2 || k.Kd != 192 || k.Cp != 30 || k.Kp != 0 {
		t.Fatalf("key %+v", k)
	}
	// Per layer: 9 x 0.01 + kv 0.002 + decode 0.003 x 1.1 + prefill 0.004 (one prefill)
	// + 2 x (0.005 + 0.02) = 0.09 + 0.002 + 0.0033 + 0.004 + 0.05 = 0.1493 ms; 14 layers per stage.
	layer := 0.1493
	for s, wantPP := range []float64{0.006, 0} {
		b, err := p.Stage(k, s)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(b.BlockMs()-layer) > 1e-12 || b.Layers != 14 || b.PPComm != wantPP {
			t.Errorf("stage %d: block %v layers %d pp %v", s, b.BlockMs(), b.Layers, b.PPComm)
		}
		// CPU: 5 terms x 0.1; admission 0.5 per new request.
		want := layer*14 + wantPP + 0.5 + 0.5
		if math.Abs(b.TotalMs()-want) > 1e-9 {
			t.Errorf("stage %d total %v, want %v", s, b.TotalMs(), want)
		}
	}
}

// profileFS returns a small valid set whose files can be corrupted.
func profileFS(t testing.TB) fstest.MapFS {
	src := enginetest.Set(qwen3(), enginetest.Uniform(0.01, 0.002, 0.003, 0.004), 512, 8)
	out := fstest.MapFS{}
	for _, n := range []string{"mlp.csv", "attention.csv", "profile.json", "PROVENANCE.md"} {
		b, err := fs.ReadFile(src.FS, n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = &fstest.MapFile{Data: b}
	}
	return out
}

func TestNew_BadProfiles(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		edit      func(string) string
		line      int
		wantInMsg string
	}{
		{"NaN timing", "mlp.csv", func(s string) string { return replaceNth(s, ",0.01", ",NaN", 3) }, 2, "a finite number > 0"},
		{"zero timing", "mlp.csv", func(s string) string { return replaceNth(s, ",0.01", ",0", 40) }, 6, "a finite number > 0"},
		{"negative timing", "attention.csv", func(s string) string { return replaceNth(s, ",0.002", ",-0.002", 1) }, 2, "a finite number > 0"},
		{"empty timing", "attention.csv", func(s string) string { return replaceNth(s, ",0.003,", ",,", 1) }, 2, "a finite number > 0"},
		{"missing column", "mlp.csv", func(s string) string { return strings.Replace(s, "time_stats.add.median", "time_stats.addx.median", 1) }, 1, "time_stats.add.median"},
		{"no matching rows", "mlp.csv", func(s string) string { return strings.ReplaceAll(s, ",16,8,1024,", ",32,8,1024,") }, 0, "no row matches"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := profileFS(t)
			fsys[tc.file].Data = []byte(tc.edit(string(fsys[tc.file].Data)))
			set, err := predict.Open(fsys, "bad")
			if err != nil {
				t.Fatal(err)
			}
			_, err = predict.New(set, nil, opts(1, 1))
			if err == nil || !strings.Contains(err.Error(), tc.wantInMsg) || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("got %v", err)
			}
			var ce *csvin.Error
			if tc.line > 0 && (!errors.As(err, &ce) || ce.Line != tc.line) {
				t.Errorf("got %v, want line %d", err, tc.line)
			}
		})
	}
}

func replaceNth(s, old, new string, n int) string {
	i := -1
	for k := 0; k < n; k++ {
		j := strings.Index(s[i+1:], old)
		if j < 0 {
			return s
		}
		i += j + 1
	}
	return s[:i] + new + s[i+len(old):]
}

func TestStage_GridMissAndExtrapolation(t *testing.T) {
	set := enginetest.Set(qwen3(), enginetest.Uniform(0.01, 0.002, 0.003, 0.004), 512, 8)
	p, err := predict.New(set, nil, opts(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	// 16 decodes: the grid has batch 1..8.
	k := p.KeyOf(predict.Batch{NumRequests: 16, Tokens: 16, NumDecodes: 16, DecodeContextSum: 16 * 100})
	_, err = p.Stage(k, 0)
	var ge *predict.GridError
	if !errors.As(err, &ge) || ge.Op != "attn_decode" || !strings.Contains(err.Error(), "batch_size 1..8") {
		t.Fatalf("got %v", err)
	}
	o := opts(1, 1)
	o.Extrapolate = true
	p, _ = predict.New(set, nil, o)
	if _, err := p.Stage(k, 0); err != nil || p.Extrapolated == 0 {
		t.Fatalf("extrapolation: %v, counted %d", err, p.Extrapolated)
	}
}

func TestOpen_RequiresProvenance(t *testing.T) {
	fsys := profileFS(t)
	delete(fsys, "PROVENANCE.md")
	if _, err := predict.Open(fsys, "x"); err == nil || !strings.Contains(err.Error(), "PROVENANCE.md") {
		t.Fatalf("got %v", err)
	}
	fsys = profileFS(t)
	fsys["profile.json"].Data = []byte(`{"name":"x","model":"Qwen/Qwen3-0.6B","kind":"guessed"}`)
	if _, err := predict.Open(fsys, "x"); err == nil || !strings.Contains(err.Error(), "measured") {
		t.Fatalf("got %v", err)
	}
}

// countingFS counts opens of each file.
type countingFS struct {
	fs.FS
	opens map[string]int
}

func (c countingFS) Open(name string) (fs.File, error) {
	c.opens[name]++
	return c.FS.Open(name)
}

// TestNew_TablesCachedPerSet: a set opened once parses its CSVs for the
// first Predictor of given options only; other options parse again, and a
// cached predictor predicts exactly what a fresh one does.
func TestNew_TablesCachedPerSet(t *testing.T) {
	src := profileFS(t)
	cfs := countingFS{FS: src, opens: map[string]int{}}
	set, err := predict.Open(cfs, "test/counting")
	if err != nil {
		t.Fatal(err)
	}
	k := predict.Key{T: 40, T8: 40, Bd: 3, Kd: 128, Kp: 0, Cp: 37, NumPrefills: 1, NumRequests: 4}
	stage := func(o predict.Options, set *predict.Set) predict.Breakdown {
		t.Helper()
		p, err := predict.New(set, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.Stage(k, 0)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := stage(opts(1, 1), set)
	n := cfs.opens["attention.csv"]
	if n == 0 || cfs.opens["mlp.csv"] == 0 {
		t.Fatalf("opens after the first predictor: %v", cfs.opens)
	}
	if again := stage(opts(1, 1), set); again != first {
		t.Fatalf("cached predictor: %+v, fresh: %+v", again, first)
	}
	if cfs.opens["attention.csv"] != n {
		t.Fatalf("attention.csv opened again for the same options: %d -> %d", n, cfs.opens["attention.csv"])
	}
	o := opts(1, 1)
	o.HeadDim = 64
	stage(o, set)
	if cfs.opens["attention.csv"] == n {
		t.Fatal("different options reused the cached tables")
	}
	fresh, err := predict.Open(src, "test/fresh")
	if err != nil {
		t.Fatal(err)
	}
	if b := stage(opts(1, 1), fresh); b != first {
		t.Fatalf("fresh set: %+v, cached: %+v", b, first)
	}
}

// TestDecodeKeyRun: the key DecodeKeyRun returns is KeyOf's for every one
// of the steps it says keep it (each adding one token to every decode's
// context) and changes on the next, by the mean context or the largest.
func TestDecodeKeyRun(t *testing.T) {
	set := enginetest.Set(qwen3(), enginetest.Uniform(0.01, 0.002, 0.003, 0.004), 4096, 128)
	for _, byMax := range []bool{false, true} {
		o := opts(1, 1)
		o.DecodeContextMax = byMax
		p, err := predict.New(set, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		for m := 1; m <= 7; m++ {
			for c0 := 0; c0 < 200; c0 += 13 {
				b := func(s int) predict.Batch {
					return predict.Batch{NumRequests: m, Tokens: m, NumDecodes: m, LogitSeqs: m,
						DecodeContextSum: int64(m*c0 + m*(m-1) + m*s), DecodeContextMax: c0 + 2*(m-1) + s}
				}
				k, same := p.DecodeKeyRun(b(0))
				if k != p.KeyOf(b(0)) || same < 0 || same >= 64 {
					t.Fatalf("max %v m %d c0 %d: key %+v (KeyOf %+v), %d more steps", byMax, m, c0, k, p.KeyOf(b(0)), same)
				}
				for s := 1; s <= same; s++ {
					if p.KeyOf(b(s)) != k {
						t.Fatalf("max %v m %d c0 %d: step %d of %d changed the key", byMax, m, c0, s, same)
					}
				}
				if p.KeyOf(b(same+1)) == k {
					t.Fatalf("max %v m %d c0 %d: step %d keeps the key", byMax, m, c0, same+1)
				}
			}
		}
	}
}

// TestDecodeKeyRun_FirstRowOffGrid: DecodeKeyRun's count of steps that keep
// the key holds when the decode rows' first context (64 on the H200 set) is
// not a multiple of the set's decode_context_granularity, where a context
// under the first row is read at it: every step it counts keeps KeyOf's key,
// and the next changes it, for the mean and the longest context.
func TestDecodeKeyRun_FirstRowOffGrid(t *testing.T) {
	for _, gran := range []int{16, 24, 48, 100} {
		set, err := predict.Open(os.DirFS("../../profiles/h200/qwen3-0.6b"), "h200/qwen3-0.6b")
		if err != nil {
			t.Fatal(err)
		}
		set.Engine.DecodeContextGranularity = gran
		o := opts(1, 1)
		o.DecodeShape = true
		p, err := predict.New(set, nil, o)
		if err != nil {
			t.Fatal(err)
		}
		for m := 1; m <= 4; m++ {
			for c0 := 1; c0 < 260; c0++ {
				b := func(s int) predict.Batch { // contexts c0, c0+3, ... each one more a step
					return predict.Batch{NumRequests: m, Tokens: m, NumDecodes: m, LogitSeqs: m,
						DecodeContextSum: int64(m*(c0+s) + 3*m*(m-1)/2), DecodeContextMax: c0 + 3*(m-1) + s}
				}
				k, same := p.DecodeKeyRun(b(0))
				for s := 1; s <= same; s++ {
					if p.KeyOf(b(s)) != k {
						t.Fatalf("granularity %d, %d decodes from %d: step %d of the %d counted changes the key", gran, m, c0, s, same)
					}
				}
				if p.KeyOf(b(same+1)) == k {
					t.Fatalf("granularity %d, %d decodes from %d: step %d keeps the key, %d counted", gran, m, c0, same+1, same)
				}
			}
		}
	}
}

// TestDecodeGranularity: under engine timing (Options.DecodeShape) a set's
// decode_context_granularity sets the context decode rows are read at
// (the test set's 1: the batch's own mean and longest; the H200 set's 16),
// and without engine timing the config's granularity (64) rounds up as
// Vidur does; on the H200 set, whose rows start at 64 keys, a context under
// that is read at 64. DecodeKeyRun
// keeps the key only while both the mean and the longest context keep theirs.
func TestDecodeGranularity(t *testing.T) {
	tm := enginetest.Uniform(0.01, 0.002, 0.003, 0.004)
	tm.Engine = `{"engine": "test engine 1.0", "overlap": "async", "cuda_graph_batch_sizes": [1, 2, 4, 8], "decode_context_granularity": 1,
 "decode_launch": {"bound_per_seq": 2, "bound_min": 1, "part_min": 64, "block_n": 64, "max_parts": 4, "heads": 1, "sms": 2, "blocks_per_sm": 1,
  "block_ms": 0.01, "key_ms": 0.001, "share": 0, "combine_ms": 0, "source": "test"}}`
	h200, err := predict.Open(os.DirFS("../../profiles/h200/qwen3-0.6b"), "h200/qwen3-0.6b")
	if err != nil {
		t.Fatal(err)
	}
	if h200.Engine.DecodeContextGranularity != 16 {
		t.Fatalf("h200 set: decode_context_granularity %d, want 16 (the KV cache's pages)", h200.Engine.DecodeContextGranularity)
	}
	sets := map[string]*predict.Set{"test": enginetest.Set(qwen3(), tm, 4096, 128), "h200": h200}
	batch := func(m, mean, longest int) predict.Batch {
		return predict.Batch{NumRequests: m, Tokens: m, NumDecodes: m, LogitSeqs: m, DecodeContextSum: int64(m * mean), DecodeContextMax: longest}
	}
	pred := func(set string, engine bool) *predict.Predictor {
		o := opts(1, 1)
		o.DecodeShape = engine
		p, err := predict.New(sets[set], nil, o)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		set               string
		engine            bool
		mean, longest     int
		wantKd, wantKdMax int32
	}{
		{"test", true, 100, 130, 100, 130},
		{"test", true, 30, 40, 30, 40},
		{"test", false, 100, 130, 128, 0},
		// under one step of the config's 64-key grid a mean is read exactly (the
		// set's rows start at 16 keys, 16 apart), the longest too
		{"h200", true, 30, 40, 30, 40},
		{"h200", true, 30, 100, 30, 100},
		{"h200", true, 70, 100, 80, 112},
		{"h200", true, 10, 12, 16, 16},
		{"h200", true, 1000, 1500, 1008, 1504},
		{"h200", false, 1000, 1500, 1024, 0},
	} {
		k := pred(c.set, c.engine).KeyOf(batch(4, c.mean, c.longest))
		if k.Kd != c.wantKd || k.KdMax != c.wantKdMax {
			t.Errorf("%s, engine %v, mean %d, longest %d: Kd %d, KdMax %d; want %d, %d", c.set, c.engine, c.mean, c.longest, k.Kd, k.KdMax, c.wantKd, c.wantKdMax)
		}
	}
	// granularity 1: every step changes the key
	if _, same := pred("test", true).DecodeKeyRun(batch(4, 100, 130)); same != 0 {
		t.Errorf("granularity 1: %d more steps keep the key, want 0", same)
	}
	// under the first row (16 keys): the longest reaches 16 after 4 steps, the mean after 6
	p := pred("h200", true)
	if k, same := p.DecodeKeyRun(batch(4, 10, 12)); same != 4 || p.KeyOf(batch(4, 10+4, 12+4)) != k || p.KeyOf(batch(4, 10+5, 12+5)) == k {
		t.Errorf("under the first row: %d more steps keep the key, want 4", same)
	}
	// read exactly under 64 keys: every step changes the key
	if _, same := p.DecodeKeyRun(batch(4, 30, 40)); same != 0 {
		t.Errorf("mean 30 on the h200 set: %d more steps keep the key, want 0", same)
	}
	// and a step there costs what the first row's does
	st := func(b predict.Batch) float64 {
		bd, _, _, err := p.EngineStage(h200.Engine, p.KeyOf(b))
		if err != nil {
			t.Fatal(err)
		}
		return bd.AttnDecode
	}
	if a, b := st(batch(4, 10, 10)), st(batch(4, 16, 16)); a != b {
		t.Errorf("4 decodes at 10 keys: attention %v, want the 16-key row's %v", a, b)
	}
}
