package ui

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vugu/vugu"
	"github.com/vugu/vugu/js"

	"github.com/servesim/servesim/engine/report/plots"
	"github.com/servesim/servesim/web/charts"
)

// PageDefault is the preset the page opens with: a workload whose
// distributions show (the seed run's four identical requests make every
// CDF a vertical line); the seed run is one click away (HandleSeed).
const PageDefault = "splitwise-conv-2qps"

// seedPreset is the Vidur seed run.
const seedPreset = "seed"

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
	// DetectedFormat is the uploaded workload's format (from /api/workload).
	DetectedFormat string
	Cfg            map[string]string
	// autoBlock: block_size 1 was set by choosing LightLLM (and is taken
	// back when another scheduler is chosen).
	autoBlock bool
	// autoSched: scheduler vllm_v1 was set by choosing the H200 set (and is
	// taken back when another set is chosen).
	autoSched bool

	Running     bool
	Done, Total int
	started     time.Time
	Err         *Problem
	Notice      string
	// ShareErr is why the share link was refused (the panel shows it loudly).
	ShareErr string

	// The run on screen: a snapshot that stays until a result replaces it
	// (errors, cancels and runs in progress leave it as it is).
	Result    *Result
	ElapsedMs float64
	// Prebuilt: the result on screen is the default run's, computed when
	// the page was built (prebuilt.go), not in this browser.
	Prebuilt    bool
	shown       runInputs // what produced Result: downloads and links use it
	Charts      []charts.Chart
	chartsDirty bool
	lazy        *lazyCharts // the options of Charts left empty, built as app.js draws them
	LogX        bool        // CDFs on a log latency axis

	ShowProvenance bool
	pending        runInputs // what the run in progress was started with
	// Calib is "calibrate on this run" (web/ui/realrun.go).
	Calib Calibration

	AB abState // the pinned run of an A/B comparison (ab.go)

	Pick pickState // the model and GPU pickers (picks.go)
}

// runInputs are the inputs of one run: its API request body and what a
// share link or run file must carry to reproduce it.
type runInputs struct {
	body  string
	state shareState
}

// bridge is the page's JavaScript bridge (web/assets/app.js).
func bridge() js.Value { return js.Global().Get("servesim") }

// consoleError writes to the browser's console (a fault the page cannot
// show where it happens).
func consoleError(msg string) {
	if c := js.Global().Get("console"); c.Truthy() {
		c.Call("error", msg)
	}
}

// mark records a milestone of the page's start (app.js's marks: the page
// benchmark reports them).
func mark(name string) {
	if b := bridge(); b.Truthy() {
		b.Call("mark", name)
	}
}

// Init loads the catalogs and the run the URL asks for (or the default).
func (c *Root) Init(ctx vugu.InitCtx) {
	c.env = ctx.EventEnv()
	mark("ui init")
	c.Cfg = map[string]string{}
	c.Preset = PageDefault
	if !bridge().Truthy() {
		return // natively rendered (tests): no browser
	}
	onFiles := js.FuncOf(func(_ js.Value, args []js.Value) any {
		text := args[0].String()
		go c.update(func() { c.setFiles(text) })
		return nil
	})
	bridge().Call("setOnFiles", onFiles) // vugu's js.Value.Set cannot pass a Func; Call can
	c.lazy = &lazyCharts{}
	bridge().Call("setChartOptionSource", js.FuncOf(func(_ js.Value, args []js.Value) any {
		return c.lazy.option(args[0].String())
	}))
	// The default run's prebuilt result, if it has arrived (app.js waits
	// for it a little): in the first render.
	if text := bridge().Call("defaultRunNow").String(); text != "" {
		err := c.showPrebuilt(text)
		if err == nil {
			return
		}
		consoleError("servesim: the prebuilt default run is not shown: " + err.Error())
	}
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
				if err := c.applyState(state); err != nil {
					c.Err = &Problem{Title: "could not read the shared link", Detail: err.Error()}
					return
				}
				c.run()
				return
			}
			c.defaultRun()
		})
		return nil
	})
	bridge().Call("initialState", once)
}

// defaultRun shows the default run's result computed when the page was
// built (prebuilt.go), or runs it if this page has none for its default
// settings.
func (c *Root) defaultRun() {
	var cb js.Func
	cb = js.FuncOf(func(_ js.Value, args []js.Value) any {
		cb.Release()
		text := args[0].String()
		go c.update(func() {
			if err := c.showPrebuilt(text); err != nil {
				if text != "" {
					consoleError("servesim: the prebuilt default run is not shown: " + err.Error())
				}
				c.run()
			}
		})
		return nil
	})
	bridge().Call("defaultRun", cb)
}

// applyState takes a share link's or run file's inputs.
func (c *Root) applyState(state string) error {
	var s shareState
	if err := json.Unmarshal([]byte(state), &s); err != nil {
		return err
	}
	s = c.abApply(s)
	c.Preset, c.Files, c.Cfg, c.ProfileFiles = s.Preset, s.Files, s.Config, s.ProfileFiles
	c.Pick.Config, c.Pick.choiceFor = s.ModelConfig, ""
	if c.Preset == "" && len(c.Files) == 0 {
		c.Preset = PageDefault
	}
	if c.Cfg == nil {
		c.Cfg = map[string]string{}
	}
	c.autoBlock = false
	if len(c.Files) > 0 || len(c.ProfileFiles) > 0 {
		c.detect()
	}
	return nil
}

// catalogs loads presets and profiles. It runs after the first result: the
// worker has one thread, and the first run should not wait behind them
// (after the first chart of the prebuilt default result: the requests
// start the engine, showResult).
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
	c.pickCatalogs()
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

// shareState is what a share link or a run file carries.
type shareState struct {
	Run          string            `json:"servesim_run,omitempty"` // run files: "1"
	Preset       string            `json:"preset"`
	Config       map[string]string `json:"config"`
	Files        []File            `json:"files,omitempty"`
	ProfileFiles []File            `json:"profile_files,omitempty"`
	// Pinned is the A run of an A/B comparison (ab.go): it runs first.
	Pinned *shareState `json:"pinned,omitempty"`
	// ModelConfig is a dropped Hugging Face config.json (picks.go).
	ModelConfig *File `json:"model_config,omitempty"`
}

// inputs are the current panel's run inputs.
func (c *Root) inputs() (runInputs, error) {
	// A setting that does not apply is not sent (a leftover such as prefix
	// caching under Orca would fail the run), except what a choice locks
	// (LightLLM's block size 1).
	send := map[string]string{}
	for k, v := range c.Cfg {
		if f := field(k); f.Key != "" && c.Why(f) != "" && !(k == "scheduler.block_size" && c.scheduler() == "lightllm") {
			continue
		}
		send[k] = v
	}
	if c.scheduler() == "lightllm" {
		send["scheduler.block_size"] = "1"
	}
	c.servingSend(send)
	cfg, err := configJSON(send)
	if err != nil {
		return runInputs{}, err
	}
	req := map[string]any{"config": cfg}
	st := shareState{Config: map[string]string{}}
	for k, v := range c.Cfg {
		st.Config[k] = v
	}
	if len(c.ProfileFiles) > 0 {
		req["profile_files"] = c.ProfileFiles
		st.ProfileFiles = c.ProfileFiles
	}
	c.pickModelConfig(req, &st)
	if len(c.Files) > 0 {
		req["files"] = c.Files
		st.Files = c.Files
	} else {
		req["preset"] = c.Preset
		st.Preset = c.Preset
	}
	b, err := json.Marshal(req)
	return runInputs{body: string(b), state: st}, err
}

// runFileSuffix names the files "Save run file" writes and a drop reopens.
const runFileSuffix = ".servesim.json"

func (c *Root) setFiles(text string) {
	var fs []File
	if err := json.Unmarshal([]byte(text), &fs); err != nil || len(fs) == 0 {
		return
	}
	c.ShareErr = ""
	if fs[0].Name == "!error" { // app.js could not read a dropped zip
		c.Err = &Problem{Title: "could not read the dropped files", Detail: fs[0].Content}
		return
	}
	if len(fs) == 1 && strings.HasSuffix(fs[0].Name, runFileSuffix) {
		if err := c.applyState(fs[0].Content); err != nil {
			c.Err = &Problem{Title: "could not read the run file", File: fs[0].Name, Detail: fs[0].Name + ": " + err.Error()}
			return
		}
		c.run()
		return
	}
	// Profile files become the user's own profile set; the rest is the
	// workload. The result on screen stays (marked stale) until Run
	// replaces it.
	var work, prof []File
	model := false
	for _, f := range fs {
		if isModelConfig(f) {
			c.takeModelConfig(f)
			model = true
		} else if isProfileFile(f.Name) {
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
	if model && len(work) == 0 && len(prof) == 0 {
		return // only a model: the workload is as it was
	}
	c.detect()
	c.refreshChoice()
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
	c.Detected, c.DetectedFormat, c.Err = "checking…", "", nil
	in, err := c.inputs()
	if err != nil {
		c.Err = &Problem{Title: "bad setting", Detail: err.Error()}
		return
	}
	c.request("/api/workload", "POST", in.body, func(status int, text string) {
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
		c.DetectedFormat = info.Format
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

// run starts a simulation with progress. The result on screen stays until
// this run's result replaces it.
func (c *Root) run() {
	in, err := c.inputs()
	if err != nil {
		c.Err = &Problem{Title: "bad setting", Detail: err.Error()}
		return
	}
	c.pending = in
	c.Running, c.Err, c.Notice, c.ShareErr, c.Done, c.Total = true, nil, "", "", 0, 0
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
		if strings.HasPrefix(line, `{"progress"`) {
			go c.progress(line)
			return nil
		}
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
	mark("ui run")
	bridge().Call("simulate", "/api/simulate?format=ndjson", in.body, onLine, onEnd, onFatal, onBegin)
}

// progress shows a progress line without re-rendering the page (a render
// of every panel per line cost the first run more time than the line's
// news is worth): the state changes under the lock, and the bar and its
// text, which the next render draws the same way, are set directly.
func (c *Root) progress(line string) {
	var m struct {
		Progress struct{ Done, Total int } `json:"progress"`
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		c.update(func() { c.line(line) }) // reported as the line it is
		return
	}
	c.env.Lock()
	running := c.Running
	if running {
		c.Done, c.Total = m.Progress.Done, m.Progress.Total
	}
	text, pct := c.ProgressText(), c.Percent()
	c.env.UnlockOnly()
	if running {
		bridge().Call("showProgress", text, pct)
	}
}

// ProgressText is the run's progress in words.
func (c *Root) ProgressText() string {
	return fmt.Sprintf("%s of %s requests done", num(int64(c.Done)), num(int64(c.Total)))
}

// line handles one ndjson line: progress, result or error.
func (c *Root) line(line string) {
	mark("ui result line")
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
		mark("ui result parsed")
		c.ElapsedMs = float64(time.Since(c.started).Microseconds()) / 1000
		c.showResult(m.Result, false)
	default: // an answer that is not a stream (a problem document): never silent
		c.Err, c.Running = problemOf(400, line), false
		c.catalogs()
	}
}

// showResult puts a run's result on screen: one the worker computed, or
// the default run's computed when the page was built (prebuilt).
func (c *Root) showResult(r *Result, prebuilt bool) {
	if prebuilt && bridge().Truthy() {
		// The catalogues' requests start the engine: after the first chart
		// (app.js), so that its start does not compete with the page's.
		var fn js.Func
		fn = js.FuncOf(func(_ js.Value, _ []js.Value) any {
			fn.Release()
			go c.update(c.catalogs)
			return nil
		})
		bridge().Call("afterFirstChart", fn)
	} else if !prebuilt {
		c.catalogs()
	}
	if prebuilt {
		c.ElapsedMs = 0
	}
	c.Result, c.Running, c.shown, c.Prebuilt = r, false, c.pending, prebuilt
	c.drawCharts()
	mark("ui charts built")
	c.abResult()
}

// drawCharts rebuilds the chart options of the result on screen.
func (c *Root) drawCharts() {
	if c.Result == nil {
		return
	}
	o := charts.Options{EndS: float64(c.Result.SimulatedNs) / 1e9, LogX: c.LogX}
	hitT, hitRate := c.Result.Serving.hitSeries()
	p := c.Result.Plots
	all := charts.AllDeferred(p.Plots, func() plots.Plots {
		full := p.All()
		if err := p.Err(); err != nil {
			consoleError("servesim: the result's plot series did not decode: " + err.Error())
		}
		return full
	}, o)
	c.Charts = c.realCharts(o)
	if c.lazy != nil { // in the browser: app.js asks for each option as it draws the chart
		for _, l := range all {
			c.Charts = append(c.Charts, charts.Chart{ID: l.ID, Title: l.Title})
		}
		c.lazy.set(all)
	} else {
		for _, l := range all {
			c.Charts = append(c.Charts, charts.Chart{ID: l.ID, Title: l.Title, Option: l.Build()})
		}
	}
	c.Charts = append(c.Charts, charts.Serving(c.Result.Plots.ReplicaLoad, hitT, hitRate, o)...)
	c.chartsDirty = true
}

// lazyCharts builds the options of the result's charts when app.js draws
// them (one per task, in page order): the first chart shows without waiting
// for every option. app.js asks from inside AfterRender's call, which holds
// the render lock, so this has a lock of its own.
type lazyCharts struct {
	mu    sync.Mutex
	build map[string]func() string
	built map[string]string
}

func (l *lazyCharts) set(all []charts.Lazy) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.build, l.built = map[string]func() string{}, map[string]string{}
	for _, c := range all {
		l.build[c.ID] = c.Build
	}
}

// option is a chart's option, built once ("" for a chart it does not have).
func (l *lazyCharts) option(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if o, ok := l.built[id]; ok {
		return o
	}
	b := l.build[id]
	if b == nil {
		return ""
	}
	o := b()
	l.built[id] = o
	return o
}

// AfterRender draws the charts: new options once per result, and on every
// render any chart whose element a render replaced (app.js keeps the
// options, so no render ever leaves a chart blank). The render loop calls
// it after every render (Vugu's Rendered hook is not called on the root
// component).
func (c *Root) AfterRender() {
	if c.env == nil || !bridge().Truthy() {
		return
	}
	c.env.Lock()
	defer c.env.UnlockOnly()
	if c.chartsDirty {
		c.chartsDirty = false
		list := make([]map[string]string, len(c.Charts))
		for i, ch := range c.Charts {
			list[i] = map[string]string{"id": ch.ID, "option": ch.Option}
		}
		b, _ := json.Marshal(list)
		bridge().Call("setCharts", string(b))
	}
	bridge().Call("ensureCharts")
}

// Value is a panel field's current value: the user's, else the configuration
// the next run starts from.
func (c *Root) Value(f Field) string {
	if f.Key == "scheduler.block_size" && c.scheduler() == "lightllm" {
		return "1"
	}
	if f.Key == "predictor.skip_cpu_overhead_modeling" && c.engineTimed() {
		return "true" // locked (Why says so)
	}
	if v, ok := c.Cfg[f.Key]; ok {
		return v
	}
	if f.Key == "predictor.profile" && c.picked() {
		return "auto" // chosen for the model and GPU, as the CLI chooses without --profile
	}
	if strings.HasPrefix(f.Key, "slo.") {
		return c.sloValue(f.Key)
	}
	if cfg := c.baseConfig(); cfg != nil {
		return cfg[f.Key]
	}
	if c.Result != nil {
		return c.Result.Config[f.Key]
	}
	return ""
}

// baseConfig is the configuration the next run starts from: the chosen
// preset's (the default configuration for uploaded files), nil before the
// catalogs have loaded.
func (c *Root) baseConfig() settings {
	name := c.Preset
	if len(c.Files) > 0 && len(c.Presets) > 0 {
		name = c.Presets[0].Name // the API's default comes first
	}
	if p := c.presetNamed(name); p != nil {
		return p.Config
	}
	return nil
}

// cfgValue is a configuration value the next run uses, panel field or not.
func (c *Root) cfgValue(key string) string {
	if v, ok := c.Cfg[key]; ok {
		return v
	}
	return c.baseConfig()[key]
}

func (c *Root) presetNamed(name string) *Preset {
	for i := range c.Presets {
		if c.Presets[i].Name == name {
			return &c.Presets[i]
		}
	}
	return nil
}

// PresetInfo is the chosen preset (nil with uploaded files).
func (c *Root) PresetInfo() *Preset {
	if len(c.Files) > 0 {
		return nil
	}
	return c.presetNamed(c.Preset)
}

func (c *Root) scheduler() string { return c.Value(field("scheduler.type")) }

// Choice is one option of a select.
type Choice struct {
	Value, Label, Title string
	Disabled            bool // cannot work with the other settings (Title says why)
}

// OptionsOf lists a select's choices: its fixed ones, the selected profile
// set's tensor-parallel sizes, or the embedded profile sets, labelled with
// their kind (with the current value first if it is not one).
func (c *Root) OptionsOf(f Field) []Choice {
	var out []Choice
	cur := c.Value(f)
	switch {
	case f.Options != nil:
		for _, o := range f.Options {
			why := c.choiceWhy(f, o)
			out = append(out, Choice{Value: o, Label: optionLabel(f.Key, o), Title: why, Disabled: why != ""})
		}
	case f.Key == "replica.tensor_parallel_size" && c.picked() && c.Pick.Choice != nil:
		for _, t := range c.Pick.Choice.TensorParallel {
			title := "runs on " + c.Pick.Choice.Profile.Name
			if t.Why != "" {
				title = t.Why
			}
			out = append(out, Choice{Value: strconv.Itoa(t.Size), Label: strconv.Itoa(t.Size), Title: title, Disabled: t.Why != ""})
		}
	case numericSelect(f.Key):
		if p := c.SelectedProfile(); p != nil {
			for _, tp := range p.TensorParallel {
				out = append(out, Choice{Value: strconv.Itoa(tp), Label: strconv.Itoa(tp), Title: "profiled in " + p.Name})
			}
		}
	case f.Key == "predictor.profile":
		out = append(out, Choice{Value: "auto", Label: "auto: the measured set for the model and GPU, else the estimate", Title: "as the CLI chooses without --profile"},
			Choice{Value: "estimate", Label: "estimate: the roofline estimate (ESTIMATED)", Title: "engine/roofline, even where a measured set exists"})
		for _, p := range c.Profiles {
			out = append(out, Choice{Value: p.Name, Label: p.Name + " (" + strings.ToUpper(p.Kind) + ")", Title: p.Summary})
		}
	}
	for _, o := range out {
		if o.Value == cur {
			return out
		}
	}
	if cur != "" {
		out = append([]Choice{{Value: cur, Label: cur}}, out...)
	}
	return out
}

// Why is why a field does not apply to the next run ("" if it does).
func (c *Root) Why(f Field) string {
	if f.Key == "scheduler.block_size" && c.scheduler() == "lightllm" {
		return "LightLLM allocates the KV cache per token: block size 1"
	}
	if s := c.scheduler(); f.Schedulers != nil && s != "" { // "" until the catalogs are in
		s := c.scheduler()
		ok := false
		for _, x := range f.Schedulers {
			ok = ok || x == s
		}
		if !ok {
			return "not used by " + s + " (" + strings.Join(f.Schedulers, ", ") + " only)"
		}
	}
	if f.Arrivals && !c.generatedArrivals() {
		return "trace replay: arrivals and request count come from the trace"
	}
	if f.Key == "cluster.global_scheduler" && c.Value(field("cluster.num_replicas")) == "1" {
		return "applies with more than one replica"
	}
	if w := c.servingWhy(f); w != "" {
		return w
	}
	if f.Key == "predictor.profile" && len(c.ProfileFiles) > 0 {
		return "your profile files replace it (Reset forgets them)"
	}
	if f.Key == "predictor.skip_cpu_overhead_modeling" {
		if c.engineTimed() {
			return "engine timing (" + c.SelectedProfile().Name + " has engine.json) charges host time per step from its host_overheads.csv; Vidur's CPU-overhead model does not apply"
		}
		if p := c.SelectedProfile(); p != nil && !p.HasCPUOverheads {
			return p.Name + " has no CPU-overhead model"
		}
	}
	return ""
}

// generatedArrivals reports whether the next run's arrivals (and request
// count) come from generators: synthetic workloads and length-only traces,
// not trace replays.
func (c *Root) generatedArrivals() bool {
	if c.Cfg["workload.trace_lengths_only"] == "true" || c.baseConfig()["workload.trace_lengths_only"] == "true" {
		return true
	}
	if len(c.Files) > 0 {
		return generatedFormat(c.DetectedFormat)
	}
	if p := c.presetNamed(c.Preset); p != nil {
		return len(p.Files) == 0
	}
	return true // catalogs not loaded yet: leave the fields usable
}

// generatedFormat reports whether a workload format carries no arrival
// times (they are generated, as is the request count).
func generatedFormat(f string) bool {
	return f == "synthetic" || f == "length-trace" || f == "vllm-custom"
}

// HandleField records a panel change, with what the choice requires.
func (c *Root) HandleField(f Field, event vugu.DOMEvent) {
	c.safe(func() {
		if f.Kind == "checkbox" {
			c.Cfg[f.Key] = fmt.Sprint(event.PropBool("target", "checked"))
			return
		}
		c.Cfg[f.Key] = event.PropString("target", "value")
		c.servingChoice(f)
		switch f.Key {
		case "scheduler.type":
			c.autoSched = false // the user's choice stays
			// LightLLM allocates per token: it needs block_size 1 (the
			// field is disabled meanwhile); another scheduler takes it back.
			if c.Cfg[f.Key] == "lightllm" {
				c.Cfg["scheduler.block_size"], c.autoBlock = "1", true
			} else if c.autoBlock {
				delete(c.Cfg, "scheduler.block_size")
				c.autoBlock = false
			}
		case "predictor.profile":
			if v := c.Cfg[f.Key]; v != "auto" && v != "estimate" {
				c.clearPicks() // a named set: its own model and device
			}
			// A profile set holds one device's times: run on that device
			// (memory planner, network), as the engine requires; and with
			// a tensor-parallel size it has.
			if p := c.profileNamed(c.Cfg[f.Key]); p != nil {
				if p.Device != "" {
					c.Cfg["replica.device"], c.Cfg["replica.network_device"] = p.Device, p.Network
				}
				c.defaultScheduler(p)
				tp := c.Value(field("replica.tensor_parallel_size"))
				ok := false
				for _, x := range p.TensorParallel {
					ok = ok || strconv.Itoa(x) == tp
				}
				if !ok && len(p.TensorParallel) > 0 {
					c.Cfg["replica.tensor_parallel_size"] = strconv.Itoa(p.TensorParallel[0])
				}
			}
		}
		c.refreshChoice()
	})
}

// defaultScheduler follows a chosen profile set: the H200 set is vLLM V1's
// engine (its real runs use it), so choosing it makes vllm_v1 the scheduler
// unless one was chosen; another set takes it back (Vidur's Sarathi stays
// the seed/A100 default, so the seed run reproduces).
func (c *Root) defaultScheduler(p *Profile) {
	if _, chosen := c.Cfg["scheduler.type"]; p.Device == "h200" && !chosen {
		c.Cfg["scheduler.type"], c.autoSched = "vllm_v1", true
	} else if p.Device != "h200" && c.autoSched {
		delete(c.Cfg, "scheduler.type")
		c.autoSched = false
	}
}

// HandlePreset picks a preset (and forgets uploaded files).
func (c *Root) HandlePreset(event vugu.DOMEvent) {
	c.safe(func() {
		c.Preset = event.PropString("target", "value")
		c.Files, c.Detected, c.DetectedFormat = nil, "", ""
		c.run()
	})
}

// HandleSeed runs the Vidur seed run (the README's numbers).
func (c *Root) HandleSeed(event vugu.DOMEvent) {
	c.safe(func() {
		c.Preset, c.Files, c.Detected, c.DetectedFormat = seedPreset, nil, "", ""
		c.Cfg, c.autoBlock = map[string]string{}, false
		c.clearPicks()
		c.run()
	})
}

// HandleRun runs with the current inputs.
func (c *Root) HandleRun(event vugu.DOMEvent) { c.safe(c.run) }

// HandleExtrapolate turns extrapolation on and runs again (offered when a
// run failed on a look-up outside the profiled grid).
func (c *Root) HandleExtrapolate(event vugu.DOMEvent) {
	c.safe(func() {
		c.Cfg["predictor.extrapolate"] = "true"
		c.run()
	})
}

// NeedsExtrapolation reports whether the error is a look-up outside the
// profiled grid that extrapolation would let through.
func (c *Root) NeedsExtrapolation() bool {
	return c.Err != nil && strings.Contains(c.Err.Detail, "extrapolat") && c.Value(field("predictor.extrapolate")) != "true"
}

// HandleCancel stops the run (the worker is restarted); the result on
// screen stays.
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
		c.Files, c.ProfileFiles, c.Detected, c.DetectedFormat, c.Cfg, c.autoBlock = nil, nil, "", "", map[string]string{}, false
		c.Calib = Calibration{}
		c.clearPicks()
		c.run()
	})
}

// HandleLogX switches the CDFs' latency axis between linear and log.
func (c *Root) HandleLogX(event vugu.DOMEvent) {
	c.safe(func() {
		c.LogX = event.PropBool("target", "checked")
		c.drawCharts()
	})
}

// HandleDownload saves one output file (or all as a zip) of the run on
// screen: its own request again (the simulation is deterministic, so the
// bytes are that run's), never the panel's current settings.
func (c *Root) HandleDownload(name string) {
	c.safe(func() {
		if c.Result == nil {
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
		bridge().Call("download", url, c.shown.body, filename, fn)
	})
}

// HandleRunFile saves the run on screen's inputs (workload included) as a
// file the page reopens when it is dropped on it.
func (c *Root) HandleRunFile(event vugu.DOMEvent) {
	c.safe(func() {
		if c.Result == nil {
			return
		}
		s := c.shareOfShown()
		s.Run = "1"
		b, _ := json.MarshalIndent(s, "", " ")
		bridge().Call("saveText", c.Result.RunID+runFileSuffix, string(b))
	})
}

// HandleShare copies a link that reproduces the run on screen. A link too
// long for a URL is refused (with what to do instead), never shortened by
// leaving the workload out.
func (c *Root) HandleShare(event vugu.DOMEvent) {
	c.safe(func() {
		if c.Result == nil {
			return
		}
		c.Notice, c.ShareErr = "", ""
		b, _ := json.Marshal(c.shareOfShown())
		var fn js.Func
		fn = js.FuncOf(func(_ js.Value, args []js.Value) any {
			fn.Release()
			url, msg := args[0].String(), args[1].String()
			go c.update(func() {
				if url == "" {
					c.ShareErr = msg
				} else {
					c.Notice = msg
				}
			})
			return nil
		})
		bridge().Call("share", string(b), fn)
	})
}

// ToggleProvenance shows or hides the profile's provenance.
func (c *Root) ToggleProvenance(event vugu.DOMEvent) { c.ShowProvenance = !c.ShowProvenance }

// SelectedProfile is the profile set the next run uses: the user's own
// (dropped profile files) or the selected embedded set.
func (c *Root) SelectedProfile() *Profile {
	if len(c.ProfileFiles) > 0 {
		p := Profile{Name: "your profile files", Kind: "user", Model: c.cfgValue("replica.model_name"), Device: c.cfgValue("replica.device"),
			Summary: "Your own profile set (" + c.ProfileFileNames() + "), used for every run until Reset."}
		if c.Result != nil && c.Result.Profile.Kind == "user" {
			p = c.Result.Profile
		}
		p.Provenance = "Your own profile files (" + c.ProfileFileNames() + "), for the configured model and device."
		return &p
	}
	if c.picked() {
		if c.Pick.Choice != nil {
			return &c.Pick.Choice.Profile
		}
		return nil
	}
	return c.profileNamed(c.Value(field("predictor.profile")))
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
			parts = append(parts, num(int64(n))+" "+k)
		}
	}
	return strings.Join(parts, ", ")
}

// RunSummary is the run on screen's configuration in one line.
func (c *Root) RunSummary() string {
	if c.Result == nil {
		return ""
	}
	cfg := c.Result.Config
	s := cfg["scheduler.type"]
	switch s {
	case "sarathi":
		s += ", chunk " + cfg["scheduler.chunk_size"]
	case "vllm", "lightllm":
		s += ", max " + cfg["scheduler.max_tokens_in_batch"] + " tokens/batch"
	case "vllm_v1":
		b := cfg["scheduler.max_num_batched_tokens"]
		if b == "" || b == "0" {
			b = "2048"
		}
		s += ", budget " + b + " tokens/step"
	}
	s += ", cap " + cfg["scheduler.batch_size_cap"]
	reps := cfg["cluster.num_replicas"]
	if reps == "1" {
		s += ", 1 replica"
	} else {
		s += ", " + reps + " replicas (" + cfg["cluster.global_scheduler"] + ")"
	}
	s += ", TP" + cfg["replica.tensor_parallel_size"] + " PP" + cfg["replica.num_pipeline_stages"]
	if generatedFormat(c.Result.Workload.Format) || cfg["workload.trace_lengths_only"] == "true" {
		s += ", " + cfg["workload.qps"] + " QPS " + cfg["workload.interval_generator"]
	} else {
		s += ", trace arrivals"
	}
	s += servingSummary(cfg)
	p := c.Result.Profile
	s += ", " + p.Name + " (" + strings.ToUpper(p.Kind) + ")"
	if cfg["predictor.extrapolate"] == "true" {
		s += ", extrapolating"
	}
	return s
}

// Stale lists what differs between the panel and the run on screen: the
// result no longer shows what Run would give.
func (c *Root) Stale() []string {
	if c.Result == nil {
		return nil
	}
	var out []string
	cur, _ := c.inputs()
	if len(cur.state.Files) > 0 || len(c.shown.state.Files) > 0 {
		if !sameFiles(cur.state.Files, c.shown.state.Files) {
			out = append(out, "workload")
		}
	} else if cur.state.Preset != c.shown.state.Preset {
		out = append(out, "preset")
	}
	if len(out) > 0 {
		return out // other settings start from the new workload's
	}
	for _, f := range Fields {
		if c.Why(f) != "" {
			continue
		}
		if f.Key == "predictor.profile" && c.Value(f) == "auto" && c.Result.Profile.Choice != "" {
			continue // chosen for the model and GPU: the run recorded what it chose
		}
		if !sameValue(c.Value(f), c.Result.Config[f.Key]) {
			out = append(out, f.Label)
		}
	}
	out = append(out, c.pickStale()...)
	return append(out, c.sloStale()...)
}

func sameFiles(a, b []File) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Content != b[i].Content {
			return false
		}
	}
	return true
}

// sameValue compares settings as numbers where both are numbers.
func sameValue(a, b string) bool {
	x, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	y, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 == nil && err2 == nil {
		return x == y
	}
	// An omitted number (a config key left out when 0) is 0.
	if err1 == nil && x == 0 && strings.TrimSpace(b) == "" || err2 == nil && y == 0 && strings.TrimSpace(a) == "" {
		return true
	}
	if a == "" {
		a = "false"
	}
	if b == "" {
		b = "false"
	}
	return a == b
}
