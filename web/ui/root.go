package ui

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vugu/vugu"
	"github.com/vugu/vugu/js"

	"github.com/servesim/servesim/web/charts"
)

// Root is the whole page.
type Root struct {
	env vugu.EventEnv

	Presets  []Preset
	Profiles []Profile
	Preset   string
	Files    []File
	// ProfileFiles are a profile set of the user's own, dropped on the
	// page: sent with every request until Reset.
	ProfileFiles []File
	Detected     string
	Cfg          map[string]string

	Running        bool
	Done, Total    int
	started        time.Time
	ElapsedMs      float64
	Err            *Problem
	Notice         string
	Result         *Result
	Charts         []charts.Chart
	chartsDirty    bool
	ShowProvenance bool
}

// bridge is the page's JavaScript bridge (web/assets/app.js).
func bridge() js.Value { return js.Global().Get("servesim") }

// Init loads the catalogs and the run the URL asks for (or the default).
func (c *Root) Init(ctx vugu.InitCtx) {
	c.env = ctx.EventEnv()
	c.Cfg = map[string]string{}
	c.Preset = "seed"
	if !bridge().Truthy() {
		return // natively rendered (tests): no browser
	}
	onFiles := js.FuncOf(func(_ js.Value, args []js.Value) any {
		text := args[0].String()
		go c.update(func() { c.setFiles(text) })
		return nil
	})
	bridge().Call("setOnFiles", onFiles) // vugu's js.Value.Set cannot pass a Func; Call can
	var once js.Func
	once = js.FuncOf(func(_ js.Value, args []js.Value) any {
		once.Release()
		state := args[0].String()
		go c.update(func() {
			if strings.HasPrefix(state, "!") {
				c.Err = &Problem{Title: "could not read the shared link", Detail: state[1:]}
				return
			}
			if state != "" {
				var s shareState
				if err := json.Unmarshal([]byte(state), &s); err != nil {
					c.Err = &Problem{Title: "could not read the shared link", Detail: err.Error()}
					return
				}
				c.Preset, c.Files, c.Cfg = s.Preset, s.Files, s.Config
				if c.Cfg == nil {
					c.Cfg = map[string]string{}
				}
				if len(c.Files) > 0 {
					c.detect()
				}
			}
			c.run()
		})
		return nil
	})
	bridge().Call("initialState", once)
}

// catalogs loads presets and profiles. It runs after the first result: the
// worker has one thread, and the first run should not wait behind them.
func (c *Root) catalogs() {
	if len(c.Presets) > 0 {
		return
	}
	c.request("/api/presets", "GET", "", func(status int, body string) {
		if status == 200 {
			json.Unmarshal([]byte(body), &c.Presets)
		}
	})
	c.request("/api/profiles", "GET", "", func(status int, body string) {
		if status == 200 {
			json.Unmarshal([]byte(body), &c.Profiles)
		}
	})
}

// update changes state under the render lock and re-renders; a panic is
// reported on the page instead of killing the Go runtime.
func (c *Root) update(f func()) {
	c.env.Lock()
	defer c.env.UnlockRender()
	c.safe(f)
}

func (c *Root) safe(f func()) {
	defer func() {
		if p := recover(); p != nil {
			c.Running = false
			c.Err = &Problem{Title: "internal error (please report)", Detail: fmt.Sprint(p)}
		}
	}()
	f()
}

// request calls a JSON endpoint in the worker; cb runs under the lock.
func (c *Root) request(url, method, body string, cb func(status int, body string)) {
	var fn js.Func
	fn = js.FuncOf(func(_ js.Value, args []js.Value) any {
		fn.Release()
		status, text := args[0].Int(), args[1].String()
		go c.update(func() { cb(status, text) })
		return nil
	})
	var b any
	if body != "" {
		b = body
	}
	bridge().Call("request", url, method, b, fn)
}

type shareState struct {
	Preset string            `json:"preset"`
	Config map[string]string `json:"config"`
	Files  []File            `json:"files,omitempty"`
}

// body is the simulation request for the current inputs.
func (c *Root) body() (string, error) {
	cfg, err := configJSON(c.Cfg)
	if err != nil {
		return "", err
	}
	req := map[string]any{"config": cfg}
	if len(c.ProfileFiles) > 0 {
		req["profile_files"] = c.ProfileFiles
	}
	if len(c.Files) > 0 {
		req["files"] = c.Files
	} else {
		req["preset"] = c.Preset
	}
	b, err := json.Marshal(req)
	return string(b), err
}

func (c *Root) setFiles(text string) {
	var fs []File
	if err := json.Unmarshal([]byte(text), &fs); err != nil || len(fs) == 0 {
		return
	}
	var work, prof []File
	for _, f := range fs {
		if isProfileFile(f.Name) {
			prof = append(prof, f)
		} else {
			work = append(work, f)
		}
	}
	if len(prof) > 0 {
		c.ProfileFiles = prof
	}
	if len(work) > 0 {
		c.Files = work
	}
	c.Result, c.Charts = nil, nil
	c.detect()
}

// ProfileFileNames lists the dropped profile files.
func (c *Root) ProfileFileNames() string {
	var n []string
	for _, f := range c.ProfileFiles {
		n = append(n, f.Name)
	}
	return strings.Join(n, ", ")
}

// detect asks the worker what the files are, before running.
func (c *Root) detect() {
	c.Detected, c.Err = "checking…", nil
	body, err := c.body()
	if err != nil {
		c.Err = &Problem{Title: "bad setting", Detail: err.Error()}
		return
	}
	c.request("/api/workload", "POST", body, func(status int, text string) {
		if status != 200 {
			c.Detected = ""
			c.Err = problemOf(status, text)
			return
		}
		type stats struct{ P50, P90, P99, Max int }
		var info struct {
			Format        string   `json:"format"`
			NumRequests   int      `json:"num_requests"`
			PrefillTokens int64    `json:"prefill_tokens"`
			DecodeTokens  int64    `json:"decode_tokens"`
			Notes         []string `json:"notes"`
			DurationS     float64  `json:"duration_s"`
			RateQPS       float64  `json:"mean_rate_qps"`
			Prompt        stats    `json:"prompt_tokens_stats"`
			Output        stats    `json:"output_tokens_stats"`
			Sessions      int      `json:"sessions"`
			ClosedLoop    int      `json:"closed_loop_requests"`
			BlockTokens   int      `json:"block_tokens"`
			Distinct      int      `json:"distinct_prefix_blocks"`
		}
		json.Unmarshal([]byte(text), &info)
		c.Detected = fmt.Sprintf("%s: %s requests, %s prompt and %s output tokens, arrivals over %.1f s (mean %.2f QPS); "+
			"prompt p50/p90/p99/max %d/%d/%d/%d, output %d/%d/%d/%d", info.Format,
			num(int64(info.NumRequests)), num(info.PrefillTokens), num(info.DecodeTokens), info.DurationS, info.RateQPS,
			info.Prompt.P50, info.Prompt.P90, info.Prompt.P99, info.Prompt.Max, info.Output.P50, info.Output.P90, info.Output.P99, info.Output.Max)
		if info.Sessions > 0 {
			c.Detected += fmt.Sprintf("; %s sessions (%s turns arrive after their previous turn completes)", num(int64(info.Sessions)), num(int64(info.ClosedLoop)))
		}
		if info.BlockTokens > 0 {
			c.Detected += fmt.Sprintf("; %s distinct prefix blocks of %d tokens", num(int64(info.Distinct)), info.BlockTokens)
		}
		if len(info.Notes) > 0 {
			c.Detected += " (" + strings.Join(info.Notes, "; ") + ")"
		}
	})
}

func problemOf(status int, text string) *Problem {
	var p Problem
	if status == 0 || json.Unmarshal([]byte(text), &p) != nil || p.Title == "" {
		return &Problem{Title: "the simulation worker failed", Detail: text}
	}
	return &p
}

// run starts a simulation with progress.
func (c *Root) run() {
	body, err := c.body()
	if err != nil {
		c.Err = &Problem{Title: "bad setting", Detail: err.Error()}
		return
	}
	c.Running, c.Err, c.Notice, c.Done, c.Total = true, nil, "", 0, 0
	c.started = time.Now()
	var onLine, onEnd, onFatal, onBegin js.Func
	release := func() { onLine.Release(); onEnd.Release(); onFatal.Release(); onBegin.Release() }
	onBegin = js.FuncOf(func(_ js.Value, _ []js.Value) any {
		at := time.Now()
		go c.update(func() { c.started = at })
		return nil
	})
	onLine = js.FuncOf(func(_ js.Value, args []js.Value) any {
		line := args[0].String()
		go c.update(func() { c.line(line) })
		return nil
	})
	onEnd = js.FuncOf(func(_ js.Value, _ []js.Value) any {
		release()
		go c.update(func() { c.Running = false })
		return nil
	})
	onFatal = js.FuncOf(func(_ js.Value, args []js.Value) any {
		release()
		msg := args[0].String()
		go c.update(func() {
			c.Running = false
			c.catalogs()
			if msg != "cancelled" {
				c.Err = &Problem{Title: "the simulation worker failed", Detail: msg}
			}
		})
		return nil
	})
	bridge().Call("simulate", "/api/simulate?format=ndjson", body, onLine, onEnd, onFatal, onBegin)
}

// line handles one ndjson line: progress, result or error.
func (c *Root) line(line string) {
	var m struct {
		Progress *struct{ Done, Total int } `json:"progress"`
		Result   *Result                    `json:"result"`
		Error    *Problem                   `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		c.Err = problemOf(0, line)
		return
	}
	switch {
	case m.Progress != nil:
		c.Done, c.Total = m.Progress.Done, m.Progress.Total
	case m.Error != nil:
		c.Err, c.Running = m.Error, false
		c.catalogs()
	case m.Result != nil:
		c.catalogs()
		c.Result, c.Running = m.Result, false
		c.ElapsedMs = float64(time.Since(c.started).Microseconds()) / 1000
		c.Charts = charts.All(m.Result.Plots)
		c.chartsDirty = true
	}
}

// AfterRender draws the charts once their elements exist. The render loop
// calls it after every render (Vugu's Rendered hook is not called on the
// root component).
func (c *Root) AfterRender() {
	if c.env == nil || !bridge().Truthy() {
		return
	}
	c.env.Lock()
	defer c.env.UnlockOnly()
	if !c.chartsDirty {
		return
	}
	c.chartsDirty = false
	for _, ch := range c.Charts {
		bridge().Call("chart", ch.ID, ch.Option)
	}
}

// Value is a panel field's current value: the user's, else the configuration
// the next run starts from.
func (c *Root) Value(f Field) string {
	if v, ok := c.Cfg[f.Key]; ok {
		return v
	}
	// What the next run starts from: the chosen preset's configuration
	// (the default preset's for uploaded files), else the last run's.
	name := c.Preset
	if len(c.Files) > 0 && len(c.Presets) > 0 {
		name = c.Presets[0].Name // the default comes first
	}
	for _, p := range c.Presets {
		if p.Name == name && p.Config != nil {
			return p.Config[f.Key]
		}
	}
	if c.Result != nil {
		return c.Result.Config[f.Key]
	}
	return ""
}

// OptionsOf lists a select's choices: its fixed ones, or for the profile
// set the embedded sets (with the current value first if it is not one).
func (c *Root) OptionsOf(f Field) []string {
	if f.Options != nil {
		return f.Options
	}
	var out []string
	cur, found := c.Value(f), false
	for _, p := range c.Profiles {
		out = append(out, p.Name)
		found = found || p.Name == cur
	}
	if !found && cur != "" {
		out = append([]string{cur}, out...)
	}
	return out
}

// HandleField records a panel change.
func (c *Root) HandleField(f Field, event vugu.DOMEvent) {
	c.safe(func() {
		if f.Kind == "checkbox" {
			c.Cfg[f.Key] = fmt.Sprint(event.PropBool("target", "checked"))
			return
		}
		c.Cfg[f.Key] = event.PropString("target", "value")
		if f.Key == "predictor.profile" {
			// A profile set holds one device's times: run on that device
			// (memory planner, network), as the engine requires.
			if p := c.profileNamed(c.Cfg[f.Key]); p != nil && p.Device != "" {
				c.Cfg["replica.device"], c.Cfg["replica.network_device"] = p.Device, p.Network
			}
		}
	})
}

// HandlePreset picks a preset (and forgets uploaded files).
func (c *Root) HandlePreset(event vugu.DOMEvent) {
	c.safe(func() {
		c.Preset = event.PropString("target", "value")
		c.Files, c.Detected = nil, ""
		c.run()
	})
}

// HandleRun runs with the current inputs.
func (c *Root) HandleRun(event vugu.DOMEvent) { c.safe(c.run) }

// HandleCancel stops the run (the worker is restarted).
func (c *Root) HandleCancel(event vugu.DOMEvent) {
	c.safe(func() {
		bridge().Call("cancel")
		c.Running = false
		c.Notice = "Cancelled."
	})
}

// HandleReset forgets uploaded files and settings.
func (c *Root) HandleReset(event vugu.DOMEvent) {
	c.safe(func() {
		c.Files, c.ProfileFiles, c.Detected, c.Cfg = nil, nil, "", map[string]string{}
		c.run()
	})
}

// HandleDownload saves one output file (or all as a zip).
func (c *Root) HandleDownload(name string) {
	c.safe(func() {
		body, err := c.body()
		if err != nil {
			c.Err = &Problem{Title: "bad setting", Detail: err.Error()}
			return
		}
		url, filename := "/api/simulate?file="+name, name
		if name == "zip" {
			url, filename = "/api/simulate?format=zip", c.Result.RunID+".zip"
		}
		var fn js.Func
		fn = js.FuncOf(func(_ js.Value, args []js.Value) any {
			fn.Release()
			if msg := args[0].String(); msg != "" {
				go c.update(func() { c.Err = problemOf(0, msg) })
			}
			return nil
		})
		bridge().Call("download", url, body, filename, fn)
	})
}

// HandleShare copies a link that reproduces the run.
func (c *Root) HandleShare(event vugu.DOMEvent) {
	c.safe(func() {
		s := shareState{Preset: c.Preset, Config: c.Cfg, Files: c.Files}
		with, _ := json.Marshal(s)
		s.Files = nil
		without, _ := json.Marshal(s)
		var fn js.Func
		fn = js.FuncOf(func(_ js.Value, args []js.Value) any {
			fn.Release()
			msg := args[1].String()
			go c.update(func() { c.Notice = msg })
			return nil
		})
		bridge().Call("share", string(with), string(without), fn)
	})
}

// ToggleProvenance shows or hides the profile's provenance.
func (c *Root) ToggleProvenance(event vugu.DOMEvent) { c.ShowProvenance = !c.ShowProvenance }

// ProfileInfo is the profile in use.
func (c *Root) ProfileInfo() *Profile {
	name := "a100/qwen3-0.6b"
	if c.Result != nil {
		if p := c.Result.Profile; p.Kind == "user" {
			p.Provenance = "Your own profile files (" + c.ProfileFileNames() + "), for the configured model and device."
			return &p
		}
		name = c.Result.Profile.Name
	}
	return c.profileNamed(name)
}

// profileNamed finds an embedded profile set by name (nil if unknown).
func (c *Root) profileNamed(name string) *Profile {
	for i := range c.Profiles {
		if c.Profiles[i].Name == name {
			return &c.Profiles[i]
		}
	}
	return nil
}

// Percent is the progress in percent.
func (c *Root) Percent() int {
	if c.Total == 0 {
		return 0
	}
	return c.Done * 100 / c.Total
}

// Status summarises request outcomes.
func (c *Root) Status() string {
	if c.Result == nil {
		return ""
	}
	var parts []string
	for _, k := range []string{"ok", "rejected_too_long", "unfinished"} {
		if n := c.Result.StatusCounts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}
