// Benchmark (not a test), two parts in one run on one `skypod serve`:
//
// With --baseline: a 3,000-episode feed in the app's podcast page, side by side with a
// baseline build of the web app (e.g. the one-long-page app before the views). For each app
// and run, in a fresh browser context: create a realm, subscribe to the feed, then measure
//   - tap → first episodes painted: from the click that opens the podcast (its tile, or in
//     the baseline its title button) until an episode row is in the DOM and one more
//     animation frame has passed (painted);
//   - scroll frame times: requestAnimationFrame intervals while the page scrolls the whole list
//     400 px per frame (p50, p95, max), and how many frames took longer than 50 ms;
//   - DOM size: episode rows in the document after opening.
//
// Always: the Podcasts grid with 300 subscriptions (OPML import), each feed with a 600×600 PNG
// cover on the loopback host, shown through `/proxy/image` at 256 px; with --grid-baseline (may
// be repeated) the same, side by side, for other builds ("other1", "other2", … in that order). A throwaway
// context first asks the proxy for every cover (the server's resize cache is warm for both
// apps); then each app has its own context and realm, and the runs alternate between them:
// Settings → Podcasts (painted, covers in view shown) and a scroll of the whole grid (see gridRun).
//
//   SKYPOD_BIN=/path/to/skypod node scripts/bench-views.mjs [--baseline <dist>] [--grid-baseline <dist>]… [--runs 5]
//
// Builds nothing: `npm run build` first (this app's dist/), and build the baseline yourself
// (docs/benchmarks-web.md shows how). Loopback only.
import { createServer } from "node:http";
import { crc32, deflateSync } from "node:zlib";
import { parseArgs } from "node:util";
import { launch, quantile, scrollFrameTimes, skypodServer, startRealm, staticServer } from "../e2e/harness.mjs";

const { values } = parseArgs({
  options: { baseline: { type: "string" }, "grid-baseline": { type: "string", multiple: true }, runs: { type: "string", default: "5" }, episodes: { type: "string", default: "3000" } },
});
if (!values.baseline && !values["grid-baseline"]) {
  console.error("usage: node scripts/bench-views.mjs [--baseline <dist>] [--grid-baseline <dist>] [--runs 5]");
  process.exit(2);
}
const N = Number(values.episodes);
const RUNS = Number(values.runs);

function feedHost() {
  const covers = new Map();
  const srv = createServer((req, res) => {
    const base = `http://127.0.0.1:${srv.address().port}`;
    const small = /^\/f\/(\d+)\.xml$/.exec(req.url);
    if (small) {
      const n = small[1];
      const items = [1, 2, 3].map((i) => `<item><title>Episode ${i} of show ${n}</title><guid>s${n}-${i}</guid><enclosure url="${base}/s${n}-${i}.mp3" type="audio/mpeg" length="1"/><pubDate>${new Date(Date.UTC(2020, 0, i)).toUTCString()}</pubDate></item>`);
      return res.writeHead(200, { "content-type": "application/rss+xml" }).end(`<?xml version="1.0"?><rss version="2.0"><channel><title>Show ${n}</title><link>${base}/</link><description>d</description><image><url>${base}/art/${n}.png</url></image>${items.join("")}</channel></rss>`);
    }
    const art = /^\/art\/(\d+)\.png$/.exec(req.url);
    if (art) {
      // A 600×600 cover per show (what the proxy resizes to the grid's 256 px).
      const n = Number(art[1]);
      if (!covers.has(n)) covers.set(n, png(600, 600, n));
      return res.writeHead(200, { "content-type": "image/png" }).end(covers.get(n));
    }
    if (req.url === "/300.opml") {
      const outlines = Array.from({ length: 300 }, (_, i) => `<outline type="rss" text="Show ${i}" xmlUrl="${base}/f/${i}.xml"/>`).join("");
      return res.writeHead(200, { "content-type": "text/x-opml" }).end(`<?xml version="1.0"?><opml version="2.0"><head><title>300</title></head><body>${outlines}</body></opml>`);
    }
    const items = [];
    for (let i = N; i >= 1; i--) {
      const pub = new Date(Date.UTC(2018, 0, 1) + i * 86_400_000).toUTCString();
      items.push(`<item><title>Big episode ${i}</title><guid isPermaLink="false">big-${i}</guid><description><![CDATA[<p>Show notes for number ${i}: ${"some <b>words</b> ".repeat(30)}</p>]]></description><enclosure url="${base}/big${i}.mp3" type="audio/mpeg" length="1000"/><pubDate>${pub}</pubDate></item>`);
    }
    res.writeHead(200, { "content-type": "application/rss+xml" }).end(`<?xml version="1.0"?><rss version="2.0"><channel><title>Big Archive</title><link>${base}/</link><description>d</description>${items.join("")}</channel></rss>`);
  });
  return new Promise((r) =>
    srv.listen(0, "127.0.0.1", () => r({ url: `http://127.0.0.1:${srv.address().port}/big.xml`, opml: `http://127.0.0.1:${srv.address().port}/300.opml`, close: () => srv.close() })),
  );
}

async function measure(browser, appUrl, feedUrl, kind) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  await startRealm(page, appUrl, { timeout: 30_000 });
  if (kind === "views") {
    await page.locator("nav a[data-nav=podcasts]").click();
    await page.getByRole("link", { name: "Add podcast" }).click();
  }
  await page.getByLabel("Feed address").fill(feedUrl);
  await page.getByRole("button", { name: "Subscribe", exact: true }).click();
  await page.getByText("Subscribed to Big Archive.").waitFor({ timeout: 60_000 });
  if (kind === "views") await page.locator("nav a[data-nav=podcasts]").click();
  const opener = kind === "views" ? `li.tile[data-feed="${feedUrl}"] a` : `.feed[data-feed="${feedUrl}"] button.feed-title`;
  const row = kind === "views" ? ".vlist .episode" : "li.episode";
  await page.waitForSelector(opener);
  const tapMs = await page.evaluate(
    async ([sel, rowSel]) => {
      const t0 = performance.now();
      document.querySelector(sel).click();
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        if (document.querySelector(rowSel)) break;
      }
      await new Promise((r) => requestAnimationFrame(r));
      return performance.now() - t0;
    },
    [opener, row],
  );
  const rows = await page.locator(row).count();
  const frames = await page.evaluate(scrollFrameTimes, { step: 400, max: 2000, toEnd: true });
  await ctx.close();
  frames.sort((a, b) => a - b);
  const q = (p) => quantile(frames, p);
  return { tapMs: Math.round(tapMs), rows, frames: frames.length, p50: q(0.5), p95: q(0.95), max: q(1), over50: frames.filter((f) => f > 50).length };
}

const SUBS = 300;

/** Raw PNG bytes (8-bit RGB, no interlace) of a w×h picture: a diagonal gradient in the show's hue. */
function png(w, h, n) {
  const rows = Buffer.alloc((w * 3 + 1) * h);
  const [r0, g0, b0] = [(n * 47) % 256, (n * 89) % 256, (n * 151) % 256];
  for (let y = 0; y < h; y++) {
    const o = y * (w * 3 + 1);
    rows[o] = 0;
    for (let x = 0; x < w; x++) {
      const t = (x + y) / (w + h);
      rows[o + 1 + x * 3] = Math.round(r0 * (1 - t) + 255 * t);
      rows[o + 2 + x * 3] = Math.round(g0 * (1 - t) + 40 * t);
      rows[o + 3 + x * 3] = Math.round(b0 * (1 - t) + 120 * t) ^ ((x >> 4) & 1 ? 0 : 24);
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

/**
 * A fresh context (1280×800) of the app at `appUrl`: a new realm, the 300 feeds imported from
 * the OPML list, back on the Podcasts view once every feed has been fetched (each tile has its
 * count; a virtualised grid says so on its box, `data-fetched`). Counts the page's cover
 * responses from /proxy/image and every host the page asked.
 */
async function gridSetup(browser, appUrl, opmlUrl) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const seen = { covers: 0, hosts: new Set() };
  page.on("request", (r) => {
    if (/^https?:/.test(r.url())) seen.hosts.add(new URL(r.url()).host);
  });
  page.on("response", (r) => {
    if (r.url().includes("/proxy/image?") && r.status() === 200 && (r.headers()["content-type"] ?? "").startsWith("image/")) seen.covers++;
  });
  await startRealm(page, appUrl, { timeout: 30_000 });
  await page.locator("nav a[data-nav=podcasts]").click();
  await page.getByRole("link", { name: "Add podcast" }).click();
  await page.getByText("Import an OPML subscription list").click();
  await page.getByLabel("OPML address").fill(opmlUrl);
  await page.getByRole("button", { name: "Import", exact: true }).click();
  await page.getByText(`Imported ${SUBS} new feeds.`).waitFor({ timeout: 60_000 });
  await page.locator("nav a[data-nav=podcasts]").click();
  await page.waitForFunction(
    (n) => !!document.querySelector(`[data-fetched='${n}']`) || document.querySelectorAll("li.tile [data-unplayed='3']").length === n,
    SUBS,
    { timeout: 180_000 },
  );
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Performance.enable");
  return { ctx, page, seen, cdp };
}

/** Scroll the grid slowly to its end so that every cover is asked of the proxy once (warms the server's resize cache). */
async function warmCovers(page, seen) {
  await page.evaluate(async () => {
    const end = () => document.documentElement.scrollHeight - innerHeight;
    while (scrollY < end() - 1) {
      scrollBy(0, 400);
      await new Promise((r) => setTimeout(r, 120));
    }
  });
  const t0 = Date.now();
  while (seen.covers < SUBS && Date.now() - t0 < 180_000) await new Promise((r) => setTimeout(r, 200));
  if (seen.covers < SUBS) throw new Error(`only ${seen.covers} covers came through /proxy/image`);
}

/**
 * One run: Settings → Podcasts, then
 *   - paintMs: click → first tiles in the DOM and one more frame (painted);
 *   - coversMs: click → every tile in the viewport shows its decoded cover;
 *   - the whole grid scrolled down and back up, 300 px per frame: requestAnimationFrame intervals (p50, p95,
 *     max) and how many frames took over 2 and over 3 refresh intervals (33.4, 50 ms);
 *   - tiles: tiles in the DOM after opening.
 */
async function gridRun({ page, cdp }) {
  await page.locator("nav a[data-nav=settings]").click();
  await page.waitForSelector("main.view[data-view=settings]");
  const p0 = await mainThread(cdp);
  const r = await page.evaluate(async () => {
    const raf = () => new Promise((res) => requestAnimationFrame(res));
    const inView = () =>
      [...document.querySelectorAll("li.tile")].filter((li) => {
        const b = li.getBoundingClientRect();
        return b.bottom > 0 && b.top < innerHeight;
      });
    const t0 = performance.now();
    document.querySelector("nav a[data-nav=podcasts]").click();
    while (!document.querySelector("li.tile")) await raf();
    await raf();
    const paintMs = performance.now() - t0;
    const tiles = document.querySelectorAll("li.tile").length;
    let coversMs = -1;
    while (performance.now() - t0 < 20_000) {
      const v = inView();
      if (v.length && v.every((li) => { const i = li.querySelector(".art img"); return i && i.complete && i.naturalWidth > 0; })) {
        await raf();
        coversMs = performance.now() - t0;
        break;
      }
      await raf();
    }
    return { paintMs, coversMs, tiles };
  });
  const m0 = await mainThread(cdp);
  r.paintScriptMs = m0.script - p0.script;
  const times = await page.evaluate(scrollFrameTimes, { step: 300, max: 1000, toEnd: true, andBack: true });
  const m1 = await mainThread(cdp);
  r.times = times;
  const f = r.times.sort((a, b) => a - b);
  const q = (p) => quantile(f, p);
  return {
    paintMs: Math.round(r.paintMs),
    coversMs: Math.round(r.coversMs),
    tiles: r.tiles,
    frames: f.length,
    p50: q(0.5),
    p95: q(0.95),
    max: q(1),
    over33: f.filter((x) => x > 33.4).length,
    over50: f.filter((x) => x > 50).length,
    // The renderer's main thread during the scroll: all its tasks, and their script, style and layout parts.
    // Main-thread script while opening the view (until the covers in view are shown).
    paintScriptMs: Math.round(r.paintScriptMs),
    busyMs: Math.round(m1.task - m0.task),
    scriptMs: Math.round(m1.script - m0.script),
    styleLayoutMs: Math.round(m1.layout - m0.layout),
  };
}

/** The page's main-thread time so far (ms), from the DevTools protocol's Performance domain. */
async function mainThread(cdp) {
  const { metrics } = await cdp.send("Performance.getMetrics");
  const v = (n) => 1000 * (metrics.find((m) => m.name === n)?.value ?? 0);
  return { task: v("TaskDuration"), script: v("ScriptDuration"), layout: v("LayoutDuration") + v("RecalcStyleDuration") };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

process.env.SKYPOD_PROXY_ALLOW_FOR_TESTS = "127.0.0.0/8";
// Rendering is measured, not the proxy's per-member rate limit (300 feeds and covers at once).
process.env.SKYPOD_PROXY_RATE = "1000";
process.env.SKYPOD_PROXY_RATE_BURST = "10000";
const host = await feedHost();
const realm = await skypodServer();
const views = await staticServer();
const base = values.baseline ? await staticServer(0, values.baseline) : null;
// Other builds for the grid, side by side with this one: "other1", "other2", … in the order given.
const others = [];
for (const dir of values["grid-baseline"] ?? []) others.push({ kind: `other${others.length + 1}`, dir, srv: await staticServer(0, dir) });
const serverOf = (kind) => (kind === "views" ? views : others.find((o) => o.kind === kind).srv);
const appAt = (srv) => `http://127.0.0.1:${srv.port}/?server=${encodeURIComponent(realm.base)}`;
const browser = await launch();
const out = { views: [], baseline: [] };
const grids = { views: [] };
for (const o of others) {
  grids[o.kind] = [];
  console.log(`grid300 ${o.kind} = ${o.dir}`);
}
const pages = {};
try {
  if (base) {
    for (let i = 0; i < RUNS; i++) {
      // Alternate which goes first, so neither always gets the warmer browser.
      const order = i % 2 === 0 ? ["views", "baseline"] : ["baseline", "views"];
      for (const kind of order) {
        const r = await measure(browser, appAt(kind === "views" ? views : base), host.url, kind);
        out[kind].push(r);
        console.log(kind, JSON.stringify(r));
      }
    }
  }
  // The grid: a throwaway context of this build first asks the proxy for every cover, so the
  // server's resized copies exist and neither app pays for the first resize.
  const warm = await gridSetup(browser, appAt(views), host.opml);
  await warmCovers(warm.page, warm.seen);
  await warm.ctx.close();
  const kinds = ["views", ...others.map((o) => o.kind)];
  for (const kind of kinds) pages[kind] = await gridSetup(browser, appAt(serverOf(kind)), host.opml);
  for (let i = 0; i < RUNS; i++) {
    // Rotate which goes first.
    const order = kinds.map((_, j) => kinds[(i + j) % kinds.length]);
    for (const kind of order) {
      const r = await gridRun(pages[kind]);
      grids[kind].push(r);
      console.log(`grid300 ${kind}`, JSON.stringify(r));
    }
  }
  for (const kind of kinds) {
    const { seen } = pages[kind];
    const foreign = [...seen.hosts].filter((h) => h !== `127.0.0.1:${realm.port}` && h !== `127.0.0.1:${serverOf(kind).port}`);
    console.log(`grid300 ${kind} covers through /proxy/image: ${seen.covers}; other hosts asked by the page: ${foreign.length ? foreign.join(", ") : "none"}`);
  }
} finally {
  await browser.close();
  await views.close();
  await base?.close();
  for (const o of others) await o.srv.close();
  await realm.stop();
  host.close();
}
for (const kind of base ? ["views", "baseline"] : []) {
  const rs = out[kind];
  console.log(
    `${kind.padEnd(8)} tap→painted median ${median(rs.map((r) => r.tapMs))} ms; scroll p50 ${median(rs.map((r) => r.p50))} ms, p95 ${median(rs.map((r) => r.p95))} ms, max ${median(rs.map((r) => r.max))} ms, frames > 50 ms ${median(rs.map((r) => r.over50))} of ${median(rs.map((r) => r.frames))}; rows in DOM ${median(rs.map((r) => r.rows))}`,
  );
}
for (const kind of Object.keys(grids)) {
  const [first, ...rest] = grids[kind];
  if (!first) continue;
  const m = (k, rs = grids[kind]) => median(rs.map((r) => r[k]));
  console.log(
    `grid300 ${kind.padEnd(6)} Settings → Podcasts painted median ${m("paintMs")} ms, covers in view ${m("coversMs")} ms (script ${m("paintScriptMs")} ms); tiles in DOM ${m("tiles")}; ` +
      `first scroll (covers fetched as they come into view) p50 ${first.p50} / p95 ${first.p95} / max ${first.max} ms, > 33.4 ms ${first.over33} of ${first.frames}; ` +
      (rest.length ? `later scrolls (median of ${rest.length}) p50 ${m("p50", rest)} / p95 ${m("p95", rest)} / max ${m("max", rest)} ms, > 33.4 ms ${m("over33", rest)} of ${m("frames", rest)}; ` : "") +
      `main thread per scroll (median) ${m("busyMs")} ms (script ${m("scriptMs")}, style+layout ${m("styleLayoutMs")})`,
  );
}
