package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/servesim/servesim/web/ui"
)

// TestBuild: the run file holds the page's default inputs and request and
// the API's result for them, the same bytes at every build (the browser's
// engine gives them too: web/e2e's TestPage_DefaultPrebuilt).
func TestBuild(t *testing.T) {
	a, err := build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := build()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two builds of the default run differ")
	}
	var f ui.PrebuiltRun
	if err := json.Unmarshal(a, &f); err != nil {
		t.Fatal(err)
	}
	body, want, _ := ui.DefaultInputs()
	var res struct {
		RunID   string `json:"run_id"`
		Summary struct {
			Requests int `json:"requests"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(f.Result, &res); err != nil {
		t.Fatal(err)
	}
	if f.Request != body || f.Run != "1" || f.Preset != want.Preset || res.RunID == "" || res.Summary.Requests != 1000 {
		t.Errorf("run file: request %q, run %q, preset %q, result %+v", f.Request, f.Run, f.Preset, res)
	}
}
