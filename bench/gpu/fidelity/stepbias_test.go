package main

import (
	"strings"
	"testing"

	"github.com/servesim/servesim/internal/compare"
)

func TestBinLabel(t *testing.T) {
	ups := []int{8, 32, 256, 1 << 30}
	for _, c := range []struct {
		v    int
		want string
	}{{1, "1-8"}, {8, "1-8"}, {9, "9-32"}, {256, "33-256"}, {257, ">= 257"}, {100000, ">= 257"}} {
		if got := binLabel(c.v, ups); got != c.want {
			t.Errorf("binLabel(%d) = %q, want %q", c.v, got, c.want)
		}
	}
	if got := binLabel(256, []int{255, 256}); got != "256" {
		t.Errorf("a one-value bin: got %q, want 256", got)
	}
	if got := binLabel(300, []int{255, 256}); got != "> 256" {
		t.Errorf("past the last bound: got %q", got)
	}
}

// A region every run under-predicts by 2% is systematic; one whose runs
// err both ways, or that is under the threshold, or seen in too few runs,
// is not.
func TestStepBias_Systematic(t *testing.T) {
	var steps []biasStep
	add := func(run string, s compare.RealStep, real, pred float64, n int) {
		for range n {
			steps = append(steps, biasStepOf(run, s, pred))
			steps[len(steps)-1].real = real
		}
	}
	big := compare.RealStep{Mode: "graph", Padded: 256, Decodes: 256, Seqs: 256, Tokens: 256, DecodeCtxSum: 256 * 1700, DecodeCtxMax: 2400}
	mixed := compare.RealStep{Mode: "graph_mixed", Padded: 2048, Decodes: 40, Prefills: 1, Seqs: 41, Tokens: 2048, DecodeCtxSum: 40 * 1500,
		DecodeCtxMax: 2000, Chunks: []compare.Chunk{{Tokens: 2008}}}
	small := compare.RealStep{Mode: "graph", Padded: 8, Decodes: 7, Seqs: 7, Tokens: 7, DecodeCtxSum: 7 * 300, DecodeCtxMax: 400}
	for i, run := range []string{"a", "b", "c", "d"} {
		add(run, big, 14.4, 14.4*0.98, 20)
		e := 0.03
		if i%2 == 1 {
			e = -0.03
		}
		add(run, small, 1.5, 1.5*(1+e), 20)
		add(run, mixed, 9, 9*1.003, 20) // under the threshold
	}
	add("a", compare.RealStep{Mode: "eager", Decodes: 0, Prefills: 1, Seqs: 1, Tokens: 4096, Chunks: []compare.Chunk{{Tokens: 4096}}}, 10, 8, 30) // one run
	rows := stepBias(steps)
	got := map[string]biasRow{}
	for _, r := range rows {
		got[r.bin] = r
	}
	want := map[string]bool{
		"decode graph, decodes 256, ctx 1025-2048":                     true,
		"decode graph, decodes 1-8, ctx 257-512":                       false,
		"mixed graph, decodes 33-64, ctx 1025-2048, prefill 1025-2048": false,
		"eager, no decodes, prefill >= 2049":                           false,
	}
	for bin, sys := range want {
		r, ok := got[bin]
		if !ok {
			t.Fatalf("no region %q in %v", bin, rows)
		}
		if r.systematic != sys {
			t.Errorf("%s: systematic %v, want %v (error %+.2f%%, runs +%d/-%d)", bin, r.systematic, sys, 100*r.err(), r.pos, r.neg)
		}
	}
	if r := got["decode graph, decodes 256, ctx 1025-2048"]; r.neg != 4 || r.pos != 0 || r.steps != 80 {
		t.Errorf("the biased region: %+v", r)
	}
	if rows[0].bin != "eager, no decodes, prefill >= 2049" { // the largest summed |error| in ms first
		t.Errorf("first row %q", rows[0].bin)
	}
	var b strings.Builder
	writeStepBias(&b, rows, len(steps), 4, 3)
	sys, _, _ := strings.Cut(b.String(), "largest")
	if !strings.Contains(sys, "decodes 256, ctx 1025-2048") || strings.Contains(sys, "decodes 1-8") {
		t.Errorf("systematic table:\n%s", sys)
	}
}
