package search

import (
	"context"
	"encoding/json"
	"sync"
)

// shared is an Evaluator that runs a trial once for every point it is the
// same simulation for: points that differ only in a batch cap the run never
// reached (Outcome.BatchCapFreeFrom, shown by the engine from the
// comparisons its scheduler made with the cap; engine/capfree.go). A trial
// asked for under cap c takes the outcome of the same trial under any other
// cap whose outcome says it is the same simulation from a cap <= c, which
// is the outcome the trial would have had: answers do not change, only the
// work. A trial whose like is still running waits for it when that one is
// likely to serve it (the same cap's last outcome in the group served it,
// or none is known yet), else runs at once.
type shared struct {
	Evaluator
	mu   sync.Mutex
	runs map[string][]*sharedRun // by the trial's configuration without its cap
	last map[string]map[int]int  // by that without its rate too, then cap: the latest BatchCapFreeFrom (0: bound or failed)
}

type sharedRun struct {
	cap  int
	done chan struct{}
	o    Outcome
	err  error
}

func newShared(e Evaluator) *shared {
	return &shared{Evaluator: e, runs: map[string][]*sharedRun{}, last: map[string]map[int]int{}}
}

// serves says whether r's outcome is the trial's under cap c.
func (r *sharedRun) serves(c int) bool {
	return r.err == nil && r.o.BatchCapFreeFrom > 0 && r.o.BatchCapFreeFrom <= c
}

func (s *shared) Eval(ctx context.Context, t Trial) (Outcome, error) {
	c := t.Config.Scheduler.BatchSizeCap
	cfg := t.Config
	cfg.Scheduler.BatchSizeCap = 0
	b, err := json.Marshal(struct {
		C    any
		Stop bool
	}{cfg, t.StopEarly})
	if err != nil {
		return s.Evaluator.Eval(ctx, t)
	}
	key := string(b)
	cfg.Workload.QPS = 0
	g, _ := json.Marshal(struct {
		C    any
		Stop bool
	}{cfg, t.StopEarly})
	group := string(g)
	for {
		if err := ctx.Err(); err != nil {
			return Outcome{}, err // cancelled, maybe while waiting: start nothing
		}
		s.mu.Lock()
		var wait *sharedRun
		for _, r := range s.runs[key] {
			select {
			case <-r.done:
				if r.serves(c) {
					s.mu.Unlock()
					return r.o, nil
				}
				continue
			default:
			}
			if wait == nil {
				if n, known := s.last[group][r.cap]; !known || n > 0 && n <= c {
					wait = r
				}
			}
		}
		if wait == nil {
			r := &sharedRun{cap: c, done: make(chan struct{})}
			s.runs[key] = append(s.runs[key], r)
			s.mu.Unlock()
			r.o, r.err = s.Evaluator.Eval(ctx, t)
			s.mu.Lock()
			if s.last[group] == nil {
				s.last[group] = map[int]int{}
			}
			s.last[group][c] = 0
			if r.err == nil {
				s.last[group][c] = r.o.BatchCapFreeFrom
			}
			close(r.done)
			s.mu.Unlock()
			return r.o, r.err
		}
		s.mu.Unlock()
		select {
		case <-wait.done:
		case <-ctx.Done():
			return Outcome{}, ctx.Err()
		}
	}
}
