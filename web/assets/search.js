// servesim's capacity search in the page: POST /api/search runs in a
// coordinating Web Worker (internal/search, the CLI's logic, compiled into
// the worker's wasm) whose trials fan out over a pool of Web Workers
// (POST /api/simulate?format=summary each), one per core by default. The
// answer does not depend on the pool's size. Cancel terminates every worker
// of the search; the page's own simulation worker is not touched.
"use strict";
(function () {
  const S = window.servesim;
  let pool = []; // idle or busy workers, kept warm between searches
  let current = null; // the search in flight

  // The engine's compiled module, compiled once per page and sent to every
  // worker of a search (each compiling the 13 MB engine itself cost more
  // CPU than a few of its trials).
  let engine = null;
  function engineModule() {
    if (!engine) engine = WebAssembly.compileStreaming(fetch("build/app.wasm")).catch((err) => { engine = null; throw err; });
    return engine;
  }

  // searchWorker starts a worker that runs the engine compiled in the page.
  function searchWorker() {
    const w = new Worker("worker.js?module=posted", { type: "module" });
    engineModule().then((module) => w.postMessage({ type: "module", module }),
      (err) => w.postMessage({ type: "module", error: "the engine did not compile: " + (err && err.message || err) }));
    return w;
  }

  function newPoolWorker() {
    const w = searchWorker();
    w.busy = null; // the trial it runs
    w.onmessage = (e) => {
      const m = e.data, t = w.busy;
      if (!t || m.id !== t.id) return;
      if (m.type === "begin") return;
      w.busy = null;
      if (m.type === "response") t.done(m.status, m.contentType, new TextDecoder().decode(m.data));
      else t.fail(m.message || "the trial's worker failed");
    };
    w.onerror = (e) => {
      const t = w.busy;
      w.busy = null;
      if (t) t.fail("a search worker failed: " + (e.message || e));
    };
    return w;
  }

  function stop() {
    if (!current) return;
    current.coordinator.terminate();
    for (const w of pool) w.terminate();
    pool = [];
    current = null;
  }

  // search(bodyJSON, workers, onTrial, onDone): onTrial(phase, trialBody,
  // status, answer) for every trial ("start", then "done" with its answer);
  // onDone(status, answer) with the search's answer (status 0: it failed).
  S.search = function (body, workers, onTrial, onDone) {
    stop();
    const n = Math.max(1, Math.min(64, workers | 0));
    while (pool.length < n) pool.push(newPoolWorker());
    const mine = pool.slice(0, n);
    const queue = [];
    let nextId = 1;
    const coordinator = searchWorker();
    const run = { coordinator, ended: false };
    current = run;
    const end = (status, text) => {
      if (run.ended) return;
      run.ended = true;
      coordinator.terminate();
      if (current === run) current = null;
      onDone(status, text);
    };
    const dispatch = () => {
      for (const w of mine) {
        if (w.busy || !queue.length) continue;
        const t = queue.shift();
        t.id = nextId++;
        w.busy = t;
        onTrial("start", t.body, 0, "");
        w.postMessage({ id: t.id, url: t.url, method: "POST", body: t.body, stream: false });
      }
    };
    coordinator.onmessage = (e) => {
      const m = e.data;
      if (m.type === "trial") {
        const reply = (msg) => { if (!run.ended) coordinator.postMessage(Object.assign({ tid: m.tid }, msg)); };
        queue.push({
          url: m.url, body: m.body,
          done: (status, contentType, text) => {
            reply({ type: "trial-result", status, contentType, body: text });
            onTrial("done", m.body, status, text);
            dispatch();
          },
          fail: (msg) => { reply({ type: "trial-error", message: msg }); dispatch(); },
        });
        dispatch();
      } else if (m.type === "response") end(m.status, new TextDecoder().decode(m.data));
      else if (m.type === "fatal") end(0, m.message);
    };
    coordinator.onerror = (e) => end(0, "the search worker failed: " + (e.message || e));
    coordinator.postMessage({ type: "pool", size: n });
    coordinator.postMessage({ id: 1, url: "/api/search?files=1", method: "POST", body, stream: false });
  };

  // cancelSearch stops the search in flight (its workers are terminated).
  S.cancelSearch = function () { stop(); };

  // cores is the pool size a search gets by default.
  S.cores = function () { return navigator.hardwareConcurrency || 2; };
})();
