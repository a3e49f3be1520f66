package workload_test

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/workload"
)

// genTrace streams a trace of n generated rows without holding it, and
// samples the heap as it is read (peak is the highest HeapAlloc seen).
type genTrace struct {
	header string
	line   func(dst []byte, i int) []byte
	n, i   int
	buf    []byte
	bytes  int64
	sample int64
	peak   uint64
}

func (g *genTrace) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i <= g.n {
		if g.i == 0 {
			g.buf = append(g.buf, g.header...)
		} else {
			g.buf = g.line(g.buf, g.i-1)
		}
		g.i++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	g.bytes += int64(n)
	if g.bytes-g.sample > 4<<20 {
		g.sample = g.bytes
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g.peak = max(g.peak, ms.HeapAlloc)
	}
	return n, nil
}

// pad is an ignored field that makes each line longer than what is kept of
// it, so that a reader holding the file would show in the heap.
var pad = strings.Repeat("x", 300)

// generators, one per format, for the scale test and the benchmarks; each
// appends line i to dst.
var generators = []struct {
	name, file, header string
	line               func(dst []byte, i int) []byte
}{
	{"mooncake", "t.jsonl", "", func(b []byte, i int) []byte {
		b = appendInts(append(b, `{"timestamp":`...), i, `,"input_length":`, 600+i%400, `,"output_length":`, 1+i%300, `,"hash_ids":[`, i%1000, `,`, i)
		return append(append(append(b, `],"note":"`...), pad...), "\"}\n"...)
	}},
	{"aiperf-sessions", "t.jsonl", "", func(b []byte, i int) []byte {
		if i%2 == 0 {
			b = appendInts(append(b, `{"session_id":"s`...), i/2, `","timestamp":`, i, `,"input_length":`, 100+i%50, `,"output_length":9,"hash_ids":[`, i)
		} else {
			b = appendInts(append(b, `{"session_id":"s`...), i/2, `","delay":10,"input_length":`, 200+i%50, `,"output_length":9,"hash_ids":[`, i-1, `,`, i)
		}
		return append(append(append(b, `],"note":"`...), pad...), "\"}\n"...)
	}},
	{"bailian", "t.jsonl", "", func(b []byte, i int) []byte {
		parent := -1
		if i%2 == 1 {
			parent = i - 1
		}
		b = appendInts(append(b, `{"chat_id":`...), i, `,"parent_chat_id":`, parent, `,"timestamp":`, i, `.5,"input_length":`, 50+i%70,
			`,"output_length":7,"type":"text","turn":`, 1+i%2, `,"hash_ids":[`, i)
		return append(append(append(b, `],"note":"`...), pad...), "\"}\n"...)
	}},
	{"vllm-custom", "t.jsonl", "", func(b []byte, i int) []byte {
		b = append(append(append(b, `{"prompt":"`...), pad...), `",`...)
		return append(appendInts(b, `"prompt_len":`, 10+i%90, `,"output_tokens":`, 1+i%50), "}\n"...)
	}},
	{"burstgpt", "t.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n", func(b []byte, i int) []byte {
		b = appendInts(b, "", i, ",ChatGPT,", 100+i%50, ",", 1+i%20, ",", 101+i%50+i%20, ",")
		return append(append(b, pad...), '\n')
	}},
	{"azure", "t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens,note\n", func(b []byte, i int) []byte {
		b = append(b, "2023-11-16 "...)
		b = append(b, fmt.Sprintf("%02d:%02d:%02d.%07d", i/3600000%24, i/60000%60, i/1000%60, i%1000*10000)...)
		b = appendInts(b, ",", 100+i%900, ",", 1+i%99, ",")
		return append(append(b, pad...), '\n')
	}},
	{"splitwise", "t.csv", "request_id,request_type,application_id,arrival_timestamp,batch_size,prompt_size,token_size,note\n", func(b []byte, i int) []byte {
		b = appendInts(b, "", i, ",2,0,", i, ".25,1,", 10+i%1000, ",", 1+i%100, ",")
		return append(append(b, pad...), '\n')
	}},
}

// appendInts appends alternating literal strings and integers.
func appendInts(b []byte, parts ...any) []byte {
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			b = append(b, v...)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		}
	}
	return b
}

// TestParse_MillionLinesBoundedMemory: every parser reads a 1M-line file
// (330-450 MB: each line carries a 300-byte field the parser skips) as a
// stream. A reader that held the file would need at least its size at
// once; the heap's peak growth (sampled every 4 MB read, at GOGC 50) stays
// below that, and what stays after parsing is the compact rows.
func TestParse_MillionLinesBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 7 x 1M lines")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	const n = 1_000_000
	for _, g := range generators {
		t.Run(g.name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			src := &genTrace{header: g.header, line: g.line, n: n}
			p, err := workload.ParseFile(workload.File{Name: g.file, R: src}, false)
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(p)
			peak := float64(src.peak-min(src.peak, before.HeapAlloc)) / n
			kept := float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc)) / n
			read := float64(src.bytes) / n
			t.Logf("%s: %.0f bytes read per line; heap growth per line: peak %.0f, kept %.0f", g.name, read, peak, kept)
			if peak >= read || kept > 150 {
				t.Errorf("heap growth per line: peak %.0f (must stay below the %.0f bytes read per line), kept %.0f (at most 150)", peak, read, kept)
			}
		})
	}
}

// BenchmarkParse reports rows/s for each format (100k generated rows per
// iteration, parse plus Load). Under GOOS=js (Node) it gives the page's
// speed: PATH=$PATH:$(go env GOROOT)/lib/wasm GOOS=js GOARCH=wasm go test
// -run '^$' -bench Parse ./engine/workload
func BenchmarkParse(b *testing.B) {
	const n = 100_000
	for _, g := range generators {
		b.Run(g.name, func(b *testing.B) {
			opt := workload.DefaultOptions()
			opt.Synthetic.NumRequests = 0
			var bytes int64
			for b.Loop() {
				src := &genTrace{header: g.header, line: g.line, n: n, sample: 1 << 62}
				if _, err := workload.Load([]workload.File{{Name: g.file, R: src}}, opt); err != nil {
					b.Fatal(err)
				}
				bytes += src.bytes
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
			b.SetBytes(bytes / int64(b.N))
		})
	}
}
