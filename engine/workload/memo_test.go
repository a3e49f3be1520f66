package workload_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/workload"
)

// TestLengthsMemo_SameAsFresh: a file read once (ParseFile) and loaded again
// and again with length-trace options changing in every field the kept
// pairs depend on (seed, scales, max_tokens) and in others (count, rate),
// back and forth, gives each time the workload a fresh read gives.
func TestLengthsMemo_SameAsFresh(t *testing.T) {
	raw, err := os.ReadFile("../../presets/data/traces/splitwise_conv.csv")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	p, err := workload.ParseFile(workload.File{Name: "splitwise_conv.csv", R: strings.NewReader(text)}, true)
	if err != nil {
		t.Fatal(err)
	}
	base := workload.DefaultOptions()
	base.LengthsOnly = true
	var opts []workload.Options
	for c := range 12 {
		o := base
		o.Synthetic.NumRequests = []int{100, 1000, 3000}[c%3]
		o.Synthetic.Seed = uint64(c % 2)
		if c%4 == 3 {
			o.PrefillScale, o.DecodeScale = 0.5, 1.5
		}
		if c%5 == 4 {
			o.MaxTokens = 1024
		}
		o.Synthetic.Intervals.QPS = float64(2 + c)
		opts = append(opts, o, o) // each twice: the second from the memo
	}
	for i, o := range opts {
		got, err := workload.Load([]workload.File{{Name: "splitwise_conv.csv", Parsed: p}}, o)
		if err != nil {
			t.Fatal(err)
		}
		want, err := workload.Load([]workload.File{{Name: "splitwise_conv.csv", R: strings.NewReader(text)}}, o)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("load %d (%+v): the parsed file's workload differs from a fresh read's", i, o)
		}
	}
}
