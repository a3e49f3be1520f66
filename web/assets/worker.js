// The simulation's home: a module Web Worker hosting servesim's HTTP API
// (Go wasm through github.com/syumai/workers' browser runtime). The page
// posts {id, url, method, body, stream}; answers come back as messages, and
// a streamed (ndjson) answer line by line, so the UI thread never blocks.
//
// syumai's generated glue (build/worker.mjs) starts a new Go instance for
// every request. This glue uses the same runtime pieces (its wasm_exec.js,
// which gives Go a per-instance `context`, and runtime.mjs, which compiles
// build/app.wasm) but starts one instance, marked persistent, and sends every
// request to its handleRequest binding (see wasm/worker/persistent_js.go):
// parsed profiles and workloads stay warm between runs.
import "./build/wasm_exec.js";
import { createRuntimeContext, loadModule } from "./build/runtime.mjs";

globalThis.tryCatch = (fn) => {
  try {
    return { result: fn() };
  } catch (e) {
    return { error: e };
  }
};

let instance = null; // Promise of the running instance's binding
let started = 0; // Go instances started by this worker (tests check it stays 1)
const inFlight = new Set(); // rejecters of requests awaiting an answer

function start() {
  if (instance) return instance;
  instance = (async () => {
    const mod = await loadModule();
    started++;
    const go = new Go();
    const binding = {};
    const ctx = createRuntimeContext({ binding });
    ctx.servesim = { persistent: true };
    let ready;
    const isReady = new Promise((resolve) => { ready = resolve; });
    const inst = new WebAssembly.Instance(mod, { ...go.importObject, workers: { ready: () => ready() } });
    go.run(inst, ctx).then(() => {
      // The Go runtime exited (it should not): fail what is waiting and
      // start a fresh instance for the next request.
      instance = null;
      for (const reject of inFlight) reject(new Error("the Go runtime exited"));
      inFlight.clear();
    });
    await isReady;
    return binding;
  })();
  return instance;
}

async function handle(req) {
  const binding = await start();
  return new Promise((resolve, reject) => {
    inFlight.add(reject);
    binding.handleRequest(req).then(resolve, reject).finally(() => inFlight.delete(reject));
  });
}

start(); // compile and start while the page loads

self.onmessage = async (e) => {
  const { id, url, method, body, stream } = e.data;
  if (e.data.type === "stats") {
    self.postMessage({ id, type: "stats", instances: started });
    return;
  }
  try {
    const init = { method };
    if (body != null) {
      init.body = body;
      init.headers = { "Content-Type": "application/json" };
    }
    const res = await handle(new Request(new URL(url, self.location.href), init));
    const contentType = res.headers.get("Content-Type") || "";
    if (stream && res.ok && contentType.startsWith("application/x-ndjson")) {
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
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
    const data = await res.arrayBuffer();
    self.postMessage({ id, type: "response", status: res.status, contentType, data }, [data]);
  } catch (err) {
    self.postMessage({ id, type: "fatal", message: String(err && err.stack || err) });
  }
};
