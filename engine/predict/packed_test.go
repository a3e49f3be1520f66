package predict_test

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/predict"
)

// TestPacked_SameAsCSV: a set read from packed CSVs (csvin.PackedFS, the
// attention table's column path) predicts exactly what the same set read
// from its CSVs does, and a damaged table fails with the CSV's own error
// (file, line, column), whatever the damage: a bad cell, an empty time, a
// row of another shape, a missing column.
func TestPacked_SameAsCSV(t *testing.T) {
	dir := "../../profiles/a100/qwen3-0.6b/"
	files := map[string][]byte{}
	for _, n := range []string{"mlp.csv", "attention.csv", "cpu_overheads.csv", "profile.json", "PROVENANCE.md"} {
		b, err := os.ReadFile(dir + n)
		if err != nil {
			t.Fatal(err)
		}
		files[n] = b
	}
	attn := string(files["attention.csv"])
	lines := strings.SplitAfter(attn, "\n")
	cell := func(line, col int, v string) string { // 1-based line, 0-based column
		out := append([]string(nil), lines...)
		cells := strings.Split(strings.TrimSuffix(out[line-1], "\n"), ",")
		cells[col] = v
		out[line-1] = strings.Join(cells, ",") + "\n"
		return strings.Join(out, "")
	}
	// Columns: 0 kv save, 1 prefill, 2 decode, 3 n_embd, ..., 8
	// num_tensor_parallel_workers, 10 batch_size, 11 prefill_chunk_size,
	// 12 kv_cache_size.
	cases := map[string]string{
		"as committed":         attn,
		"batch size 0":         cell(5000, 10, "0"),
		"batch size 1.5":       cell(77, 10, "1.5"),
		"negative chunk":       cell(9000, 11, "-1"),
		"empty kv save":        cell(2, 0, ""),
		"kv save over an hour": cell(10000, 0, "3600001"),
		"zero prefill time":    cell(3, 1, "0"),
		"text decode time":     cell(len(lines)-1, 2, "fast"),
		"one row of TP 2":      cell(400, 8, "2"),
		"n_embd 1024.0":        cell(400, 3, "1024.0"),
		"every row of TP 2":    strings.ReplaceAll(attn, ",16,8,128,16,1,", ",16,8,128,16,2,"),
		"no kv_cache_size":     strings.Replace(attn, "kv_cache_size", "kv_cache", 1),
	}
	for name, csv := range cases {
		t.Run(name, func(t *testing.T) {
			plain, packed := fstest.MapFS{}, fstest.MapFS{}
			for n, b := range files {
				if n == "attention.csv" {
					b = []byte(csv)
				}
				plain[n] = &fstest.MapFile{Data: b}
				if strings.HasSuffix(n, ".csv") {
					pk, err := csvin.Pack(b, n)
					if err != nil {
						t.Fatal(err)
					}
					packed[n+csvin.PackSuffix] = &fstest.MapFile{Data: pk}
				} else {
					packed[n] = &fstest.MapFile{Data: b}
				}
			}
			load := func(fsys fs.FS) (*predict.Predictor, error) {
				set, err := predict.Open(fsys, "embedded:a100/qwen3-0.6b")
				if err != nil {
					t.Fatal(err)
				}
				o := opts(1, 1)
				o.CPUOverhead, o.LMHead, o.Embedding = true, true, true
				return predict.New(set, nil, o)
			}
			want, werr := load(plain)
			got, gerr := load(csvin.PackedFS(packed))
			if fmt.Sprint(werr) != fmt.Sprint(gerr) {
				t.Fatalf("packed: %v\nCSV:    %v", gerr, werr)
			}
			if werr != nil {
				if name == "as committed" {
					t.Fatal(werr)
				}
				t.Logf("both: %v", werr)
				return
			}
			if name != "as committed" && name != "n_embd 1024.0" && name != "one row of TP 2" { // a row of another shape is left out
				t.Fatalf("the damaged table loaded")
			}
			for _, b := range []predict.Batch{
				{NumRequests: 1, Tokens: 512, Prefills: []predict.Prefill{{Chunk: 512}}, NewRequests: 1, LogitSeqs: 1},
				{NumRequests: 3, Tokens: 300, Prefills: []predict.Prefill{{Chunk: 298, Processed: 1000}}, NumDecodes: 2, DecodeContextSum: 5000, DecodeContextMax: 3000, LogitSeqs: 3},
				{NumRequests: 64, Tokens: 64, NumDecodes: 64, DecodeContextSum: 64 * 1777, DecodeContextMax: 4000, LogitSeqs: 64},
				{NumRequests: 7, Tokens: 2048, Prefills: []predict.Prefill{{Chunk: 2041, Processed: 7000}}, NumDecodes: 6, DecodeContextSum: 6 * 333, DecodeContextMax: 900, LogitSeqs: 7},
			} {
				w, err1 := want.Stage(want.KeyOf(b), 0)
				g, err2 := got.Stage(got.KeyOf(b), 0)
				if fmt.Sprint(err1) != fmt.Sprint(err2) || w != g {
					t.Errorf("%+v: packed %+v (%v), CSV %+v (%v)", b, g, err2, w, err1)
				}
			}
		})
	}
}
