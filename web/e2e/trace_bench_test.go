package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/tracing"
	"github.com/chromedp/chromedp"
)

// traceEv is one Chromium trace event (the Trace Event Format's fields
// this benchmark reads).
type traceEv struct {
	Name string          `json:"name"`
	Cat  string          `json:"cat"`
	Ph   string          `json:"ph"`
	Ts   float64         `json:"ts"`
	Dur  float64         `json:"dur"`
	TDur float64         `json:"tdur"`
	Pid  int             `json:"pid"`
	Tid  int             `json:"tid"`
	Args json.RawMessage `json:"args"`
}

// BenchmarkPageTrace records a Chromium performance trace of one cold
// start (navigation to the first plotted result, as BenchmarkPageStart) and
// logs what ran before the first result: per thread, the top-level tasks'
// wall and CPU time, and the longest tasks with the events inside them
// that took the most time (ParseHTML, EvaluateScript, Layout,
// HandlePostMessage, ...). Tracing slows the page; the times say where the
// main thread is busy, not how fast the page is.
func BenchmarkPageTrace(b *testing.B) {
	srv, ctx := setup(b)
	if err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatal(err)
	}
	waitBrowserIdle(b, ctx)
	var evs []traceEv
	done := make(chan struct{})
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *tracing.EventDataCollected:
			for _, v := range ev.Value {
				var e traceEv
				if json.Unmarshal(v, &e) == nil {
					evs = append(evs, e)
				}
			}
		case *tracing.EventTracingComplete:
			close(done)
		}
	})
	cats := []string{"devtools.timeline", "disabled-by-default-devtools.timeline", "disabled-by-default-devtools.timeline.stack", "v8.execute", "blink.user_timing", "toplevel", "v8", "loading"}
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		return tracing.Start().WithTraceConfig(&tracing.TraceConfig{IncludedCategories: cats}).Do(ctx)
	})); err != nil {
		b.Fatal(err)
	}
	at := firstResult(b, ctx, srv.URL)
	b.Logf("first result %v; marks %s", at, marks(b, ctx))
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error { return tracing.End().Do(ctx) })); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatal("no trace")
	}
	// Thread names, and navigation start (the page's clock's zero).
	names := map[[2]int]string{}
	var nav float64
	for _, e := range evs {
		if e.Ph == "M" && e.Name == "thread_name" {
			var a struct{ Name string }
			json.Unmarshal(e.Args, &a)
			names[[2]int{e.Pid, e.Tid}] = a.Name
		}
		if e.Name == "navigationStart" && nav == 0 {
			nav = e.Ts
		}
	}
	end := nav + float64(at.Microseconds())
	if nav == 0 {
		b.Fatal("no navigationStart event in the trace")
	}
	type agg struct{ wall, cpu float64 }
	perThread := map[string]*agg{}
	type task struct {
		thread string
		start  float64
		dur    float64
		cpu    float64
		kids   map[string]float64
		// layouts: the Layout events inside it (forced ones carry the
		// script's stack), their CPU and what forced them.
		layouts   int
		layoutCPU float64
		forcedBy  map[string]int
	}
	var tasks []*task
	byThread := map[[2]int][]*task{}
	sort.Slice(evs, func(i, j int) bool { return evs[i].Ts < evs[j].Ts })
	lastEnd := map[[2]int]float64{}
	for _, e := range evs {
		if e.Ph != "X" || e.Ts < nav || e.Ts > end {
			continue
		}
		th := names[[2]int{e.Pid, e.Tid}]
		if e.Name == "RunTask" || e.Name == "ThreadControllerImpl::RunTask" {
			k := [2]int{e.Pid, e.Tid}
			if e.Ts < lastEnd[k] {
				continue // nested
			}
			lastEnd[k] = e.Ts + e.Dur
			a := perThread[th]
			if a == nil {
				a = &agg{}
				perThread[th] = a
			}
			a.wall += e.Dur
			a.cpu += e.TDur
			t := &task{thread: th, start: e.Ts - nav, dur: e.Dur, cpu: e.TDur, kids: map[string]float64{}}
			tasks = append(tasks, t)
			byThread[[2]int{e.Pid, e.Tid}] = append(byThread[[2]int{e.Pid, e.Tid}], t)
		}
	}
	for _, e := range evs {
		if e.Ph != "X" || e.Ts < nav || e.Ts > end || e.Name == "RunTask" || e.Name == "ThreadControllerImpl::RunTask" {
			continue
		}
		for _, t := range byThread[[2]int{e.Pid, e.Tid}] {
			if e.Ts-nav >= t.start && e.Ts-nav < t.start+t.dur {
				t.kids[e.Name] += e.Dur
				if e.Name == "Layout" {
					t.layouts++
					t.layoutCPU += e.TDur
					if by := layoutForcer(e.Args); by != "" {
						if t.forcedBy == nil {
							t.forcedBy = map[string]int{}
						}
						t.forcedBy[by]++
					}
				}
				break
			}
		}
	}
	var ths []string
	for th := range perThread {
		ths = append(ths, th)
	}
	sort.Slice(ths, func(i, j int) bool { return perThread[ths[i]].cpu > perThread[ths[j]].cpu })
	for _, th := range ths {
		b.Logf("thread %-30q top-level tasks: wall %6.0f ms, CPU %6.0f ms", th, perThread[th].wall/1000, perThread[th].cpu/1000)
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].dur > tasks[j].dur })
	for _, t := range tasks[:min(20, len(tasks))] {
		type kv struct {
			k string
			v float64
		}
		var ks []kv
		for k, v := range t.kids {
			ks = append(ks, kv{k, v})
		}
		sort.Slice(ks, func(i, j int) bool { return ks[i].v > ks[j].v })
		s := ""
		for _, x := range ks[:min(5, len(ks))] {
			s += fmt.Sprintf(" %s %.0f;", x.k, x.v/1000)
		}
		if t.layouts > 0 {
			s += fmt.Sprintf(" [%d Layout, CPU %.0f ms", t.layouts, t.layoutCPU/1000)
			var by []string
			for k, n := range t.forcedBy {
				by = append(by, fmt.Sprintf("%s x%d", k, n))
			}
			sort.Strings(by)
			if len(by) > 0 {
				s += "; forced by " + strings.Join(by, ", ")
			}
			s += "]"
		}
		b.Logf("task on %-24s at %6.0f ms, %5.0f ms (CPU %4.0f ms):%s", t.thread, t.start/1000, t.dur/1000, t.cpu/1000, s)
	}
}

// layoutForcer is the script frame that forced a Layout event (its
// beginData's stack, recorded with the timeline.stack category: function,
// file and line), or "" for a layout the rendering pipeline ran.
func layoutForcer(args json.RawMessage) string {
	var a struct {
		BeginData struct {
			StackTrace []struct {
				FunctionName string `json:"functionName"`
				URL          string `json:"url"`
				LineNumber   int    `json:"lineNumber"`
			} `json:"stackTrace"`
		} `json:"beginData"`
	}
	if json.Unmarshal(args, &a) != nil || len(a.BeginData.StackTrace) == 0 {
		return ""
	}
	var fs []string
	for _, f := range a.BeginData.StackTrace[:min(3, len(a.BeginData.StackTrace))] {
		fs = append(fs, fmt.Sprintf("%s (%s:%d)", cmp.Or(f.FunctionName, "?"), path.Base(f.URL), f.LineNumber))
	}
	return strings.Join(fs, " < ")
}
