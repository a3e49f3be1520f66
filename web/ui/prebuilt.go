package ui

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The page's default result, computed when the page was built.
//
// A cold visit's first result used to wait for the engine: V8 compiling the
// two Go wasm modules (and tiering them up on the visitor's cores), Go's
// start, the default profile's parse and the 1,000-request run. build.sh
// runs that same request natively with the same engine (web/defaultrun:
// api.NewHandler, the page's own default inputs from DefaultInputs) and
// writes the answer's result into DefaultRunFile, a run file (it reopens
// like any other when dropped on the page) that also holds the request and
// the result. With the default settings and no shared link, the page shows
// that result at once and says so; the worker starts meanwhile and Run
// recomputes it in the browser. The engine is deterministic, so the result
// is the one the browser would compute: TestPage_DefaultPrebuilt compares
// the file's result with the in-browser engine's answer byte for byte.

// DefaultRunFile is the built page's default run (dist/, next to index.html).
const DefaultRunFile = "default-run" + runFileSuffix

// PrebuiltRun is DefaultRunFile's content: a run file (its shareState: the
// inputs, reopened like any run file) with the API request those inputs
// make and the API's result for it.
type PrebuiltRun struct {
	shareState
	// Request is the body of the page's POST /api/simulate for the inputs.
	Request string `json:"request"`
	// Result is the result of the ndjson answer's result line, as the API
	// wrote it.
	Result json.RawMessage `json:"result"`
}

// DefaultInputs are the page's run inputs with the default settings (a
// fresh page's, before its catalogues have loaded): the request body the
// page sends and the inputs a run file carries.
func DefaultInputs() (body string, file PrebuiltRun, err error) {
	c := &Root{Preset: PageDefault, Cfg: map[string]string{}}
	in, err := c.inputs()
	if err != nil {
		return "", PrebuiltRun{}, err
	}
	file.shareState, file.Run, file.Request = in.state, "1", in.body
	return in.body, file, nil
}

// showPrebuilt shows the default run's prebuilt result from its file's
// text: only with the default settings (the file's request is the one the
// page would send now); an error says why not, and the page runs instead.
func (c *Root) showPrebuilt(text string) error {
	if text == "" {
		return errors.New("no prebuilt default run")
	}
	var f PrebuiltRun
	if err := json.Unmarshal([]byte(text), &f); err != nil {
		return fmt.Errorf("%s: %w", DefaultRunFile, err)
	}
	in, err := c.inputs()
	if err != nil {
		return err
	}
	if f.Request != in.body {
		return fmt.Errorf("%s is of another request (%.200s) than this page's default (%.200s)", DefaultRunFile, f.Request, in.body)
	}
	var r Result
	if err := json.Unmarshal(f.Result, &r); err != nil || r.RunID == "" {
		return fmt.Errorf("%s: no result (%v)", DefaultRunFile, err)
	}
	mark("ui prebuilt parsed")
	c.pending = in
	c.showResult(&r, true)
	return nil
}
