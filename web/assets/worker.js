// The simulation's home: a module Web Worker hosting servesim's HTTP API
// (Go wasm through github.com/syumai/workers' browser runtime). The page
// posts {id, url, method, body, stream}; answers come back as messages, and
// a streamed (ndjson) answer line by line, so the UI thread never blocks.
//
// syumai's generated glue (build/worker.mjs) starts a new Go instance for
// every request. This glue uses the same runtime pieces (its wasm_exec.js,
// which gives Go a per-instance `context`, and the compiled build/app.wasm,
// as its runtime.mjs compiles it) but starts one instance, marked
// persistent, and sends every request to its handleRequest binding (see
// wasm/worker/host_js.go): parsed profiles and workloads stay warm between
// runs.

// The engine's compiled module. A capacity search's workers
// (web/assets/search.js) start as worker.js?module=posted and are sent it
// ({type: "module"}), compiled once in the page for all of them; the page's
// own worker compiles it here when it starts (runtime.mjs's one line:
// importing that module would compile it in every worker).
const posted = new URL(self.location.href).searchParams.get("module") === "posted";
let givenModule = null;
let modulePromise = posted
  ? new Promise((resolve, reject) => { givenModule = { resolve, reject }; })
  : null;
const compileModule = () => {
  if (!modulePromise) {
    modulePromise = WebAssembly.compileStreaming(fetch("./build/app.wasm"));
    modulePromise.catch(() => {}); // reported by the request that needs it
  }
  return modulePromise;
};
// Go's glue (syumai's wasm_exec.js, which defines Go) is imported after the
// engine's fetch has started, not statically before this module runs: a
// static import made the engine's download wait for it.
const glue = import("./build/wasm_exec.js");
glue.catch(() => {}); // reported by the request that needs it

const mark = (name) => self.postMessage({ type: "mark", name, at: performance.timeOrigin + performance.now() });
globalThis.servesimMark = mark;
mark("worker module");
// The Go side's answers enqueue chunks through this (wasm/worker/host_js.go):
// the chunk is a copy made here, so Go holds no reference to it.
globalThis.servesimEnqueue = (ctrl, stage, n) => ctrl.enqueue(stage.slice(0, n));
globalThis.tryCatch = (fn) => {
  try {
    return { result: fn() };
  } catch (e) {
    return { error: e };
  }
};

let instance = null; // Promise of the running instance's binding
let exitGo = null; // ends the running instance as if the Go runtime had exited (tests)
let started = 0; // Go instances started by this worker (tests check it stays 1)
let memory = null; // the running instance's wasm memory (its size is in the stats)
const onExit = new Set(); // what to fail if the Go runtime exits

function start() {
  if (instance) return instance;
  instance = (async () => {
    const mod = await compileModule();
    await glue;
    mark("worker compiled");
    started++;
    const go = new Go();
    let exitCode = 0;
    const exit = go.exit;
    go.exit = (code) => { exitCode = code; exit(code); };
    const binding = {};
    const ctx = { binding }; // what runtime.mjs's createRuntimeContext makes
    ctx.servesim = { persistent: true };
    let ready;
    const isReady = new Promise((resolve) => { ready = resolve; });
    const inst = new WebAssembly.Instance(mod, { ...go.importObject, workers: { ready: () => ready() } });
    memory = inst.exports.mem;
    exitGo = () => go._resolveExitPromise();
    go.run(inst, ctx).then(() => {
      // The Go runtime exited (it should not; a fatal error such as running
      // out of memory does it): fail every request in flight, answers being
      // read included, and start a fresh instance for the next one.
      instance = null;
      const err = new Error("the simulation engine stopped (the Go runtime exited" +
        (exitCode ? " with code " + exitCode : "") + "; see the browser console); the next run starts it again");
      for (const fail of onExit) fail(err);
      onExit.clear();
    });
    await isReady;
    mark("worker ready");
    return binding;
  })();
  return instance;
}

// The engine is downloaded, compiled and started (Go's runtime, the
// default profile's parse) on the page's first request or its {type:
// "start"}: a page with a shared link asks at once (index.html); one that
// shows the default run's prebuilt result (web/ui/prebuilt.go) starts it
// after its first chart (its catalogue requests), so that the engine's 13 MB
// compile and V8's tier-up of it do not compete with the page's own start
// on the visitor's cores.

// A capacity search's coordinating worker (web/assets/search.js) gets
// {type: "pool", size}: its Go side then sends each trial here
// (servesimPool.trial, see wasm/worker/pool_js.go), which posts it to the
// page; the page runs it on a pool worker and posts the answer back
// ({type: "trial-result"} or {type: "trial-error"}).
const trials = new Map();
let nextTrial = 1;
function setPool(size) {
  globalThis.servesimPool = {
    size,
    trial(url, body, kind) {
      const tid = nextTrial++;
      return new Promise((resolve, reject) => {
        trials.set(tid, { resolve, reject });
        self.postMessage({ type: "trial", tid, url, body, kind });
      });
    },
  };
}

self.onmessage = async (e) => {
  const { id, url, method, body, stream, download } = e.data;
  if (e.data.type === "pool") { setPool(e.data.size); return; }
  if (e.data.type === "start") { start().catch(() => {}); return; } // a failure is reported by the request that needs it
  if (e.data.type === "module") {
    if (givenModule) givenModule[e.data.module ? "resolve" : "reject"](e.data.module || new Error(e.data.error));
    givenModule = null;
    return;
  }
  if (e.data.type === "trial-result" || e.data.type === "trial-error") {
    const t = trials.get(e.data.tid);
    trials.delete(e.data.tid);
    if (!t) return;
    if (e.data.type === "trial-result") t.resolve({ status: e.data.status, contentType: e.data.contentType, body: e.data.body });
    else t.reject(new Error(e.data.message));
    return;
  }
  if (e.data.type === "stats") { // enqueued: bytes every answer's stream took from Go (wasm/worker/host_js.go)
    self.postMessage({ id, type: "stats", instances: started, enqueued: self.servesimEnqueued || 0,
      wasmBytes: memory ? memory.buffer.byteLength : 0 });
    return;
  }
  if (e.data.type === "test-exit") { // the recovery path's test: as if Go died (out of memory, say)
    if (exitGo) exitGo();
    return;
  }
  // Every wait below also ends if the Go runtime exits.
  let fail;
  const exited = new Promise((_, reject) => { fail = reject; });
  onExit.add(fail);
  const orExit = (p) => Promise.race([p, exited]);
  let streaming = false; // a download's stream outlives this handler
  try {
    const init = { method };
    if (body != null) {
      init.body = body;
      init.headers = { "Content-Type": "application/json" };
    }
    const binding = await start();
    self.postMessage({ id, type: "begin" }); // the engine is up: the run's clock starts here
    const res = await orExit(binding.handleRequest(new Request(new URL(url, self.location.href), init)));
    const contentType = res.headers.get("Content-Type") || "";
    if (download && res.ok) {
      // A download (an output file): its stream goes to the page as it is
      // produced (a transferred stream: the reader's pace reaches the Go
      // writer, which waits, so memory stays bounded). If the Go runtime
      // exits first, the stream fails instead of ending short.
      const ac = new AbortController();
      exited.catch((err) => ac.abort(err));
      const out = new TransformStream();
      streaming = true;
      res.body.pipeTo(out.writable, { signal: ac.signal }).catch(() => {}).finally(() => onExit.delete(fail));
      self.postMessage({ id, type: "stream", contentType, stream: out.readable }, [out.readable]);
      return;
    }
    if (stream && res.ok && contentType.startsWith("application/x-ndjson")) {
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await orExit(reader.read());
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line) self.postMessage({ id, type: "line", line });
        }
      }
      if (buf) self.postMessage({ id, type: "line", line: buf });
      self.postMessage({ id, type: "end" });
      return;
    }
    const data = await orExit(res.arrayBuffer());
    self.postMessage({ id, type: "response", status: res.status, contentType, data }, [data]);
  } catch (err) {
    self.postMessage({ id, type: "fatal", message: String(err && err.message || err) });
  } finally {
    if (!streaming) onExit.delete(fail);
  }
};
