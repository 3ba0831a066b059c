// E2E harness: a tiny static server for web/dist, the real `skypod serve`, and Debian chromium
// driven by playwright-core. Everything listens on 127.0.0.1 only.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const DIST = join(ROOT, "web/dist");
/** Where the E2E files put their figures (ignored by git); see `saveMetrics`. */
export const METRICS = join(ROOT, "web/e2e/last-metrics.json");
/** Each E2E file's own figures (ignored by git), merged into METRICS. */
export const METRICS_DIR = join(ROOT, "web/e2e/metrics");
/** The skypod binary under test: $SKYPOD_BIN, else the release build. */
export const skypodBin = () => process.env.SKYPOD_BIN ?? join(ROOT, "target/release/skypod");

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
  const child = spawn(skypodBin(), ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir], {
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

/**
 * What an E2E file starts with: `skypod serve` on a free loopback port, the app (see `webApp`),
 * chromium (with `browserArgs`) and `devices` phone-sized devices in it. Resolves to
 * {realm, web, appUrl, browser, devices}; what started is stopped again if a later step fails.
 */
export async function setup({ browserArgs = [], devices = 1 } = {}) {
  const realm = await skypodServer();
  let web = null;
  let browser = null;
  try {
    let appUrl;
    ({ web, appUrl } = await webApp(realm));
    browser = await launch(browserArgs);
    const ds = [];
    for (let i = 0; i < devices; i++) ds.push(await device(browser));
    return { realm, web, appUrl, browser, devices: ds };
  } catch (e) {
    await teardown({ browser, web, realm });
    throw e;
  }
}

/**
 * Close what `setup` started (any of them may be missing): the browser, then the app's server,
 * then the realm server; then the file's own servers (`others`, each with a close()).
 */
export async function teardown({ browser, web, realm }, ...others) {
  await browser?.close();
  await web?.close();
  await realm?.stop();
  for (const o of others) await o?.close();
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

/**
 * `page` left alone: once its service worker is in control, the app's server and the realm
 * server stop and the `others` devices close; then `page` reloads (from the service worker).
 */
export async function reloadAlone(page, { web, realm, others = [] }) {
  await swControlled(page);
  await web.close();
  await realm.stop();
  for (const d of others) await d.ctx.close();
  await page.reload();
}

/** Open the Devices view and wait until it lists a peer linked over P2P. */
export async function p2pLinked(page, wait = { timeout: 20_000 }) {
  await goView(page, "devices");
  await page.waitForSelector("li.peer[data-link=p2p]", wait);
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

/** A 16-bit mono PCM WAV of `samples` samples at `rate` Hz: the header, then digital silence. */
export function pcmWav(samples, rate) {
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(samples * 2, 40);
  return buf;
}

/**
 * A 16-bit mono PCM WAV: a 440 Hz tone at amplitude `amp` (half scale by default), digital
 * silence inside each of `silences` ([start, end] seconds). Real audio the media element plays
 * and the proxy analyses.
 */
export function wav(seconds, { silences = [], rate = 8000, amp = 16383 } = {}) {
  const n = Math.round(rate * seconds);
  const buf = pcmWav(n, rate);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const quiet = silences.some(([a, b]) => t >= a && t < b);
    buf.writeInt16LE(quiet ? 0 : Math.round(amp * Math.sin(2 * Math.PI * 440 * t)), 44 + i * 2);
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
export async function subscribeTo(page, url, title, { timeout = 20_000 } = {}) {
  await goView(page, "podcasts");
  await page.getByRole("link", { name: "Add podcast" }).click();
  await page.getByLabel("Feed address").fill(url);
  await page.getByRole("button", { name: "Subscribe", exact: true }).click();
  if (title) await page.getByText(`Subscribed to ${title}.`).waitFor({ timeout });
}

/** Open a podcast's page from the grid. */
export async function openPodcast(page, url) {
  await goView(page, "podcasts");
  await page.locator(`li.tile[data-feed="${url}"] a`).click();
  await page.waitForSelector(`main.view[data-view=podcast] .pod-head[data-feed="${url}"]`, { timeout: 20_000 });
}

/** Open the app on the first-run screen and start a new realm; resolves once the realm server answers. */
export async function startRealm(page, appUrl, wait = { timeout: 20_000 }) {
  await page.goto(appUrl);
  await page.getByRole("button", { name: "Start a new realm" }).click();
  await page.waitForSelector("[data-socket=online]", wait);
}

/** Create an invitation on the Devices view; resolves to its link. */
export async function invite(page) {
  await goView(page, "devices");
  await page.getByRole("button", { name: "Create invitation" }).click();
  await page.waitForFunction(() => /#join=/.test(document.querySelector("#invite-link")?.value ?? ""), null, { timeout: 20_000 });
  return page.getByLabel(/Invitation link/).inputValue();
}

/** Open the app on the first-run screen and join a realm by pasting an invitation link. */
export async function joinRealm(page, appUrl, link) {
  await page.goto(appUrl);
  await page.getByRole("button", { name: "Sync to an existing install" }).click();
  await page.getByLabel("Invitation link").fill(link);
  await page.getByRole("button", { name: "Join" }).click();
}

/**
 * Through the dock: pause, then seek to `sec` with the dock's keys (Shift+← = −30 s down to 0,
 * at most `maxBack` presses, then Shift+→ = +30 s, → = +15 s). Every seek is reported to the library.
 */
export async function pauseAndSeek(page, sec, { maxBack = 40 } = {}) {
  const T = { timeout: 20_000 };
  const dock = page.getByRole("region", { name: "Player" });
  await page.waitForSelector(".dock[data-playing='1']", T);
  await dock.getByRole("button", { name: "Pause", exact: true }).click();
  await page.waitForSelector(".dock[data-playing='0']", T);
  await page.locator("main h1").first().click();
  const at = () => page.evaluate(() => document.querySelector(".dock audio").currentTime);
  for (let i = 0; i < maxBack && (await at()) > 0; i++) await page.keyboard.press("Shift+ArrowLeft");
  assert.equal(await at(), 0);
  for (let t = 0; t < sec; ) {
    const step = sec - t >= 30 ? 30 : 15;
    await page.keyboard.press(step === 30 ? "Shift+ArrowRight" : "ArrowRight");
    t += step;
  }
  await page.waitForFunction((s) => document.querySelector(".dock audio").currentTime === s, sec, T);
}

/** Run the skypod CLI to completion (optionally with stdin); resolves to stdout, rejects with stderr. */
export function cli(args, { input = null, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const p = execFile(skypodBin(), args, { timeout: timeoutMs, env: { ...process.env, SKYPOD_LOG: "warn" } }, (err, stdout, stderr) =>
      err ? reject(new Error(`skypod ${args.join(" ")}: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
    if (input !== null) p.stdin.end(input);
  });
}

/** Poll `cond` every `every` ms until it holds; after `ms`, fail naming `what` (and `detail()`). */
export async function waitFor(cond, what, { ms = 30_000, detail = () => "", every = 200 } = {}) {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

let axeSource = null;
/** axe-core on the whole page (or the part `within` selects): serious and critical violations only. */
export async function axe(page, within = null) {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  // Evaluated through the devtools protocol, not a <script>: the app's CSP allows no inline script.
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.evaluate(axeSource);
  const r = await page.evaluate(async (sel) => {
    const res = await globalThis.axe.run(sel ?? document, { resultTypes: ["violations"] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  }, within);
  return r.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/**
 * Write a file's figures (under `section` when given) and log them. Each E2E file has its own
 * JSON in METRICS_DIR (files may run side by side), and METRICS is rebuilt from all of them
 * after every write; both are written to a temporary name and renamed, so a reader never sees
 * half a file. web/scripts/e2e.sh empties METRICS_DIR before a run.
 */
export function saveMetrics(metrics, { section = "" } = {}) {
  if (!Object.keys(metrics).length) return;
  mkdirSync(METRICS_DIR, { recursive: true });
  const own = join(METRICS_DIR, `${basename(process.argv[1] ?? "e2e", ".mjs")}.json`);
  const mine = readJson(own);
  Object.assign(mine, section ? { [section]: { ...(mine[section] ?? {}), ...metrics } } : metrics);
  writeAtomically(own, mine);
  const all = {};
  for (const f of readdirSync(METRICS_DIR).filter((f) => f.endsWith(".json")).sort()) {
    Object.assign(all, readJson(join(METRICS_DIR, f)));
  }
  writeAtomically(METRICS, all);
  console.log("metrics:", JSON.stringify(metrics));
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return {};
  }
}

function writeAtomically(path, value) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  renameSync(tmp, path);
}

/**
 * Runs in the page (pass it to `page.evaluate`): scroll by `step` px a frame, at most `max`
 * frames (with `toEnd`, stopping at the bottom of the page; with `andBack`, then back up to the
 * top), timing every animation frame meanwhile. Resolves to the frame intervals in ms.
 */
export async function scrollFrameTimes({ step, max, toEnd = false, andBack = false }) {
  const raf = () => new Promise((r) => requestAnimationFrame(r));
  const times = [];
  let last = performance.now();
  let on = true;
  const loop = (t) => {
    times.push(t - last);
    last = t;
    if (on) requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  const end = () => document.documentElement.scrollHeight - innerHeight;
  for (let i = 0; i < max && (!toEnd || scrollY < end() - 1); i++) {
    scrollBy(0, step);
    await raf();
  }
  for (let i = 0; andBack && i < max && scrollY > 0; i++) {
    scrollBy(0, -step);
    await raf();
  }
  on = false;
  return times.slice(1);
}

/** The `q` quantile (0…1) of `sorted` (ascending), to 0.1. */
export const quantile = (sorted, q) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10;
