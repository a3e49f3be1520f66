package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

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
	const script = `
const fs = require("fs"), vm = require("vm");
const workers = [];
class Worker { constructor(url) { this.url = url; this.sent = []; workers.push(this); }
  postMessage(m) { this.sent.push(m); } terminate() { this.dead = true; } addEventListener() {} }
const ctx = { window: { servesim: {} }, Worker, fetch: () => new Promise(() => {}),
  WebAssembly: { compileStreaming: () => new Promise(() => {}) }, navigator: {}, setTimeout, TextDecoder, console };
ctx.self = ctx;
vm.runInNewContext(fs.readFileSync("../assets/search.js", "utf8"), ctx);
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
