package workload

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Independent RNG streams, so extra draws in one subsystem never shift
// another (same seed, same arrivals whatever the length process draws).
const (
	streamArrivals = 0x61727269 // "arri"
	streamLengths  = 0x6c656e67 // "leng"
	streamShuffle  = 0x73687566 // "shuf"
)

// Intervals is the synthetic inter-arrival process (Vidur §2.2).
type Intervals struct {
	Type string  `json:"type"` // poisson | gamma | static
	QPS  float64 `json:"qps"`  // mean arrival rate (poisson, gamma)
	CV   float64 `json:"cv"`   // coefficient of variation (gamma)
	// TruncatePoisson reproduces Vidur's [quirk] of capping each Poisson
	// gap at 3/qps. Off by default: gaps are truly exponential.
	TruncatePoisson bool `json:"truncate_poisson"`
}

// Lengths is the synthetic length process (Vidur §2.3).
type Lengths struct {
	Type            string  `json:"type"`                    // fixed | uniform | zipf
	PrefillTokens   int     `json:"prefill_tokens"`          // fixed
	DecodeTokens    int     `json:"decode_tokens"`           // fixed
	MinTokens       int     `json:"min_tokens"`              // uniform, zipf
	MaxTokens       int     `json:"max_tokens"`              // uniform, zipf: upper bound of the total
	PrefillToDecode float64 `json:"prefill_to_decode_ratio"` // uniform, zipf
	Theta           float64 `json:"theta"`                   // zipf
}

// Synthetic configures generated workloads. With files that carry lengths
// but no arrivals, only Intervals, NumRequests, DurationS and Seed are used.
type Synthetic struct {
	Seed        uint64    `json:"seed"`
	NumRequests int       `json:"num_requests"` // 0: every row of a length trace; DefaultNumRequests when synthetic
	DurationS   float64   `json:"duration_s"`   // > 0: generate until this time instead of a count
	Intervals   Intervals `json:"intervals"`
	Lengths     Lengths   `json:"lengths"`
	// Prefixes, when set, makes prompts share prefixes (prefixes.go).
	Prefixes Prefixes `json:"prefixes"`
}

// DefaultNumRequests is Vidur's default count of synthetic requests.
const DefaultNumRequests = 128

// DefaultSynthetic is Vidur's default synthetic generator: Poisson arrivals
// at 0.5 QPS, fixed lengths 2048 + 512, seed 42, and (NumRequests 0)
// DefaultNumRequests requests when nothing else gives the count.
func DefaultSynthetic() Synthetic {
	return Synthetic{
		Seed:      42,
		Intervals: Intervals{Type: "poisson", QPS: 0.5, CV: 0.5},
		Lengths: Lengths{Type: "fixed", PrefillTokens: 2048, DecodeTokens: 512, MinTokens: 1024, MaxTokens: 4096,
			PrefillToDecode: 20, Theta: 0.6},
	}
}

// Validate checks the generator settings.
func (s Synthetic) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if s.NumRequests < 0 || s.NumRequests > MaxRequests {
		bad("num_requests: must be in [0, %d], got %d", MaxRequests, s.NumRequests)
	}
	if !(s.DurationS >= 0 && s.DurationS <= MaxTimeS) {
		bad("duration_s: must be a finite number in [0, %g], got %v", MaxTimeS, s.DurationS)
	}
	switch s.Intervals.Type {
	case "poisson", "gamma":
		if !(s.Intervals.QPS > 0) || math.IsInf(s.Intervals.QPS, 0) {
			bad("intervals.qps: must be > 0, got %v", s.Intervals.QPS)
		}
		if s.Intervals.Type == "gamma" && !(s.Intervals.CV >= MinCV && s.Intervals.CV <= MaxCV) {
			bad("intervals.cv: must be in [%g, %g], got %v", MinCV, MaxCV, s.Intervals.CV)
		}
	case "static":
		if s.DurationS > 0 {
			bad("intervals.type static puts every request at t=0, so duration_s can never be reached; give num_requests instead")
		}
	default:
		bad("intervals.type: unknown %q (valid: poisson, gamma, static)", s.Intervals.Type)
	}
	l := s.Lengths
	switch l.Type {
	case "fixed":
		if l.PrefillTokens < 1 || l.DecodeTokens < 1 || l.PrefillTokens > MaxRequestTokens || l.DecodeTokens > MaxRequestTokens {
			bad("lengths: fixed prefill_tokens and decode_tokens must be in [1, %d], got %d and %d", MaxRequestTokens, l.PrefillTokens, l.DecodeTokens)
		}
	case "uniform", "zipf":
		if l.MinTokens < 2 || l.MaxTokens < l.MinTokens || l.MaxTokens > MaxRequestTokens {
			bad("lengths: need 2 <= min_tokens <= max_tokens <= %d, got %d and %d", MaxRequestTokens, l.MinTokens, l.MaxTokens)
		}
		if !(l.PrefillToDecode > 0) || math.IsInf(l.PrefillToDecode, 0) {
			bad("lengths.prefill_to_decode_ratio: must be > 0, got %v", l.PrefillToDecode)
		}
		if l.Type == "zipf" && (!(l.Theta > 0) || l.Theta == 1 || math.IsInf(l.Theta, 0)) {
			bad("lengths.theta: must be > 0 and != 1, got %v", l.Theta)
		}
	default:
		bad("lengths.type: unknown %q (valid: fixed, uniform, zipf)", l.Type)
	}
	if err := s.Prefixes.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("prefixes: %w", err))
	}
	return errors.Join(errs...)
}

// Bounds on what a workload may say, so that every sum of token counts and
// times stays far inside int64 and an absurd setting ends in an error
// naming it instead of an overflow.
const (
	MaxRequestTokens = 1<<31 - 1 // prompt or output tokens of one request
	MaxTimeS         = 1e9       // seconds: arrivals, durations, time limits (~31.7 years)
	MaxTimeNs        = int64(MaxTimeS * 1e9)
	MinCV, MaxCV     = 0.01, 100.0 // gamma arrivals' coefficient of variation
)

// Limits bound what loading or generating a workload may produce. They are
// checked as the workload grows, so a limit ends the work it bounds.
type Limits struct {
	MaxRequests int   // requests in the workload; 0 means MaxRequests
	MaxTokens   int64 // prompt+output tokens over all requests; 0 means no limit
}

// LimitError is work past a configured limit (a server's, say): the input is
// fine but too big to run here.
type LimitError struct{ Msg string }

func (e *LimitError) Error() string { return e.Msg }

func (l Limits) maxRequests() int {
	if l.MaxRequests <= 0 || l.MaxRequests > MaxRequests {
		return MaxRequests
	}
	return l.MaxRequests
}

// SatAdd adds two non-negative int64s, saturating at math.MaxInt64.
func SatAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Tokens sums the prompt and output tokens of every request, saturating.
func (w *Workload) Tokens() int64 {
	var t int64
	for _, r := range w.Requests {
		t = SatAdd(t, SatAdd(int64(r.Prefill), int64(r.Decode)))
	}
	return t
}

// Check returns a *LimitError if w is past lim.
func (lim Limits) Check(w *Workload) error {
	if n := len(w.Requests); n > lim.maxRequests() {
		return &LimitError{Msg: fmt.Sprintf("%d requests is over the limit of %d", n, lim.maxRequests())}
	}
	if t := w.Tokens(); lim.MaxTokens > 0 && t > lim.MaxTokens {
		return &LimitError{Msg: fmt.Sprintf("%d simulated tokens is over the limit of %d", t, lim.MaxTokens)}
	}
	return nil
}

// Generate builds a fully synthetic workload.
func Generate(opt Options) (*Workload, error) {
	return GenerateContext(context.Background(), opt)
}

// GenerateContext is Generate, stopping with ctx's error when ctx ends and
// with a *LimitError as soon as opt.Limits are crossed.
func GenerateContext(ctx context.Context, opt Options) (*Workload, error) {
	s := opt.Synthetic
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.NumRequests == 0 && s.DurationS == 0 {
		s.NumRequests = DefaultNumRequests
	}
	rng := rand.New(rand.NewPCG(s.Seed, streamLengths))
	var lengths func() (int, int, error)
	l := s.Lengths
	switch l.Type {
	case "fixed":
		lengths = func() (int, int, error) { return l.PrefillTokens, l.DecodeTokens, nil }
	case "uniform":
		lengths = func() (int, int, error) {
			t := float64(l.MinTokens) + rng.Float64()*float64(l.MaxTokens-l.MinTokens)
			d := math.Ceil(t / (1 + l.PrefillToDecode))
			return splitTotal(t, d)
		}
	case "zipf":
		z, err := newZipf(ctx, l.MinTokens, l.MaxTokens, l.Theta)
		if err != nil {
			return nil, err
		}
		lengths = func() (int, int, error) {
			t := float64(z.next(rng))
			d := t / (1 + l.PrefillToDecode)
			return splitTotal(t, d)
		}
	}
	w, err := generate(ctx, s, s.NumRequests, lengths, opt.Limits)
	if err != nil {
		return nil, err
	}
	w.Format = FormatSynthetic
	if err := applyPrefixes(w, s.Prefixes, s.Seed, opt.MaxTokens); err != nil {
		return nil, err
	}
	if s.Prefixes.on() {
		if err := opt.Limits.Check(w); err != nil { // the prompts grew
			return nil, err
		}
	}
	return w, nil
}

func splitTotal(t, d float64) (int, int, error) {
	p, dd := int(t-d), int(d)
	if p < 1 || dd < 1 {
		return 0, 0, fmt.Errorf("workload: generated lengths P=%d D=%d; raise min_tokens or change prefill_to_decode_ratio", p, dd)
	}
	return p, dd, nil
}

// generate draws arrivals (interval first, then lengths, as Vidur does) until
// n requests or the duration is reached, checking lim and ctx as it goes.
func generate(ctx context.Context, s Synthetic, n int, lengths func() (int, int, error), lim Limits) (*Workload, error) {
	rng := rand.New(rand.NewPCG(s.Seed, streamArrivals))
	iv := s.Intervals
	var shape, scale float64
	if iv.Type == "gamma" {
		shape = 1 / (iv.CV * iv.CV)
		scale = 1 / (iv.QPS * shape)
	}
	nextGap := func() float64 {
		switch iv.Type {
		case "poisson":
			g := -math.Log(1-rng.Float64()) / iv.QPS
			if iv.TruncatePoisson {
				g = math.Min(g, 3/iv.QPS)
			}
			return g
		case "gamma":
			return gammaDraw(rng, shape) * scale
		}
		return 0
	}
	durNs := int64(math.Round(s.DurationS * 1e9))
	maxReq := lim.maxRequests()
	w := &Workload{}
	var t, tokens int64
	for i := 0; ; i++ {
		if s.DurationS > 0 {
			if t >= durNs {
				break
			}
		} else if i >= n {
			break
		}
		if i&1023 == 1023 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Checked in float: a gap of 1/qps for qps 1e-300 is not an int64.
		g := nextGap() * 1e9
		if !(g >= 0 && float64(t)+g <= float64(MaxTimeNs)) {
			return nil, fmt.Errorf("workload: request %d would arrive after %g s, past the %g s limit on simulated time (raise qps, or lower num_requests)", i, (float64(t)+g)/1e9, MaxTimeS)
		}
		t += int64(math.Round(g))
		p, d, err := lengths()
		if err != nil {
			return nil, err
		}
		if s.DurationS > 0 && t >= durNs {
			break
		}
		if i >= maxReq {
			return nil, &LimitError{Msg: fmt.Sprintf("the workload has more than %d requests (the limit); lower qps, duration_s or num_requests", maxReq)}
		}
		if tokens = SatAdd(tokens, int64(p)+int64(d)); lim.MaxTokens > 0 && tokens > lim.MaxTokens {
			return nil, &LimitError{Msg: fmt.Sprintf("the workload has more than %d simulated tokens (the limit) after %d requests", lim.MaxTokens, i+1)}
		}
		w.Requests = append(w.Requests, Request{ID: i, ArrivalNs: t, Prefill: p, Decode: d})
	}
	if len(w.Requests) == 0 {
		return nil, fmt.Errorf("workload: no request arrived within duration_s %v", s.DurationS)
	}
	return w, nil
}

// gammaDraw samples Gamma(shape, 1) by Marsaglia and Tsang's method.
func gammaDraw(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := rng.Float64()
		return gammaDraw(rng, 1+shape) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// zipf is the YCSB-style generator Vidur uses (§2.3), including its
// [quirk] of summing zeta only to n-1 (kept: it defines the distribution).
type zipf struct {
	min, items               int
	theta, zetan, alpha, eta float64
}

// newZipf sums zeta over every length in [min, max]: O(max-min), so it
// stops when ctx ends.
func newZipf(ctx context.Context, min, max int, theta float64) (*zipf, error) {
	items := max - min + 1
	zeta := func(n int) (float64, error) {
		s := 0.0
		for i := 1; i < n; i++ {
			if i&(1<<20-1) == 0 && ctx.Err() != nil {
				return 0, ctx.Err()
			}
			s += math.Pow(float64(i), -theta)
		}
		return s, nil
	}
	z2, _ := zeta(2)
	zn, err := zeta(items)
	if err != nil {
		return nil, err
	}
	return &zipf{min: min, items: items, theta: theta, zetan: zn, alpha: 1 / (1 - theta),
		eta: (1 - math.Pow(2/float64(items), 1-theta)) / (1 - z2/(zn+1e-8))}, nil
}

func (z *zipf) next(rng *rand.Rand) int {
	u := rng.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return z.min
	}
	if uz < 1+math.Pow(0.5, z.theta) {
		return z.min + 1
	}
	return z.min + int(float64(z.items)*math.Pow(z.eta*u-z.eta+1, z.alpha))
}

// describe names the arrival process in words, for notes.
func (iv Intervals) describe() string {
	switch iv.Type {
	case "poisson":
		return fmt.Sprintf("Poisson at %v QPS", iv.QPS)
	case "gamma":
		return fmt.Sprintf("gamma at %v QPS with CV %v", iv.QPS, iv.CV)
	}
	return "static (every request at t=0)"
}
