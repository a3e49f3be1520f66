package main

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/profiles"
)

// Schedule replay (--replay): servesim's scheduler fed a real run's arrivals
// and its real step times (engine.Replayer), its decisions compared with the
// real step log step by step: which requests each step runs and with what
// chunk (the step's shape: sequences, decodes, new prefills, tokens, decode
// contexts' sum and longest, every prefill chunk and where it starts), which
// requests it samples a token for (token_metrics.csv: a token's time is its
// step's end_ns), and how many it preempts. Timing is reality's, so a
// difference is the policy's: admission, blocks per request, when blocks
// are freed, the preemption victim, the waiting queue's order.

// stepShape is a step in step_log.csv's terms (refengine/sched.py
// Step.shape): a decode computes one token past its prompt.
type stepShape struct {
	Seqs, Decodes, Prefills, New, Tokens int
	CtxSum, CtxMax                       int64
	Chunks                               string // "tokens:start;..." in step order
	Preempted                            int
}

func (s stepShape) String() string {
	c := s.Chunks
	if c == "" {
		c = "-"
	}
	return fmt.Sprintf("%d seqs (%d decodes, %d prefills, %d new), %d tokens, decode ctx sum %d max %d, chunks %s, %d preempted",
		s.Seqs, s.Decodes, s.Prefills, s.New, s.Tokens, s.CtxSum, s.CtxMax, c, s.Preempted)
}

func realShape(s compare.RealStep) stepShape {
	var ch []string
	for _, c := range s.Chunks {
		ch = append(ch, fmt.Sprintf("%d:%d", c.Tokens, c.Cached))
	}
	return stepShape{s.Seqs, s.Decodes, s.Prefills, s.New, s.Tokens, s.DecodeCtxSum, s.DecodeCtxMax, strings.Join(ch, ";"), s.Preempted}
}

func replayedShape(st engine.ReplayedStep) stepShape {
	var sh stepShape
	var ch []string
	for _, m := range st.Members {
		sh.Seqs++
		sh.Tokens += m.Tokens
		if m.Tokens == 1 && m.Start >= m.Prompt {
			sh.Decodes++
			sh.CtxSum += int64(m.Start + 1)
			sh.CtxMax = max(sh.CtxMax, int64(m.Start+1))
			continue
		}
		sh.Prefills++
		if m.Start == 0 {
			sh.New++
		}
		ch = append(ch, fmt.Sprintf("%d:%d", m.Tokens, m.Start))
	}
	sh.Chunks = strings.Join(ch, ";")
	sh.Preempted = len(st.Preempted)
	return sh
}

func sampledIDs(st engine.ReplayedStep) []int {
	var ids []int
	for _, m := range st.Members {
		if m.Samples {
			ids = append(ids, m.Request)
		}
	}
	slices.Sort(ids)
	return ids
}

// replayResult is one run's replay.
type replayResult struct {
	Name, Scheduler string
	NumBlocks       int
	Steps           int // real steps
	Agreed          int // leading steps replayed with the same decisions
	FirstDiff       int // -1: none
	Diff            string
	// Up to the first difference: preemptions, the steps whose start had
	// arrivals in engine.ArrivalWindowNs before it and those where some of
	// them were not seen, the most KV blocks held, the steps at which the
	// waiting queue's head could not be admitted for want of blocks (KV-
	// bound), and the requests that waited so at least once.
	Preempted, Windowed, Unseen int
	PeakBlocks                  int
	KVBlockedSteps              int
	KVWaited                    int
	Requests                    int
	HasSamples                  bool
	Sim                         *replayResult // the simulated run's own schedule replayed (replayOptions.Sim)
}

// replayRun replays steps (a real run's step log) through cfg's scheduler
// on wl; samples, if not nil, is each step's requests that got a token
// (sorted), from the run's token_metrics.csv.
func replayRun(name string, cfg engine.Config, wl *workload.Workload, steps []compare.RealStep, samples [][]int) (replayResult, error) {
	res := replayResult{Name: name, Scheduler: cfg.Scheduler.Type, Steps: len(steps), FirstDiff: -1, HasSamples: samples != nil, Requests: len(wl.Requests)}
	rp, err := engine.NewReplayer(cfg, wl)
	if err != nil {
		return res, err
	}
	if samples != nil && len(samples) != len(steps) {
		return res, fmt.Errorf("%s: %d steps but samples for %d", name, len(steps), len(samples))
	}
	waited := map[int]bool{}
	for k, s := range steps {
		want := realShape(s)
		match := func(st engine.ReplayedStep) bool {
			return replayedShape(st) == want && (samples == nil || slices.Equal(sampledIDs(st), samples[k]))
		}
		st, err := rp.Step(s.StartNs, s.EndNs, match)
		res.NumBlocks = st.NumBlocks
		if err != nil {
			res.FirstDiff, res.Diff = k, err.Error()
			return res, nil
		}
		if !match(st) {
			res.FirstDiff = k
			got := replayedShape(st)
			if got != want {
				res.Diff = fmt.Sprintf("real %s; replayed %s", want, got)
			} else {
				res.Diff = fmt.Sprintf("same shape (%s) but tokens sampled for requests %v real, %v replayed", want, samples[k], sampledIDs(st))
			}
			res.Diff += fmt.Sprintf(" (replayed: %d of %d blocks held, %d waiting, %d running, preempted %v)", st.KVBlocks, st.NumBlocks, st.Waiting, st.Running, st.Preempted)
			return res, nil
		}
		res.Agreed++
		res.Preempted += len(st.Preempted)
		res.PeakBlocks = max(res.PeakBlocks, st.KVBlocks)
		if st.Window > 0 {
			res.Windowed++
		}
		if st.Unseen > 0 {
			res.Unseen++
		}
		if len(st.KVBlocked) > 0 {
			res.KVBlockedSteps++
			for _, id := range st.KVBlocked {
				waited[id] = true
			}
			res.KVWaited = len(waited)
		}
	}
	if !rp.Done() {
		res.FirstDiff = len(steps)
		res.Diff = "the real log ends with requests unfinished in the replay"
	}
	return res, nil
}

// simReplay replays a simulated run's own schedule: each of its steps
// (res.Batches) scheduled at its ScheduledAt and processed at its EndAt. The
// simulator sees an arrival at the instant it schedules (the engine, only
// before), so the replayer is given ScheduledAt+1. Every step must come out
// as the simulator ran it (requests, tokens, new prefills, KV blocks held):
// the check that the replay's loop is the simulator's. The result gives the
// simulated run's preemptions and requests that waited for blocks.
func simReplay(name string, cfg engine.Config, wl *workload.Workload, res *engine.Result) (replayResult, error) {
	out := replayResult{Name: name, Scheduler: cfg.Scheduler.Type, Steps: len(res.Batches), FirstDiff: -1, Requests: len(wl.Requests)}
	rp, err := engine.NewReplayer(cfg, wl)
	if err != nil {
		return out, err
	}
	waited := map[int]bool{}
	for k, b := range res.Batches {
		st, err := rp.Step(b.ScheduledAt+1, b.EndAt, nil)
		out.NumBlocks = st.NumBlocks
		if err != nil {
			out.FirstDiff, out.Diff = k, err.Error()
			return out, nil
		}
		sh := replayedShape(st)
		if sh.Seqs != b.Size() || sh.Tokens != b.Tokens() || sh.New != int(b.Key.NewRequests) || st.KVBlocks != int(b.KVBlocksInUse) {
			out.FirstDiff = k
			out.Diff = fmt.Sprintf("simulated %d seqs, %d tokens, %d new, %d blocks held; replayed %d, %d, %d, %d", b.Size(), b.Tokens(), b.Key.NewRequests, b.KVBlocksInUse,
				sh.Seqs, sh.Tokens, sh.New, st.KVBlocks)
			return out, nil
		}
		out.Agreed++
		out.Preempted += len(st.Preempted)
		out.PeakBlocks = max(out.PeakBlocks, st.KVBlocks)
		if len(st.KVBlocked) > 0 {
			out.KVBlockedSteps++
			for _, id := range st.KVBlocked {
				waited[id] = true
			}
			out.KVWaited = len(waited)
		}
	}
	return out, nil
}

// readSamples reads token_metrics.csv(.gz) in dir: for each step of steps,
// the requests that got a token in it (a token's time is its step's end).
func readSamples(dir string, steps []compare.RealStep) ([][]int, error) {
	var r io.Reader
	f, err := os.Open(filepath.Join(dir, "token_metrics.csv"))
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.Open(filepath.Join(dir, "token_metrics.csv.gz"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = z
	} else if err != nil {
		return nil, err
	} else {
		defer f.Close()
		r = f
	}
	return parseSamples(r, dir, steps)
}

// parseSamples is readSamples on the CSV text in r (name, for errors).
func parseSamples(r io.Reader, dir string, steps []compare.RealStep) ([][]int, error) {
	byEnd := make(map[int64]int, len(steps))
	for i, s := range steps {
		byEnd[s.EndNs] = i
	}
	out := make([][]int, len(steps))
	cr := csv.NewReader(r)
	head, err := cr.Read()
	if err != nil {
		return nil, err
	}
	ci, ct := slices.Index(head, "request_id"), slices.Index(head, "token_time_ns")
	if ci < 0 || ct < 0 {
		return nil, fmt.Errorf("%s: token_metrics needs request_id and token_time_ns", dir)
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		id, err1 := strconv.Atoi(rec[ci])
		t, err2 := strconv.ParseInt(rec[ct], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: token_metrics line %d: bad request_id or token_time_ns", dir, line)
		}
		k, ok := byEnd[t]
		if !ok {
			return nil, fmt.Errorf("%s: token_metrics line %d: token time %d is no step's end_ns", dir, line, t)
		}
		out[k] = append(out[k], id)
	}
	for _, s := range out {
		slices.Sort(s)
	}
	return out, nil
}

// replayOptions are --replay's inputs.
type replayOptions struct {
	Manifest, Bench, Card, Profile string
	Runs                           []string // run names; empty: every manifest run with a step log
	// Sim also simulates each run (engine timing, as --heldout does) and
	// replays the simulated schedule (simReplay), for its KV figures.
	Sim bool
}

// replayRuns replays each run and writes a table to w.
func replayRuns(ctx context.Context, o replayOptions, w io.Writer) ([]replayResult, error) {
	entries, err := readManifest(o.Manifest)
	if err != nil {
		return nil, err
	}
	set, err := profiles.OpenDir(o.Profile)
	if err != nil {
		return nil, err
	}
	var out []replayResult
	for _, e := range entries {
		if len(o.Runs) > 0 && !slices.Contains(o.Runs, e.Name) {
			continue
		}
		realDir := filepath.Join(o.Bench, o.Card, e.Name)
		p, ok := compare.StepLogPath(realDir)
		if !ok {
			continue
		}
		runJSON, _ := os.ReadFile(filepath.Join(realDir, "run.json"))
		cfg, _, err := runConfig(e, set, runJSON)
		if err != nil {
			return nil, err
		}
		files, wl, err := loadWorkload(heldOutOptions{Manifest: o.Manifest}, e, cfg)
		if err != nil {
			return nil, err
		}
		steps, err := compare.LoadStepLog(p)
		if err != nil {
			return nil, err
		}
		samples, err := readSamples(realDir, steps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		r, err := replayRun(e.Name, cfg, wl, steps, samples)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		if o.Sim {
			so, err := runner.Run(ctx, runner.Job{Files: files, Config: cfg, Profile: set, WorkloadName: e.Name})
			if err != nil {
				return nil, fmt.Errorf("workload %s: %w", e.Name, err)
			}
			sr, err := simReplay(e.Name, cfg, wl, so.Result)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Name, err)
			}
			r.Sim = &sr
		}
		out = append(out, r)
	}
	writeReplay(w, out)
	return out, nil
}

func writeReplay(w io.Writer, rs []replayResult) {
	fmt.Fprintf(w, "| run | scheduler | KV blocks | steps replayed | first difference | preemptions | peak blocks | KV-bound steps | requests that waited for blocks | steps with arrivals at the start (not seen) |\n|---|---|---:|---:|---|---:|---:|---:|---:|---:|\n")
	tot, agree, runs, bad := 0, 0, 0, 0
	for _, r := range rs {
		d := "none"
		if r.FirstDiff >= 0 {
			d = fmt.Sprintf("step %d: %s", r.FirstDiff, r.Diff)
			bad++
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d of %d | %s | %d | %d | %d | %d of %d | %d (%d) |\n", r.Name, r.Scheduler, r.NumBlocks, r.Agreed, r.Steps, d,
			r.Preempted, r.PeakBlocks, r.KVBlockedSteps, r.KVWaited, r.Requests, r.Windowed, r.Unseen)
		tot += r.Steps
		agree += r.Agreed
		runs++
	}
	fmt.Fprintf(w, "\n%d runs, %d of %d steps replayed with the real decisions; %d runs differ.\n", runs, agree, tot, bad)
	var sims []replayResult
	for _, r := range rs {
		if r.Sim != nil {
			sims = append(sims, *r.Sim)
		}
	}
	if len(sims) == 0 {
		return
	}
	fmt.Fprintf(w, "\nThe simulated runs (engine timing), their own schedules replayed (each step as simulated: the replay's loop is the simulator's):\n\n")
	fmt.Fprintf(w, "| run | steps replayed as simulated | first difference | preemptions real / simulated | KV-bound steps real / simulated | requests that waited for blocks real / simulated |\n|---|---:|---|---:|---:|---:|\n")
	for _, r := range rs {
		if r.Sim == nil {
			continue
		}
		d := "none"
		if r.Sim.FirstDiff >= 0 {
			d = fmt.Sprintf("step %d: %s", r.Sim.FirstDiff, r.Sim.Diff)
		}
		name := r.Name
		if r.FirstDiff >= 0 {
			name += fmt.Sprintf(" (real: to step %d, its first difference)", r.FirstDiff)
		}
		fmt.Fprintf(w, "| %s | %d of %d | %s | %d / %d | %d / %d | %d / %d of %d |\n", name, r.Sim.Agreed, r.Sim.Steps, d, r.Preempted, r.Sim.Preempted,
			r.KVBlockedSteps, r.Sim.KVBlockedSteps, r.KVWaited, r.Sim.KVWaited, r.Requests)
	}
}
