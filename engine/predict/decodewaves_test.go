package predict

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// testDecodeLaunch is a small launch worked by hand in the tests below: one
// KV head, 2 SMs of one block each, partitions of at least 64 keys in 64-key
// steps, at most 4 per sequence, 2 work items per graph slot.
func testDecodeLaunch() *DecodeLaunch {
	return &DecodeLaunch{BoundPerSeq: 2, BoundMin: 1, PartMin: 64, BlockN: 64, MaxParts: 4, Heads: 1, SMs: 2, BlocksPerSM: 1,
		BlockMs: 0.01, KeyMs: 0.001, Share: 0, CombineMs: 0.0001, Source: "test"}
}

// TestDecodeLaunch_Partitions: the engine's key split by hand.
func TestDecodeLaunch_Partitions(t *testing.T) {
	d := testDecodeLaunch()
	for _, c := range []struct {
		lens   []int
		bound  int
		plen   int
		nparts []int
	}{
		// 2 sequences, bound 4: spare 2, total 200 -> 100 -> 128 keys; 100 and 100 keys in one each
		{[]int{100, 100}, 4, 128, []int{1, 1}},
		// one of 1000 keys, bound 8: spare 7 -> 143 -> 192; 1000/4 = 250 -> 256 (MaxParts): 4 parts
		{[]int{1000}, 8, 256, []int{4}},
		// 3 sequences over a bound of 3: spare 1 -> 300 keys -> 320; one part each
		{[]int{100, 100, 100}, 3, 320, []int{1, 1, 1}},
		// a full graph has 1 spare item: the length is all the keys, one part each
		{[]int{128, 128, 128, 128}, 4, 512, []int{1, 1, 1, 1}},
		// 1010 keys over 14 spare items: 73 keys, but at most 4 parts: 250 -> 256
		{[]int{1000, 10}, 16, 256, []int{4, 1}},
		// a bound under one item a sequence is taken as one a sequence
		{[]int{10, 10, 10}, 1, 64, []int{1, 1, 1}},
	} {
		plen, np := d.Partitions(c.lens, c.bound)
		if plen != c.plen || !slices.Equal(np, c.nparts) {
			t.Errorf("Partitions(%v, %d) = %d %v, want %d %v", c.lens, c.bound, plen, np, c.plen, c.nparts)
		}
	}
}

// TestDecodeLaunch_DecodeMs: one graph of 2 slots (4 items) running 2
// sequences of 100 keys: partitions of 128 keys, one each, so 2 blocks of
// 0.01 + 0.1 ms side by side on the 2 SMs, the 2 unused items exit at once,
// plus 2 partitions' combine.
func TestDecodeLaunch_DecodeMs(t *testing.T) {
	d := testDecodeLaunch()
	if got, want := d.DecodeMs([]int{100, 100}, 2), 0.11+2*0.0001; math.Abs(got-want) > 1e-12 {
		t.Errorf("DecodeMs = %v, want %v", got, want)
	}
	// One long and one short: 300 and 20 keys, bound 4, spare 2 -> 160 -> 192:
	// 2 parts (192, 108) and 1 (20): SM0 192 keys (0.202), SM1 20 (0.030)
	// then 108 (0.118) = 0.148: makespan 0.202, 3 combines.
	if got, want := d.DecodeMs([]int{300, 20}, 2), 0.202+3*0.0001; math.Abs(got-want) > 1e-12 {
		t.Errorf("DecodeMs(300, 20) = %v, want %v", got, want)
	}
}

// TestShapeLens: the batch shape rebuilt from mean and longest keeps both.
func TestShapeLens(t *testing.T) {
	for _, c := range []struct {
		b, mean, longest int
		want             []int
	}{
		{1, 50, 80, []int{50}},
		{3, 100, 100, []int{100, 100, 100}},
		{3, 100, 150, []int{50, 100, 150}},
		// 2 x 100 - 300 < 1: one at 300, the other two around (300 - 300) / 2 -> m = 1: [1, 1]
		{3, 100, 300, []int{1, 1, 300}},
	} {
		got := ShapeLens(nil, c.b, c.mean, c.longest)
		if !slices.Equal(got, c.want) {
			t.Errorf("ShapeLens(%d, %d, %d) = %v, want %v", c.b, c.mean, c.longest, got, c.want)
		}
		if c.b > 1 && c.longest <= 2*c.mean-1 && slices.Max(got) != max(c.longest, c.mean) {
			t.Errorf("ShapeLens(%d, %d, %d): longest %d", c.b, c.mean, c.longest, slices.Max(got))
		}
	}
	if got := SpreadLens(3, 100); !slices.Equal(got, []int{50, 100, 150}) {
		t.Errorf("SpreadLens(3, 100) = %v", got)
	}
}

func TestDecodeLaunch_Validation(t *testing.T) {
	base := `{"engine":"e","overlap":"sync","decode_launch":{"bound_per_seq":16,"bound_min":1,"part_min":128,"block_n":64,"max_parts":64,"heads":8,"sms":132`
	for _, c := range []struct{ json, want string }{
		{base + `,"blocks_per_sm":0,"block_ms":0,"key_ms":0.00001,"share":0.1,"combine_ms":0,"source":"s"}}`, `"decode_launch"."blocks_per_sm": expected an integer >= 1`},
		{base + `,"blocks_per_sm":4,"block_ms":0,"key_ms":0,"share":0.1,"combine_ms":0,"source":"s"}}`, `"decode_launch"."key_ms": expected a number > 0`},
		{base + `,"blocks_per_sm":4,"block_ms":-1,"key_ms":0.00001,"share":0.1,"combine_ms":0,"source":"s"}}`, `"decode_launch"."block_ms": expected a finite number >= 0`},
		{base + `,"blocks_per_sm":4,"block_ms":0,"key_ms":0.00001,"share":0.1,"combine_ms":0,"source":" "}}`, `"decode_launch"."source": expected where the numbers come from`},
		{`{"engine":"e","overlap":"sync","decode_context_granularity":-1}`, `"decode_context_granularity": expected 0 (the config's) or 1-1048576 keys, got -1`},
	} {
		_, err := ParseEngineSpec([]byte(c.json), "engine.json")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.json, err, c.want)
		}
	}
}
