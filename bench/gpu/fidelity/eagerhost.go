package main

import (
	"fmt"
	"strings"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/internal/compare"
)

// minEagerSteps is how many eager steps a step log needs for its row in
// the eager-launch table.
const minEagerSteps = 5

// eagerHost is a step log's eager steps against the set's launch model:
// their host time (schedule + prepare + launch, host_ms) beside the
// launch eager_launch charges them, counting first_ms for a token count
// as the simulation does.
type eagerHost struct {
	Steps int
	// HostMs and ModelMs are the medians of the measured host time and
	// of the modelled launch; Ratio is the median of their per-step ratio.
	HostMs, ModelMs, Ratio float64
}

// eagerHostOf scores the eager steps of steps against l. seen holds the
// token counts launched eagerly before steps began (nil: none; a repeat
// run passes its first run's, launched earlier in the same process) and
// gains those of steps. ok is false with fewer than minEagerSteps.
func eagerHostOf(steps []compare.RealStep, l *predict.EagerLaunch, seen map[int]bool) (h eagerHost, ok bool) {
	var host, model, ratio []float64
	for _, s := range steps {
		if s.Mode != predict.ModeEager {
			continue
		}
		m := l.Ms(s.Decodes)
		if !seen[s.Tokens] {
			m += l.FirstMs
		}
		if seen != nil {
			seen[s.Tokens] = true
		}
		if m <= 0 {
			continue
		}
		host, model, ratio = append(host, s.HostMs), append(model, m), append(ratio, s.HostMs/m)
	}
	if len(host) < minEagerSteps {
		return eagerHost{Steps: len(host)}, false
	}
	return eagerHost{Steps: len(host), HostMs: median(host), ModelMs: median(model), Ratio: median(ratio)}, true
}

// eagerHostTable is the report's table of every run with eager steps:
// how its first run's and its repeat's host launched them against the
// model. A ratio far from 1 in the first run but not the repeat is the
// host's speed at that moment, which no input of the simulation holds.
func eagerHostTable(scores []runScore) string {
	var b strings.Builder
	rows := 0
	for _, s := range scores {
		if s.eager == nil {
			continue
		}
		if rows == 0 {
			b.WriteString("## The eager launch per run\n\n")
			b.WriteString("Every run with at least 5 eager steps: the median host time of its eager steps (host_ms: schedule + prepare + launch)\n")
			b.WriteString("against the launch the set's `eager_launch` charges them (with `first_ms` for a token count new to the process:\n")
			b.WriteString("a repeat counts its first run's as launched), and the median of the per-step ratio, first run and repeat.\n\n")
			b.WriteString("| run | eager steps | first run: host / model ms | ratio | repeat: host / model ms | ratio |\n|---|---:|---:|---:|---:|---:|\n")
		}
		rows++
		verdict := "misses target"
		if s.meets() {
			verdict = "within target"
		}
		fmt.Fprintf(&b, "| %s (%s, %s) | %d | %.2f / %.2f | %.3f |", s.w.Name, s.w.Split, verdict, s.eager.Steps, s.eager.HostMs, s.eager.ModelMs, s.eager.Ratio)
		if r := s.eagerRepeat; r != nil {
			fmt.Fprintf(&b, " %.2f / %.2f | %.3f |\n", r.HostMs, r.ModelMs, r.Ratio)
		} else {
			b.WriteString(" n/a | n/a |\n")
		}
	}
	if rows > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

// eagerHostRuns scores a run's eager steps (steps) and, when repeatDir
// holds a step log, its repeat's, which counts the first run's token
// counts as launched.
func eagerHostRuns(l *predict.EagerLaunch, steps []compare.RealStep, repeatDir string) (first, repeat *eagerHost, err error) {
	seen := map[int]bool{}
	if h, ok := eagerHostOf(steps, l, seen); ok {
		first = &h
	}
	p, ok := compare.StepLogPath(repeatDir)
	if !ok {
		return first, nil, nil
	}
	rsteps, err := compare.LoadStepLog(p)
	if err != nil {
		return nil, nil, err
	}
	if h, ok := eagerHostOf(rsteps, l, seen); ok && first != nil {
		repeat = &h
	}
	return first, repeat, nil
}
