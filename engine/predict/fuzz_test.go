package predict_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/predict"
)

// FuzzProfileSet: a profile set whose profile.json, mlp.csv or
// attention.csv are any bytes opens, builds a predictor and predicts a
// batch, or fails with an error (a csvin.Error naming the file for a CSV);
// no panic, and a prediction is a finite time >= 0.
func FuzzProfileSet(f *testing.F) {
	fsys := profileFS(f)
	f.Add(uint8(0), string(fsys["profile.json"].Data))
	f.Add(uint8(1), string(fsys["mlp.csv"].Data))
	f.Add(uint8(2), string(fsys["attention.csv"].Data))
	f.Add(uint8(1), "num_tokens\n")
	f.Add(uint8(2), strings.Replace(string(fsys["attention.csv"].Data), ",0.003", ",1e300", 1))
	files := []string{"profile.json", "mlp.csv", "attention.csv"}
	f.Fuzz(func(t *testing.T, which uint8, content string) {
		fs := profileFS(t)
		name := files[int(which)%len(files)]
		fs[name] = &fstest.MapFile{Data: []byte(content)}
		set, err := predict.Open(fs, "fuzz")
		if err != nil {
			return
		}
		p, err := predict.New(set, nil, opts(1, 1))
		if err != nil {
			var ce *csvin.Error
			if name != "profile.json" && errors.As(err, &ce) && !strings.Contains(ce.File, name) && !strings.Contains(err.Error(), "fuzz/") {
				t.Fatalf("error %v does not name %s", err, name)
			}
			return
		}
		for _, b := range []predict.Batch{
			{NumRequests: 1, Tokens: 100, Prefills: []predict.Prefill{{Chunk: 100}}, NewRequests: 1, LogitSeqs: 1},
			{NumRequests: 4, Tokens: 4, NumDecodes: 4, DecodeContextSum: 400, DecodeContextMax: 120, LogitSeqs: 4},
		} {
			bd, err := p.Stage(p.KeyOf(b), 0)
			if err != nil {
				continue
			}
			if ms := bd.TotalMs(); !(ms >= 0) || ms > 1e300 {
				t.Fatalf("predicted %v ms", ms)
			}
		}
	})
}
