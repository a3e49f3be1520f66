package compare

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine/csvin"
)

// StepLogColumns are the reference engine's step_log.csv columns
// (REFENGINE.md): one row per engine step.
var StepLogColumns = []string{"step", "start_ns", "launch_ns", "end_ns", "gpu_ms", "host_ms", "mode", "padded", "num_seqs",
	"num_decodes", "num_prefills", "num_new", "num_tokens", "decode_ctx_sum", "decode_ctx_max", "prefill_chunks", "preempted"}

// Chunk is one prefilling sequence of a step: tokens this step and tokens
// already cached.
type Chunk struct{ Tokens, Cached int }

// RealStep is one row of step_log.csv. Times are ns since run start; GPU
// and host time in ms.
type RealStep struct {
	Step                     int
	StartNs, LaunchNs, EndNs int64
	GPUMs, HostMs            float64
	// LoopHostMs is the step's host time as the engine timing model counts
	// it: from when the host loop could start it (max(end of step n-2,
	// launch of step n-1): after processing the outputs it waited for) to its
	// launch, so it includes that output processing, which host_ms does not.
	// A step started with nothing in flight (the previous one had ended: the
	// host was idle) counts launch_ns - start_ns, as the model's step from
	// idle does.
	LoopHostMs                   float64
	Mode                         string // graph | graph_mixed | eager
	Padded                       int
	Seqs, Decodes, Prefills, New int
	Tokens                       int
	DecodeCtxSum, DecodeCtxMax   int64
	Chunks                       []Chunk
	Preempted                    int
}

// LoadStepLog reads and checks a step_log.csv: steps numbered 0, 1, … in
// order, start <= launch <= end, the shape columns consistent with each
// other and with prefill_chunks ("tokens:cached;…").
func LoadStepLog(path string) ([]RealStep, error) {
	return loadStepLog(func(row func(*csvin.Table) error, cols ...string) error { return readCSV(path, row, cols...) }, path)
}

// LoadStepLogFS is LoadStepLog for file (or file+".gz" when only that
// exists) in fsys; name is how messages call it.
func LoadStepLogFS(fsys fs.FS, file, name string) ([]RealStep, error) {
	return loadStepLog(func(row func(*csvin.Table) error, cols ...string) error {
		f, err := fsys.Open(file)
		if errors.Is(err, fs.ErrNotExist) {
			g, gerr := fsys.Open(file + ".gz")
			if gerr != nil {
				return err
			}
			defer g.Close()
			zr, err := gzip.NewReader(g)
			if err != nil {
				return fmt.Errorf("%s.gz: %w", name, err)
			}
			return csvin.Scan(zr, name+".gz", row, cols...)
		}
		if err != nil {
			return err
		}
		defer f.Close()
		return csvin.Scan(f, name, row, cols...)
	}, name)
}

// StepLogPath is dir's step log: step_log.csv, or step_log.csv.gz when
// only that exists (LoadStepLog reads either given the first); ok is false
// when there is none.
func StepLogPath(dir string) (p string, ok bool) {
	p = filepath.Join(dir, "step_log.csv")
	return p, fileExists(p) || fileExists(p+".gz")
}

func loadStepLog(scan func(row func(*csvin.Table) error, cols ...string) error, path string) ([]RealStep, error) {
	var steps []RealStep
	err := scan(func(t *csvin.Table) error {
		var s RealStep
		ints := []struct {
			col string
			dst *int
		}{{"step", &s.Step}, {"padded", &s.Padded}, {"num_seqs", &s.Seqs}, {"num_decodes", &s.Decodes}, {"num_prefills", &s.Prefills},
			{"num_new", &s.New}, {"num_tokens", &s.Tokens}, {"preempted", &s.Preempted}}
		for _, c := range ints {
			v, err := t.IntAtLeast(c.col, 0)
			if err != nil {
				return err
			}
			*c.dst = int(v)
		}
		for _, c := range []struct {
			col string
			dst *int64
		}{{"start_ns", &s.StartNs}, {"launch_ns", &s.LaunchNs}, {"end_ns", &s.EndNs}, {"decode_ctx_sum", &s.DecodeCtxSum}, {"decode_ctx_max", &s.DecodeCtxMax}} {
			v, err := t.IntAtLeast(c.col, 0)
			if err != nil {
				return err
			}
			*c.dst = v
		}
		var err error
		if s.GPUMs, err = t.NonNegFloat("gpu_ms"); err != nil {
			return err
		}
		if s.HostMs, err = t.NonNegFloat("host_ms"); err != nil {
			return err
		}
		s.Mode, _ = t.Field("mode")
		if s.Mode != "graph" && s.Mode != "graph_mixed" && s.Mode != "eager" {
			return t.ErrAt("mode", "graph, graph_mixed or eager", csvin.Quote(s.Mode))
		}
		if s.Step != len(steps) {
			return t.ErrAt("step", fmt.Sprintf("step %d (steps numbered from 0, in order)", len(steps)), strconv.Itoa(s.Step))
		}
		if s.LaunchNs < s.StartNs || s.EndNs < s.LaunchNs {
			return t.ErrAt("end_ns", "start_ns <= launch_ns <= end_ns", fmt.Sprintf("%d, %d, %d", s.StartNs, s.LaunchNs, s.EndNs))
		}
		if s.Decodes+s.Prefills != s.Seqs {
			return t.ErrAt("num_seqs", fmt.Sprintf("num_decodes + num_prefills = %d", s.Decodes+s.Prefills), strconv.Itoa(s.Seqs))
		}
		if s.Chunks, err = parseChunks(t); err != nil {
			return err
		}
		if len(s.Chunks) != s.Prefills {
			return t.ErrAt("prefill_chunks", fmt.Sprintf("%d chunks (num_prefills)", s.Prefills), fmt.Sprintf("%d", len(s.Chunks)))
		}
		tok := s.Decodes
		for _, c := range s.Chunks {
			tok += c.Tokens
		}
		if tok != s.Tokens {
			return t.ErrAt("num_tokens", fmt.Sprintf("num_decodes + the chunks' tokens = %d", tok), strconv.Itoa(s.Tokens))
		}
		// When the host loop could start this step: after launching the
		// previous one and processing the outputs of the one before. If the
		// previous step had already ended, nothing was in flight: the host
		// was idle (waiting for an arrival) and the step starts from idle.
		free := s.StartNs
		if n := len(steps); n >= 1 && steps[n-1].EndNs > s.StartNs {
			free = steps[n-1].LaunchNs
			if n >= 2 {
				free = max(free, steps[n-2].EndNs)
			}
			free = min(free, s.StartNs)
		}
		s.LoopHostMs = float64(s.LaunchNs-free) / 1e6
		steps = append(steps, s)
		return nil
	}, StepLogColumns...)
	if err == nil && len(steps) == 0 {
		err = fmt.Errorf("%s: no steps", path)
	}
	return steps, err
}

func parseChunks(t *csvin.Table) ([]Chunk, error) {
	s, _ := t.Field("prefill_chunks")
	if s == "" {
		return nil, nil
	}
	var out []Chunk
	for i, part := range strings.Split(s, ";") {
		a, b, ok := strings.Cut(part, ":")
		n, err1 := strconv.Atoi(a)
		kv, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || n < 1 || kv < 0 {
			return nil, t.ErrAt("prefill_chunks", fmt.Sprintf("tokens:cached pairs separated by ';' (pair %d)", i+1), csvin.Quote(part))
		}
		out = append(out, Chunk{n, kv})
	}
	return out, nil
}

// SimStep is one row of batch_metrics.csv (ns); its host time is the
// engine timing model's (compared with RealStep.LoopHostMs). HasEngine is true when the
// run used engine timing (mode, padded, host and GPU time columns).
type SimStep struct {
	Batch, Replica                 int
	ScheduledNs, EndNs             int64
	Seqs, Tokens, Prefill, Decodes int
	ModelNs, TotalNs               int64
	HasEngine                      bool
	Mode                           string
	Padded                         int
	HostNs, GPUNs                  int64
}

// LoadBatchMetrics reads servesim's batch_metrics.csv.
func LoadBatchMetrics(path string) ([]SimStep, error) {
	var out []SimStep
	err := readCSV(path, func(t *csvin.Table) error {
		var s SimStep
		s.HasEngine = t.Has("host_time_ns")
		for _, c := range []struct {
			col string
			dst *int
		}{{"batch_id", &s.Batch}, {"replica_id", &s.Replica}, {"batch_size", &s.Seqs}, {"num_tokens", &s.Tokens},
			{"num_prefill_tokens", &s.Prefill}, {"num_decode_tokens", &s.Decodes}} {
			v, err := t.IntAtLeast(c.col, 0)
			if err != nil {
				return err
			}
			*c.dst = int(v)
		}
		cols := []struct {
			col string
			dst *int64
		}{{"scheduled_at_ns", &s.ScheduledNs}, {"completed_at_ns", &s.EndNs}, {"model_time_ns", &s.ModelNs}, {"total_time_ns", &s.TotalNs}}
		if s.HasEngine {
			cols = append(cols, []struct {
				col string
				dst *int64
			}{{"host_time_ns", &s.HostNs}, {"gpu_time_ns", &s.GPUNs}}...)
			v, err := t.IntAtLeast("padded", 0)
			if err != nil {
				return err
			}
			s.Padded = int(v)
			s.Mode, _ = t.Field("mode")
		}
		for _, c := range cols {
			v, err := t.IntAtLeast(c.col, 0)
			if err != nil {
				return err
			}
			*c.dst = v
		}
		if !s.HasEngine {
			s.GPUNs = s.ModelNs
		}
		out = append(out, s)
		return nil
	}, "batch_id", "replica_id", "scheduled_at_ns", "completed_at_ns", "batch_size", "num_tokens", "num_prefill_tokens",
		"num_decode_tokens", "model_time_ns", "total_time_ns")
	return out, err
}

// ShapeKey names a step's shape class for the worst-shapes table: what it
// holds (decode, prefill, mixed) and how the engine ran it (CUDA graph at
// a batch size, a mixed graph at a token count, or eagerly, tokens rounded up
// to a power of two).
func ShapeKey(s RealStep) string {
	kind := "mixed"
	switch {
	case s.Prefills == 0:
		kind = "decode"
	case s.Decodes == 0:
		kind = "prefill"
	}
	switch s.Mode {
	case "graph":
		return fmt.Sprintf("%s, graph batch %d", kind, s.Padded)
	case "graph_mixed":
		return fmt.Sprintf("%s, mixed graph %d tokens", kind, s.Padded)
	}
	p := 1
	for p < s.Tokens {
		p *= 2
	}
	return fmt.Sprintf("%s, eager <= %d tokens", kind, p)
}

// AlignedStep is a real step and the simulated step with the same index and
// shape. Times in ms; SimHost is meaningful when HasHost.
type AlignedStep struct {
	Step                               int
	Shape                              string
	RealGPU, SimGPU, RealHost, SimHost float64
	HasHost                            bool
}

// StepReport aligns one run's step log with its simulation.
type StepReport struct {
	Name                string
	RealSteps, SimSteps int
	Aligned             []AlignedStep
	// FirstMismatch is the first index whose shapes differ (-1: none within
	// the shorter log); Mismatch describes it.
	FirstMismatch int
	Mismatch      string
	// ShapeDiffers counts indices (within both logs) whose shapes differ.
	ShapeDiffers int
}

// AlignSteps pairs real step i with simulated batch i (one replica) when
// both hold the same sequences, decodes and tokens.
func AlignSteps(name string, real []RealStep, sim []SimStep) (*StepReport, error) {
	for _, s := range sim {
		if s.Replica != 0 {
			return nil, fmt.Errorf("%s: the simulation has more than one replica; a step log is one engine's", name)
		}
	}
	r := &StepReport{Name: name, RealSteps: len(real), SimSteps: len(sim), FirstMismatch: -1}
	for i := 0; i < len(real) && i < len(sim); i++ {
		a, b := real[i], sim[i]
		if a.Seqs != b.Seqs || a.Tokens != b.Tokens || a.Decodes != b.Decodes {
			r.ShapeDiffers++
			if r.FirstMismatch < 0 {
				r.FirstMismatch = i
				r.Mismatch = fmt.Sprintf("real %d seqs (%d decodes), %d tokens; simulated %d seqs (%d decodes), %d tokens",
					a.Seqs, a.Decodes, a.Tokens, b.Seqs, b.Decodes, b.Tokens)
			}
			continue
		}
		r.Aligned = append(r.Aligned, AlignedStep{Step: i, Shape: ShapeKey(a), RealGPU: a.GPUMs, SimGPU: float64(b.GPUNs) / 1e6,
			RealHost: a.LoopHostMs, SimHost: float64(b.HostNs) / 1e6, HasHost: b.HasEngine})
	}
	return r, nil
}

// LoadSteps aligns realDir/step_log.csv with simDir/batch_metrics.csv. ok
// is false when realDir has no step log.
func LoadSteps(realDir, simDir string) (rep *StepReport, ok bool, err error) {
	p, ok := StepLogPath(realDir)
	if !ok {
		return nil, false, nil
	}
	real, err := LoadStepLog(p)
	if err != nil {
		return nil, true, err
	}
	sim, err := LoadBatchMetrics(filepath.Join(simDir, "batch_metrics.csv"))
	if err != nil {
		return nil, true, err
	}
	rep, err = AlignSteps(realDir, real, sim)
	return rep, true, err
}

// ShapeRow is one step shape's totals over aligned steps (ms).
type ShapeRow struct {
	Shape                              string
	Steps                              int
	RealGPU, SimGPU, RealHost, SimHost float64 // sums
	HostSteps                          int     // steps with a simulated host time
	RealHostSim                        float64 // sum of real host time over those steps
	AbsErr                             float64 // sum over steps of |GPU error| + |host error|
}

// Shapes groups aligned steps of one or more reports by shape, worst first
// (largest summed absolute error; ties by name).
func Shapes(reps ...*StepReport) []ShapeRow {
	m := map[string]*ShapeRow{}
	for _, rep := range reps {
		for _, s := range rep.Aligned {
			row := m[s.Shape]
			if row == nil {
				row = &ShapeRow{Shape: s.Shape}
				m[s.Shape] = row
			}
			row.Steps++
			row.RealGPU += s.RealGPU
			row.SimGPU += s.SimGPU
			row.AbsErr += math.Abs(s.SimGPU - s.RealGPU)
			row.RealHost += s.RealHost
			if s.HasHost {
				row.HostSteps++
				row.SimHost += s.SimHost
				row.RealHostSim += s.RealHost
				row.AbsErr += math.Abs(s.SimHost - s.RealHost)
			}
		}
	}
	out := make([]ShapeRow, 0, len(m))
	for _, r := range m {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].AbsErr != out[j].AbsErr {
			return out[i].AbsErr > out[j].AbsErr
		}
		return out[i].Shape < out[j].Shape
	})
	return out
}

func pctText(sim, real float64) string {
	if real == 0 {
		if sim == 0 {
			return "0.0%"
		}
		return "n/a (real 0)"
	}
	return fmt.Sprintf("%+.1f%%", (sim/real-1)*100)
}

// WriteSteps writes the step alignment of one or more runs in Markdown:
// per run, how many steps align and the predicted vs measured GPU and
// host time; then the worst-predicted step shapes over all of them.
func WriteSteps(w io.Writer, reps []*StepReport, worst int) {
	WriteStepsTitled(w, "Steps: real step_log.csv vs simulated batch_metrics.csv", reps, worst)
}

// WriteStepsTitled is WriteSteps under another heading.
func WriteStepsTitled(w io.Writer, title string, reps []*StepReport, worst int) {
	fmt.Fprintf(w, "\n## %s\n\n", title)
	fmt.Fprintf(w, "| run | real steps | simulated steps | aligned (same index and shape) | first differing step | real GPU ms | simulated GPU ms | GPU error | real host ms | simulated host ms | host error |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range reps {
		var rg, sg, rh, sh float64
		host := 0
		for _, s := range r.Aligned {
			rg += s.RealGPU
			sg += s.SimGPU
			if s.HasHost {
				host++
				rh += s.RealHost
				sh += s.SimHost
			}
		}
		first := "none"
		if r.FirstMismatch >= 0 {
			first = fmt.Sprintf("%d: %s", r.FirstMismatch, r.Mismatch)
		}
		hostCols := "| n/a (vidur timing) | n/a"
		if host > 0 {
			hostCols = fmt.Sprintf("| %.1f | %s", sh, pctText(sh, rh))
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %s | %.1f | %.1f | %s | %.1f %s |\n", r.Name, r.RealSteps, r.SimSteps, len(r.Aligned), first,
			rg, sg, pctText(sg, rg), rh, hostCols)
	}
	rows := Shapes(reps...)
	if len(rows) > worst {
		rows = rows[:worst]
	}
	fmt.Fprintf(w, "\nThe %d worst-predicted step shapes (aligned steps, ranked by summed |GPU error| + |host error|; means per step):\n\n", len(rows))
	fmt.Fprintf(w, "| shape | steps | real GPU ms | simulated GPU ms | GPU error | real host ms | simulated host ms | host error | summed abs error ms |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		n := float64(r.Steps)
		simHost, hostErr := "n/a", "n/a"
		if r.HostSteps > 0 {
			simHost, hostErr = fmt.Sprintf("%.3f", r.SimHost/float64(r.HostSteps)), pctText(r.SimHost, r.RealHostSim)
		}
		fmt.Fprintf(w, "| %s | %d | %.3f | %.3f | %s | %.3f | %s | %s | %.1f |\n", r.Shape, r.Steps, r.RealGPU/n, r.SimGPU/n,
			pctText(r.SimGPU, r.RealGPU), r.RealHost/n, simHost, hostErr, r.AbsErr)
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
