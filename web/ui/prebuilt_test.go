package ui

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestShowPrebuilt: the default run's file is shown only for the request
// the page's default settings make; any other file is refused with why
// (the page then runs instead), and a shown one is marked prebuilt, with
// its inputs as the run on screen's (downloads, link, stale marks).
func TestShowPrebuilt(t *testing.T) {
	body, file, err := DefaultInputs()
	if err != nil {
		t.Fatal(err)
	}
	if body != `{"config":{},"preset":"`+PageDefault+`"}` || file.Run != "1" || file.Preset != PageDefault {
		t.Fatalf("default inputs: %s, %+v", body, file)
	}
	file.Result = json.RawMessage(`{"run_id":"servesim_x","summary":{"requests":1000},"config":{"scheduler.type":"sarathi"},"plots":{}}`)
	good, _ := json.Marshal(file)
	other := file
	other.Request = `{"config":{},"preset":"seed"}`
	bad, _ := json.Marshal(other)
	noResult := file
	noResult.Result = json.RawMessage(`{}`)
	empty, _ := json.Marshal(noResult)
	for _, tc := range []struct{ text, err string }{
		{"", "no prebuilt default run"},
		{"{", "unexpected end of JSON input"},
		{string(bad), "is of another request"},
		{string(empty), "no result"},
	} {
		c := &Root{Preset: PageDefault, Cfg: map[string]string{}}
		if err := c.showPrebuilt(tc.text); err == nil || !strings.Contains(err.Error(), tc.err) || c.Result != nil {
			t.Errorf("%.40q: error %v, result %v; want an error with %q and no result", tc.text, err, c.Result, tc.err)
		}
	}
	c := &Root{Preset: PageDefault, Cfg: map[string]string{}}
	if err := c.showPrebuilt(string(good)); err != nil {
		t.Fatal(err)
	}
	if !c.Prebuilt || c.Result == nil || c.Result.RunID != "servesim_x" || c.shown.body != body || c.shown.state.Preset != PageDefault {
		t.Errorf("shown: prebuilt %v, result %+v, inputs %+v", c.Prebuilt, c.Result, c.shown)
	}
	// Another setting: the page would send another request, so it runs.
	c = &Root{Preset: PageDefault, Cfg: map[string]string{"workload.qps": "3"}}
	if err := c.showPrebuilt(string(good)); err == nil || c.Result != nil {
		t.Errorf("with QPS 3: %v, result %v", err, c.Result)
	}
}
