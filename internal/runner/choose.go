package runner

import (
	"fmt"
	"strings"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/roofline"
	"github.com/servesim/servesim/profiles"
)

// Profile names with a meaning of their own (predictor.profile).
const (
	// ProfileEstimate is the roofline estimate for the replica's model and
	// device (engine/roofline), even where a measured set exists.
	ProfileEstimate = "estimate"
	// ProfileAuto is the embedded set made for the replica's model and
	// device where one exists (measured before synthesized), else the
	// estimate.
	ProfileAuto = "auto"
)

// ChosenProfile reports whether a predictor.profile value asks for a set to
// be chosen or generated (ProfileEstimate, ProfileAuto) rather than opened.
func ChosenProfile(name string) bool { return name == ProfileEstimate || name == ProfileAuto }

// ChooseProfile returns the profile set a run of cfg uses and, when it was
// chosen rather than named, a note saying which and why. named says that
// the caller named predictor.profile (a flag, a config key): a named set is
// opened as it is. Otherwise a model or device other than the default
// set's picks as ProfileAuto does. cfg is updated to what was chosen
// (predictor.profile; the estimate's network node when the node was the
// default), so that run_meta.json's config reproduces the run.
func (c *Cache) ChooseProfile(cfg *engine.Config, named bool) (*predict.Set, string, error) {
	set, note, err := c.chooseProfile(cfg, named)
	if err != nil || note == "" {
		return set, note, err
	}
	cp := *set // a cached set is shared: the note goes on a copy
	cp.Meta.Choice = note
	return &cp, note, nil
}

// choosesProfile reports whether a run of cfg chooses its set as
// ProfileAuto does: asked to, or not named (see ChooseProfile) while
// predictor.profile is the default set's and the model, device or a dtype
// is not.
func choosesProfile(cfg *engine.Config, named bool) bool {
	name := cfg.Predictor.Profile
	def := engine.DefaultConfig()
	return name == ProfileAuto || !named && name == def.Predictor.Profile &&
		(cfg.Replica.Model != def.Replica.Model || cfg.Replica.Device != def.Replica.Device || cfg.Replica.ModelSpec != nil || cfg.Replica.GPU != nil ||
			engine.Dtype(cfg.Replica.WeightDtype) != engine.DtypeBF16 || engine.Dtype(cfg.Replica.KVCacheDtype) != engine.DtypeBF16)
}

// NameChoice writes into cfg a profile choice that ChooseProfile would
// make without it being named: predictor.profile ProfileAuto where the
// set is chosen for the model and device (see choosesProfile); else cfg
// is unchanged. A configuration sent whole to another servesim (a search's
// trials, POST /api/simulate with every key, predictor.profile included)
// names its profile there: with the choice written in, each trial chooses
// as it would in process (the set, or an estimate sized for the trial's
// own batch cap).
func NameChoice(cfg *engine.Config, named bool) {
	if choosesProfile(cfg, named) {
		cfg.Predictor.Profile = ProfileAuto
	}
}

func (c *Cache) chooseProfile(cfg *engine.Config, named bool) (*predict.Set, string, error) {
	name := cfg.Predictor.Profile
	auto := choosesProfile(cfg, named)
	switch {
	case name == ProfileEstimate:
		set, err := c.estimate(cfg)
		return set, "", err
	case auto:
		if cfg.Replica.ModelSpec == nil && cfg.Replica.GPU == nil {
			if set, err := c.pairSet(cfg); err != nil || set != nil {
				if set != nil {
					cfg.Predictor.Profile = set.Meta.Name
					return set, fmt.Sprintf("profile set %s (%s) chosen for %s on %s: the embedded set for that pair (predictor.profile %q names it; %q estimates instead)",
						set.Meta.Name, upper(set.Meta.Kind), cfg.Replica.Model, cfg.Replica.Device, set.Meta.Name, ProfileEstimate), nil
				}
				return nil, "", err
			}
		}
		set, err := c.estimate(cfg)
		if err != nil {
			return nil, "", err
		}
		return set, fmt.Sprintf("no measured profile set for %s on %s%s: ESTIMATED by the roofline predictor (engine/roofline; validated error in the profile's summary), not measured",
			cfg.Replica.Model, cfg.Replica.Device, dtypeNote(cfg)), nil
	}
	if c != nil {
		set, err := c.ProfileSet(name)
		if err != nil {
			return nil, "", &engine.ConfigError{Err: err}
		}
		return set, "", nil
	}
	set, err := OpenProfile(*cfg)
	return set, "", err
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// dtypeNote names the run's dtypes other than bf16 (" at fp8 weights and
// activations, fp8 KV cache"), "" for bf16.
func dtypeNote(cfg *engine.Config) string {
	var w []string
	if engine.Dtype(cfg.Replica.WeightDtype) != engine.DtypeBF16 {
		w = append(w, cfg.Replica.WeightDtype+" weights and activations")
	}
	if engine.Dtype(cfg.Replica.KVCacheDtype) != engine.DtypeBF16 {
		w = append(w, cfg.Replica.KVCacheDtype+" KV cache")
	}
	if len(w) == 0 {
		return ""
	}
	return " at " + strings.Join(w, ", ")
}

// pairSet is the embedded set made for cfg's model on its device at its
// dtypes: one of a serving engine's own steps (engine.json) before one
// without (an eager loop's ops), then measured before synthesized, then by
// name; nil if none.
func (c *Cache) pairSet(cfg *engine.Config) (*predict.Set, error) {
	modelName, device := cfg.Replica.Model, cfg.Replica.Device
	var best *predict.Set
	for _, n := range profiles.Embedded().Names() {
		set, err := c.ProfileSet(n)
		if err != nil {
			return nil, &engine.ConfigError{Err: err}
		}
		if set.Meta.Model != modelName || set.Meta.Device != device ||
			engine.Dtype(set.Meta.WeightDtype) != engine.Dtype(cfg.Replica.WeightDtype) || engine.Dtype(set.Meta.KVCacheDtype) != engine.Dtype(cfg.Replica.KVCacheDtype) {
			continue
		}
		if best == nil || pairRank(set) > pairRank(best) {
			best = set
		}
	}
	return best, nil
}

// pairRank orders the sets made for one pair: a production engine's steps
// (engine.json) over an eager loop's ops, then measured over synthesized.
func pairRank(s *predict.Set) int {
	r := 0
	if s.Engine != nil {
		r += 2
	}
	if s.Meta.Kind == "measured" {
		r++
	}
	return r
}

// estimate is Estimate, generated once per model, GPU, grid and node when
// c is not nil (a server's, a search's trials).
func (c *Cache) estimate(cfg *engine.Config) (*predict.Set, error) {
	if c == nil {
		return Estimate(cfg)
	}
	m, _ := cfg.ModelShape()
	g, _ := cfg.GPUSpec()
	key := fmt.Sprintf("%+v|%+v|%d|%d|%s|%s|%s", m, g, cfg.Workload.MaxTokens, cfg.Scheduler.BatchSizeCap, cfg.Replica.NetworkDevice,
		engine.Dtype(cfg.Replica.WeightDtype), engine.Dtype(cfg.Replica.KVCacheDtype))
	c.mu.Lock()
	set, ok := c.estimates[key]
	c.mu.Unlock()
	if !ok {
		var err error
		if set, err = generate(cfg); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.estimates == nil || len(c.estimates) >= 64 {
			c.estimates = map[string]*predict.Set{}
		}
		c.estimates[key] = set
		c.mu.Unlock()
	}
	pointAt(cfg, set)
	return set, nil
}

// Estimate generates the roofline estimate for cfg's model and device
// (sized for its max_tokens and batch cap) and points cfg at it:
// predictor.profile "estimate" and, when the network node is the default
// configuration's, the estimate's node (its collectives priced from the
// GPU's links; another node keeps its embedded network profiles).
func Estimate(cfg *engine.Config) (*predict.Set, error) {
	set, err := generate(cfg)
	if err != nil {
		return nil, err
	}
	pointAt(cfg, set)
	return set, nil
}

func pointAt(cfg *engine.Config, set *predict.Set) {
	cfg.Predictor.Profile = ProfileEstimate
	if cfg.Replica.NetworkDevice == engine.DefaultConfig().Replica.NetworkDevice {
		cfg.Replica.NetworkDevice = set.Meta.NetworkDevice
	}
}

func generate(cfg *engine.Config) (*predict.Set, error) {
	m, err := cfg.ModelShape()
	if err != nil {
		return nil, &engine.ConfigError{Err: fmt.Errorf("replica.model_name: %w", err)}
	}
	g, err := cfg.GPUSpec()
	if err != nil {
		return nil, &engine.ConfigError{Err: fmt.Errorf("replica.device: %w", err)}
	}
	source := "a config.json given with the run (replica.model_spec)"
	if cfg.Replica.ModelSpec == nil {
		for _, e := range model.Catalog() {
			if e.Model.Name == m.Name {
				source = e.Source
			}
		}
	}
	set, err := roofline.Generate(roofline.Spec{Model: m, GPU: g, MaxTokens: cfg.Workload.MaxTokens, MaxBatch: cfg.Scheduler.BatchSizeCap,
		FP8: engine.Dtype(cfg.Replica.WeightDtype) == engine.DtypeFP8, FP8KV: engine.Dtype(cfg.Replica.KVCacheDtype) == engine.DtypeFP8}, source)
	if err != nil {
		return nil, &engine.ConfigError{Err: err}
	}
	if nd := cfg.Replica.NetworkDevice; nd != engine.DefaultConfig().Replica.NetworkDevice && nd != set.Meta.NetworkDevice {
		set.Network = nil // a measured node named by the caller: the embedded network profiles
	}
	return set, nil
}
