// Cloudflare Workers entry: /api/* goes to the Go handler (syumai/workers,
// cloudflare runtime); every other path is the static page (Workers assets
// in production, a disk service under workerd in CI).
import handlers from "./build/worker.mjs";

export default {
  async fetch(req, env, ctx) {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/api/")) {
      return handlers.fetch(req, env, ctx);
    }
    if (url.pathname === "/") {
      url.pathname = "/index.html";
      return env.ASSETS.fetch(new Request(url, req));
    }
    return env.ASSETS.fetch(req);
  },
};
