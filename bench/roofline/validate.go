package main

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/servesim/servesim/engine/roofline"
)

// pred is a sample with the time a fit that did not see it predicts.
type pred struct {
	s roofline.Sample
	p float64
}

// Report is the fit on every sample and its held-out errors.
type Report struct {
	Coeffs  roofline.Coeffs
	Samples int
	GPUs    []string
	Models  []string
	// Predictions by protocol: in-sample, leave one model out, leave one
	// GPU out, attention's long contexts held out.
	In, LOMO, LOGO, LongCtx []pred
	Network                 roofline.NetworkCoeffs
	// H200HeldOut is the fit without the H200's samples (classes measured
	// only there keep the full fit's coefficients).
	H200HeldOut roofline.Coeffs
	// NetHeldOut: each collective on each GPU's nodes predicted by a fit
	// on the other GPU's nodes.
	NetHeldOut map[string]stat
	// Opgrid and OpgridHO: the H200 GEMMs of models without a profile set
	// (opgridFile), predicted by the full fit and by the fit without the
	// H200; never fitted on.
	Opgrid, OpgridHO []pred
	// Folds whose class had no sample outside the held-out group: the
	// prediction used the full fit (in-sample), named here.
	InSampleFolds []string
}

func distinct(samples []roofline.Sample, key func(roofline.Sample) string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range samples {
		if k := key(s); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func classesOf(samples []roofline.Sample) map[roofline.Class]bool {
	c := map[roofline.Class]bool{}
	for _, s := range samples {
		c[s.Class] = true
	}
	return c
}

// heldOut fits without the group and predicts it; a class the rest lacks
// is predicted with the full fit and recorded.
func (r *Report) heldOut(samples []roofline.Sample, name string, in func(roofline.Sample) bool) []pred {
	var train, test []roofline.Sample
	for _, s := range samples {
		if in(s) {
			test = append(test, s)
		} else {
			train = append(train, s)
		}
	}
	k := roofline.Fit(train, r.Coeffs)
	have := classesOf(train)
	var out []pred
	for cl := range classesOf(test) {
		if !have[cl] {
			r.InSampleFolds = append(r.InSampleFolds, fmt.Sprintf("%s without %s", cl, name))
		}
	}
	for _, s := range test {
		out = append(out, pred{s, s.Predict(k[s.Class])})
	}
	return out
}

func validate(samples []roofline.Sample) *Report {
	r := &Report{Samples: len(samples), Coeffs: roofline.Fit(samples, nil)}
	r.GPUs = distinct(samples, func(s roofline.Sample) string { return s.GPU })
	r.Models = distinct(samples, func(s roofline.Sample) string { return s.Model })
	for _, s := range samples {
		r.In = append(r.In, pred{s, s.Predict(r.Coeffs[s.Class])})
	}
	for _, m := range r.Models {
		r.LOMO = append(r.LOMO, r.heldOut(samples, m, func(s roofline.Sample) bool { return s.Model == m })...)
	}
	for _, g := range r.GPUs {
		r.LOGO = append(r.LOGO, r.heldOut(samples, g, func(s roofline.Sample) bool { return s.GPU == g })...)
	}
	var noH200 []roofline.Sample
	for _, s := range samples {
		if s.GPU != "h200" {
			noH200 = append(noH200, s)
		}
	}
	r.H200HeldOut = roofline.Fit(noH200, r.Coeffs)
	// Attention is measured on one GPU and one model only: hold out its
	// long contexts (more than 2048 cached keys) instead.
	var att, short []roofline.Sample
	for _, s := range samples {
		if s.Class == roofline.AttnDecode || s.Class == roofline.AttnPrefill {
			att = append(att, s)
		}
	}
	long := func(s roofline.Sample) bool { return contextOf(s) > 2048 }
	for _, s := range att {
		if !long(s) {
			short = append(short, s)
		}
	}
	k := roofline.Fit(short, r.Coeffs)
	for _, s := range att {
		if long(s) {
			r.LongCtx = append(r.LongCtx, pred{s, s.Predict(k[s.Class])})
		}
	}
	sort.Strings(r.InSampleFolds)
	return r
}

// contextOf is the keys each sequence of an attention sample had cached.
func contextOf(s roofline.Sample) float64 { return s.Context }

type stat struct {
	n              int
	med, p90, mean float64
}

// errs is the weighted median and P90 of |predicted / measured - 1| over
// the predictions, each (GPU, model, op) weighing the same.
func errs(ps []pred) stat {
	if len(ps) == 0 {
		return stat{}
	}
	type key struct{ g, m, op string }
	n := map[key]int{}
	for _, p := range ps {
		n[key{p.s.GPU, p.s.Model, p.s.Op}]++
	}
	type we struct{ e, w float64 }
	var es []we
	tot, mean := 0.0, 0.0
	for _, p := range ps {
		w := 1 / float64(n[key{p.s.GPU, p.s.Model, p.s.Op}])
		e := p.p/p.s.Ms - 1
		es = append(es, we{math.Abs(e), w})
		tot += w
		mean += w * e
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].e < es[j].e })
	q := func(f float64) float64 {
		acc := 0.0
		for _, x := range es {
			acc += x.w
			if acc >= f*tot*(1-1e-12) {
				return x.e
			}
		}
		return es[len(es)-1].e
	}
	return stat{len(ps), q(0.5), q(0.9), mean / tot}
}

func filter(ps []pred, keep func(roofline.Sample) bool) []pred {
	var out []pred
	for _, p := range ps {
		if keep(p.s) {
			out = append(out, p)
		}
	}
	return out
}

// layerOps are a layer's MLP-side operators (attention excluded: Vidur's
// public data has none).
var layerOps = map[string]bool{"input_layernorm": true, "attn_pre_proj": true, "attn_rope": true, "attn_post_proj": true,
	"post_attention_layernorm": true, "mlp_up_proj": true, "mlp_act": true, "mlp_down_proj": true, "add": true}

// layerSums adds each (GPU, model, TP, tokens) point's layer operators,
// measured and predicted: the end-to-end error of a layer's non-attention
// time, where errors of the operators may cancel or add.
func layerSums(ps []pred) []pred {
	type key struct {
		g, m  string
		tp, n float64
	}
	sum := map[key]*pred{}
	var order []key
	for _, p := range ps {
		if !layerOps[p.s.Op] {
			continue
		}
		k := key{g: p.s.GPU, m: p.s.Model, tp: p.s.TP, n: p.s.Tokens}
		if sum[k] == nil {
			sum[k] = &pred{s: roofline.Sample{GPU: k.g, Model: k.m, Op: "layer"}}
			order = append(order, k)
		}
		sum[k].s.Ms += p.s.Ms
		sum[k].p += p.p
	}
	out := make([]pred, 0, len(order))
	for _, k := range order {
		out = append(out, *sum[k])
	}
	return out
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func cell(s stat) string {
	if s.n == 0 {
		return "–"
	}
	return pct(s.med) + " / " + pct(s.p90)
}

// Markdown is the validation table.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Roofline estimate: fit on %d measured kernel times (%s; models %s).\n\n", r.Samples, strings.Join(r.GPUs, ", "), strings.Join(r.Models, ", "))
	b.WriteString("Fitted coefficients (time = floor + max(FLOPs / (dense BF16 peak x compute eff.), bytes / (memory bandwidth x memory eff.))):\n\n")
	b.WriteString("| class | compute eff. | memory eff. | floor |\n|---|---:|---:|---:|\n")
	for _, cl := range roofline.Classes {
		k := r.Coeffs[cl]
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.2f µs |\n", cl, k.Compute, k.Memory, k.FloorUs)
	}
	b.WriteString("\n|op| in-sample | leave one model out | leave one GPU out |\n|---|---:|---:|---:|\n")
	ops := distinct(sampleList(r.In), func(s roofline.Sample) string { return s.Op })
	for _, op := range ops {
		is := func(s roofline.Sample) bool { return s.Op == op }
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", op, cell(errs(filter(r.In, is))), cell(errs(filter(r.LOMO, is))), cell(errs(filter(r.LOGO, is))))
	}
	fmt.Fprintf(&b, "| **layer (MLP side, summed)** | %s | %s | %s |\n", cell(errs(layerSums(r.In))), cell(errs(layerSums(r.LOMO))), cell(errs(layerSums(r.LOGO))))
	b.WriteString("\nMedian / P90 of |predicted / measured - 1|, every (GPU, model, op) weighing the same.\n")
	if len(r.InSampleFolds) > 0 {
		fmt.Fprintf(&b, "In-sample inside a held-out column (the class was measured nowhere else): %s.\n", strings.Join(r.InSampleFolds, "; "))
	}
	is := func(cl roofline.Class) func(roofline.Sample) bool {
		return func(s roofline.Sample) bool { return s.Class == cl }
	}
	fmt.Fprintf(&b, "Attention, fitted on contexts <= 2048 keys and scored on longer ones: prefill %s, decode %s.\n",
		cell(errs(filter(r.LongCtx, is(roofline.AttnPrefill)))), cell(errs(filter(r.LongCtx, is(roofline.AttnDecode)))))
	b.WriteString("\nPer held-out model (all its ops; layer sum) and per held-out GPU:\n\n| held out | ops | layer |\n|---|---:|---:|\n")
	for _, m := range r.Models {
		is := func(s roofline.Sample) bool { return s.Model == m }
		fmt.Fprintf(&b, "| %s | %s | %s |\n", m, cell(errs(filter(r.LOMO, is))), cell(errs(layerSums(filter(r.LOMO, is)))))
	}
	for _, g := range r.GPUs {
		is := func(s roofline.Sample) bool { return s.GPU == g }
		fmt.Fprintf(&b, "| GPU %s | %s | %s |\n", g, cell(errs(filter(r.LOGO, is))), cell(errs(layerSums(filter(r.LOGO, is)))))
	}
	fmt.Fprintf(&b, "\nNetwork (Vidur's measured NVLink nodes, time = latency + traffic / (link bandwidth per direction x efficiency)): all-reduce %.1f µs, efficiency %.3f, held out across GPUs %s; send/recv %.1f µs, %.3f, %s.\n",
		r.Network.AllReduce.LatencyUs, r.Network.AllReduce.Efficiency, cell(r.NetHeldOut["all_reduce"]),
		r.Network.SendRecv.LatencyUs, r.Network.SendRecv.Efficiency, cell(r.NetHeldOut["send_recv"]))
	return b.String()
}

// checkOpgrid predicts the opgrid GEMMs with both fits.
func (r *Report) checkOpgrid(samples []roofline.Sample) {
	for _, s := range samples {
		r.Opgrid = append(r.Opgrid, pred{s, s.Predict(r.Coeffs[s.Class])})
		r.OpgridHO = append(r.OpgridHO, pred{s, s.Predict(r.H200HeldOut[s.Class])})
	}
}

func (r *Report) opgridMarkdown() string {
	if len(r.Opgrid) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nOut of sample: cuBLAS GEMMs of the linear layers of models without a profile set, measured on the H200 (`%s`, never fitted on), predicted by the fit and by the fit without the H200:\n\n", opgridFile)
	b.WriteString("| model | fit | fit without the H200 |\n|---|---:|---:|\n")
	for _, m := range distinct(sampleList(r.Opgrid), func(s roofline.Sample) string { return s.Model }) {
		is := func(s roofline.Sample) bool { return s.Model == m }
		fmt.Fprintf(&b, "| %s | %s | %s |\n", m, cell(errs(filter(r.Opgrid, is))), cell(errs(filter(r.OpgridHO, is))))
	}
	fmt.Fprintf(&b, "| **all** | %s | %s |\n", cell(errs(r.Opgrid)), cell(errs(r.OpgridHO)))
	return b.String()
}

func sampleList(ps []pred) []roofline.Sample {
	out := make([]roofline.Sample, len(ps))
	for i, p := range ps {
		out[i] = p.s
	}
	return out
}

// CoeffsJSON is engine/roofline/coeffs.json: the fit and its held-out
// errors.
func (r *Report) CoeffsJSON() ([]byte, error) {
	f := roofline.Fitted{Note: "written by go run ./bench/roofline -write; do not edit", Coeffs: r.Coeffs, Network: r.Network,
		Samples: r.Samples, GPUs: r.GPUs, Models: r.Models, Errors: map[string]roofline.Errors{}}
	add := func(name, protocol string, s stat) {
		f.Errors[name] = roofline.Errors{Protocol: protocol, MedianAbs: round4(s.med), P90Abs: round4(s.p90)}
	}
	add("ops_leave_one_model_out", "every op, each model predicted by a fit without it", errs(r.LOMO))
	add("ops_leave_one_gpu_out", "every op, each GPU predicted by a fit without it", errs(r.LOGO))
	add("layer_leave_one_model_out", "a layer's MLP-side time (its ops summed), leave one model out", errs(layerSums(r.LOMO)))
	add("layer_leave_one_gpu_out", "a layer's MLP-side time (its ops summed), leave one GPU out", errs(layerSums(r.LOGO)))
	add("attention_long_context", "attention (measured on the H200 only), fitted on contexts <= 2048 keys, scored on longer", errs(r.LongCtx))
	if len(r.OpgridHO) > 0 {
		add("h200_gemms_unprofiled_models", "H200 GEMMs of 6 models without a profile set (bench/gpu/h200/opgrid), fit without the H200", errs(r.OpgridHO))
	}
	add("all_reduce_leave_one_gpu_out", "TP all-reduce, A100 nodes predicted from H100 nodes' fit and back", r.NetHeldOut["all_reduce"])
	add("send_recv_leave_one_gpu_out", "PP send/recv, A100 nodes predicted from H100 nodes' fit and back", r.NetHeldOut["send_recv"])
	b, err := json.MarshalIndent(f, "", " ")
	return append(b, '\n'), err
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// fitNetwork fits both collectives on all nodes and scores each GPU's
// nodes with a fit on the other's.
func (r *Report) fitNetwork(points map[string][]roofline.LinkPoint) {
	r.NetHeldOut = map[string]stat{}
	for _, coll := range []string{"all_reduce", "send_recv"} {
		pts := points[coll]
		k := roofline.FitLink(pts)
		if coll == "all_reduce" {
			r.Network.AllReduce = k
		} else {
			r.Network.SendRecv = k
		}
		var ps []pred
		for _, g := range []string{"a100", "h100"} {
			var train, test []roofline.LinkPoint
			for _, p := range pts {
				if vidurNodes[nodeOf(p.Group)] == g {
					test = append(test, p)
				} else {
					train = append(train, p)
				}
			}
			kk := roofline.FitLink(train)
			for _, p := range test {
				ps = append(ps, pred{roofline.Sample{GPU: g, Model: p.Group, Op: coll, Ms: p.Ms}, kk.Time(p.IdealMs)})
			}
		}
		r.NetHeldOut[coll] = errs(ps)
	}
}

func nodeOf(group string) string {
	for i := range group {
		if group[i] == '/' {
			return group[:i]
		}
	}
	return group
}
