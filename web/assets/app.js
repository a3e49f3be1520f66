// servesim's JavaScript bridge: everything the Go UI (Vugu, wasm) needs from
// the browser — the simulation Web Worker, ECharts, file drops, downloads,
// share links and the offline service worker. No third-party host is ever
// contacted: every asset is served with the page.
"use strict";
(function () {
  const S = {};
  // marks: [name, ms since navigation] of the page's start-up (the worker's
  // come in as messages), read by the page benchmark.
  S.marks = [];
  S.mark = function (name) { if (S.marks.length < 500) S.marks.push([name, performance.now()]); };
  let worker = null;
  let nextId = 1;
  const activeDownloads = new Set(); // each download's stop(why)
  const pending = new Map();

  function newWorker() {
    if (worker) worker.terminate();
    // A download streams from the worker: it ends with it.
    for (const stop of activeDownloads) stop("the simulation worker was restarted (Cancel)");
    for (const [, p] of pending) p.onFatal("cancelled");
    pending.clear();
    // The first worker was started by the page's head (index.html).
    const boot = self.servesimBoot;
    const early = boot && boot.worker ? boot.early : [];
    const first = !!(boot && boot.worker);
    worker = first ? boot.worker : new Worker("worker.js", { type: "module" });
    if (boot) boot.worker = null;
    // (the page's first worker starts its engine on the first request)
    if (!first) worker.postMessage({ type: "start" });
    worker.onmessage = (e) => {
      const m = e.data;
      if (m.type === "mark") { if (S.marks.length < 500) S.marks.push([m.name, m.at - performance.timeOrigin]); return; }
      const p = pending.get(m.id);
      if (!p) return;
      if (m.type === "line") p.onLine(m.line);
      else if (m.type === "end") { pending.delete(m.id); p.onEnd(); }
      else if (m.type === "response") { pending.delete(m.id); p.onResponse(m.status, m.contentType, m.data); }
      else if (m.type === "stream") { pending.delete(m.id); p.onStream(m.contentType, m.stream); }
      else if (m.type === "fatal") { pending.delete(m.id); p.onFatal(m.message); }
      else if (m.type === "stats") { pending.delete(m.id); p.onStats(m); }
      else if (m.type === "begin") p.onBegin();
    };
    worker.onerror = (e) => {
      for (const [, p] of pending) p.onFatal("the simulation worker failed: " + (e.message || e));
      pending.clear();
    };
    for (const e of early) worker.onmessage(e);
  }

  function send(msg, handlers) {
    if (!worker) newWorker();
    const id = nextId++;
    pending.set(id, Object.assign({ onLine() {}, onEnd() {}, onResponse() {}, onFatal() {}, onStats() {}, onBegin() {}, onStream() {} }, handlers));
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

  // showProgress(text, percent) sets the progress bar of the run in
  // progress (web/ui: progress lines do not re-render the page).
  S.showProgress = function (text, percent) {
    const t = document.getElementById("progress-text"), bar = document.getElementById("progress");
    if (t) t.textContent = text;
    if (bar) bar.value = percent;
  };

  // showSearchProgress(json) sets a search's progress line and its table's
  // cells (trials, so far, last trial, running) from {line, rows} (web/ui:
  // a search's progress does not re-render the page).
  S.showSearchProgress = function (json) {
    const m = JSON.parse(json), line = document.getElementById("search-progress");
    const table = document.getElementById("search-progress-table");
    if (line) line.textContent = m.line;
    if (!table) return;
    m.rows.forEach((r, i) => {
      const row = table.rows[i + 1];
      if (row) r.forEach((text, j) => { const cell = row.cells[j + 2]; if (cell && cell.textContent !== text) cell.textContent = text; });
    });
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

  // Downloads. An output file is streamed from the worker to disk as the
  // worker produces it, never whole in the page's or the worker's memory:
  // the worker's answer is a stream whose reader's pace reaches the Go
  // writer (wasm/worker/host_js.go waits while 4 MiB are unread), so the
  // disk's speed bounds what is held. Where it goes:
  // - "sw": the offline service worker (sw.js) answers a download URL with
  //   the stream (handed over as a transferred stream) and the browser saves
  //   it as any download (Chromium, Firefox);
  // - "picker": the File System Access API's save dialog, where there is no
  //   service worker (showSaveFilePicker: Chromium);
  // - "memory": neither, or no transferable streams (Safari): the file is
  //   put together in memory first, with a message saying so.
  // A box at the page's bottom shows each download's bytes, with Stop (the
  // run producing it stops too). S.downloads lists them (tests read it);
  // S.downloadMode forces a way (tests).
  S.downloadMode = "";
  S.downloads = [];
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  let transferable = null;
  function canTransferStreams() {
    if (transferable === null) {
      try {
        const rs = new ReadableStream(), ch = new MessageChannel();
        ch.port1.postMessage(rs, [rs]);
        ch.port1.close();
        ch.port2.close();
        transferable = true;
      } catch (e) {
        transferable = false;
      }
    }
    return transferable;
  }
  // swCall posts msg (and transfers) to the controlling service worker and
  // waits for its answer, at most ms; null if none.
  function swCall(sw, msg, transfer, ms) {
    return new Promise((resolve) => {
      const ch = new MessageChannel();
      const t = setTimeout(() => { ch.port1.close(); resolve(null); }, ms);
      ch.port1.onmessage = (e) => { clearTimeout(t); ch.port1.close(); resolve(e.data); };
      sw.postMessage(msg, [ch.port2].concat(transfer || []));
    });
  }
  // streamingSW is the service worker that can stream a download, once it
  // controls the page (registering it now if the first result has not yet),
  // or null.
  async function streamingSW() {
    if (!("serviceWorker" in navigator) || location.protocol === "file:" || !canTransferStreams()) return null;
    const c = navigator.serviceWorker;
    if (!c.controller) {
      startServiceWorker(0);
      const changed = new Promise((r) => c.addEventListener("controllerchange", r, { once: true }));
      await Promise.race([c.ready.then(() => c.controller || changed), sleep(10000)]);
    }
    const sw = c.controller;
    if (!sw) return null;
    const ok = await swCall(sw, { type: "servesim-ping" }, null, 3000); // an older sw.js cannot stream
    return ok && ok.download ? sw : null;
  }
  function fmtBytes(n) { return n < 1e6 ? nfInt.format(n) + " B" : nf4.format(n / 1e6) + " MB"; }
  // downloadRow adds a line to the downloads box; set(text, done) updates it.
  function downloadRow(name, mode, stop) {
    let box = document.getElementById("downloads");
    if (!box) {
      box = document.createElement("div");
      box.id = "downloads";
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    const rec = { name, mode, bytes: 0, state: "streaming", message: "" };
    S.downloads.push(rec);
    const row = document.createElement("div"), text = document.createElement("span"), btn = document.createElement("button");
    row.className = "download";
    btn.textContent = "Stop";
    btn.className = "secondary";
    btn.onclick = () => stop("stopped");
    row.append(text, btn);
    box.appendChild(row);
    const how = { sw: "streamed to your downloads", picker: "streamed to the chosen file", memory: "in memory" }[mode];
    const set = (state, msg) => {
      rec.state = state;
      rec.message = msg || "";
      text.textContent = name + ": " + fmtBytes(rec.bytes) + " " + (state === "streaming" ? how + "…" : msg);
      if (state !== "streaming") {
        btn.remove();
        setTimeout(() => { row.remove(); if (!box.children.length) box.remove(); }, state === "saved" ? 8000 : 30000);
      }
    };
    set("streaming");
    return { rec, set, progress(n) { rec.bytes = n; if (rec.state === "streaming") set("streaming"); } };
  }
  // askStream has the worker answer (url, body) as a stream: resolves with
  // {contentType, stream}; rejects with the answer's text (a problem) or
  // why the worker failed.
  function askStream(url, body) {
    return new Promise((resolve, reject) => {
      send({ url, method: body == null ? "GET" : "POST", body, stream: false, download: true }, {
        onStream: (contentType, stream) => resolve({ contentType, stream }),
        onResponse: (status, ct, data) => reject(new Error(new TextDecoder().decode(data))),
        onFatal: (msg) => reject(new Error(msg)),
      });
    });
  }
  // download saves an output file of the worker's; cb("") once it is
  // saved or stopped, cb(message) if it failed.
  S.download = function (url, body, filename, cb) {
    let mode = S.downloadMode;
    // The save dialog needs the click's user activation: asked at once.
    let picked = null;
    const picker = typeof window.showSaveFilePicker === "function";
    if (mode === "picker" || !mode && picker && !("serviceWorker" in navigator)) {
      mode = "picker";
      picked = window.showSaveFilePicker({ suggestedName: filename });
    }
    (async () => {
      if (!mode) {
        const sw = await streamingSW();
        if (sw) mode = "sw";
        else if (picker && canTransferStreams()) { mode = "picker"; picked = window.showSaveFilePicker({ suggestedName: filename }); }
        else mode = "memory";
      }
      if (mode === "memory") return downloadInMemory(url, body, filename, cb);
      let sink, handle = null;
      if (mode === "picker") {
        try {
          handle = await picked;
        } catch (e) {
          if (e && e.name === "AbortError") { cb(""); return; } // the dialog was dismissed
          // No activation left (a slow start) or not allowed: in memory.
          return downloadInMemory(url, body, filename, cb, "the save dialog could not open (" + String(e.message || e) + ")");
        }
        try {
          sink = await handle.createWritable();
        } catch (e) {
          return downloadInMemory(url, body, filename, cb, "the chosen file could not be written (" + String(e.message || e) + ")");
        }
      }
      const ac = new AbortController();
      const stop = (why) => ac.abort(new DOMException(why, "AbortError"));
      const row = downloadRow(filename, mode, stop);
      activeDownloads.add(stop);
      let keepAlive = null, frame = null;
      try {
        const { contentType, stream } = await askStream(url, body);
        let n = 0;
        const counted = stream.pipeThrough(new TransformStream({ transform(c, ctl) { n += c.byteLength; row.progress(n); ctl.enqueue(c); } }));
        if (mode === "sw") {
          const sw = navigator.serviceWorker.controller;
          const pass = new TransformStream();
          const key = String(Date.now()) + "-" + ++dlSeq;
          if (!sw || !(await swCall(sw, { type: "servesim-download", key, name: filename, contentType, stream: pass.readable }, [pass.readable], 3000))) {
            throw new Error("the service worker did not take the download");
          }
          keepAlive = setInterval(() => sw.postMessage({ type: "servesim-keepalive" }), 10000);
          frame = document.createElement("iframe");
          frame.hidden = true;
          frame.src = "stream-download/" + encodeURIComponent(key) + "/" + encodeURIComponent(filename);
          document.body.appendChild(frame);
          sink = pass.writable;
        }
        await counted.pipeTo(sink, { signal: ac.signal });
        row.set("saved", "saved (" + nfInt.format(n) + " bytes)");
        cb("");
      } catch (e) {
        if (handle && sink) sink.abort().catch(() => {}); // the chosen file keeps what it had
        const why = ac.signal.aborted ? String(ac.signal.reason && ac.signal.reason.message || "stopped") : String(e && e.message || e);
        if (ac.signal.aborted && why === "stopped") { row.set("stopped", "stopped: nothing more is written (the part written is not a whole file)"); cb(""); }
        else { row.set("failed", "not saved: " + why); cb(why); }
      } finally {
        activeDownloads.delete(stop);
        if (keepAlive) clearInterval(keepAlive);
        if (frame) setTimeout(() => frame.remove(), 1000);
      }
    })();
  };
  let dlSeq = 0;
  // downloadInMemory is the way without streams: the whole answer is read,
  // then saved from a Blob.
  function downloadInMemory(url, body, filename, cb, why) {
    const row = downloadRow(filename, "memory", () => {});
    row.set("streaming", "in memory…");
    const note = "this browser cannot stream a download to disk (" + (why || "it lacks a service worker with transferable streams and the File System Access API") +
      "), so the file is put together in memory first: a large run's file (a 1M-request run's token_metrics.csv is about 7 GB) may not fit";
    S.downloads[S.downloads.length - 1].note = note;
    send({ url, method: body == null ? "GET" : "POST", body, stream: false }, {
      onResponse: (status, ct, data) => {
        if (status !== 200) { row.set("failed", "not saved"); cb(new TextDecoder().decode(data)); return; }
        row.progress(data.byteLength);
        const a = document.createElement("a");
        a.href = URL.createObjectURL(new Blob([data], { type: ct }));
        a.download = filename;
        document.body.appendChild(a);
        a.click();
        setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
        row.set("saved", "saved (" + note + ")");
        cb("");
      },
      onFatal: (msg) => { row.set("failed", "not saved: " + msg + " (" + note + ")"); cb(msg + " (" + note + ")"); },
    });
  }

  // Number formats: a duration gets the unit its magnitude needs (µs, ms,
  // s) and four significant digits; counts get thousands separators.
  const nf4 = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 4 });
  const nfInt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  function fmtNum(v) {
    if (typeof v !== "number" || !isFinite(v)) return String(v);
    return Math.abs(v) >= 1000 ? nfInt.format(v) : nf4.format(v);
  }
  function fmtMs(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return String(ms);
    const a = Math.abs(ms);
    if (a === 0) return "0";
    if (a < 1) return nf4.format(ms * 1000) + " µs";
    if (a < 1000) return nf4.format(ms) + " ms";
    return fmtNum(Number((ms / 1000).toPrecision(4))) + " s";
  }
  const formats = {
    ms: fmtMs,
    s: (v) => fmtMs(v * 1000),
    count: fmtNum,
    rate: (v) => fmtNum(v) + "/s",
    fraction: (v) => nf4.format(v * 100) + "%",
    category: (v) => String(v),
  };
  S.fmt = { ms: fmtMs, num: fmtNum };

  // withFormats turns an option's "servesim" units (web/charts) into axis
  // label and tooltip formatters (JSON cannot carry functions).
  function withFormats(opt) {
    const h = opt.servesim || {};
    delete opt.servesim;
    const fx = formats[h.x] || String, fy = formats[h.y] || String;
    const axes = (a) => (Array.isArray(a) ? a : a ? [a] : []);
    if (h.x !== "category") axes(opt.xAxis).forEach((a) => { a.axisLabel = Object.assign({}, a.axisLabel, { formatter: fx }); });
    axes(opt.yAxis).forEach((a) => { a.axisLabel = Object.assign({}, a.axisLabel, { formatter: fy }); });
    const tip = opt.tooltip || (opt.tooltip = {});
    const valueOf = (p) => (Array.isArray(p.value) ? p.value : [p.name, p.value]);
    tip.formatter = (params) => {
      if (!Array.isArray(params)) { // item tooltip (scatter)
        const v = valueOf(params);
        return params.seriesName + ": " + fy(v[1]) + "<br>at " + fx(v[0]);
      }
      if (!params.length) return "";
      const head = h.x === "category" ? params[0].name : fx(valueOf(params[0])[0]);
      const lines = [];
      for (const p of params) {
        const v = valueOf(p);
        if (p.seriesName.endsWith(" (min)")) continue; // the band's transparent base
        if (p.seriesName.endsWith(" (range)")) { // the band: [t, max-min, max]
          lines.push(p.marker + p.seriesName.replace(" (range)", " min–max") + ": " + fy(v[2] - v[1]) + " – " + fy(v[2]));
          continue;
        }
        lines.push(p.marker + p.seriesName + ": " + fy(v[1]));
      }
      return head + "<br>" + lines.join("<br>");
    };
    if (h.group) tip.axisPointer = Object.assign({}, tip.axisPointer, { label: { formatter: (p) => fx(p.value) } });
    return { opt, group: h.group };
  }

  // Charts: setCharts keeps the result's options; ensureCharts (after every
  // render) draws each one whose element is new or was emptied, so a
  // re-render never leaves a blank chart. ECharts draws into a child of the
  // page's element: Vugu's render removes attributes it did not set (the
  // instance mark ECharts puts on its element) but leaves the children of an
  // element it renders without any. Charts of one group share the crosshair
  // and zoom (echarts.connect).
  let chartList = [], chartGen = 0;
  // A chart listed without its option gets it from the UI when drawn
  // (web/ui builds each option then).
  let optionSource = null;
  S.setChartOptionSource = function (fn) { optionSource = fn; };
  const extraCharts = {}; // more lists by owner (search.go, ab.go)
  S.setCharts = function (listJSON) {
    S.mark("ui charts set"); // (after the render of the results)
    chartList = JSON.parse(listJSON);
    chartGen++;
    for (const ch of chartList) ch.gen = chartGen;
    fresh = true;
    S.ensureCharts();
  };
  S.setExtraCharts = function (owner, listJSON) {
    const list = JSON.parse(listJSON);
    chartGen++;
    for (const ch of list) ch.gen = chartGen;
    extraCharts[owner] = list;
    fresh = true;
    S.ensureCharts();
  };
  // chartOf is the ECharts instance of a chart (tests use it).
  S.chartOf = function (id) {
    const el = document.getElementById(id);
    const inner = el && el.querySelector(":scope > .ec");
    return inner ? echarts.getInstanceByDom(inner) : undefined;
  };
  // Charts are drawn one per task, in page order, each after the browser
  // has had a turn (a paint, input, the other messages), so the first
  // result shows without waiting for all of them. A new result's charts
  // start after its first frame: the key results and the table are painted
  // before the first chart is drawn (ECharts' first draw of a fresh visit
  // takes 0.3-1.3 s of this main thread on a loaded machine), and by then
  // the size observer has every chart's size (no layout read). A chart
  // whose element a later render replaced is drawn at once, so no render
  // leaves it blank for a frame. One chain of draws at a time: pump marks
  // the scheduled step (it was never set, so every render's ensureCharts
  // drew one more chart in its own task: the result's task drew two charts
  // before its first paint).
  S.draws = 0;
  let pump = null; // the scheduled next draw
  let fresh = false; // new options were set: draw after the next frame
  const nextTask = (() => {
    const ch = new MessageChannel(), queue = [];
    ch.port1.onmessage = () => queue.shift()();
    return (fn) => { queue.push(fn); ch.port2.postMessage(0); return true; }; // (pump's mark)
  })();
  // afterFrame runs fn in a task after the next frame (at once in a hidden
  // tab, which gets no frames), ahead of the tasks queued meanwhile where
  // the browser has a task scheduler (the catalogues' answers and renders
  // that follow a result).
  const urgent = self.scheduler && typeof scheduler.postTask === "function"
    ? (fn) => { scheduler.postTask(fn, { priority: "user-blocking" }); } : nextTask;
  function afterFrame(fn) {
    let done = false;
    const go = () => {
      if (done) return;
      done = true;
      document.removeEventListener("visibilitychange", hidden);
      urgent(fn);
    };
    const hidden = () => { if (document.visibilityState === "hidden") go(); };
    requestAnimationFrame(() => { S.mark("ui results frame"); go(); });
    document.addEventListener("visibilitychange", hidden);
    hidden();
    return true; // (pump's mark)
  }
  // undrawn is the first chart whose element is new, was emptied or shows
  // older options, with its element.
  function undrawn() {
    for (const ch of chartList.concat(...Object.values(extraCharts))) {
      const el = document.getElementById(ch.id);
      if (!el) continue;
      const inner = el.querySelector(":scope > .ec");
      if (inner && inner.__servesimGen === ch.gen && echarts.getInstanceByDom(inner)) continue;
      return { ch, el, inner };
    }
    return null;
  }
  function drawOne() {
    const u = undrawn();
    if (!u) return false;
    const { ch, el } = u;
    let inner = u.inner;
    const old = inner && echarts.getInstanceByDom(inner);
    if (old) old.dispose();
    if (!inner) {
      inner = document.createElement("div");
      inner.className = "ec";
      el.appendChild(inner);
    }
    const { opt, group } = withFormats(JSON.parse(ch.option || (optionSource && optionSource(ch.id)) || "{}"));
    const chart = echarts.init(inner, null, chartSize(el));
    chart.setOption(opt);
    S.mark("chart " + ch.id);
    if (group) { chart.group = group; echarts.connect(group); }
    inner.__servesimGen = ch.gen;
    S.draws++;
    return true;
  }
  // Chart sizes. ECharts' init reads its element's computed style and
  // client sizes, and each chart's DOM (its canvas) dirties the page's
  // layout, so every chart drawn after a DOM write forced a layout
  // (BenchmarkPageTrace lists the forced layouts and their callers). A chart is given its size instead:
  // the element's size as a ResizeObserver last reported it (after the
  // browser's own layout, no read), else one read of it (an element the
  // observer has not reported yet: a new result's charts are drawn after
  // its first frame, when it has). The observer then resizes
  // each drawn chart to its element with the observed size (a window
  // resize, the phone layout), so ECharts never measures. The charts'
  // elements are fixed-height boxes whose content does not size them
  // (style.css: contain), so a chart's canvas lays out only that box.
  const sizes = new WeakMap(); // chart element -> {width, height}, as last observed
  const observed = new WeakSet();
  const sizeObserver = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
    for (const e of entries) {
      const box = e.contentBoxSize && e.contentBoxSize[0];
      const size = box ? { width: Math.round(box.inlineSize), height: Math.round(box.blockSize) }
        : { width: Math.round(e.contentRect.width), height: Math.round(e.contentRect.height) };
      sizes.set(e.target, size);
      // (a 1 px difference is the rounding of the first chart's one read)
      const inner = e.target.querySelector(":scope > .ec");
      const c = inner && window.echarts && echarts.getInstanceByDom(inner);
      if (c && size.width > 0 && size.height > 0 && (Math.abs(c.getWidth() - size.width) > 1 || Math.abs(c.getHeight() - size.height) > 1)) c.resize(size);
    }
  }) : null;
  function observeCharts() {
    if (!sizeObserver) return;
    for (const ch of chartList.concat(...Object.values(extraCharts))) {
      const el = document.getElementById(ch.id);
      if (el && !observed.has(el)) { observed.add(el); sizeObserver.observe(el); }
    }
  }
  // chartSize is the size to draw el's chart at; undefined lets ECharts
  // measure (an element not laid out, say display: none).
  function chartSize(el) {
    if (!sizeObserver) return undefined; // the window's resize handler below measures
    let size = sizes.get(el);
    if (!size || !size.width || !size.height) size = { width: el.clientWidth, height: el.clientHeight };
    return size.width > 0 && size.height > 0 ? size : undefined;
  }
  function pumpStep() {
    pump = null;
    const drew = drawOne();
    if (drew) firstChartDrawn();
    if (drew && undrawn()) pump = nextTask(pumpStep);
    else chartsIdle();
  }
  // afterFirstChart(cb) runs cb once the page has drawn a chart (after
  // that chart's frame), or 5 s after the page's load if none is drawn by
  // then: what the prebuilt default result defers (web/ui/prebuilt.go: the
  // catalogues' requests, which start the engine).
  let chartedCbs = [];
  function firstChartDrawn() {
    const cbs = chartedCbs;
    if (!cbs) return;
    chartedCbs = null;
    let done = false;
    const run = () => { if (!done) { done = true; cbs.forEach((cb) => cb()); } };
    requestAnimationFrame(() => setTimeout(run, 0));
    setTimeout(run, 1000); // a hidden tab gets no frames
  }
  S.afterFirstChart = function (cb) {
    if (chartedCbs) chartedCbs.push(cb);
    else setTimeout(cb, 0);
  };
  window.addEventListener("load", () => setTimeout(firstChartDrawn, 5000), { once: true });
  // Until ECharts has run (an async script, compiled off the main
  // thread), the charts wait for its script's load event, with one
  // listener: each render's call used to add one, and they all drew a
  // chart in the same task, before the first one could be painted.
  let waitingForECharts = false;
  S.ensureCharts = function () {
    if (!window.echarts) {
      if (waitingForECharts) return;
      waitingForECharts = true;
      const script = document.querySelector('script[src$="echarts.min.js"]');
      const go = () => { if (!waitingForECharts) return; waitingForECharts = false; S.ensureCharts(); };
      if (script) script.addEventListener("load", go, { once: true });
      window.addEventListener("load", go, { once: true });
      return;
    }
    observeCharts();
    if (pump) return;
    if (fresh) {
      fresh = false;
      pump = afterFrame(pumpStep);
    } else pumpStep();
  };
  // chartsPending says whether a chart of the page is still to be drawn
  // (tests wait for it before reading the charts).
  S.chartsPending = function () { return !!pump || (!!window.echarts && !!undrawn()); };
  // After the first result's charts: register the offline service worker
  // (its install fetches and compiles every asset, which must not compete
  // with the first run).
  // (A first run that shows no chart, a failed one say, registers it 15 s
  // after the page's load.)
  let swStarted = false;
  function startServiceWorker(delay) {
    if (swStarted) return;
    swStarted = true;
    if ("serviceWorker" in navigator && location.protocol !== "file:") {
      setTimeout(() => navigator.serviceWorker.register("sw.js").catch(() => {}), delay);
    }
  }
  function chartsIdle() { if (chartList.length) startServiceWorker(500); }
  window.addEventListener("load", () => setTimeout(() => startServiceWorker(0), 15000), { once: true });
  if (!sizeObserver) window.addEventListener("resize", () => {
    document.querySelectorAll(".chart > .ec").forEach((el) => { const c = window.echarts && echarts.getInstanceByDom(el); if (c) c.resize(); });
  });

  // saveText saves a text file (the run file).
  S.saveText = function (filename, text) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  };

  // Zip files (a calibrated profile set): saveZip writes its files stored
  // (no compression); a dropped .zip is read back into its files (stored or
  // deflated entries, as OS zip tools write them), folders dropped.
  const crcTable = new Uint32Array(256).map((_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c; });
  function crc32(b) { let c = 0xffffffff; for (let i = 0; i < b.length; i++) c = crcTable[(c ^ b[i]) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; }
  S.saveZip = function (filename, filesJSON) {
    const enc = new TextEncoder(), parts = [], central = [];
    let off = 0;
    for (const f of JSON.parse(filesJSON)) {
      const name = enc.encode(f.name), data = enc.encode(f.content), crc = crc32(data);
      const h = new DataView(new ArrayBuffer(30));
      [[0, 0x04034b50, 4], [4, 20, 2], [14, crc, 4], [18, data.length, 4], [22, data.length, 4], [26, name.length, 2]].forEach(([o, v, n]) => n === 4 ? h.setUint32(o, v, true) : h.setUint16(o, v, true));
      const c = new DataView(new ArrayBuffer(46));
      [[0, 0x02014b50, 4], [4, 20, 2], [6, 20, 2], [16, crc, 4], [20, data.length, 4], [24, data.length, 4], [28, name.length, 2], [42, off, 4]].forEach(([o, v, n]) => n === 4 ? c.setUint32(o, v, true) : c.setUint16(o, v, true));
      parts.push(h, name, data);
      central.push(c, name);
      off += 30 + name.length + data.length;
    }
    const size = central.reduce((s, p) => s + p.byteLength, 0), e = new DataView(new ArrayBuffer(22));
    [[0, 0x06054b50, 4], [8, central.length / 2, 2], [10, central.length / 2, 2], [12, size, 4], [16, off, 4]].forEach(([o, v, n]) => n === 4 ? e.setUint32(o, v, true) : e.setUint16(o, v, true));
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([...parts, ...central, e], { type: "application/zip" }));
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  };
  async function unzip(file) {
    const b = new Uint8Array(await file.arrayBuffer()), v = new DataView(b.buffer);
    let e = b.length - 22;
    while (e >= 0 && v.getUint32(e, true) !== 0x06054b50) e--;
    if (e < 0) throw new Error(file.name + ": not a zip file (no end of central directory)");
    const out = [];
    for (let i = 0, p = v.getUint32(e + 16, true); i < v.getUint16(e + 10, true); i++) {
      if (v.getUint32(p, true) !== 0x02014b50) throw new Error(file.name + ": bad zip central directory");
      const method = v.getUint16(p + 10, true), csize = v.getUint32(p + 20, true), nlen = v.getUint16(p + 28, true);
      const name = new TextDecoder().decode(b.subarray(p + 46, p + 46 + nlen)), lh = v.getUint32(p + 42, true);
      p += 46 + nlen + v.getUint16(p + 30, true) + v.getUint16(p + 32, true);
      if (name.endsWith("/")) continue;
      const start = lh + 30 + v.getUint16(lh + 26, true) + v.getUint16(lh + 28, true), raw = b.subarray(start, start + csize);
      let data;
      if (method === 0) data = raw;
      else if (method === 8) data = new Uint8Array(await new Response(new Blob([raw]).stream().pipeThrough(new DecompressionStream("deflate-raw"))).arrayBuffer());
      else throw new Error(file.name + ": " + name + " uses zip compression method " + method + " (expected stored or deflate)");
      out.push({ name: name.split("/").pop(), content: new TextDecoder().decode(data) });
    }
    return out;
  }

  // Files: dropped anywhere on the page or picked; read as text (a zip into
  // its files) and handed to Go.
  S.onFiles = null;
  S.setOnFiles = function (fn) { S.onFiles = fn; };
  function readFiles(list) {
    const files = Array.from(list || []);
    Promise.all(files.map((f) => /\.zip$/i.test(f.name) ? unzip(f) : f.text().then((content) => [{ name: f.name, content }])))
      .then((arr) => { if (S.onFiles) S.onFiles(JSON.stringify(arr.flat())); })
      .catch((err) => { if (S.onFiles) S.onFiles(JSON.stringify([{ name: "!error", content: String(err.message || err) }])); });
  }
  S.pickFiles = function (input) { readFiles(input.files); input.value = ""; };
  document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", (e) => { if (!e.relatedTarget) document.body.classList.remove("dragging"); });
  // A dropped folder (a profile set, say) is read as the files in it, sub-
  // folders included; its entries must be taken during the drop event.
  async function folderFiles(entries) {
    const out = [];
    for (const en of entries) {
      if (en.isFile) out.push(await new Promise((res, rej) => en.file(res, rej)));
      else if (en.isDirectory) {
        const r = en.createReader();
        for (let batch; (batch = await new Promise((res, rej) => r.readEntries(res, rej))).length;) out.push(...await folderFiles(batch));
      }
    }
    return out;
  }
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    document.body.classList.remove("dragging");
    const entries = Array.from(e.dataTransfer.items || []).map((it) => it.webkitGetAsEntry && it.webkitGetAsEntry()).filter(Boolean);
    if (!entries.some((en) => en.isDirectory)) { readFiles(e.dataTransfer.files); return; }
    folderFiles(entries).then(readFiles, (err) => { if (S.onFiles) S.onFiles(JSON.stringify([{ name: "!error", content: "a dropped folder: " + String(err.message || err) }])); });
  });
  document.addEventListener("change", (e) => { if (e.target && (e.target.id === "file-input" || e.target.id === "model-file")) S.pickFiles(e.target); });

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
  // share(stateJSON, cb): cb(url, message); url is "" when the run cannot
  // go in a link (its uploaded workload is too large): the link is refused,
  // never made without the workload.
  S.share = async function (stateJSON, cb) {
    const enc = b64url(await deflate(stateJSON));
    if (enc.length > MAX_LINK) {
      cb("", "Not copied: this run's uploaded workload is too large for a link (" + enc.length.toLocaleString("en-US") +
        " characters compressed; a link holds at most " + MAX_LINK.toLocaleString("en-US") + "). Instead, save the run file " +
        "(\"run file (reopen here)\" above) and send it: dropping it on this page reproduces the run, workload and settings included.");
      return;
    }
    let msg = "Link copied: it reproduces this run" + (stateJSON.includes('"files"') ? ", uploaded workload included." : ".");
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

  // defaultRun(cb): cb(text) of the default run's file computed when the
  // page was built (index.html fetches it from the page's head), "" if
  // there is none or the page was opened with a link. defaultRunNow() is
  // its text if it has arrived already ("" otherwise): the UI then shows
  // it in its first render (boot waits for it a little). Either gives it
  // once.
  S.defaultRun = function (cb) {
    const boot = self.servesimBoot, p = boot && boot.defaultRun;
    if (boot) boot.defaultRun = null; // the first result only
    if (!p) { cb(""); return; }
    p.then((text) => { S.mark("default run fetched"); cb(text); }, () => cb(""));
  };
  S.defaultRunNow = function () {
    const boot = self.servesimBoot;
    if (!boot || !boot.defaultRun || typeof boot.defaultRunText !== "string") return "";
    boot.defaultRun = null;
    S.mark("default run at the UI's start");
    return boot.defaultRunText;
  };

  // boot starts the UI wasm; a failure is shown instead of a blank page.
  S.boot = async function (wasmURL) {
    if (!worker) newWorker();
    try {
      const go = new Go();
      S.mark("ui boot");
      const boot = self.servesimBoot;
      const ui = boot && boot.ui; // compiling since the page's head
      const mod = ui && await ui;
      // The prebuilt default result, if it is on its way: the UI starts
      // with it (one render of the page with its result, not one without
      // it first), waiting at most 1 s.
      if (boot && boot.defaultRun) await Promise.race([boot.defaultRun, sleep(1000)]);
      const instance = mod ? await WebAssembly.instantiate(mod, go.importObject)
        : (await WebAssembly.instantiateStreaming(fetch(wasmURL), go.importObject)).instance;
      S.mark("ui instantiated");
      go.run(instance).then(() => {
        document.body.insertAdjacentHTML("afterbegin", '<p class="fatal">The page stopped (the Go runtime exited). Reload to continue.</p>');
      });
    } catch (e) {
      document.getElementById("vugu_mount_point").innerHTML = '<p class="fatal">Could not start: ' + String(e) + "</p>";
    }
  };

  // Start the simulation worker (and its wasm compile) as early as possible.
  newWorker();

  window.servesim = S;
})();
