# workerd configuration that runs the Cloudflare build locally (CI's test of
# the Workers host). Paths are relative to dist-cf/, where build.sh copies
# this file; the assets directory is given with --directory-path.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .servesim),
    (name = "assets", disk = (writable = false)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8788", http = (), service = "main")],
);

const servesim :Workerd.Worker = (
  modules = [
    (name = "entry.mjs", esModule = embed "entry.mjs"),
    (name = "build/worker.mjs", esModule = embed "build/worker.mjs"),
    (name = "build/runtime.mjs", esModule = embed "build/runtime.mjs"),
    (name = "build/wasm_exec.js", esModule = embed "build/wasm_exec.js"),
    (name = "build/app.wasm", wasm = embed "build/app.wasm"),
  ],
  compatibilityDate = "2025-01-01",
  bindings = [(name = "ASSETS", service = "assets")],
);
