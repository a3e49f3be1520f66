// Offline support: every asset of the page is cached on install (the list,
// with a content hash as the cache name, is written by the build); requests
// are answered from the cache first, so after one visit the page works with
// the network off.
const CACHE = "servesim-__HASH__";
const ASSETS = __ASSETS__;

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
// Streamed downloads (app.js): the page hands over a download's stream
// ({type: "servesim-download", key, name, contentType, stream}, answered on
// the port given) and then loads stream-download/KEY/NAME, answered here
// with that stream as an attachment: the browser saves it as it comes,
// at the disk's pace. A stream not asked for within a minute is dropped.
const downloads = new Map();
self.addEventListener("message", (e) => {
  const m = e.data || {};
  const port = e.ports && e.ports[0];
  if (m.type === "servesim-ping") { if (port) port.postMessage({ download: true }); return; }
  if (m.type === "servesim-download" && m.stream) {
    downloads.set(m.key, m);
    setTimeout(() => {
      if (downloads.get(m.key) !== m) return;
      downloads.delete(m.key);
      m.stream.cancel("the download was not asked for").catch(() => {});
    }, 60000);
    if (port) port.postMessage({ ok: true });
  }
  // "servesim-keepalive": a message every 10 s keeps this worker running
  // while a download streams through it.
});
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  const dl = new URL("stream-download/", self.registration.scope).pathname;
  if (e.request.method === "GET" && url.origin === location.origin && url.pathname.startsWith(dl)) {
    const key = decodeURIComponent(url.pathname.slice(dl.length).split("/")[0]);
    const d = downloads.get(key);
    downloads.delete(key);
    if (!d) {
      e.respondWith(new Response("This download was already saved or has expired: download it again from the page.\n",
        { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" } }));
      return;
    }
    e.respondWith(new Response(d.stream, { headers: {
      "Content-Type": d.contentType || "application/octet-stream",
      "Content-Disposition": "attachment; filename*=UTF-8''" + encodeURIComponent(d.name),
      "Cache-Control": "no-store",
    } }));
    return;
  }
  if (e.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  e.respondWith(caches.match(e.request, { ignoreSearch: true }).then((hit) => hit || fetch(e.request)));
});
