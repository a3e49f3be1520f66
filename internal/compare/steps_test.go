package compare

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/csvin"
)

const stepHeader = "step,start_ns,launch_ns,end_ns,gpu_ms,host_ms,mode,padded,num_seqs,num_decodes,num_prefills,num_new,num_tokens,decode_ctx_sum,decode_ctx_max,prefill_chunks,preempted\n"

// Four real steps: a 100-token prefill (graph_mixed 128), two decodes (graph
// 1), then a decode plus a 50-token prefill (graph_mixed 64).
const realSteps = stepHeader +
	"0,0,4000000,10000000,6.0,4.0,graph_mixed,128,1,0,1,1,100,0,0,100:0,0\n" +
	"1,4000000,6000000,15000000,5.0,2.0,graph,1,1,1,0,0,1,101,101,,0\n" +
	"2,10000000,12500000,20000000,5.0,2.5,graph,1,1,1,0,0,1,102,102,,0\n" +
	"3,15000000,18000000,29000000,9.0,3.0,graph_mixed,64,2,1,1,1,51,103,103,50:0,0\n"

const simHeader = "batch_id,replica_id,scheduled_at_ns,completed_at_ns,batch_size,num_tokens,num_prefill_tokens,num_decode_tokens,kv_blocks_in_use,kv_blocks_total,model_time_ns,total_time_ns,mode,padded,host_time_ns,gpu_time_ns,launched_at_ns\n"

// The simulation agrees on steps 0-2 and differs at step 3 (one decode).
const simSteps = simHeader +
	"0,0,0,9600000,1,100,100,0,7,100,6600000,9600000,graph_mixed,128,3000000,6600000,3000000\n" +
	"1,0,3000000,15600000,1,1,0,1,7,100,6000000,8000000,graph,1,2000000,6000000,5000000\n" +
	"2,0,9600000,21600000,1,1,0,1,7,100,6000000,8000000,graph,1,2000000,6000000,11600000\n" +
	"3,0,15600000,27600000,1,1,0,1,7,100,6000000,8000000,graph,1,2000000,6000000,17600000\n"

func stepDirs(t *testing.T, real, sim string) (string, string) {
	r, s := filepath.Join(t.TempDir(), "real"), filepath.Join(t.TempDir(), "sim")
	os.MkdirAll(r, 0o755)
	os.MkdirAll(s, 0o755)
	os.WriteFile(filepath.Join(r, "step_log.csv"), []byte(real), 0o644)
	os.WriteFile(filepath.Join(s, "batch_metrics.csv"), []byte(sim), 0o644)
	return r, s
}

// TestSteps_AlignByHand: steps 0-2 align; step 3 differs. By shape:
// "decode, graph batch 1": 2 steps, GPU 10 real vs 12 simulated, host
// 4.5 vs 4: summed |error| 2 + 0.5 = 2.5 ms; "prefill, mixed graph 128 tokens": GPU
// 6 vs 6.6, host 4 vs 3: 1.6 ms. Totals: GPU 16 vs 18.6 (+16.25%), host
// 8.5 vs 7 (-17.6%).
func TestSteps_AlignByHand(t *testing.T) {
	r, s := stepDirs(t, realSteps, simSteps)
	rep, ok, err := LoadSteps(r, s)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if len(rep.Aligned) != 3 || rep.FirstMismatch != 3 || rep.ShapeDiffers != 1 || !strings.Contains(rep.Mismatch, "real 2 seqs (1 decodes), 51 tokens") {
		t.Fatalf("report %+v", rep)
	}
	rows := Shapes(rep)
	if len(rows) != 2 || rows[0].Shape != "decode, graph batch 1" || rows[1].Shape != "prefill, mixed graph 128 tokens" {
		t.Fatalf("shapes %+v", rows)
	}
	if d := rows[0]; d.Steps != 2 || d.RealGPU != 10 || d.SimGPU != 12 || math.Abs(d.AbsErr-2.5) > 1e-9 || d.RealHost != 4.5 || d.SimHost != 4 {
		t.Errorf("decode row %+v", d)
	}
	if p := rows[1]; math.Abs(p.AbsErr-1.6) > 1e-9 {
		t.Errorf("prefill row %+v", p)
	}
	var md bytes.Buffer
	WriteSteps(&md, []*StepReport{rep}, 10)
	for _, want := range []string{"| 4 | 4 | 3 | 3: real 2 seqs", "| 16.0 | 18.6 | +16.3% | 8.5 | 7.0 | -17.6% |",
		"| decode, graph batch 1 | 2 | 5.000 | 6.000 | +20.0% | 2.250 | 2.000 | -11.1% | 2.5 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	// Two runs aggregate: the same report twice doubles every sum.
	if two := Shapes(rep, rep); two[0].Steps != 4 || math.Abs(two[0].AbsErr-5) > 1e-9 {
		t.Errorf("aggregate %+v", two[0])
	}
	// No step log: nothing to align.
	if _, ok, err := LoadSteps(t.TempDir(), s); ok || err != nil {
		t.Errorf("no step log: ok %t err %v", ok, err)
	}
}

func TestLoadStepLog_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, edit, want string
		line, col        int
	}{
		{"tokens disagree", strings.Replace(realSteps, ",1,100,0,0,100:0,0", ",1,99,0,0,100:0,0", 1), "num_decodes + the chunks' tokens = 100", 2, 13},
		{"bad chunk", strings.Replace(realSteps, "50:0", "50-0", 1), "tokens:cached pairs", 5, 16},
		{"chunk count", strings.Replace(realSteps, "100:0,0\n", "100:0;5:0,0\n", 1), "1 chunks (num_prefills)", 2, 16},
		{"mode", strings.Replace(realSteps, "graph,1,1,1", "cuda,1,1,1", 1), "graph, graph_mixed or eager", 3, 7},
		{"order", strings.Replace(realSteps, "\n2,10000000", "\n7,10000000", 1), "step 2 (steps numbered from 0", 4, 1},
		{"seqs", strings.Replace(realSteps, "64,2,1,1", "64,3,1,1", 1), "num_decodes + num_prefills = 2", 5, 9},
		{"times", strings.Replace(realSteps, "0,0,4000000,10000000", "0,0,4000000,1000000", 1), "start_ns <= launch_ns <= end_ns", 2, 4},
		{"negative gpu", strings.Replace(realSteps, ",6.0,4.0,", ",-6.0,4.0,", 1), "a finite number >= 0", 2, 5},
	} {
		r, _ := stepDirs(t, tc.edit, simSteps)
		_, err := LoadStepLog(filepath.Join(r, "step_log.csv"))
		var ce *csvin.Error
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
			continue
		}
		if !errorsAs(err, &ce) || ce.Line != tc.line || ce.Col != tc.col {
			t.Errorf("%s: got %v, want line %d column %d", tc.name, err, tc.line, tc.col)
		}
	}
}

func FuzzLoadStepLog(f *testing.F) {
	f.Add([]byte(realSteps))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := t.TempDir()
		p := filepath.Join(d, "step_log.csv")
		os.WriteFile(p, b, 0o644)
		steps, err := LoadStepLog(p)
		if err != nil {
			return
		}
		for _, s := range steps {
			if s.Decodes+s.Prefills != s.Seqs || len(s.Chunks) != s.Prefills || s.EndNs < s.StartNs {
				t.Fatalf("inconsistent step accepted: %+v", s)
			}
		}
	})
}

func errorsAs(err error, target **csvin.Error) bool { return errors.As(err, target) }

// TestLoopHost: host time as the timing model counts it. Steps 1-3 of
// realSteps follow the busy loop: step 2 could start at max(launch 1 = 6,
// end 0 = 10) = 10 and launched at 12.5: 2.5 ms (its host_ms plus no
// processing gap here). A step started after the previous one ended (the
// host was idle) counts launch - start.
func TestLoopHost(t *testing.T) {
	r, _ := stepDirs(t, realSteps+"4,40000000,40700000,46000000,5.0,0.5,graph,1,1,1,0,0,1,104,104,,0\n", simSteps)
	steps, err := LoadStepLog(filepath.Join(r, "step_log.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{4, 2, 2.5, 3, 0.7} {
		if math.Abs(steps[i].LoopHostMs-want) > 1e-9 {
			t.Errorf("step %d: loop host %v ms, want %v", i, steps[i].LoopHostMs, want)
		}
	}
}

// TestStepLog_Gzipped: a run keeping only step_log.csv.gz is read by
// StepLogPath, LoadStepLog, LoadStepLogFS and LoadSteps as the plain file.
func TestStepLog_Gzipped(t *testing.T) {
	r, s := stepDirs(t, realSteps, simSteps)
	plain, err := LoadStepLog(filepath.Join(r, "step_log.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(realSteps))
	zw.Close()
	os.Remove(filepath.Join(r, "step_log.csv"))
	os.WriteFile(filepath.Join(r, "step_log.csv.gz"), z.Bytes(), 0o644)
	p, ok := StepLogPath(r)
	if !ok || p != filepath.Join(r, "step_log.csv") {
		t.Fatalf("StepLogPath = %q, %v; want the .csv path and true", p, ok)
	}
	for name, load := range map[string]func() ([]RealStep, error){
		"LoadStepLog":   func() ([]RealStep, error) { return LoadStepLog(p) },
		"LoadStepLogFS": func() ([]RealStep, error) { return LoadStepLogFS(os.DirFS(r), "step_log.csv", "run/step_log.csv") },
	} {
		got, err := load()
		if err != nil || !reflect.DeepEqual(got, plain) {
			t.Errorf("%s: %d steps, %v; want the plain file's %d", name, len(got), err, len(plain))
		}
	}
	if rep, ok, err := LoadSteps(r, s); !ok || err != nil || len(rep.Aligned) != 3 {
		t.Errorf("LoadSteps on the gzipped log: ok %v, err %v", ok, err)
	}
	if _, ok := StepLogPath(t.TempDir()); ok {
		t.Error("StepLogPath of an empty folder: ok")
	}
}
