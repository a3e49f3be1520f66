// servesim's capacity search in the page: POST /api/search runs in a
// coordinating Web Worker (internal/search, the CLI's logic, compiled into
// the worker's wasm) whose trials fan out over a pool of Web Workers
// (POST /api/simulate?format=summary each), one per core by default. The
// answer does not depend on the pool's size. Cancel terminates every worker
// of the search; the page's own simulation worker is not touched.
//
// The workers start before the click: opening the search panel (or
// changing its worker count) calls prewarmSearch, which spawns the pool and
// a spare coordinator, each instantiating the engine (compiled once in the
// page) and its default profile while the user fills in the form; after a
// search, a fresh spare coordinator starts when the page is idle.
"use strict";
(function () {
  const S = window.servesim;
  let pool = []; // idle or busy workers, kept warm between searches
  let current = null; // the search in flight
  let spare = null; // a started coordinator for the next search
  let warmSize = 0; // the pool size last asked for

  // The engine's compiled module, compiled once per page and sent to every
  // worker of a search (each compiling the 13 MB engine itself cost more
  // CPU than a few of its trials).
  let engine = null;
  function engineModule() {
    if (!engine) engine = WebAssembly.compileStreaming(fetch("build/app.wasm")).catch((err) => { engine = null; throw err; });
    return engine;
  }

  // searchWorker starts a worker that runs the engine compiled in the page;
  // its ready is set once its Go instance is up.
  function searchWorker() {
    const w = new Worker("worker.js?module=posted", { type: "module" });
    w.ready = false;
    w.addEventListener("message", (e) => { if (e.data && e.data.type === "mark" && e.data.name === "worker ready") w.ready = true; });
    engineModule().then((module) => w.postMessage({ type: "module", module }),
      (err) => w.postMessage({ type: "module", error: "the engine did not compile: " + (err && err.message || err) }));
    // and starts its Go instance as soon as the module comes (a worker
    // starts it only on its first request or a start otherwise), so that a
    // prewarmed pool is ready before the search's first trial
    w.postMessage({ type: "start" });
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
    // An error event is a worker that died (its script or engine failed to
    // load, an uncaught error): it leaves the pool, so that no later trial
    // waits on it, and its trial in flight ends with the error.
    w.onerror = (e) => {
      const t = w.busy;
      w.busy = null;
      w.dead = true;
      w.terminate();
      pool = pool.filter((p) => p !== w);
      const msg = "a search worker failed: " + (e && e.message || e);
      if (t) t.fail(msg);
      if (w.lost) w.lost(msg);
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

  // prewarm starts the pool's workers up to n and a spare coordinator.
  function prewarm(n) {
    n = Math.max(1, Math.min(64, n | 0));
    warmSize = n;
    while (pool.length < n) pool.push(newPoolWorker());
    if (!spare) spare = searchWorker();
  }

  // whenIdle runs f when the page has nothing else to do (soon elsewhere).
  const whenIdle = (f) => (self.requestIdleCallback ? requestIdleCallback(f, { timeout: 2000 }) : setTimeout(f, 200));

  // search(bodyJSON, workers, onTrial, onDone): onTrial(phase, trialBody,
  // status, answer, kind) for every trial ("start", then "done" with its
  // answer; kind: what the trial is for, internal/search's Trial.Kind);
  // onDone(status, answer) with the search's answer (status 0: it failed).
  S.search = function (body, workers, onTrial, onDone) {
    stop();
    const n = Math.max(1, Math.min(64, workers | 0));
    while (pool.length < n) pool.push(newPoolWorker());
    const mine = pool.slice(0, n);
    const queue = [];
    let nextId = 1;
    const coordinator = spare || searchWorker();
    spare = null;
    const run = { coordinator, ended: false };
    current = run;
    const end = (status, text) => {
      if (run.ended) return;
      run.ended = true;
      coordinator.terminate();
      if (current === run) current = null;
      onDone(status, text);
      whenIdle(() => { if (!current && !spare && warmSize) spare = searchWorker(); });
    };
    // a dead worker leaves the search too: its trials go to the others;
    // with none left the search ends with the error
    const lost = (msg) => {
      const alive = mine.filter((w) => !w.dead);
      mine.length = 0;
      mine.push(...alive);
      if (!alive.length) end(0, "every worker of the search failed (the last: " + msg + "): no worker is left to run its trials; try again");
    };
    for (const w of mine) w.lost = lost;
    const dispatch = () => {
      for (const w of mine) {
        if (w.busy || w.dead || !queue.length) continue;
        const t = queue.shift();
        t.id = nextId++;
        w.busy = t;
        onTrial("start", t.body, 0, "", t.kind);
        w.postMessage({ id: t.id, url: t.url, method: "POST", body: t.body, stream: false });
      }
    };
    coordinator.onmessage = (e) => {
      const m = e.data;
      if (m.type === "trial") {
        const reply = (msg) => { if (!run.ended) coordinator.postMessage(Object.assign({ tid: m.tid }, msg)); };
        queue.push({
          url: m.url, body: m.body, kind: m.kind || "",
          done: (status, contentType, text) => {
            reply({ type: "trial-result", status, contentType, body: text });
            onTrial("done", m.body, status, text, m.kind || "");
            dispatch();
          },
          // no answer (the worker died or its Go exited): the row ends
          // with the error as a could-not-run answer's detail (status 0);
          // internal/search retries it and keeps the point's error
          fail: (msg) => {
            reply({ type: "trial-error", message: msg });
            onTrial("done", m.body, 0, JSON.stringify({ detail: msg }), m.kind || "");
            dispatch();
          },
        });
        dispatch();
      } else if (m.type === "response") end(m.status, new TextDecoder().decode(m.data));
      else if (m.type === "fatal") end(0, m.message);
    };
    coordinator.onerror = (e) => end(0, "the search worker failed: " + (e.message || e));
    coordinator.postMessage({ type: "pool", size: n });
    coordinator.postMessage({ id: 1, url: "/api/search?files=1", method: "POST", body, stream: false });
  };

  // cancelSearch stops the search in flight (its workers are terminated;
  // fresh ones start when the page is idle).
  S.cancelSearch = function () {
    stop();
    whenIdle(() => { if (!current && warmSize) prewarm(warmSize); });
  };

  // prewarmSearch(workers) starts a search's workers ahead of it.
  S.prewarmSearch = function (workers) { if (!current) prewarm(workers); };

  // searchWarm is how many of the next search's workers (pool and
  // coordinator) have their engine up, and how many it has.
  S.searchWarm = function () {
    const ws = pool.slice(0, warmSize).concat(spare ? [spare] : []);
    return { ready: ws.filter((w) => w.ready).length, workers: ws.length };
  };

  // cores is the pool size a search gets by default.
  S.cores = function () { return navigator.hardwareConcurrency || 2; };
})();
