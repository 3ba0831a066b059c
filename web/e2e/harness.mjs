// E2E harness: a tiny static server for web/dist, the real `skypod serve`, and Debian chromium
// driven by playwright-core. Everything listens on 127.0.0.1 only.
import { createServer } from "node:http";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync } from "node:fs";
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

/** Serve web/dist (or `dir`) on 127.0.0.1 (SPA fallback to index.html). Resolves to {port, close()}. */
export function staticServer(port = 0, dir = DIST) {
  const srv = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    let file = join(dir, path === "/" ? "index.html" : path);
    try {
      if (!statSync(file).isFile()) throw new Error();
    } catch {
      file = join(dir, "index.html");
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

/**
 * Where the app is loaded from: `skypod serve` itself with E2E_SAME_ORIGIN=1, else web/dist
 * from a loopback static server pointed at the realm server by `?server=`.
 */
export async function webApp(realm) {
  if (process.env.E2E_SAME_ORIGIN === "1") return { web: { close: async () => {} }, appUrl: `${realm.base}/` };
  const web = await staticServer();
  return { web, appUrl: `http://127.0.0.1:${web.port}/?server=${encodeURIComponent(realm.base)}` };
}

// A test run never changes tracked files: screenshots go to the ignored web/e2e/screenshots/,
// and the committed docs/screenshots/ are refreshed only on request (E2E_UPDATE_SCREENSHOTS=1).
const SHOTS =
  process.env.E2E_UPDATE_SCREENSHOTS === "1" ? join(ROOT, "docs/screenshots") : join(ROOT, "web/e2e/screenshots");

/**
 * A phone-screen screenshot (the 390×844 viewport) into SHOTS, scrolled to the top or
 * to the first element matching `at` (E2E_SCREENSHOTS=0 skips them). Not full-page: the sticky
 * header and the fixed player dock would land in the middle of a stitched page.
 */
export async function shot(page, name, { at = "" } = {}) {
  if (process.env.E2E_SCREENSHOTS === "0") return;
  mkdirSync(SHOTS, { recursive: true });
  if (at) {
    await page.locator(at).first().evaluate((el) => {
      el.scrollIntoView({ block: "start" });
      scrollBy(0, -(document.querySelector("header")?.getBoundingClientRect().height ?? 0) - 8);
    });
  } else await page.evaluate(() => scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/** Make sure the service worker controls the page (a reload may be needed the first time). */
export async function swControlled(page, timeout = 20_000) {
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  if (!(await page.evaluate(() => !!navigator.serviceWorker.controller))) {
    await page.reload();
    await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout });
  }
}

/**
 * A 16-bit mono PCM WAV: a 440 Hz tone at half scale, digital silence inside `silence`
 * ([start, end] seconds, or none). Real audio the media element plays and the proxy analyses.
 */
export function wav(seconds, silence = null, rate = 8000) {
  const n = rate * seconds;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const quiet = silence && t >= silence[0] && t < silence[1];
    buf.writeInt16LE(quiet ? 0 : Math.round(16383 * Math.sin(2 * Math.PI * 440 * t)), 44 + i * 2);
  }
  return buf;
}

/** Answer a request for `body` with Range support (the media element seeks with it). */
export function sendRanged(req, res, body, type) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
  const head = { "content-type": type, "accept-ranges": "bytes", "cache-control": "no-store" };
  if (m && (m[1] || m[2])) {
    const start = m[1] ? Number(m[1]) : body.length - Number(m[2]);
    const end = m[1] && m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
    if (start >= body.length || start > end) {
      res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
      return;
    }
    res.writeHead(206, { ...head, "content-range": `bytes ${start}-${end}/${body.length}`, "content-length": end - start + 1 });
    res.end(req.method === "HEAD" ? undefined : body.subarray(start, end + 1));
    return;
  }
  res.writeHead(200, { ...head, "content-length": body.length });
  res.end(req.method === "HEAD" ? undefined : body);
}

/** One RSS item whose enclosure is `audioUrl`. */
export function rssItem({ guid, title, audioUrl, length, duration, day = 1, notes = "" }) {
  return `
      <item><title>${title}</title><guid isPermaLink="false">${guid}</guid>
        <description><![CDATA[${notes}]]></description>
        <enclosure url="${audioUrl}" type="audio/wav" length="${length}"/>
        <itunes:duration>${duration}</itunes:duration><pubDate>Mon, 0${day} Nov 2026 10:00:00 GMT</pubDate></item>`;
}

/** An RSS feed around `items` (strings from `rssItem`). */
export function rss({ title, link, image = "", items }) {
  return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>
  <title>${title}</title><link>${link}</link><description>A fixture podcast on loopback.</description>
  ${image ? `<image><url>${image}</url><title>${title}</title><link>${link}</link></image>` : ""}
  ${items.join("")}
</channel></rss>`;
}

/** Go to one of the app's views through its navigation (side or bottom), as a person would. */
export async function goView(page, view) {
  await page.locator(`nav a[data-nav=${view}]`).click();
  await page.waitForSelector(`main.view[data-view=${view}]`, { timeout: 20_000 });
}

/** The Devices view with its diagnostics panel (message console, connection log) open. */
export async function diagnostics(page) {
  if (!(await page.locator("main.view[data-view=devices]").count())) await goView(page, "devices");
  const d = page.locator("details.diagnostics");
  if (!(await d.evaluate((e) => e.open))) await d.locator("summary").click();
}

/** Subscribe to a feed from the Add view (reached from the Podcasts view), as a person would. */
export async function subscribeTo(page, url, title) {
  await goView(page, "podcasts");
  await page.getByRole("link", { name: "Add podcast" }).click();
  await page.getByLabel("Feed address").fill(url);
  await page.getByRole("button", { name: "Subscribe", exact: true }).click();
  if (title) await page.getByText(`Subscribed to ${title}.`).waitFor({ timeout: 20_000 });
}

/** Open a podcast's page from the grid. */
export async function openPodcast(page, url) {
  await goView(page, "podcasts");
  await page.locator(`li.tile[data-feed="${url}"] a`).click();
  await page.waitForSelector(`main.view[data-view=podcast] .pod-head[data-feed="${url}"]`, { timeout: 20_000 });
}
