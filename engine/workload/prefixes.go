package workload

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// streamPrefixes is the RNG stream of shared-prefix draws, so turning them on
// changes no arrival and no length.
const streamPrefixes = 0x70726566 // "pref"

// SyntheticBlockTokens is the hash_ids block size of generated workloads
// with shared prefixes (fine enough that a system prompt's blocks are shared
// up to its last 63 tokens, coarse enough to keep the ids small).
const SyntheticBlockTokens = 64

// Bounds of the shared-prefix settings.
const (
	MaxSystemPrompts = 1 << 20
	MaxSessionTurns  = 1 << 16
)

// Prefixes makes a synthetic workload's prompts share prefixes, with
// hash_ids (SyntheticBlockTokens per id) that say so:
//   - SystemPromptTokens > 0: a fraction SystemPromptShare of the sessions
//     (every request when there are no sessions) start with one of
//     NumSystemPrompts system prompts (drawn uniformly) of that many tokens,
//     before the generated prompt;
//   - SessionTurns > 1: consecutive requests form sessions of that many
//     turns; turn k+1's prompt is turn k's prompt and output (the history)
//     followed by its own generated prompt, and it is closed-loop: it
//     arrives its generated gap after turn k completes (not before its
//     generated arrival).
//
// A prompt that grows past max_tokens - output is clipped (its prefix kept);
// an output of max_tokens or more is rejected_too_long, as trace replay does.
// The zero value changes nothing.
type Prefixes struct {
	SystemPromptTokens int     `json:"system_prompt_tokens"`
	SystemPromptShare  float64 `json:"system_prompt_share"` // in [0, 1]; the fraction with a system prompt
	NumSystemPrompts   int     `json:"num_system_prompts"`  // 0: 1
	SessionTurns       int     `json:"session_turns"`       // 0 or 1: single-turn requests
}

func (p Prefixes) on() bool { return p.SystemPromptTokens > 0 || p.SessionTurns > 1 }

// Validate checks the settings.
func (p Prefixes) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if p.SystemPromptTokens < 0 || p.SystemPromptTokens > MaxRequestTokens {
		bad("system_prompt_tokens: must be in [0, %d], got %d", MaxRequestTokens, p.SystemPromptTokens)
	}
	if !(p.SystemPromptShare >= 0 && p.SystemPromptShare <= 1) {
		bad("system_prompt_share: must be in [0, 1], got %v", p.SystemPromptShare)
	}
	if p.NumSystemPrompts < 0 || p.NumSystemPrompts > MaxSystemPrompts {
		bad("num_system_prompts: must be in [0, %d] (0: 1), got %d", MaxSystemPrompts, p.NumSystemPrompts)
	}
	if p.SessionTurns < 0 || p.SessionTurns > MaxSessionTurns {
		bad("session_turns: must be in [0, %d] (0 or 1: single-turn), got %d", MaxSessionTurns, p.SessionTurns)
	}
	return errors.Join(errs...)
}

// applyPrefixes rewrites a generated workload's prompts and adds hash_ids.
func applyPrefixes(w *Workload, p Prefixes, seed uint64, maxTokens int) error {
	if !p.on() {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, streamPrefixes))
	turns := max(1, p.SessionTurns)
	nsys := max(1, p.NumSystemPrompts)
	const B = SyntheticBlockTokens
	var ids []int64
	off := make([]int32, 1, len(w.Requests)+1)
	next := int64(1)          // unique block ids
	const sysBase = 1 << 40   // system prompt blocks: sysBase + sys<<20 + block
	var clipped, rejected int // requests changed by max_tokens
	shared := false
	sys := 0
	for i := range w.Requests {
		r := &w.Requests[i]
		turn := i % turns
		var start int // ids of the history reused from the previous turn
		if turn == 0 {
			shared = p.SystemPromptTokens > 0 && rng.Float64() < p.SystemPromptShare
			sys = rng.IntN(nsys)
			if shared {
				r.Prefill += p.SystemPromptTokens
			}
		} else {
			prev := &w.Requests[i-1]
			r.Prefill += prev.Prefill + prev.Decode
			r.ClosedLoop, r.Parent, r.DelayNs = true, i, r.ArrivalNs-prev.ArrivalNs
			start = prev.Prefill / B // the previous prompt's full blocks
			ids = append(ids, ids[off[i-1]:int(off[i-1])+start]...)
		}
		if turns > 1 {
			r.Session, r.Turn = i/turns+1, turn+1
			if turn == 0 {
				w.Sessions = append(w.Sessions, fmt.Sprintf("s%d", i/turns+1))
			}
		}
		if maxTokens > 0 && r.Prefill+r.Decode > maxTokens {
			if r.Decode >= maxTokens {
				r.Rejected = RejectedTooLong
				rejected++
			} else {
				r.Prefill = maxTokens - r.Decode
				clipped++
			}
		}
		nb := (r.Prefill + B - 1) / B
		if start > nb { // clipped below its history
			ids = ids[:int(off[i])+nb]
			start = nb
		}
		for j := start; j < nb; j++ {
			if turn == 0 && shared && (j+1)*B <= p.SystemPromptTokens {
				ids = append(ids, sysBase+int64(sys)<<20+int64(j))
			} else {
				ids = append(ids, next)
				next++
			}
		}
		if len(ids) > math.MaxInt32 {
			return &LimitError{Msg: fmt.Sprintf("the shared-prefix workload needs more than %d hash ids (after %d requests); use fewer requests or shorter prompts", math.MaxInt32, i+1)}
		}
		off = append(off, int32(len(ids)))
	}
	w.hashOff, w.hashIDs, w.BlockTokens = off, ids, B
	note := "prompts share prefixes (hash_ids of " + fmt.Sprint(B) + " tokens)"
	if p.SystemPromptTokens > 0 {
		note += fmt.Sprintf(": %.0f%% of the sessions start with one of %d system prompts of %d tokens", 100*p.SystemPromptShare, nsys, p.SystemPromptTokens)
	}
	if turns > 1 {
		note += fmt.Sprintf("; sessions of %d turns, each turn's prompt is the previous turn's prompt and output followed by its own, arriving its gap after the previous turn completes", turns)
	}
	w.Notes = append(w.Notes, note)
	if clipped > 0 {
		w.Notes = append(w.Notes, fmt.Sprintf("%d of %d requests had their prompt (with its shared prefix or history) clipped so that prompt+output <= max_tokens %d", clipped, len(w.Requests), maxTokens))
	}
	if rejected > 0 {
		w.Notes = append(w.Notes, fmt.Sprintf("%d of %d requests have output length >= max_tokens %d and are marked %s", rejected, len(w.Requests), maxTokens, RejectedTooLong))
	}
	return nil
}
