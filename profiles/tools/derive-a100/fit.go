package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/servesim/servesim/engine/model"
)

// An op's shape at one TP degree: GEMM (N, K) or elementwise widths.
type shape struct {
	gemm        bool
	n, k        float64 // GEMM: y[M,N] = x[M,K] W^T
	width, wout float64 // elementwise: bytes moved per token / 2, output elements per token
}

// opShape gives Vidur's mlp.csv op shapes for model m at TP tp (head_dim
// from the model table, which for Vidur's models is embedding_dim/heads).
func opShape(op string, m model.Model, tp int) shape {
	t := float64(tp)
	hd := float64(m.HeadDim)
	q := float64(m.NumQHeads / tp)
	kv := math.Ceil(float64(m.NumKVHeads) / t)
	e, f := float64(m.EmbeddingDim), float64(m.MLPHiddenDim)
	switch op {
	case "attn_pre_proj":
		return shape{gemm: true, n: (q + 2*kv) * hd, k: e}
	case "attn_post_proj":
		return shape{gemm: true, n: e, k: q * hd}
	case "mlp_up_proj":
		g := 1.0
		if m.UseGatedMLP {
			g = 2
		}
		return shape{gemm: true, n: g * f / t, k: e}
	case "mlp_down_proj":
		return shape{gemm: true, n: e, k: f / t}
	case "input_layernorm", "post_attention_layernorm":
		return shape{width: 2 * e, wout: e}
	case "attn_rope":
		w := (q + kv) * hd
		return shape{width: 2 * w, wout: w}
	case "mlp_act":
		return shape{width: 3 * f / t, wout: f / t}
	case "add":
		return shape{width: 3 * e, wout: e}
	}
	panic("unknown op " + op)
}

var ops = []string{"input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm",
	"mlp_up_proj", "mlp_act", "mlp_down_proj", "add"}

// usesFor says whether a model's rows inform an op's fit: phi-2 has GELU,
// LayerNorm and partial rotary embeddings, so only its GEMMs are used.
func usesFor(op string, m model.Model) bool {
	if m.Name == "microsoft/phi-2" {
		return opShape(op, m, 1).gemm
	}
	return true
}

// point is one profiled row of one op.
type point struct {
	model string
	tp    int
	m     float64 // num_tokens
	sh    shape
	us    float64 // measured median, µs
}

// loadDevice reads every <root>/<org>/<model>/mlp.csv.
func loadDevice(root string) (map[string][]point, []string, error) {
	files, _ := filepath.Glob(filepath.Join(root, "*", "*", "mlp.csv"))
	sort.Strings(files)
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("no mlp.csv under %s", root)
	}
	out := map[string][]point{}
	var names []string
	for _, f := range files {
		rel, _ := filepath.Rel(root, filepath.Dir(f))
		name := filepath.ToSlash(rel)
		m, err := model.Lookup(name)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		names = append(names, name)
		rows, err := readCSV(f)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			n, _ := strconv.ParseFloat(r["num_tokens"], 64)
			tp, _ := strconv.Atoi(r["num_tensor_parallel_workers"])
			for _, op := range ops {
				v, ok := r["time_stats."+op+".median"]
				if !ok || v == "" || !usesFor(op, m) {
					continue
				}
				ms, err := strconv.ParseFloat(v, 64)
				if err != nil || ms <= 0 {
					return nil, nil, fmt.Errorf("%s: bad %s %q", f, op, v)
				}
				out[op] = append(out[op], point{model: name, tp: tp, m: n, sh: opShape(op, m, tp), us: ms * 1000})
			}
		}
	}
	return out, names, nil
}

func readCSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	h, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var rows []map[string]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		row := map[string]string{}
		for i, c := range h {
			row[strings.TrimSpace(c)] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// The roofline models, in µs. Parameters are optimised in log space, so
// every one stays positive.
//
// GEMM: t = c0 + aK*K/1024 + (mem^k + cmp^k)^(1/k), mem = bytes/BW,
// cmp = 2MNK/F, bytes = 2(MK + KN + MN) for bf16.
// Elementwise: t = c0 + max(a*W/1024, bytes/BW), W = M*output width,
// bytes = 2*M*width.
type params []float64

func predictUS(p params, sh shape, m float64) float64 {
	if sh.gemm {
		c0, aK, bw, fl, k := p[0], p[1], p[2], p[3], p[4]
		bytes := 2 * (m*sh.k + sh.k*sh.n + m*sh.n)
		mem, cmp := bytes/bw, 2*m*sh.n*sh.k/fl
		return c0 + aK*sh.k/1024 + math.Pow(math.Pow(mem, k)+math.Pow(cmp, k), 1/k)
	}
	c0, a, bw := p[0], p[1], p[2]
	return c0 + math.Max(a*m*sh.wout/1024, 2*m*sh.width/bw)
}

// start values: launch floor 4.5 µs, 1.69 TB/s (bytes/µs), 224 TFLOP/s (flop/µs), k 1.57.
func startParams(gemm bool) params {
	if gemm {
		return params{4.5, 0.5, 1.69e6, 224e6, 1.57}
	}
	return params{3, 0.002, 1.5e6}
}

// fitSet is an op's points prepared for fitting: the prediction depends only
// on a point's shape and num_tokens, so it is computed once per distinct
// (shape, num_tokens) and shared by every point that has them (Vidur's
// profiles repeat shapes across models and TP splits). The loss is still
// summed over every point in order, so it is bit-identical to summing
// predictUS point by point.
type fitSet struct {
	gemm  bool
	keys  []pointKey // distinct (shape, num_tokens), in first-seen order
	slot  []int      // slot[i]: index in keys of point i
	us    []float64  // measured time of point i, µs
	preds []float64  // scratch: prediction per key
}

type pointKey struct {
	sh shape
	m  float64
}

func newFitSet(pts []point) *fitSet {
	fs := &fitSet{gemm: pts[0].sh.gemm, slot: make([]int, len(pts)), us: make([]float64, len(pts))}
	seen := map[pointKey]int{}
	for i, x := range pts {
		k := pointKey{x.sh, x.m}
		j, ok := seen[k]
		if !ok {
			j = len(fs.keys)
			seen[k] = j
			fs.keys = append(fs.keys, k)
		}
		fs.slot[i], fs.us[i] = j, x.us
	}
	fs.preds = make([]float64, len(fs.keys))
	return fs
}

// loss is the mean squared log error of p over the set's points.
func (fs *fitSet) loss(p params) float64 {
	for j, k := range fs.keys {
		fs.preds[j] = predictUS(p, k.sh, k.m)
	}
	s := 0.0
	for i, j := range fs.slot {
		d := math.Log(fs.preds[j] / fs.us[i])
		s += d * d
	}
	return s / float64(len(fs.slot))
}

// loss is the mean squared log error of p over pts (the reference the
// shared-prediction fitSet.loss must equal bit for bit).
func loss(p params, pts []point) float64 {
	s := 0.0
	for _, x := range pts {
		d := math.Log(predictUS(p, x.sh, x.m) / x.us)
		s += d * d
	}
	return s / float64(len(pts))
}

// fitOp fits an op's roofline to points by Nelder-Mead on log-parameters,
// restarted up to four times from the best point. A restart that returns
// its starting point unchanged is a fixed point of the (deterministic)
// search, so the remaining restarts would return it too and are skipped.
func fitOp(pts []point) params {
	set := newFitSet(pts)
	gemm := set.gemm
	x0 := startParams(gemm)
	logx := make([]float64, len(x0))
	for i, v := range x0 {
		logx[i] = math.Log(v)
	}
	f := func(lx []float64) float64 {
		p := make(params, len(lx))
		for i, v := range lx {
			p[i] = math.Exp(v)
		}
		if gemm && (p[4] < 1 || p[4] > 8) {
			return math.Inf(1)
		}
		return set.loss(p)
	}
	for r := 0; r < 4; r++ {
		next := nelderMead(f, logx, 0.5, 3000)
		same := sameBits(next, logx)
		logx = next
		if same {
			break
		}
	}
	p := make(params, len(logx))
	for i, v := range logx {
		p[i] = math.Exp(v)
	}
	return p
}

// sameBits says whether a and b hold the same float64 bit patterns.
func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// fitAll fits every point set, on up to GOMAXPROCS goroutines. Each fit is a
// pure function of its points, so the results do not depend on scheduling.
func fitAll(sets [][]point) []params {
	out := make([]params, len(sets))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(sets)); w++ {
		wg.Go(func() {
			for i := range next {
				out[i] = fitOp(sets[i])
			}
		})
	}
	for i := range sets {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// nelderMead minimises f from x0 with initial simplex step.
func nelderMead(f func([]float64) float64, x0 []float64, step float64, iters int) []float64 {
	n := len(x0)
	simplex := make([][]float64, n+1)
	vals := make([]float64, n+1)
	for i := range simplex {
		x := append([]float64(nil), x0...)
		if i > 0 {
			x[i-1] += step
		}
		simplex[i], vals[i] = x, f(x)
	}
	for it := 0; it < iters; it++ {
		idx := make([]int, n+1)
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return vals[idx[a]] < vals[idx[b]] })
		s2, v2 := make([][]float64, n+1), make([]float64, n+1)
		for i, j := range idx {
			s2[i], v2[i] = simplex[j], vals[j]
		}
		simplex, vals = s2, v2
		if math.Abs(vals[n]-vals[0]) < 1e-12*(1+math.Abs(vals[0])) {
			break
		}
		c := make([]float64, n)
		for i := 0; i < n; i++ {
			for d := 0; d < n; d++ {
				c[d] += simplex[i][d] / float64(n)
			}
		}
		at := func(t float64) []float64 {
			x := make([]float64, n)
			for d := range x {
				x[d] = c[d] + t*(simplex[n][d]-c[d])
			}
			return x
		}
		xr := at(-1)
		fr := f(xr)
		switch {
		case fr < vals[0]:
			xe := at(-2)
			if fe := f(xe); fe < fr {
				simplex[n], vals[n] = xe, fe
			} else {
				simplex[n], vals[n] = xr, fr
			}
		case fr < vals[n-1]:
			simplex[n], vals[n] = xr, fr
		default:
			xc := at(0.5)
			if fr < vals[n] {
				xc = at(-0.5)
			}
			if fc := f(xc); fc < math.Min(fr, vals[n]) {
				simplex[n], vals[n] = xc, fc
			} else {
				for i := 1; i <= n; i++ {
					for d := 0; d < n; d++ {
						simplex[i][d] = simplex[0][d] + 0.5*(simplex[i][d]-simplex[0][d])
					}
					vals[i] = f(simplex[i])
				}
			}
		}
	}
	best := 0
	for i := range vals {
		if vals[i] < vals[best] {
			best = i
		}
	}
	return simplex[best]
}

// errStats are |relative error| statistics in percent.
type errStats struct {
	Median, P90 float64
	N           int
}

func relErrs(p params, pts []point) errStats {
	var e []float64
	for _, x := range pts {
		e = append(e, math.Abs(predictUS(p, x.sh, x.m)/x.us-1)*100)
	}
	sort.Float64s(e)
	q := func(f float64) float64 { return e[int(f*float64(len(e)-1))] }
	return errStats{Median: q(0.5), P90: q(0.9), N: len(e)}
}

// leaveOneModelOut fits each op without one model and scores that model.
func leaveOneModelOut(data map[string][]point, names []string) map[string]errStats {
	type fold struct {
		op   string
		test []point
	}
	var folds []fold
	var train [][]point
	for _, op := range ops {
		for _, held := range names {
			var tr, test []point
			for _, x := range data[op] {
				if x.model == held {
					test = append(test, x)
				} else {
					tr = append(tr, x)
				}
			}
			if len(test) == 0 || len(tr) == 0 {
				continue
			}
			folds, train = append(folds, fold{op, test}), append(train, tr)
		}
	}
	fits := fitAll(train)
	all := map[string][]float64{}
	for i, f := range folds {
		for _, x := range f.test {
			all[f.op] = append(all[f.op], math.Abs(predictUS(fits[i], x.sh, x.m)/x.us-1)*100)
		}
	}
	out := map[string]errStats{}
	for _, op := range ops {
		e := all[op]
		sort.Float64s(e)
		q := func(f float64) float64 { return e[int(f*float64(len(e)-1))] }
		out[op] = errStats{Median: q(0.5), P90: q(0.9), N: len(e)}
	}
	return out
}
