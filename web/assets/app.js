// servesim's JavaScript bridge: everything the Go UI (Vugu, wasm) needs from
// the browser — the simulation Web Worker, ECharts, file drops, downloads,
// share links and the offline service worker. No third-party host is ever
// contacted: every asset is served with the page.
"use strict";
(function () {
  const S = {};
  let worker = null;
  let nextId = 1;
  const pending = new Map();

  function newWorker() {
    if (worker) worker.terminate();
    for (const [, p] of pending) p.onFatal("cancelled");
    pending.clear();
    worker = new Worker("worker.js", { type: "module" });
    worker.onmessage = (e) => {
      const m = e.data;
      const p = pending.get(m.id);
      if (!p) return;
      if (m.type === "line") p.onLine(m.line);
      else if (m.type === "end") { pending.delete(m.id); p.onEnd(); }
      else if (m.type === "response") { pending.delete(m.id); p.onResponse(m.status, m.contentType, m.data); }
      else if (m.type === "fatal") { pending.delete(m.id); p.onFatal(m.message); }
      else if (m.type === "stats") { pending.delete(m.id); p.onStats(m); }
      else if (m.type === "begin") p.onBegin();
    };
    worker.onerror = (e) => {
      for (const [, p] of pending) p.onFatal("the simulation worker failed: " + (e.message || e));
      pending.clear();
    };
  }

  function send(msg, handlers) {
    if (!worker) newWorker();
    const id = nextId++;
    pending.set(id, Object.assign({ onLine() {}, onEnd() {}, onResponse() {}, onFatal() {}, onStats() {}, onBegin() {} }, handlers));
    worker.postMessage(Object.assign({ id }, msg));
    return id;
  }

  // request(url, method, body, cb): cb(status, text) — JSON endpoints.
  S.request = function (url, method, body, cb) {
    send({ url, method, body, stream: false }, {
      onResponse: (status, ct, data) => cb(status, new TextDecoder().decode(data)),
      onFatal: (msg) => cb(0, msg),
    });
  };

  // simulate(url, body, onLine, onEnd, onFatal): streamed (ndjson) run.
  // onBegin (optional) runs when the worker's engine takes the request: the
  // first run also waits for the engine to start, which is not simulation.
  S.simulate = function (url, body, onLine, onEnd, onFatal, onBegin) {
    send({ url, method: body == null ? "GET" : "POST", body, stream: true }, { onLine, onEnd, onFatal, onBegin: onBegin || (() => {}),
      onResponse: (status, ct, data) => { onLine(new TextDecoder().decode(data)); onEnd(); } });
  };

  // workerStats(cb): cb({instances}) — how many Go instances the current
  // worker has started (one serves every request; tests check it).
  S.workerStats = function (cb) { send({ type: "stats" }, { onStats: cb }); };

  // testExitGo makes the worker act as if its Go runtime had exited (what a
  // fatal error such as running out of memory does), for the recovery test.
  S.testExitGo = function () { if (worker) worker.postMessage({ type: "test-exit" }); };

  // cancel stops a running simulation: a busy Go loop never yields, so the
  // worker is terminated and a fresh one started.
  S.cancel = function () { newWorker(); };

  // download fetches an output file from the worker and saves it.
  S.download = function (url, body, filename, cb) {
    send({ url, method: body == null ? "GET" : "POST", body, stream: false }, {
      onResponse: (status, ct, data) => {
        if (status !== 200) { cb(new TextDecoder().decode(data)); return; }
        const a = document.createElement("a");
        a.href = URL.createObjectURL(new Blob([data], { type: ct }));
        a.download = filename;
        document.body.appendChild(a);
        a.click();
        setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
        cb("");
      },
      onFatal: (msg) => cb(msg),
    });
  };

  // chart draws an ECharts option (JSON built by go-echarts in Go). ECharts
  // loads deferred, after the simulation has started; wait for it if needed.
  S.chart = function (id, optionJSON) {
    if (!window.echarts) {
      window.addEventListener("load", () => S.chart(id, optionJSON), { once: true });
      return;
    }
    const el = document.getElementById(id);
    if (!el) return;
    const old = echarts.getInstanceByDom(el);
    if (old) old.dispose();
    echarts.init(el).setOption(JSON.parse(optionJSON));
  };
  window.addEventListener("resize", () => {
    document.querySelectorAll(".chart").forEach((el) => { const c = window.echarts && echarts.getInstanceByDom(el); if (c) c.resize(); });
  });

  // Files: dropped anywhere on the page or picked; read as text and handed to Go.
  S.onFiles = null;
  S.setOnFiles = function (fn) { S.onFiles = fn; };
  function readFiles(list) {
    const files = Array.from(list || []);
    Promise.all(files.map((f) => f.text().then((content) => ({ name: f.name, content }))))
      .then((arr) => { if (S.onFiles) S.onFiles(JSON.stringify(arr)); });
  }
  S.pickFiles = function (input) { readFiles(input.files); input.value = ""; };
  document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", (e) => { if (!e.relatedTarget) document.body.classList.remove("dragging"); });
  document.addEventListener("drop", (e) => { e.preventDefault(); document.body.classList.remove("dragging"); readFiles(e.dataTransfer.files); });
  document.addEventListener("change", (e) => { if (e.target && e.target.id === "file-input") S.pickFiles(e.target); });

  // Share links: #s=<base64url(deflate-raw(JSON state))>.
  const MAX_LINK = 8000;
  // A link read is bounded twice: its length, and what it inflates to (a
  // deflate bomb stops there instead of exhausting the tab's memory).
  const MAX_LINK_IN = 1 << 16, MAX_STATE = 8 << 20;
  function b64url(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  async function deflate(text) {
    const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("deflate-raw"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  async function inflate(bytes, limit) {
    const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw")).getReader();
    const parts = [];
    let n = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.length;
      if (n > limit) {
        reader.cancel().catch(() => {});
        throw new Error("the link's settings inflate to more than " + limit + " bytes");
      }
      parts.push(value);
    }
    const out = new Uint8Array(n);
    let off = 0;
    for (const p of parts) { out.set(p, off); off += p.length; }
    return new TextDecoder("utf-8", { fatal: true }).decode(out);
  }
  // share(stateJSON, withFilesJSON, cb): cb(url, message).
  S.share = async function (stateJSON, stateWithoutFilesJSON, cb) {
    let enc = b64url(await deflate(stateJSON));
    let msg = "Link copied: it reproduces this run, uploaded workload included.";
    if (enc.length > MAX_LINK) {
      enc = b64url(await deflate(stateWithoutFilesJSON));
      msg = "The uploaded workload is too large to embed in a link (" + enc.length + " > " + MAX_LINK + " characters compressed); the link carries the preset and configuration only.";
    }
    const url = location.origin + location.pathname + "#s=" + enc;
    history.replaceState(null, "", "#s=" + enc);
    try { await navigator.clipboard.writeText(url); } catch (e) { msg += " (Copy it from the address bar: the clipboard is not available.)"; }
    cb(url, msg);
  };
  // initialState(cb): cb(stateJSON or "") from the URL's #s=.
  S.initialState = async function (cb) {
    const m = location.hash.match(/^#s=([A-Za-z0-9_-]+)$/);
    if (!m) { cb(""); return; }
    if (m[1].length > MAX_LINK_IN) { cb("!the link is " + m[1].length + " characters long, over the " + MAX_LINK_IN + " this page reads"); return; }
    try { cb(await inflate(unb64url(m[1]), MAX_STATE)); } catch (e) { cb("!" + String(e)); }
  };

  // boot starts the UI wasm; a failure is shown instead of a blank page.
  S.boot = async function (wasmURL) {
    if (!worker) newWorker();
    try {
      const go = new Go();
      const res = await WebAssembly.instantiateStreaming(fetch(wasmURL), go.importObject);
      go.run(res.instance).then(() => {
        document.body.insertAdjacentHTML("afterbegin", '<p class="fatal">The page stopped (the Go runtime exited). Reload to continue.</p>');
      });
    } catch (e) {
      document.getElementById("vugu_mount_point").innerHTML = '<p class="fatal">Could not start: ' + String(e) + "</p>";
    }
  };

  // Start the simulation worker (and its wasm compile) as early as possible.
  newWorker();

  if ("serviceWorker" in navigator && location.protocol !== "file:") {
    navigator.serviceWorker.register("sw.js").catch(() => {});
  }
  window.servesim = S;
})();
