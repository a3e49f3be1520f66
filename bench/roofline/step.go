package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/roofline"
)

// stepShape is a step the comparison predicts with both sets.
type stepShape struct {
	name  string
	batch predict.Batch
}

func decode(b, ctx int) stepShape {
	return stepShape{fmt.Sprintf("decode %d x ctx %d", b, ctx), predict.Batch{NumRequests: b, Tokens: b, NumDecodes: b,
		DecodeContextSum: int64(b * ctx), DecodeContextMax: ctx, LogitSeqs: b}}
}

func prefill(c, cached int) stepShape {
	return stepShape{fmt.Sprintf("prefill %d (cached %d)", c, cached), predict.Batch{NumRequests: 1, Tokens: c,
		Prefills: []predict.Prefill{{Chunk: c, Processed: cached}}, NewRequests: 1, LogitSeqs: 1}}
}

var stepShapes = []stepShape{decode(1, 512), decode(8, 512), decode(32, 512), decode(32, 2048), decode(128, 2048), decode(256, 2048),
	prefill(128, 0), prefill(512, 0), prefill(2048, 0), prefill(512, 4096)}

// stepRow is one shape's whole-step GPU time (every layer, embedding and
// LM head; Vidur's composition) from the measured set, the estimate and the
// estimate of a fit without the H200's MLP-side kernels.
type stepRow struct {
	name                         string
	measured, estimated, heldOut float64
}

// compareSteps predicts each shape with the measured H200 set and with the
// estimate for the same model and GPU.
func compareSteps(root string, heldOut roofline.Coeffs) ([]stepRow, error) {
	meas, err := predict.Open(os.DirFS(filepath.Join(root, h200Set)), h200Set)
	if err != nil {
		return nil, err
	}
	m, err := model.Lookup(meas.Meta.Model)
	if err != nil {
		return nil, err
	}
	g, err := model.LookupGPU(meas.Meta.Device)
	if err != nil {
		return nil, err
	}
	est, err := roofline.Generate(roofline.Spec{Model: m, GPU: g, MaxTokens: 8192, MaxBatch: 256}, "the model catalogue")
	if err != nil {
		return nil, err
	}
	f, err := roofline.Embedded()
	if err != nil {
		return nil, err
	}
	f.Coeffs = heldOut
	estHO, err := roofline.GenerateWith(roofline.Spec{Model: m, GPU: g, MaxTokens: 8192, MaxBatch: 256}, "the model catalogue", f)
	if err != nil {
		return nil, err
	}
	opt := predict.Options{Model: m, TP: 1, PP: 1, HeadDim: m.HeadDim, KVCachePredictionGranularity: 64,
		AttentionDecodeBatchingOverhead: 0.1, AttentionPrefillBatchingOverhead: 0.1, LMHead: true, Embedding: true}
	pm, err := predict.New(meas, nil, opt)
	if err != nil {
		return nil, err
	}
	pe, err := predict.New(est, nil, opt)
	if err != nil {
		return nil, err
	}
	ph, err := predict.New(estHO, nil, opt)
	if err != nil {
		return nil, err
	}
	var rows []stepRow
	for _, s := range stepShapes {
		bm, err := pm.Stage(pm.KeyOf(s.batch), 0)
		if err != nil {
			return nil, fmt.Errorf("%s: measured set: %w", s.name, err)
		}
		be, err := pe.Stage(pe.KeyOf(s.batch), 0)
		if err != nil {
			return nil, fmt.Errorf("%s: estimate: %w", s.name, err)
		}
		bh, err := ph.Stage(ph.KeyOf(s.batch), 0)
		if err != nil {
			return nil, fmt.Errorf("%s: held-out estimate: %w", s.name, err)
		}
		rows = append(rows, stepRow{s.name, bm.ModelMs(), be.ModelMs(), bh.ModelMs()})
	}
	return rows, nil
}

func stepMarkdown(rows []stepRow) string {
	var b strings.Builder
	b.WriteString("\nQwen3-0.6B on the H200: whole-step GPU time (28 layers, embedding, LM head; Vidur's composition) from the measured set `h200/qwen3-0.6b`, from the estimate (a fit that saw this set among the others) and from the estimate of a fit without the H200 (attention, KV write: measured on the H200 only, so in-sample in both):\n\n")
	b.WriteString("| step | measured set | estimate | error | estimate, H200 held out | error |\n|---|---:|---:|---:|---:|---:|\n")
	var abs, absHO []float64
	for _, r := range rows {
		e, h := r.estimated/r.measured-1, r.heldOut/r.measured-1
		abs, absHO = append(abs, math.Abs(e)), append(absHO, math.Abs(h))
		fmt.Fprintf(&b, "| %s | %.3f ms | %.3f ms | %+.1f%% | %.3f ms | %+.1f%% |\n", r.name, r.measured, r.estimated, 100*e, r.heldOut, 100*h)
	}
	fmt.Fprintf(&b, "\nMedian |error| over these steps: %.1f%% (H200 held out: %.1f%%).\n", 100*medianOf(abs), 100*medianOf(absHO))
	return b.String()
}

func medianOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
