// Benchmark (not a test): a 3,000-episode feed in the app's podcast page, side by side with a
// baseline build of the web app (e.g. the one-long-page app before the views), in one run on
// one `skypod serve`. For each app and run, in a fresh browser context: create a realm,
// subscribe to the feed, then measure
//   - tap → first episodes painted: from the click that opens the podcast (its tile, or in
//     the baseline its title button) until an episode row is in the DOM and one more
//     animation frame has passed (painted);
//   - scroll frame times: requestAnimationFrame intervals while the page scrolls the whole list
//     400 px per frame (p50, p95, max), and how many frames took longer than 50 ms;
//   - DOM size: episode rows in the document after opening.
//
//   SKYPOD_BIN=/path/to/skypod node scripts/bench-views.mjs --baseline /path/to/old/web/dist [--runs 5]
//
// Builds nothing: `npm run build` first (this app's dist/), and build the baseline yourself
// (docs/benchmarks-web.md shows how). Loopback only.
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { launch, skypodServer, staticServer } from "../e2e/harness.mjs";

const { values } = parseArgs({ options: { baseline: { type: "string" }, runs: { type: "string", default: "5" }, episodes: { type: "string", default: "3000" } } });
if (!values.baseline) {
  console.error("usage: node scripts/bench-views.mjs --baseline <dist of the other build> [--runs 5]");
  process.exit(2);
}
const N = Number(values.episodes);
const RUNS = Number(values.runs);

function feedHost() {
  const srv = createServer((req, res) => {
    const base = `http://127.0.0.1:${srv.address().port}`;
    const small = /^\/f\/(\d+)\.xml$/.exec(req.url);
    if (small) {
      const n = small[1];
      const items = [1, 2, 3].map((i) => `<item><title>Episode ${i} of show ${n}</title><guid>s${n}-${i}</guid><enclosure url="${base}/s${n}-${i}.mp3" type="audio/mpeg" length="1"/><pubDate>${new Date(Date.UTC(2020, 0, i)).toUTCString()}</pubDate></item>`);
      return res.writeHead(200, { "content-type": "application/rss+xml" }).end(`<?xml version="1.0"?><rss version="2.0"><channel><title>Show ${n}</title><link>${base}/</link><description>d</description><image><url>${base}/art/${n}.png</url></image>${items.join("")}</channel></rss>`);
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
  await page.goto(appUrl);
  await page.getByRole("button", { name: "Start a new realm" }).click();
  await page.waitForSelector("[data-socket=online]", { timeout: 30_000 });
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
  const frames = await page.evaluate(async () => {
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
    for (let i = 0; i < 2000 && scrollY < end() - 1; i++) {
      scrollBy(0, 400);
      await new Promise((r) => requestAnimationFrame(r));
    }
    on = false;
    return times.slice(1);
  });
  await ctx.close();
  frames.sort((a, b) => a - b);
  const q = (p) => Math.round(frames[Math.min(frames.length - 1, Math.floor(p * frames.length))] * 10) / 10;
  return { tapMs: Math.round(tapMs), rows, frames: frames.length, p50: q(0.5), p95: q(0.95), max: q(1), over50: frames.filter((f) => f > 50).length };
}

/** This build only: 300 subscriptions (OPML import), then Settings → Podcasts until 300 tiles are painted, and a scroll of the grid. */
async function grid(browser, appUrl, opmlUrl, runs) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await page.goto(appUrl);
  await page.getByRole("button", { name: "Start a new realm" }).click();
  await page.waitForSelector("[data-socket=online]", { timeout: 30_000 });
  await page.locator("nav a[data-nav=podcasts]").click();
  await page.getByRole("link", { name: "Add podcast" }).click();
  await page.getByText("Import an OPML subscription list").click();
  await page.getByLabel("OPML address").fill(opmlUrl);
  await page.getByRole("button", { name: "Import", exact: true }).click();
  await page.getByText("Imported 300 new feeds.").waitFor({ timeout: 60_000 });
  await page.locator("nav a[data-nav=podcasts]").click();
  // Every feed fetched once (titles, counts), so the grid is complete.
  await page.waitForFunction(() => document.querySelectorAll("li.tile [data-unplayed='3']").length === 300, null, { timeout: 120_000 });
  const out = [];
  for (let i = 0; i < runs; i++) {
    await page.locator("nav a[data-nav=settings]").click();
    await page.waitForSelector("main.view[data-view=settings]");
    out.push(
      await page.evaluate(async () => {
        const t0 = performance.now();
        document.querySelector("nav a[data-nav=podcasts]").click();
        for (;;) {
          await new Promise((r) => requestAnimationFrame(r));
          if (document.querySelectorAll("li.tile").length === 300) break;
        }
        await new Promise((r) => requestAnimationFrame(r));
        const paintMs = performance.now() - t0;
        const times = [];
        let last = performance.now();
        for (let y = 0; y < 40; y++) {
          scrollBy(0, 300);
          await new Promise((r) => requestAnimationFrame(r));
          const t = performance.now();
          times.push(t - last);
          last = t;
        }
        times.sort((a, b) => a - b);
        return { paintMs: Math.round(paintMs), scrollP95: Math.round(times[Math.floor(0.95 * times.length)] * 10) / 10, scrollMax: Math.round(times[times.length - 1] * 10) / 10 };
      }),
    );
  }
  await ctx.close();
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

process.env.SKYPOD_PROXY_ALLOW_FOR_TESTS = "127.0.0.0/8";
// Rendering is measured, not the proxy's per-member rate limit (300 feeds at once).
process.env.SKYPOD_PROXY_RATE = "1000";
process.env.SKYPOD_PROXY_RATE_BURST = "10000";
const host = await feedHost();
const realm = await skypodServer();
const views = await staticServer();
const base = await staticServer(0, values.baseline);
const browser = await launch();
const out = { views: [], baseline: [] };
try {
  for (let i = 0; i < RUNS; i++) {
    // Alternate which goes first, so neither always gets the warmer browser.
    const order = i % 2 === 0 ? ["views", "baseline"] : ["baseline", "views"];
    for (const kind of order) {
      const srv = kind === "views" ? views : base;
      const r = await measure(browser, `http://127.0.0.1:${srv.port}/?server=${encodeURIComponent(realm.base)}`, host.url, kind);
      out[kind].push(r);
      console.log(kind, JSON.stringify(r));
    }
  }
  const g = await grid(browser, `http://127.0.0.1:${views.port}/?server=${encodeURIComponent(realm.base)}`, host.opml, RUNS);
  for (const r of g) console.log("grid300", JSON.stringify(r));
  console.log(`grid300  Settings → Podcasts with 300 tiles painted median ${median(g.map((r) => r.paintMs))} ms; grid scroll p95 ${median(g.map((r) => r.scrollP95))} ms, max ${median(g.map((r) => r.scrollMax))} ms`);
} finally {
  await browser.close();
  await views.close();
  await base.close();
  await realm.stop();
  host.close();
}
for (const kind of ["views", "baseline"]) {
  const rs = out[kind];
  console.log(
    `${kind.padEnd(8)} tap→painted median ${median(rs.map((r) => r.tapMs))} ms; scroll p50 ${median(rs.map((r) => r.p50))} ms, p95 ${median(rs.map((r) => r.p95))} ms, max ${median(rs.map((r) => r.max))} ms, frames > 50 ms ${median(rs.map((r) => r.over50))} of ${median(rs.map((r) => r.frames))}; rows in DOM ${median(rs.map((r) => r.rows))}`,
  );
}
