// Benchmark (not a test): downloads for offline listening, in Debian chromium.
//   SKYPOD_BIN=… node e2e/bench-downloads.mjs   (after `npm run build`; BENCH_MB=500 by default)
// Figures (docs/benchmarks-web.md):
//   1. tap "Download" → first byte written to OPFS (polled in the page every few ms);
//   2. throughput of the app's download (through `skypod serve`'s /proxy/media) and of a
//      direct fetch of the same file from the same page into OPFS with the same write loop;
//   3. page memory while the download runs (JS heap from CDP, renderer RSS from /proc);
//   4. offline app start (server stopped, context offline, reload) → playing the download.
import { createServer } from "node:http";
import { execFileSync } from "node:child_process";
import { device, launch, pcmWav, skypodServer, webApp } from "./harness.mjs";

const MB = Number(process.env.BENCH_MB ?? 500);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const T = { timeout: 600_000 };

function wavOf(bytes) {
  const n = Math.floor((bytes - 44) / 2);
  const buf = pcmWav(n, 44100);
  // A quiet tone in the first minute (the rest is digital silence): real audio to play.
  for (let i = 0; i < Math.min(n, 44100 * 60); i++) buf.writeInt16LE(Math.round(3000 * Math.sin((2 * Math.PI * 440 * i) / 44100)), 44 + i * 2);
  return buf;
}

const body = wavOf(MB * 1024 * 1024);
const host = await new Promise((r) => {
  const srv = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const cors = { "access-control-allow-origin": "*", "access-control-allow-headers": "range", "access-control-expose-headers": "content-range, content-length" };
    if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
    if (path === "/big.wav") {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      const start = m ? Number(m[1]) : 0;
      const head = { ...cors, "content-type": "audio/wav", "accept-ranges": "bytes", "content-length": body.length - start };
      res.writeHead(m ? 206 : 200, m ? { ...head, "content-range": `bytes ${start}-${body.length - 1}/${body.length}` } : head);
      return res.end(body.subarray(start));
    }
    if (path === "/feed.xml") {
      const base = `http://127.0.0.1:${srv.address().port}`;
      return res.writeHead(200, { "content-type": "application/rss+xml" }).end(`<?xml version="1.0"?><rss version="2.0"><channel><title>Bench feed</title><link>${base}/</link><description>b</description>
<item><title>Big episode</title><guid>big</guid><enclosure url="${base}/big.wav" type="audio/wav" length="${body.length}"/></item></channel></rss>`);
    }
    res.writeHead(404).end();
  });
  srv.listen(0, "127.0.0.1", () => r({ port: srv.address().port, close: () => new Promise((c) => { srv.closeAllConnections(); srv.close(() => c()); }) }));
});
process.env.SKYPOD_PROXY_ALLOW_FOR_TESTS = "127.0.0.1/32";
const realm = await skypodServer();
const { web, appUrl } = await webApp(realm);
const browser = await launch(["--autoplay-policy=no-user-gesture-required"]);
const A = await device(browser);
const cdp = await A.ctx.newCDPSession(A.page);
await cdp.send("Performance.enable");

const rendererRss = () => {
  try {
    const out = execFileSync("bash", ["-c", "for p in $(pgrep -f 'chromium.*--type=renderer'); do grep VmRSS /proc/$p/status 2>/dev/null | awk '{print $2}'; done"]).toString();
    return Math.max(0, ...out.split("\n").filter(Boolean).map(Number)) / 1024;
  } catch {
    return NaN;
  }
};
const heapMb = async () => {
  const { metrics } = await cdp.send("Performance.getMetrics");
  return (metrics.find((m) => m.name === "JSHeapUsedSize")?.value ?? NaN) / 1048576;
};

await A.page.goto(appUrl);
await A.page.getByRole("button", { name: "Start a new realm" }).click();
await A.page.waitForSelector("main.home", T);
await A.page.getByLabel("Feed address").fill(`http://127.0.0.1:${host.port}/feed.xml`);
await A.page.getByRole("button", { name: "Subscribe", exact: true }).click();
await A.page.getByText("Subscribed to Bench feed.").waitFor(T);
await A.page.getByRole("button", { name: "Bench feed", exact: true }).click();
const row = A.page.locator("li.episode", { hasText: "Big episode" });
await row.waitFor(T);

const results = { mb: MB, firstByteMs: [], proxyMBps: [], directMBps: [], heapMaxMb: [], rssMaxMb: [], rssBeforeMb: [], offlineStartToPlayingMs: [] };
for (let run = 0; run < RUNS; run++) {
  const rssBefore = rendererRss();
  // Poll OPFS for the first byte from inside the page, started just before the tap.
  const firstByte = A.page.evaluate(async () => {
    const t0 = performance.now();
    const root = await navigator.storage.getDirectory();
    for (;;) {
      try {
        const d = await root.getDirectoryHandle("downloads");
        for await (const h of d.values()) if (h.kind === "file" && (await h.getFile()).size > 0) return performance.now() - t0;
      } catch {
        /* not yet */
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  });
  const t0 = Date.now();
  await row.getByRole("button", { name: "Download Big episode" }).click();
  const tClick = Date.now() - t0;
  let heapMax = 0;
  let rssMax = 0;
  const sampler = setInterval(async () => {
    heapMax = Math.max(heapMax, await heapMb().catch(() => 0));
    rssMax = Math.max(rssMax, rendererRss());
  }, 250);
  results.firstByteMs.push(Math.round((await firstByte) - 0) + tClick);
  await row.getByRole("button", { name: "Remove the download of Big episode" }).waitFor(T);
  const secs = (Date.now() - t0) / 1000;
  clearInterval(sampler);
  results.proxyMBps.push(Math.round((MB / secs) * 10) / 10);
  results.heapMaxMb.push(Math.round(heapMax));
  results.rssMaxMb.push(Math.round(rssMax));
  results.rssBeforeMb.push(Math.round(rssBefore));
  // Direct fetch of the same bytes from the same page into OPFS, same write loop.
  const direct = await A.page.evaluate(async (url) => {
    const t = performance.now();
    const root = await navigator.storage.getDirectory();
    const h = await root.getFileHandle("bench-direct", { create: true });
    const w = await h.createWritable();
    const r = (await fetch(url, { cache: "no-store" })).body.getReader();
    let n = 0;
    for (;;) {
      const { done, value } = await r.read();
      if (done) break;
      await w.write(value);
      n += value.byteLength;
    }
    await w.close();
    await root.removeEntry("bench-direct");
    return { n, ms: performance.now() - t };
  }, `http://127.0.0.1:${host.port}/big.wav`);
  results.directMBps.push(Math.round((direct.n / 1048576 / (direct.ms / 1000)) * 10) / 10);
  if (run < RUNS - 1) {
    await row.getByRole("button", { name: "Remove the download of Big episode" }).click();
    await row.getByRole("button", { name: "Download Big episode" }).waitFor(T);
  }
}

// Offline start → playing the download (server stopped, network off).
await realm.stop();
await A.ctx.setOffline(true);
for (let i = 0; i < RUNS; i++) {
  const t0 = Date.now();
  await A.page.reload();
  const feed = A.page.getByRole("button", { name: "Bench feed", exact: true });
  await feed.waitFor(T);
  if ((await feed.getAttribute("aria-expanded")) !== "true") await feed.click();
  await row.getByRole("button", { name: /^(Play|Resume) Big episode/ }).click();
  await A.page.waitForSelector(".dock[data-local='1'][data-playing='1']", T);
  results.offlineStartToPlayingMs.push(Date.now() - t0);
}
console.log(JSON.stringify(results, null, 2));
await browser.close();
await web.close();
await host.close();
process.exit(0);
