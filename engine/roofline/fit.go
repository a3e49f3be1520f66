package roofline

import (
	"math"
	"slices"
	"sort"

	"github.com/servesim/servesim/engine/model"
)

// Sample is one measured kernel time with the work it did.
type Sample struct {
	Class Class
	Op    string
	GPU   string // catalogue name of the GPU it was measured on
	Model string
	Work  Work
	Ms    float64 // measured time
	// ComputeMs and MemoryMs are Work at the GPU's datasheet rates.
	ComputeMs, MemoryMs float64
	Weight              float64 // set by Fit: every (GPU, model, op) weighs the same in total
	// The shape, for grouping: TP degree, tokens (batch size for decode),
	// cached keys (attention).
	TP, Tokens, Context float64
}

// NewSample prices w on g.
func NewSample(cl Class, op string, g model.GPU, modelName string, w Work, ms float64) Sample {
	return Sample{Class: cl, Op: op, GPU: g.Name, Model: modelName, Work: w, Ms: ms,
		ComputeMs: w.FLOPs / (g.BF16TFLOPS * 1e12) * 1e3, MemoryMs: w.Bytes / (g.HBMGBps * 1e9) * 1e3}
}

// Predict is the sample's time under k, in ms.
func (s Sample) Predict(k Coeff) float64 {
	return k.FloorUs*1e-3 + math.Max(s.ComputeMs/k.Compute, s.MemoryMs/k.Memory)
}

// weigh gives every (GPU, model, op) group the same total weight, so that
// a file with more rows does not dominate the fit.
func weigh(samples []Sample) []Sample {
	type key struct{ g, m, op string }
	n := map[key]int{}
	for _, s := range samples {
		n[key{s.GPU, s.Model, s.Op}]++
	}
	out := make([]Sample, len(samples))
	for i, s := range samples {
		s.Weight = 1 / float64(n[key{s.GPU, s.Model, s.Op}])
		out[i] = s
	}
	return out
}

// Fit fits each class's Coeff to the samples of that class: it minimises the
// weighted sum of squared log errors, log(predicted / measured), so every
// kernel's relative error counts alike, by Nelder-Mead over the logarithms
// of the two efficiencies and the floor from a fixed start (deterministic).
// A class without samples keeps prior's coefficients.
func Fit(samples []Sample, prior Coeffs) Coeffs {
	out := Coeffs{}
	for _, cl := range Classes {
		var mine []Sample
		for _, s := range samples {
			if s.Class == cl && s.Ms > 0 {
				mine = append(mine, s)
			}
		}
		if len(mine) == 0 {
			out[cl] = prior[cl]
			continue
		}
		mine = weigh(mine)
		logMs := make([]float64, len(mine))
		for i, s := range mine {
			logMs[i] = math.Log(s.Ms)
		}
		cost := func(x []float64) float64 {
			k := Coeff{Compute: math.Exp(x[0]), Memory: math.Exp(x[1]), FloorUs: math.Exp(x[2])}
			pen := 0.0
			for _, e := range []float64{k.Compute, k.Memory} {
				if e > 1.5 {
					pen += 100 * (e - 1.5) * (e - 1.5)
				}
			}
			sum := 0.0
			for i := range mine {
				d := math.Log(mine[i].Predict(k)) - logMs[i]
				sum += mine[i].Weight * d * d
			}
			return sum + pen
		}
		x := nelderMead(cost, []float64{math.Log(0.6), math.Log(0.7), math.Log(3)}, 0.5, 300)
		x = nelderMead(cost, x, 0.1, 150) // a restart from the optimum escapes a collapsed simplex
		k := Coeff{Compute: round6(math.Exp(x[0])), Memory: round6(math.Exp(x[1])), FloorUs: round6(math.Exp(x[2]))}
		if !slices.ContainsFunc(mine, func(s Sample) bool { return s.ComputeMs > 0 }) {
			k.Compute = 1 // no FLOPs (a gather): the compute efficiency is not identified
		}
		out[cl] = k
	}
	return out
}

func round6(v float64) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, 5-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// nelderMead minimises f from x0 with an initial simplex of side step, for
// iters iterations (standard coefficients 1, 2, 0.5, 0.5).
func nelderMead(f func([]float64) float64, x0 []float64, step float64, iters int) []float64 {
	n := len(x0)
	type pt struct {
		x []float64
		v float64
	}
	mk := func(x []float64) pt { return pt{x, f(x)} }
	s := []pt{mk(append([]float64(nil), x0...))}
	for i := 0; i < n; i++ {
		x := append([]float64(nil), x0...)
		x[i] += step
		s = append(s, mk(x))
	}
	lerp := func(a, b []float64, t float64) []float64 { // a + t (b - a)
		out := make([]float64, n)
		for i := range out {
			out[i] = a[i] + t*(b[i]-a[i])
		}
		return out
	}
	for it := 0; it < iters; it++ {
		sort.SliceStable(s, func(i, j int) bool { return s[i].v < s[j].v })
		c := make([]float64, n)
		for _, p := range s[:n] {
			for i := range c {
				c[i] += p.x[i] / float64(n)
			}
		}
		worst := s[n]
		r := mk(lerp(c, worst.x, -1))
		switch {
		case r.v < s[0].v:
			if e := mk(lerp(c, worst.x, -2)); e.v < r.v {
				s[n] = e
			} else {
				s[n] = r
			}
		case r.v < s[n-1].v:
			s[n] = r
		default:
			if k := mk(lerp(c, worst.x, 0.5)); k.v < worst.v {
				s[n] = k
			} else {
				for i := 1; i <= n; i++ {
					s[i] = mk(lerp(s[0].x, s[i].x, 0.5))
				}
			}
		}
	}
	sort.SliceStable(s, func(i, j int) bool { return s[i].v < s[j].v })
	return s[0].x
}

// LinkPoint is one measured collective: its traffic over one link
// direction's bandwidth (ms at the datasheet rate) and its measured time.
type LinkPoint struct {
	Group            string // node, for grouping
	IdealMs, Ms      float64
	Workers, SizeLog float64
}

// FitLink fits a collective's latency and efficiency (time = latency +
// ideal / efficiency) by least squares on log times, every group weighing
// the same.
func FitLink(pts []LinkPoint) LinkCoeff {
	n := map[string]int{}
	for _, p := range pts {
		n[p.Group]++
	}
	cost := func(x []float64) float64 {
		k := LinkCoeff{LatencyUs: math.Exp(x[0]), Efficiency: math.Exp(x[1])}
		sum := 0.0
		for _, p := range pts {
			d := math.Log(k.Time(p.IdealMs) / p.Ms)
			sum += d * d / float64(n[p.Group])
		}
		return sum
	}
	x := nelderMead(cost, []float64{math.Log(20), math.Log(0.7)}, 0.5, 300)
	x = nelderMead(cost, x, 0.1, 150)
	return LinkCoeff{LatencyUs: round6(math.Exp(x[0])), Efficiency: round6(math.Exp(x[1]))}
}

// Time is the collective's time in ms for a transfer of idealMs at the
// datasheet link rate.
func (k LinkCoeff) Time(idealMs float64) float64 { return k.LatencyUs*1e-3 + idealMs/k.Efficiency }
