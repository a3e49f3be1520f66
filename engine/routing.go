package engine

import "math"

// --- Routing: load-aware global schedulers ------------------------------------
//
// Besides Vidur's round_robin, random and lor (fewest waiting requests), the
// router (cluster.global_scheduler) can run:
//   - least_loaded: the replica with the fewest queued tokens, where a
//     replica's queued tokens are, over the requests routed to it and not
//     finished, the prompt tokens still to prefill plus the output tokens
//     still to generate (a preempted request's re-prefill counts again);
//   - power_of_two: two distinct replicas drawn from the run's seeded
//     router stream, the one with fewer queued tokens (the first drawn on a
//     tie);
//   - prefix_affinity: the replica whose prefix cache holds the longest
//     prefix of the request's blocks, among the replicas whose queued tokens
//     are at most the least loaded's plus cluster.prefix_affinity_load_cap
//     tokens (the load cap); ties and no hit at all go to the least loaded
//     of those. It needs scheduler.enable_prefix_caching.
//
// Requests queued at the same instant are routed one after another, in
// arrival order, each seeing the load the previous ones added. Ties go to
// the lowest replica index. Every choice is deterministic for a seed.

// DefaultPrefixAffinityLoadCap is prefix_affinity's load cap in queued
// tokens when none is given.
const DefaultPrefixAffinityLoadCap = 16384

// work is what r still adds to its replica's queued tokens.
func (r *request) work() int64 {
	if r.done {
		return 0
	}
	w := int64(r.decode - r.generated)
	if !r.prefillDone {
		w += int64(r.target - r.processed)
	}
	return w
}

// route picks r's replica under a load-aware global scheduler.
func (s *sim) route(r *request) int {
	switch s.cfg.Cluster.GlobalScheduler {
	case "power_of_two":
		n := s.nRoute
		if n == 1 {
			return 0
		}
		a := s.rng.IntN(n)
		b := s.rng.IntN(n - 1)
		if b >= a {
			b++
		}
		if s.replicas[b].load < s.replicas[a].load {
			return b
		}
		return a
	case "prefix_affinity":
		least := s.leastLoaded()
		capTokens := int64(s.cfg.Cluster.PrefixAffinityLoadCap)
		if capTokens == 0 {
			capTokens = DefaultPrefixAffinityLoadCap
		}
		limit := s.replicas[least].load + capTokens
		best, bestHit := least, 0
		for k, rp := range s.replicas[:s.nRoute] {
			if rp.load > limit {
				continue
			}
			if h := rp.cachedPrefix(r); h > bestHit || h == bestHit && h > 0 && rp.load < s.replicas[best].load {
				best, bestHit = k, h
			}
		}
		return best
	}
	return s.leastLoaded()
}

func (s *sim) leastLoaded() int {
	k, low := 0, int64(math.MaxInt64)
	for i, rp := range s.replicas[:s.nRoute] {
		if rp.load < low {
			k, low = i, rp.load
		}
	}
	return k
}

// cachedPrefix counts the leading blocks of r that rp's prefix cache holds.
func (rp *replica) cachedPrefix(r *request) int {
	if rp.pc == nil {
		return 0
	}
	n := 0
	for n < len(r.keys) {
		if _, ok := rp.pc.index[r.keys[n]]; !ok {
			break
		}
		n++
	}
	return n
}

// LoadAwareRouting reports whether the global scheduler routes by queued
// tokens (least_loaded, power_of_two, prefix_affinity).
func LoadAwareRouting(gs string) bool {
	return gs == "least_loaded" || gs == "power_of_two" || gs == "prefix_affinity"
}
