package e2e

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// searchJSStubs is the start of a Node script that loads web/assets/search.js
// in a context of stand-in Workers (each kept in workers, with the messages
// posted to it in sent) and a fetch and WebAssembly that never answer.
const searchJSStubs = `
const fs = require("fs"), vm = require("vm");
let workers = [];
class Worker { constructor(url) { this.url = url; this.sent = []; workers.push(this); }
  postMessage(m) { this.sent.push(m); } terminate() { this.dead = true; } addEventListener() {} }
const ctx = { window: { servesim: {} }, Worker, fetch: () => new Promise(() => {}),
  WebAssembly: { compileStreaming: () => new Promise(() => {}) }, navigator: {}, setTimeout, TextDecoder, console };
ctx.self = ctx;
vm.runInNewContext(fs.readFileSync("../assets/search.js", "utf8"), ctx);
`

// TestSearchJS_TrialErrorEndsRow runs web/assets/search.js in Node with
// stand-in workers: a pool trial whose worker answers "fatal" (no HTTP
// answer) must still report "done" to the panel, with its error as the
// answer's detail, so that its "running at" cell ends; the coordinator gets
// the trial-error (internal/search then retries it and records the point's
// error, as `servesim search` does). Needs node; no browser.
func TestSearchJS_TrialErrorEndsRow(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is missing")
	}
	const script = searchJSStubs + `
const events = [];
ctx.window.servesim.search("{}", 1, (phase, body, status, answer, kind) => events.push({ phase, status, answer, kind }), () => {});
const pool = workers[0], coord = workers[1];
coord.onmessage({ data: { type: "trial", tid: 7, url: "/api/simulate?format=summary", body: "{\"config\":{}}", kind: "full" } });
const posted = pool.sent.find((m) => m.id);
pool.onmessage({ data: { id: posted.id, type: "fatal", message: "the engine ran out of memory" } });
const toCoord = coord.sent.find((m) => m.tid === 7);
console.log(JSON.stringify({ events, toCoord }));
`
	cmd := exec.Command(node, "-e", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, `"type":"trial-error"`) || !strings.Contains(s, "the engine ran out of memory") {
		t.Fatalf("the coordinator did not get the trial's error: %s", s)
	}
	if !strings.Contains(s, `"phase":"done"`) {
		t.Fatalf("the failed trial never reported done (its row stays \"running at\"): %s", s)
	}
	if !strings.Contains(s, `{\"detail\":\"the engine ran out of memory\"}`) {
		t.Fatalf("the failed trial's done does not carry its error as detail: %s", s)
	}
}

// TestSearchJS_DeadWorkerLeavesPool runs web/assets/search.js in Node with
// stand-in workers: a pool worker that dies mid-trial (its error event)
// ends that trial with the error (done, and a trial-error to the
// coordinator) and leaves the pool, so that the trial queued after it goes
// to the worker still running and the search completes there; when the
// search's last worker dies, the search ends with the error instead of
// waiting for a worker that is gone. Needs node; no browser.
func TestSearchJS_DeadWorkerLeavesPool(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is missing")
	}
	const script = searchJSStubs + `
const S = ctx.window.servesim;
const trial = (coord, tid) => coord.onmessage({ data: { type: "trial", tid, url: "/api/simulate?format=summary", body: "{\"config\":{\"seed\":" + tid + "}}", kind: "full" } });
const posted = (w) => w.sent.filter((m) => m.id);
const out = {};

// two workers; three trials: the first two run, the third waits
let events = [], done = null;
S.search("{}", 2, (phase, body, status, answer) => events.push({ phase, body, status, answer }), (status, text) => { done = { status, text }; });
let [a, b, coord] = workers;
trial(coord, 1); trial(coord, 2); trial(coord, 3);
const onA = posted(a)[0], onB = posted(b)[0];
a.onerror({ message: "out of memory" }); // a dies running its trial
b.onmessage({ data: { id: onB.id, type: "response", status: 200, contentType: "application/json", data: new TextEncoder().encode("{}") } });
const onB2 = posted(b)[1];
out.queuedTo = onB2 ? "b" : (posted(a).length > 1 ? "a (dead)" : "none");
if (onB2) b.onmessage({ data: { id: onB2.id, type: "response", status: 200, contentType: "application/json", data: new TextEncoder().encode("{}") } });
coord.onmessage({ data: { type: "response", status: 200, data: new TextEncoder().encode("{\"points\":[]}") } });
out.toCoord = coord.sent.filter((m) => m.tid).map((m) => m.tid + ":" + m.type);
out.aFailedDone = events.some((e) => e.phase === "done" && e.status === 0 && e.body.includes("\"seed\":" + onA.body.match(/seed\":(\d+)/)[1]) && e.answer.includes("out of memory"));
out.done = done;
out.aTerminated = !!a.dead;

// the next search: the dead worker is not among its workers
workers = [];
S.search("{}", 1, () => {}, (status, text) => { done = { status, text }; });
out.nextPool = workers.length; // no new pool worker (b is kept): only a coordinator
done = null;
b.onerror({ message: "engine failed to load" }); // the search's last worker dies
out.lastDone = done;
console.log(JSON.stringify(out));
`
	out, err := exec.Command(node, "-e", script).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		QueuedTo    string
		ToCoord     []string
		AFailedDone bool
		Done        *struct {
			Status int
			Text   string
		}
		ATerminated bool
		NextPool    int
		LastDone    *struct {
			Status int
			Text   string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.QueuedTo != "b" {
		t.Errorf("the trial queued after the worker died went to %s, want the running worker b: %s", got.QueuedTo, out)
	}
	if len(got.ToCoord) != 3 || !slices.Contains(got.ToCoord, "1:trial-error") || !slices.Contains(got.ToCoord, "2:trial-result") || !slices.Contains(got.ToCoord, "3:trial-result") {
		t.Errorf("the coordinator got %v, want the dead worker's trial 1 as a trial-error and 2, 3 as results", got.ToCoord)
	}
	if !got.AFailedDone {
		t.Errorf("the dead worker's trial did not report done with its error: %s", out)
	}
	if got.Done == nil || got.Done.Status != 200 {
		t.Errorf("the search did not complete on the remaining worker: %+v", got.Done)
	}
	if !got.ATerminated {
		t.Error("the dead worker was not terminated")
	}
	if got.NextPool != 1 {
		t.Errorf("the next search of 1 worker started %d workers, want 1 (its coordinator; the live worker b kept, the dead one gone)", got.NextPool)
	}
	if got.LastDone == nil || got.LastDone.Status != 0 || !strings.Contains(got.LastDone.Text, "engine failed to load") || !strings.Contains(got.LastDone.Text, "no worker is left") {
		t.Errorf("the search whose last worker died ended with %+v, want status 0 naming the error and that no worker is left", got.LastDone)
	}
}
