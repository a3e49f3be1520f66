package ui

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vugu/vugu"
	"github.com/vugu/vugu/js"

	"github.com/servesim/servesim/engine/slo"
	"github.com/servesim/servesim/web/charts"
)

// SearchAxis is one sweep axis of the search panel: ticked, it takes the
// comma-separated values; unticked, the configuration's value.
type SearchAxis struct {
	Key, Label, Field, Values string
	Text                      bool // values are names (schedulers), not integers
	On                        bool
}

// searchAxes are internal/search's axes (Axes), in its order.
func searchAxes() []*SearchAxis {
	return []*SearchAxis{
		{Key: "replicas", Label: "replicas", Field: "cluster.num_replicas", Values: "1,2,4"},
		{Key: "tp", Label: "tensor parallel", Field: "replica.tensor_parallel_size", Values: "1,2"},
		{Key: "pp", Label: "pipeline stages", Field: "replica.num_pipeline_stages", Values: "1,2"},
		{Key: "scheduler", Label: "scheduler", Field: "scheduler.type", Values: "sarathi,vllm_v1", Text: true},
		{Key: "chunk_size", Label: "chunk size", Field: "scheduler.chunk_size", Values: "256,512,1024,2048"},
		{Key: "batch_cap", Label: "batch cap", Field: "scheduler.batch_size_cap", Values: "32,64,128,256"},
	}
}

// SearchParam is one numeric setting of the search (internal/search.Spec).
type SearchParam struct {
	Key, Label, Value, Help string
}

func searchParams() []*SearchParam {
	return []*SearchParam{
		{Key: "requests", Label: "requests per trial", Value: "1000", Help: "each trial: this many requests with the workload's lengths, Poisson arrivals"},
		{Key: "precision", Label: "precision (relative)", Value: "0.02", Help: "0.02: the smallest failing rate is within 2% above the answer"},
		{Key: "start_qps", Label: "start QPS", Value: "1", Help: "first rate tried; doubled or halved until one passes and one fails"},
		{Key: "probes", Label: "rates per round", Value: "1", Help: "1: bisection; k: k rates of a point at once (uses k workers for one configuration; the answer depends on it)"},
		{Key: "gpu_hour_usd", Label: "$ per GPU-hour", Value: "2", Help: "an editable example, not a quote: cost per 1M output tokens"},
		{Key: "target_qps", Label: "target QPS (cheapest)", Value: "", Help: "the cheapest point meeting the SLO at this rate (empty: not asked)"},
	}
}

// SearchPoint is one configuration of a sweep (internal/search.Point).
type SearchPoint struct {
	Replicas  int    `json:"replicas"`
	TP        int    `json:"tp"`
	PP        int    `json:"pp"`
	Scheduler string `json:"scheduler"`
	ChunkSize int    `json:"chunk_size"`
	BatchCap  int    `json:"batch_cap"`
}

func (p SearchPoint) String() string {
	return fmt.Sprintf("%d× TP%d PP%d %s chunk %d cap %d", p.Replicas, p.TP, p.PP, p.Scheduler, p.ChunkSize, p.BatchCap)
}

// SearchProbe is one trial of a point (internal/search.Probe).
type SearchProbe struct {
	QPS        float64 `json:"qps"`
	Met        bool    `json:"met"`
	Attainment float64 `json:"attainment"`
	E2EP90Ms   float64 `json:"e2e_p90_ms"`
}

// SearchPointResult is one point's answer (internal/search.PointResult).
type SearchPointResult struct {
	Point                   SearchPoint   `json:"point"`
	GPUs                    int           `json:"gpus"`
	Error                   string        `json:"error"`
	Found                   bool          `json:"found"`
	MaxQPS                  float64       `json:"max_qps"`
	FailQPS                 float64       `json:"fail_qps"`
	GoodputRPS              float64       `json:"goodput_rps"`
	GoodputTokensPerSPerGPU float64       `json:"goodput_tokens_per_s_per_gpu"`
	CostPer1MTokensUSD      float64       `json:"cost_per_1m_tokens_usd"`
	TTFTP90Ms               float64       `json:"ttft_p90_ms"`
	TBTP90Ms                float64       `json:"tbt_p90_ms"`
	E2EP90Ms                float64       `json:"e2e_p90_ms"`
	Pareto                  bool          `json:"pareto"`
	Curve                   []SearchProbe `json:"curve"`
	Pilot                   []SearchProbe `json:"pilot"`
	Saturation              []struct {
		Requests int `json:"requests"`
	} `json:"saturation"`
}

// SearchResult is POST /api/search's answer as the panel shows it.
type SearchResult struct {
	Spec struct {
		Requests      int     `json:"requests"`
		PilotRequests int     `json:"pilot_requests"`
		Precision     float64 `json:"precision"`
		GPUHourUSD    float64 `json:"gpu_hour_usd"`
		TargetQPS     float64 `json:"target_qps"`
	} `json:"spec"`
	SLO      slo.Spec            `json:"slo"`
	Points   []SearchPointResult `json:"points"`
	Pareto   []int               `json:"pareto"`
	Cheapest *struct {
		Index      int         `json:"index"`
		Point      SearchPoint `json:"point"`
		GPUs       int         `json:"gpus"`
		CostPerHUS float64     `json:"cost_per_hour_usd"`
		Probe      SearchProbe `json:"at_target"`
	} `json:"cheapest"`
	Note   string `json:"note"`
	Trials int    `json:"trials"`
	Files  []File `json:"files"`
}

// PointProgress is a point's search as it goes: its trials so far.
type PointProgress struct {
	Point   SearchPoint
	Trials  int       // every trial done, bursts, pilot and target included (as search.json's trials counts them)
	Running []float64 // rates in flight
	// Passes and Fail: the passing rates and the smallest failing one so far
	// (0: none) of the full trials, or of the pilot's (PilotBracket) until
	// a full trial is done; a saturation burst or the target's trial is in
	// neither (search.json's saturation and at_target, not a curve).
	Passes       []float64
	Fail         float64
	PilotBracket bool
	Last         string
}

// Pass is the largest passing rate below the smallest failing one (0:
// none), as internal/search brackets a point (its max_qps at the end).
func (p *PointProgress) Pass() float64 {
	pass := 0.0
	for _, q := range p.Passes {
		if q > pass && (p.Fail == 0 || q < p.Fail) {
			pass = q
		}
	}
	return pass
}

// The kinds of trial internal/search says (search.Trial.Kind, sent with
// each trial by searchrun.Pool).
const (
	trialBurst  = "burst"
	trialPilot  = "pilot"
	trialFull   = "full"
	trialTarget = "target"
)

// SearchPanel is the capacity search (search.vugu): max QPS under the SLO
// of the current configuration, or of each point of a sweep, run by
// internal/search in a worker with its trials on a pool of Web Workers.
type SearchPanel struct {
	R *Root

	Open    bool
	Axes    []*SearchAxis
	Params  []*SearchParam
	Workers string

	Running   bool
	started   time.Time
	ElapsedMs float64
	Progress  []*PointProgress
	TrialsRun int
	// shown is when progress was last shown; showAt, when showing it is
	// due (zero: not).
	shown, showAt time.Time
	Result        *SearchResult
	Err           *Problem
	Notice        string
}

// Init sets the defaults; the pool size is the machine's core count.
func (c *SearchPanel) Init(ctx vugu.InitCtx) {
	c.Axes, c.Params, c.Workers = searchAxes(), searchParams(), "2"
	if b := bridge(); b.Truthy() && b.Get("cores").Truthy() {
		c.Workers = strconv.Itoa(b.Call("cores").Int())
	}
}

// Toggle opens or closes the panel; opening it starts the search's workers
// (their engine instantiated while the form is filled in).
func (c *SearchPanel) Toggle() {
	c.Open = !c.Open
	if c.Open {
		c.prewarm()
	}
}

// prewarm asks the page to start the pool of the panel's worker count and
// a coordinator ahead of the search (nothing when the count is bad: the
// search says why).
func (c *SearchPanel) prewarm() {
	n, err := strconv.Atoi(c.Workers)
	if b := bridge(); err == nil && n >= 1 && n <= 64 && b.Truthy() && b.Get("prewarmSearch").Truthy() {
		b.Call("prewarmSearch", n)
	}
}

// HandleAxis ticks or unticks an axis.
func (c *SearchPanel) HandleAxis(a *SearchAxis, event vugu.DOMEvent) {
	a.On = event.PropBool("target", "checked")
}

// HandleValues sets an axis's values.
func (c *SearchPanel) HandleValues(a *SearchAxis, event vugu.DOMEvent) {
	a.Values = event.PropString("target", "value")
}

// HandleParam sets a numeric setting.
func (c *SearchPanel) HandleParam(p *SearchParam, event vugu.DOMEvent) {
	p.Value = strings.TrimSpace(event.PropString("target", "value"))
}

// HandleWorkers sets the pool size.
func (c *SearchPanel) HandleWorkers(event vugu.DOMEvent) {
	c.Workers = strings.TrimSpace(event.PropString("target", "value"))
	c.prewarm()
}

// axisValues parses a ticked axis's values.
func axisValues(a *SearchAxis) ([]any, error) {
	var out []any
	for _, f := range strings.Split(a.Values, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if a.Text {
			out = append(out, f)
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s values: %q is not an integer", a.Label, f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s values: give at least one (comma-separated), or untick the axis", a.Label)
	}
	return out, nil
}

// spec is the search's JSON spec and points (in internal/search's order,
// for progress): from the panel and the configuration the next run uses.
func (c *SearchPanel) spec() (map[string]any, []SearchPoint, error) {
	spec := map[string]any{}
	for _, p := range c.Params {
		if p.Value == "" {
			continue
		}
		v, err := strconv.ParseFloat(p.Value, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: expected a number, got %q", p.Label, p.Value)
		}
		spec[p.Key] = v
	}
	axes := map[string]any{}
	values := make([][]any, len(c.Axes))
	for i, a := range c.Axes {
		if !a.On {
			base := c.R.Value(field(a.Field))
			if a.Text {
				values[i] = []any{base}
			} else {
				n, _ := strconv.Atoi(base)
				values[i] = []any{n}
			}
			continue
		}
		v, err := axisValues(a)
		if err != nil {
			return nil, nil, err
		}
		axes[a.Key], values[i] = v, v
	}
	spec["axes"] = axes
	n := 1
	for _, v := range values {
		n *= len(v)
	}
	var points []SearchPoint
	if n <= 4096 { // the API refuses more than its cap anyway; progress only for what it may run
		var walk func(i int, p SearchPoint)
		walk = func(i int, p SearchPoint) {
			if i == len(values) {
				points = append(points, p)
				return
			}
			for _, v := range values[i] {
				q := p
				switch c.Axes[i].Key {
				case "replicas":
					q.Replicas = v.(int)
				case "tp":
					q.TP = v.(int)
				case "pp":
					q.PP = v.(int)
				case "scheduler":
					q.Scheduler = v.(string)
				case "chunk_size":
					q.ChunkSize = v.(int)
				case "batch_cap":
					q.BatchCap = v.(int)
				}
				walk(i+1, q)
			}
		}
		walk(0, SearchPoint{})
	}
	return spec, points, nil
}

// NumPoints is the sweep's size as ticked ("" when a value is bad).
func (c *SearchPanel) NumPoints() string {
	n := 1
	for _, a := range c.Axes {
		if a.On {
			v, err := axisValues(a)
			if err != nil {
				return ""
			}
			n *= len(v)
		}
	}
	if n == 1 {
		return "1 point: the current configuration"
	}
	return num(int64(n)) + " points"
}

// HandleSearch starts a search of the panel's settings.
func (c *SearchPanel) HandleSearch() {
	c.R.safe(func() {
		c.Err, c.Notice = nil, ""
		spec, points, err := c.spec()
		if err != nil {
			c.Err = &Problem{Title: "bad search setting", Detail: err.Error()}
			return
		}
		workers, err := strconv.Atoi(c.Workers)
		if err != nil || workers < 1 || workers > 64 {
			c.Err = &Problem{Title: "bad search setting", Detail: fmt.Sprintf("workers: expected a whole number in [1, 64], got %q", c.Workers)}
			return
		}
		in, err := c.R.inputs()
		if err != nil {
			c.Err = &Problem{Title: "bad setting", Detail: err.Error()}
			return
		}
		var req map[string]any
		if err := json.Unmarshal([]byte(in.body), &req); err != nil {
			c.Err = &Problem{Title: "internal error (please report)", Detail: err.Error()}
			return
		}
		req["search"] = spec
		body, _ := json.Marshal(req)
		c.Progress = make([]*PointProgress, len(points))
		for i, p := range points {
			c.Progress[i] = &PointProgress{Point: p}
		}
		c.Running, c.TrialsRun, c.started = true, 0, time.Now()
		var onTrial, onDone js.Func
		onTrial = js.FuncOf(func(_ js.Value, args []js.Value) any {
			phase, trial, status, answer := args[0].String(), args[1].String(), args[2].Int(), args[3].String()
			kind := ""
			if len(args) > 4 && args[4].Type() == js.TypeString {
				kind = args[4].String()
			}
			go c.progress(func() { c.trial(phase, kind, trial, status, answer) })
			return nil
		})
		onDone = js.FuncOf(func(_ js.Value, args []js.Value) any {
			onTrial.Release()
			onDone.Release()
			status, text := args[0].Int(), args[1].String()
			go c.R.update(func() { c.done(status, text) })
			return nil
		})
		bridge().Call("search", string(body), workers, onTrial, onDone)
	})
}

// progressEvery is the least time between two updates of a search's
// progress on the page.
const progressEvery = 500 * time.Millisecond

// progress changes the search's progress under the render lock and shows it
// without re-rendering the page, at most every progressEvery (the first
// change at once, later ones together with whatever else arrived before the
// next update): the progress line and the table's cells are set directly,
// as the next render draws them. A render draws every panel of the page
// (~60 ms of the UI's wasm, then the browser's layout and paint): one per
// trial event, 360 in the README's 16-point search, took the page's main
// thread more CPU than a pool worker's simulations.
func (c *SearchPanel) progress(f func()) {
	env := c.R.env
	env.Lock()
	c.R.safe(f)
	now := time.Now()
	if c.showAt.After(now) { // an update is due: it will show this too
		env.UnlockOnly()
		return
	}
	wait := max(0, c.shown.Add(progressEvery).Sub(now))
	c.showAt = now.Add(wait)
	env.UnlockOnly()
	time.AfterFunc(wait, c.showProgress)
}

// showProgress sets the progress line and table of the search in progress.
func (c *SearchPanel) showProgress() {
	env := c.R.env
	env.Lock()
	c.shown, c.showAt = time.Now(), time.Time{}
	if !c.Running {
		env.UnlockOnly()
		return
	}
	rows := make([][4]string, len(c.Progress))
	for i, p := range c.Progress {
		rows[i] = [4]string{strconv.Itoa(p.Trials), p.Bracket(), p.Last, p.RunningText()}
	}
	b, _ := json.Marshal(map[string]any{"line": c.ProgressLine(), "rows": rows})
	env.UnlockOnly()
	bridge().Call("showSearchProgress", string(b))
}

// trial records a trial starting or done on its point's progress. kind is
// what internal/search ran it for: a saturation burst (requests arriving at
// once, run to the last for the capacity estimate, never judged against the
// SLO: its duration is what the search keeps), a pilot trial, a full trial
// or the trial at the target rate; only full trials, or the pilot's until
// one is done, make the bracket.
func (c *SearchPanel) trial(phase, kind, body string, status int, answer string) {
	if !c.Running {
		return
	}
	var t struct {
		Config struct {
			Cluster struct {
				N int `json:"num_replicas"`
			} `json:"cluster"`
			Replica struct {
				TP int `json:"tensor_parallel_size"`
				PP int `json:"num_pipeline_stages"`
			} `json:"replica"`
			Scheduler struct {
				Type  string `json:"type"`
				Chunk int    `json:"chunk_size"`
				Cap   int    `json:"batch_size_cap"`
			} `json:"scheduler"`
			Workload struct {
				QPS      float64 `json:"qps"`
				Requests int     `json:"num_requests"`
			} `json:"workload"`
		} `json:"config"`
	}
	if json.Unmarshal([]byte(body), &t) != nil {
		return
	}
	k := t.Config
	p := SearchPoint{Replicas: k.Cluster.N, TP: k.Replica.TP, PP: k.Replica.PP, Scheduler: k.Scheduler.Type, ChunkSize: k.Scheduler.Chunk, BatchCap: k.Scheduler.Cap}
	var pr *PointProgress
	for _, x := range c.Progress {
		if x.Point == p {
			pr = x
		}
	}
	if pr == nil {
		return
	}
	q := k.Workload.QPS
	if phase == "start" {
		pr.Running = append(pr.Running, q)
		return
	}
	for i, r := range pr.Running {
		if r == q {
			pr.Running = append(pr.Running[:i], pr.Running[i+1:]...)
			break
		}
	}
	pr.Trials++
	c.TrialsRun++
	n := num(int64(k.Workload.Requests))
	var a struct {
		Summary struct {
			SLO *slo.Report `json:"slo"`
		} `json:"summary"`
		Detail string `json:"detail"`
	}
	json.Unmarshal([]byte(answer), &a)
	r := a.Summary.SLO
	if kind == trialBurst {
		switch {
		case status != 200:
			pr.Last = fmt.Sprintf("saturation burst (%s requests at once) could not run (%s): no capacity estimate", n, a.Detail)
		case r != nil:
			pr.Last = fmt.Sprintf("saturation burst: %s requests at once, served in %s of simulated time (for the capacity estimate; not judged against the SLO)",
				n, dur(1000*r.Load.DurationS))
		}
		return
	}
	what := ""
	switch kind {
	case trialPilot:
		what = "pilot trial: "
	case trialTarget:
		what = "target trial: "
	}
	switch {
	case status != 200:
		pr.Last = fmt.Sprintf("%s%s QPS: could not run (%s)", what, short(q), a.Detail)
		return
	case r == nil:
		return
	}
	verdict, att := "fails", "attainment "
	if r.Met {
		verdict = "meets the SLO"
	}
	if strings.Contains(answer, `"stopped_early"`) {
		verdict, att = "fails (stopped early)", "attainment ≤ "
	}
	pr.Last = fmt.Sprintf("%s%s QPS (%s requests) %s (%s%s%%)", what, short(q), n, verdict, att, pct(r.Attainment))
	switch {
	case kind == trialTarget:
		return
	case kind == trialPilot && !pr.PilotBracket && (len(pr.Passes) > 0 || pr.Fail > 0):
		return // a full trial is done: the bracket is theirs
	case kind == trialPilot:
		pr.PilotBracket = true
	case pr.PilotBracket: // the first full trial
		pr.Passes, pr.Fail, pr.PilotBracket = nil, 0, false
	}
	if r.Met {
		pr.Passes = append(pr.Passes, q)
	} else if pr.Fail == 0 || q < pr.Fail {
		pr.Fail = q
	}
}

// done takes the search's answer.
func (c *SearchPanel) done(status int, text string) {
	if !c.Running {
		return
	}
	c.Running = false
	c.ElapsedMs = float64(time.Since(c.started).Microseconds()) / 1000
	if status != 200 {
		c.Err = problemOf(status, text)
		return
	}
	var r SearchResult
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		c.Err = problemOf(0, text)
		return
	}
	c.Result = &r
	c.Progress = nil
	var curves []charts.Curve
	var pts []charts.ParetoPoint
	for i, p := range r.Points {
		name := fmt.Sprintf("#%d %s", i, p.Point)
		cv := charts.Curve{Name: name}
		for _, q := range p.Curve {
			cv.QPS, cv.Attainment = append(cv.QPS, q.QPS), append(cv.Attainment, q.Attainment)
		}
		curves = append(curves, cv)
		if p.Found {
			pts = append(pts, charts.ParetoPoint{Name: name, GoodputPerGPU: p.GoodputTokensPerSPerGPU, E2EP90Ms: p.E2EP90Ms, Pareto: p.Pareto})
		}
	}
	list := []map[string]string{}
	for _, ch := range []charts.Chart{charts.SearchCurves(curves), charts.SearchPareto(pts)} {
		list = append(list, map[string]string{"id": ch.ID, "option": ch.Option})
	}
	b, _ := json.Marshal(list)
	bridge().Call("setExtraCharts", "search", string(b))
}

// HandleCancel stops the search (its workers are terminated).
func (c *SearchPanel) HandleCancel() {
	c.R.safe(func() {
		if !c.Running {
			return
		}
		bridge().Call("cancelSearch")
		c.Running = false
		c.Notice = fmt.Sprintf("Search cancelled after %d trials.", c.TrialsRun)
	})
}

// HandleDownload saves one of the search's files (the CLI's bytes).
func (c *SearchPanel) HandleDownload(f File) {
	c.R.safe(func() { bridge().Call("saveText", f.Name, f.Content) })
}

// ProgressLine is the search in progress in one line.
func (c *SearchPanel) ProgressLine() string {
	return fmt.Sprintf("Searching… %s trials done over %d points (%s elapsed)", num(int64(c.TrialsRun)), len(c.Progress), dur(float64(time.Since(c.started).Milliseconds())))
}

// RunningText is a point's trials in flight.
func (p *PointProgress) RunningText() string {
	var s []string
	for _, q := range p.Running {
		s = append(s, short(q))
	}
	if len(s) == 0 {
		return ""
	}
	return "running at " + strings.Join(s, ", ") + " QPS"
}

// Bracket is a point's passing and failing rates so far (the pilot's,
// said so, until a full trial is done).
func (p *PointProgress) Bracket() string {
	s, pass := "", p.Pass()
	switch {
	case pass > 0 && p.Fail > 0:
		s = fmt.Sprintf("between %s and %s QPS", short(pass), short(p.Fail))
	case pass > 0:
		s = "≥ " + short(pass) + " QPS"
	case p.Fail > 0:
		s = "< " + short(p.Fail) + " QPS"
	}
	if s != "" && p.PilotBracket {
		s += " (pilot)"
	}
	return s
}

// Summary is the search result's headline.
func (c *SearchPanel) Summary() string {
	r := c.Result
	found, pilot, bursts := 0, 0, 0
	for _, p := range r.Points {
		if p.Found {
			found++
		}
		pilot += len(p.Pilot)
		bursts += len(p.Saturation)
	}
	full := r.Trials - pilot - bursts
	trials := fmt.Sprintf("%s trials of %s requests", num(int64(full)), num(int64(r.Spec.Requests)))
	switch {
	case bursts > 0:
		trials = fmt.Sprintf("%s trials (%s of %s requests after %s saturation bursts and %s pilot trials of %s)", num(int64(r.Trials)), num(int64(full)),
			num(int64(r.Spec.Requests)), num(int64(bursts)), num(int64(pilot)), num(int64(r.Spec.PilotRequests)))
	case pilot > 0:
		trials = fmt.Sprintf("%s trials (%s of %s requests after %s pilot trials of %s)", num(int64(r.Trials)), num(int64(full)),
			num(int64(r.Spec.Requests)), num(int64(pilot)), num(int64(r.Spec.PilotRequests)))
	}
	return fmt.Sprintf("%d points, %s, precision %s%%: %d met the SLO at some rate; %s in this browser",
		len(r.Points), trials, short(100*r.Spec.Precision), found, dur(c.ElapsedMs))
}

// CheapestLine is the cheapest configuration at the target rate.
func (c *SearchPanel) CheapestLine() string {
	r := c.Result
	if r.Cheapest == nil {
		return ""
	}
	ch := r.Cheapest
	return fmt.Sprintf("Cheapest meeting the SLO at %s QPS: #%d (%s), %d GPUs, $%.2f per hour at $%s per GPU-hour (attainment %s%% there)",
		short(r.Spec.TargetQPS), ch.Index, ch.Point, ch.GPUs, ch.CostPerHUS, short(r.Spec.GPUHourUSD), pct(ch.Probe.Attainment))
}

// Row is a point's line of the results table.
func (p SearchPointResult) Row() []string {
	if !p.Found {
		return []string{"none", "–", "–", "–", "–", "–"}
	}
	return []string{short(p.MaxQPS), short(p.GoodputTokensPerSPerGPU), "$" + strconv.FormatFloat(p.CostPer1MTokensUSD, 'f', 4, 64),
		dur(p.TTFTP90Ms), dur(p.TBTP90Ms), dur(p.E2EP90Ms)}
}

// Mark is a point's Pareto mark or error.
func (p SearchPointResult) Mark() string {
	switch {
	case p.Error != "":
		return p.Error
	case p.Pareto:
		return "Pareto"
	}
	return ""
}

// short renders v with at most four significant digits, no trailing zeros:
// "24", "1.5", "5,238".
func short(v float64) string {
	s := sig4(v)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
