// E2E harness: a tiny static server for web/dist, the real `skypod serve`, and Debian chromium
// driven by playwright-core. Everything listens on 127.0.0.1 only.
import { createServer } from "node:http";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const DIST = join(ROOT, "web/dist");

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
  ".webmanifest": "application/manifest+json", ".png": "image/png", ".svg": "image/svg+xml",
  ".wasm": "application/wasm",
};

/** Serve web/dist on 127.0.0.1 (SPA fallback to index.html). Resolves to {port, close()}. */
export function staticServer(port = 0) {
  const srv = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    let file = join(DIST, path === "/" ? "index.html" : path);
    try {
      if (!statSync(file).isFile()) throw new Error();
    } catch {
      file = join(DIST, "index.html");
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-cache" });
    res.end(readFileSync(file));
  });
  const sockets = new Set();
  srv.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return new Promise((resolve) =>
    srv.listen(port, "127.0.0.1", () =>
      resolve({
        port: srv.address().port,
        close: () => new Promise((r) => { for (const s of sockets) s.destroy(); srv.close(() => r()); }),
      }),
    ),
  );
}

export async function freePort() {
  const s = await staticServer(0);
  const p = s.port;
  await s.close();
  return p;
}

/** Start `target/release/skypod serve` on a free loopback port; wait for /healthz. */
export async function skypodServer(port0 = 0, dataDir0 = "") {
  const port = port0 || (await freePort());
  const dataDir = dataDir0 || mkdtempSync(join(tmpdir(), "skypod-e2e-"));
  const bin = process.env.SKYPOD_BIN ?? join(ROOT, "target/release/skypod");
  const child = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, SKYPOD_LOG: process.env.SKYPOD_LOG ?? "warn" },
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch { /* not yet */ }
    if (child.exitCode !== null) throw new Error(`skypod exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    port,
    dataDir,
    /** Start again on the same port with the same store. */
    restart: () => skypodServer(port, dataDir),
    stop: () => new Promise((r) => { if (child.exitCode !== null) return r(); child.once("exit", r); child.kill("SIGTERM"); }),
  };
}

export const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync",
];

export function launch(extraArgs = []) {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** A phone-sized browser context (one "device"). */
export async function device(browser) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.error("[pageerror]", e.message));
  return { ctx, page };
}
