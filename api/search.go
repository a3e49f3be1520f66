package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/internal/search"
	"github.com/servesim/servesim/internal/searchrun"
)

// Search limits' defaults (Limits.MaxSearchPoints, MaxSearchRequests,
// SearchTimeout).
const (
	DefaultMaxSearchPoints   = 64
	DefaultMaxSearchRequests = 5_000_000
	DefaultSearchTimeout     = 5 * time.Minute
)

// SearchRequest is POST /api/search's body: a workload (files or a
// preset) and base configuration as for /api/simulate, and the search.
type SearchRequest struct {
	Preset string          `json:"preset"`
	Config json.RawMessage `json:"config"`
	Files  []File          `json:"files"`
	// ModelConfig is a Hugging Face config.json as for /api/simulate: the
	// model of every trial (its shape goes in each trial's
	// replica.model_spec).
	ModelConfig json.RawMessage `json:"model_config,omitempty"`
	// ProfileFiles, if any, are a profile set of the caller's own, as for
	// /api/simulate: every trial's (sent with each pooled trial).
	ProfileFiles []File      `json:"profile_files,omitempty"`
	Search       search.Spec `json:"search"`
}

// SearchResult is POST /api/search's answer.
type SearchResult struct {
	APIVersion string `json:"api_version"`
	*search.Result
	// Files, with ?files=1: search.json, search.csv and search_curve.csv,
	// the bytes `servesim search --out` writes.
	Files []SearchFile `json:"files,omitempty"`
}

// SearchFile is one output file of a search.
type SearchFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	lim := h.opt.Limits
	maxPoints, maxReq, timeout := lim.MaxSearchPoints, lim.MaxSearchRequests, lim.SearchTimeout
	if maxPoints <= 0 {
		maxPoints = DefaultMaxSearchPoints
	}
	if maxReq <= 0 {
		maxReq = DefaultMaxSearchRequests
	}
	if timeout <= 0 {
		timeout = DefaultSearchTimeout
	}
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxBodyBytes)
	var req SearchRequest
	if err := decodeBody(r, &req, "a JSON body {preset, config, files, model_config, profile_files, search}", "a JSON body {preset, config, files, model_config, profile_files, search}"); err != nil {
		writeError(w, err)
		return
	}
	cfg, err := runner.Config(req.Preset)
	if err != nil {
		writeError(w, err)
		return
	}
	named := false
	if len(req.Config) > 0 && string(req.Config) != "null" {
		if err := engine.DecodeConfigJSON(req.Config, &cfg); err != nil {
			writeError(w, jsonError("config", err, "a configuration object (keys as in run_meta.json's config)"))
			return
		}
		named = namesProfile(req.Config)
	}
	if err := applyModelConfig(&cfg, req.ModelConfig); err != nil {
		writeError(w, err)
		return
	}
	// A trial sent to the pool carries its whole configuration, which
	// names its profile there: the choice a run in process makes for a
	// model or GPU other than the default set's goes in as "auto". With
	// the caller's profile files nothing is chosen (their set is every
	// trial's): predictor.profile stays the request's, as for a simulation.
	if len(req.ProfileFiles) == 0 {
		runner.NameChoice(&cfg, named)
	}
	if err := cfg.Validate(); err != nil {
		writeError(w, &engine.ConfigError{Err: err})
		return
	}
	spec := req.Search.WithDefaults()
	spec.MaxPoints = min(spec.MaxPoints, maxPoints)
	points, err := search.Plan(spec, cfg)
	if err != nil {
		writeError(w, &engine.ConfigError{Err: err})
		return
	}
	// The work bound, before any work: the most trials times their requests.
	if n := int64(spec.MaxTrialsTotal(len(points))) * int64(spec.Requests); n > maxReq {
		target := ""
		if spec.TargetQPS > 0 {
			target = " + one at target_qps each"
		}
		writeError(w, &limitError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf(
			"the search may simulate up to %d trials of %d requests (%d points x up to %d trials%s): %d requests, over this server's limit of %d",
			spec.MaxTrialsTotal(len(points)), spec.Requests, len(points), spec.MaxTrials, target, n, maxReq)})
		return
	}
	lengthsOnly := searchrun.LengthsOnly(req.Preset, len(req.Files))
	for _, p := range points { // every trial's own limits, from its configuration
		if err := runner.Preflight(search.TrialConfig(cfg, p, spec.MaxQPS, spec.Requests, lengthsOnly), lengthsOnly, lim.runner()); err != nil {
			writeError(w, err)
			return
		}
	}
	files := make([]searchrun.File, len(req.Files))
	for i, f := range req.Files {
		files[i] = searchrun.File{Name: f.Name, Content: f.Content}
	}
	// The request count against the trace's rows, once, before any trial.
	if err := searchrun.CheckTrace(r.Context(), spec, cfg, req.Preset, files, lengthsOnly, &h.cache); err != nil {
		writeError(w, err)
		return
	}
	// The caller's own profile set, opened once here (a broken file is
	// refused before any trial): every trial's, the search's axes changing
	// neither model nor device.
	var set *predict.Set
	var profileFiles []searchrun.File
	if len(req.ProfileFiles) > 0 {
		byName := map[string][]byte{}
		for _, f := range req.ProfileFiles {
			if _, dup := byName[f.Name]; dup {
				writeError(w, &csvin.Error{File: f.Name, Want: "each profile file once", Got: "a second one"})
				return
			}
			byName[f.Name] = []byte(f.Content)
			profileFiles = append(profileFiles, searchrun.File{Name: f.Name, Content: f.Content})
		}
		if set, err = h.openUserProfile(byName, cfg); err != nil {
			writeError(w, err)
			return
		}
	}
	var eval search.Evaluator
	par := 1
	if rt, n := h.searchPool(); rt != nil {
		eval = &searchrun.Pool{Preset: req.Preset, Files: files, ProfileFiles: profileFiles, Transport: rt}
		par = max(1, n)
	} else {
		local, err := searchrun.NewLocal(req.Preset, files, set, lim.runner(), lengthsOnly)
		if err != nil {
			writeError(w, err)
			return
		}
		local.Cache = &h.cache
		eval = local
	}
	release, err := h.acquire(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := search.Run(ctx, spec, cfg, lengthsOnly, eval, par)
	if err != nil {
		var none *search.NoneError
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			err = &limitError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("the search ran past the %v wall-clock budget", timeout)}
		case errors.As(err, &none):
			problem(w, http.StatusUnprocessableEntity, "no point meets the SLO", none.Msg)
			return
		}
		writeError(w, err)
		return
	}
	out := SearchResult{APIVersion: Version, Result: res}
	if r.URL.Query().Get("files") == "1" {
		files, err := search.Files(res)
		if err != nil {
			writeError(w, err)
			return
		}
		for _, f := range files {
			out.Files = append(out.Files, SearchFile{Name: f.Name, Content: string(f.Data)})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// searchPool is the host's trial pool (nil: trials run in this process).
func (h *handler) searchPool() (http.RoundTripper, int) {
	if h.opt.SearchPool == nil {
		return nil, 0
	}
	return h.opt.SearchPool()
}
