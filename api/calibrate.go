package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"testing/fstest"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/internal/calibrate"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/profiles"
)

// CalibrateRequest is POST /api/calibrate's body: the embedded base set,
// the runs' configuration and the real runs, each with its files
// (request_metrics.csv + token_metrics.csv [+ step_log.csv], an AIPerf
// profile_export.jsonl or a vllm bench serve *.json) and its split.
type CalibrateRequest struct {
	Base   string          `json:"base"`
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config"`
	Runs   []CalibrateRun  `json:"runs"`
}

// CalibrateRun is one real run of a calibration request.
type CalibrateRun struct {
	Name  string `json:"name"`
	Split string `json:"split"` // fit | heldout
	Files []File `json:"files"`
}

// CalibrateResult is POST /api/calibrate's answer: the fit, every run's
// score with the new set, and the new set's files.
type CalibrateResult struct {
	APIVersion string            `json:"api_version"`
	Fit        calibrate.Fit     `json:"fit"`
	Scores     []calibrate.Score `json:"scores"`
	Files      map[string]string `json:"files"`
}

func (h *handler) calibrate(w http.ResponseWriter, r *http.Request) {
	lim := h.opt.Limits
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxBodyBytes)
	var req CalibrateRequest
	if err := decodeBody(r, &req, "a JSON body {base, config, runs}", "a JSON body {base, name, config, runs: [{name, split, files}]}"); err != nil {
		writeError(w, err)
		return
	}
	if req.Base == "" {
		req.Base = engine.DefaultProfile
	}
	// Only embedded sets over HTTP: a path would read the server's disk.
	open := profiles.Embedded().Open
	if h.openBase != nil {
		open = h.openBase
	}
	set, err := open(req.Base)
	if err != nil {
		writeError(w, &engine.ConfigError{Err: fmt.Errorf("base: %w", err)})
		return
	}
	cfg, _ := runner.Config("")
	cfg.Predictor.Profile = req.Base
	cfg.Replica.Device, cfg.Replica.NetworkDevice = set.Meta.Device, set.Meta.NetworkDevice
	cfg.Predictor.TimingModel = engine.TimingEngine
	if len(req.Config) > 0 && string(req.Config) != "null" {
		if err := engine.DecodeConfigJSON(req.Config, &cfg); err != nil {
			writeError(w, jsonError("config", err, "a configuration object (keys as in run_meta.json's config)"))
			return
		}
	}
	if err := cfg.Validate(); err != nil {
		writeError(w, &engine.ConfigError{Err: err})
		return
	}
	if len(req.Runs) == 0 {
		writeError(w, &engine.ConfigError{Err: errors.New("runs: expected at least one run marked \"fit\"")})
		return
	}
	var runs []calibrate.Run
	total := 0
	for i, rr := range req.Runs {
		if rr.Split != calibrate.SplitFit && rr.Split != calibrate.SplitHeldOut {
			writeError(w, &engine.ConfigError{Err: fmt.Errorf("runs[%d].split: expected %q or %q, got %q", i, calibrate.SplitFit, calibrate.SplitHeldOut, clip(rr.Split))})
			return
		}
		fsys := fstest.MapFS{}
		for _, f := range rr.Files {
			if f.Name == "" || path.Base(f.Name) != f.Name || f.Name == "." || f.Name == ".." {
				writeError(w, &engine.ConfigError{Err: fmt.Errorf("runs[%d].files: %q: expected a plain file name", i, clip(f.Name))})
				return
			}
			fsys[f.Name] = &fstest.MapFile{Data: []byte(f.Content)}
		}
		name := rr.Name
		if name == "" {
			name = fmt.Sprintf("run %d", i+1)
		}
		run, err := calibrate.LoadRun(fsys, name, rr.Split, cfg)
		if err != nil {
			writeError(w, &runInputError{err})
			return
		}
		total += len(run.Workload.Requests)
		runs = append(runs, run)
	}
	// A request-level fit simulates each fit run ~100 times.
	if lim.MaxRequests > 0 && total > lim.MaxRequests {
		writeError(w, &limitError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf("the runs hold %d requests, over this server's limit of %d", total, lim.MaxRequests)})
		return
	}
	release, err := h.acquire(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), lim.Timeout)
	defer cancel()
	out, err := calibrate.Calibrate(ctx, set, profiles.Embedded().Network(), runs, calibrate.Options{Name: req.Name})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = &limitError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("the calibration ran past the %v wall-clock budget", lim.Timeout)}
		}
		writeError(w, err)
		return
	}
	res := CalibrateResult{APIVersion: Version, Fit: out.Fit, Scores: out.Scores, Files: map[string]string{}}
	names := make([]string, 0, len(out.Files))
	for n := range out.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		res.Files[n] = string(out.Files[n])
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, res)
}

// runInputError is a problem in an uploaded run's files (a csvin.Error
// inside keeps its position for the problem document).
type runInputError struct{ err error }

func (e *runInputError) Error() string { return e.err.Error() }
func (e *runInputError) Unwrap() error { return e.err }
