// The simulation's home: a module Web Worker hosting servesim's HTTP API
// (Go wasm through github.com/syumai/workers' browser runtime). The page
// posts {id, url, method, body, stream}; answers come back as messages, and
// a streamed (ndjson) answer line by line, so the UI thread never blocks.
import handlers from "./build/worker.mjs";

self.onmessage = async (e) => {
  const { id, url, method, body, stream } = e.data;
  try {
    const init = { method };
    if (body != null) {
      init.body = body;
      init.headers = { "Content-Type": "application/json" };
    }
    const res = await handlers.fetch(new Request(new URL(url, self.location.href), init));
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
