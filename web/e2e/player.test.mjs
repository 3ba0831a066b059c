// End-to-end: the player dock. A WAV with a real 6 s silence is served on loopback; the realm
// server's feed proxy (`/proxy/silence`, the real analysis) maps it; playback starts through
// the nowPlaying seam (the `skypodPlayerDebug` handle, see src/player/debug.ts); speed, skip
// silences, Media Session, keyboard and progress reports are checked on the real <audio>.
// Also an accessibility pass over the screens it visits (names, focus order, phone width).
// Run through scripts/e2e.sh (builds the app and the server first).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, device, launch, skypodServer, staticServer } from "./harness.mjs";
import { measure } from "../scripts/check-budget.mjs";

const SHOTS = join(ROOT, "docs/screenshots");
const METRICS = join(ROOT, "web/e2e/last-metrics.json");
const T = { timeout: 20_000 };
const RATE = 8000;
// Tone 0–3 s, digital silence 3–9 s, tone 9–30 s.
const SILENCE = [3, 9];
const LENGTH = 30;
const metrics = {};
let web, realm, browser, A, appUrl, fixture, audioUrl;

async function shot(page, name) {
  if (process.env.E2E_SCREENSHOTS === "0") return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/** 16-bit mono PCM WAV: a 440 Hz tone at half scale, zeros inside the silence. */
function wav() {
  const n = RATE * LENGTH;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write("RIFF", 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(RATE, 24);
  buf.writeUInt32LE(RATE * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write("data", 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) {
    const t = i / RATE;
    const v = t >= SILENCE[0] && t < SILENCE[1] ? 0 : Math.round(16383 * Math.sin(2 * Math.PI * 440 * t));
    buf.writeInt16LE(v, 44 + i * 2);
  }
  return buf;
}

/** The episode's host: serves the WAV with Range support (the media element seeks with it). */
function audioHost(body) {
  const srv = createServer((req, res) => {
    if (!req.url.startsWith("/episode.wav")) {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    const head = { "content-type": "audio/wav", "accept-ranges": "bytes", "cache-control": "no-store" };
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
  });
  return new Promise((r) => srv.listen(0, "127.0.0.1", () => r({ port: srv.address().port, close: () => new Promise((c) => srv.close(() => c())) })));
}

/** Interactive elements without an accessible name (a small subset of the accname rules). */
function unlabelled(page) {
  return page.evaluate(() => {
    const named = (el) => {
      if (el.getAttribute("aria-label")?.trim()) return true;
      const by = el.getAttribute("aria-labelledby");
      if (by && by.split(/\s+/).some((id) => document.getElementById(id)?.textContent.trim())) return true;
      if (el.labels && [...el.labels].some((l) => l.textContent.trim())) return true;
      if (el.title?.trim()) return true;
      if (["BUTTON", "A", "SUMMARY"].includes(el.tagName) && el.textContent.trim()) return true;
      return false;
    };
    return [...document.querySelectorAll("button, a[href], input, select, textarea, summary")]
      .filter((el) => el.type !== "hidden" && el.getClientRects().length > 0 && !named(el))
      .map((el) => el.outerHTML.slice(0, 120));
  });
}

/** Every screen must fit a 390 px wide phone without sideways scrolling. */
async function fitsPhone(page) {
  const { sw, iw } = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: innerWidth }));
  assert.ok(sw <= iw, `page is ${sw}px wide in a ${iw}px viewport`);
}

const el = (page, f) => page.evaluate(f);
const audioState = (page) =>
  el(page, () => {
    const a = document.querySelector(".dock audio");
    const played = [];
    for (let i = 0; i < a.played.length; i++) played.push([a.played.start(i), a.played.end(i)]);
    return { t: a.currentTime, rate: a.playbackRate, paused: a.paused, played };
  });
const events = (page) => el(page, () => globalThis.skypodPlayerDebug.events.slice());

before(async () => {
  fixture = await audioHost(wav());
  audioUrl = `http://127.0.0.1:${fixture.port}/episode.wav`;
  // The proxy refuses loopback addresses unless told otherwise (tests only).
  process.env.SKYPOD_PROXY_ALLOW_FOR_TESTS = "127.0.0.1/32";
  realm = await skypodServer();
  if (process.env.E2E_SAME_ORIGIN === "1") {
    web = { close: async () => {} };
    appUrl = `${realm.base}/`;
  } else {
    web = await staticServer();
    appUrl = `http://127.0.0.1:${web.port}/?server=${encodeURIComponent(realm.base)}`;
  }
  browser = await launch();
  A = await device(browser);
});

after(async () => {
  await browser?.close();
  await web?.close();
  await realm?.stop();
  await fixture?.close();
  if (Object.keys(metrics).length) {
    // Other E2E files write their figures here too: merge, do not replace.
    let all = {};
    try {
      all = JSON.parse(readFileSync(METRICS, "utf8"));
    } catch {
      /* first writer */
    }
    writeFileSync(METRICS, JSON.stringify({ ...all, ...metrics }, null, 2) + "\n");
    console.log("metrics:", JSON.stringify(metrics));
  }
});

describe("player dock", () => {
  it("first-run, home and invitation screens: labelled controls, focus, phone width", async () => {
    await A.page.goto(appUrl);
    await A.page.waitForSelector("main.first-run button:not([disabled])", T);
    // the checker itself catches an unlabelled control
    await el(A.page, () => document.querySelector("main").insertAdjacentHTML("beforeend", '<input id="probe"><button id="probe2"></button>'));
    assert.equal((await unlabelled(A.page)).length, 2);
    await el(A.page, () => ["probe", "probe2"].forEach((id) => document.getElementById(id).remove()));
    assert.deepEqual(await unlabelled(A.page), []);
    await fitsPhone(A.page);
    await A.page.getByRole("button", { name: "Sync to an existing install" }).click();
    await A.page.getByLabel("Invitation link").waitFor(T);
    // focus moves to the new screen's heading, not <body>
    assert.equal(await el(A.page, () => document.activeElement?.textContent), "Sync to an existing install");
    assert.deepEqual(await unlabelled(A.page), []);
    await fitsPhone(A.page);
    await A.page.getByRole("button", { name: "Back" }).click();
    await A.page.getByRole("button", { name: "Start a new realm" }).click();
    await A.page.waitForSelector("[data-socket=online]", T);
    await A.page.waitForSelector("main.home", T);
    assert.deepEqual(await unlabelled(A.page), []);
    await fitsPhone(A.page);
    // the invitation panel with its QR code and link
    await A.page.getByRole("button", { name: "Create invitation" }).click();
    await A.page.getByRole("img", { name: "Invitation QR code" }).waitFor(T);
    assert.deepEqual(await unlabelled(A.page), []);
    await fitsPhone(A.page);
  });

  it("plays through the seam; speed takes effect on the media element", async () => {
    const t0 = Date.now();
    await el(A.page, `globalThis.skypodPlayerDebug.play(${JSON.stringify({ audioUrl, artworkUrl: new URL("icons/icon-192.png", appUrl).href, title: "Fixture episode with a long pause", feedTitle: "Skypod test feed", autoplay: false })})`);
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.waitFor(T);
    // The real analysis found the silence (tone/zeros boundaries, 10 ms windows).
    await A.page.waitForSelector(".dock .saved[data-silences='1']", T);
    metrics.silenceMapMs = Date.now() - t0;
    assert.deepEqual(await unlabelled(A.page), []);
    await fitsPhone(A.page);

    await dock.getByLabel("Speed").selectOption("2");
    await A.page.waitForFunction(() => document.querySelector(".dock audio").playbackRate === 2, null, T);
    assert.deepEqual((await events(A.page)).filter((e) => e.type === "speed"), [{ type: "speed", speed: 2 }]);
    // keyboard: ">" one step up, "<" back down
    await A.page.locator("main h2").first().click();
    await A.page.keyboard.press(">");
    assert.equal((await audioState(A.page)).rate, 2.25);
    await A.page.keyboard.press("<");
    assert.equal((await audioState(A.page)).rate, 2);
    assert.equal(await dock.getByLabel("Speed").inputValue(), "2");
  });

  it("skip silences jumps over the silence /proxy/silence reported, and shows the time saved", async () => {
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.getByLabel("Skip silences").check();
    await dock.getByRole("button", { name: "Play", exact: true }).click();
    await dock.getByRole("button", { name: "Pause", exact: true }).waitFor(T);
    const ms = await el(A.page, () => ({ title: navigator.mediaSession?.metadata?.title, state: navigator.mediaSession?.playbackState }));
    assert.deepEqual(ms, { title: "Fixture episode with a long pause", state: "playing" });
    await A.page.waitForFunction((end) => document.querySelector(".dock audio").currentTime > end + 0.5, SILENCE[1], { timeout: 40_000 });
    const s = await audioState(A.page);
    // Played before the silence and after it, never through its middle.
    const mid = (SILENCE[0] + SILENCE[1]) / 2;
    assert.ok(s.played.some(([a, b]) => a < 1 && b > SILENCE[0] - 0.5), `played ${JSON.stringify(s.played)}`);
    assert.ok(!s.played.some(([a, b]) => a <= mid && b >= mid), `played through the silence: ${JSON.stringify(s.played)}`);
    assert.ok(s.played.some(([a]) => a > SILENCE[1] - 0.5 && a < SILENCE[1]), `resumed just before speech: ${JSON.stringify(s.played)}`);
    await A.page.waitForSelector(".dock .saved:not([data-saved='0.00'])", T);
    const saved = Number(await A.page.locator(".dock .saved").getAttribute("data-saved"));
    // ~5.9 media seconds at 2× ≈ 2.9 s of the listener's time
    assert.ok(saved > 2 && saved < 3.5, `saved ${saved}`);
    assert.match(await A.page.locator(".dock .saved").innerText(), /Time saved 0:0[23]/);
    await shot(A.page, "08-player-dock");
  });

  it("keyboard and progress reports: pause, seek and end are reported", async () => {
    await A.page.locator("main h2").first().click();
    await A.page.keyboard.press("k");
    // The pause event (and so the report) comes a task after `paused` turns true.
    await A.page.waitForFunction(() => {
      const a = document.querySelector(".dock audio");
      const last = globalThis.skypodPlayerDebug.events.filter((e) => e.type === "progress").at(-1);
      return a.paused && last?.pos === a.currentTime;
    }, null, T);
    const paused = await audioState(A.page);
    let ev = await events(A.page);
    const last = ev.filter((e) => e.type === "progress").at(-1);
    assert.ok(paused.t > SILENCE[1] && Math.abs(last.dur - LENGTH) < 0.1, JSON.stringify({ last, paused }));

    await A.page.keyboard.press("ArrowRight");
    await A.page.waitForFunction((t) => Math.abs(document.querySelector(".dock audio").currentTime - t) < 0.01, paused.t + 15, T);
    await A.page.waitForFunction((n) => globalThis.skypodPlayerDebug.events.length > n, ev.length, T);
    ev = await events(A.page);
    assert.ok(Math.abs(ev.at(-1).pos - (paused.t + 15)) < 0.01, JSON.stringify(ev.at(-1)));

    await A.page.keyboard.press("Shift+ArrowLeft");
    await A.page.waitForFunction((t) => Math.abs(document.querySelector(".dock audio").currentTime - t) < 0.01, Math.max(0, paused.t - 15), T);
    // the seek slider follows, with a spoken value
    const vt = await A.page.getByRole("slider", { name: "Position" }).getAttribute("aria-valuetext");
    assert.match(vt, /seconds? of 30 seconds$/);

    // The slider by keyboard (End, then two steps back), then play to the end: "end" is
    // reported with the full duration, then onEnded.
    await A.page.getByRole("slider", { name: "Position" }).focus();
    await A.page.keyboard.press("End");
    await A.page.keyboard.press("ArrowLeft");
    await A.page.keyboard.press("ArrowLeft");
    await A.page.waitForFunction((t) => Math.abs(document.querySelector(".dock audio").currentTime - t) < 0.01, LENGTH - 2, T);
    await A.page.getByRole("button", { name: "Play", exact: true }).click();
    await A.page.waitForFunction(() => globalThis.skypodPlayerDebug.events.some((e) => e.type === "ended"), null, T);
    ev = await events(A.page);
    const end = ev.findIndex((e) => e.type === "ended");
    assert.equal(ev[end - 1].type, "progress");
    assert.ok(Math.abs(ev[end - 1].pos - LENGTH) < 0.05 && ev[end - 1].pos === ev[end - 1].dur, JSON.stringify(ev[end - 1]));
  });

  it("figures: main bundle gzip, time to interactive from `skypod serve` (not asserted)", async () => {
    metrics.mainBundleGzipKiB = Math.round((measure().total / 1024) * 10) / 10;
    // Fresh contexts (cold HTTP cache and storage) in the warm browser, app from skypod serve.
    const runs = [];
    for (let i = 0; i < 5; i++) {
      const d = await device(browser);
      await d.page.goto(`${realm.base}/`);
      await d.page.waitForSelector("main.first-run button:not([disabled]), main.home", T);
      runs.push(await el(d.page, () => Math.round(performance.now())));
      await d.ctx.close();
    }
    metrics.ttiServeMs = runs;
  });

  it("the dock is operable in visual order by Tab", async () => {
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.getByRole("button", { name: "Close player" }).focus();
    const names = [];
    for (let i = 0; i < 9; i++) {
      await A.page.keyboard.press("Tab");
      names.push(
        await el(A.page, () => {
          const a = document.activeElement;
          return a.getAttribute("aria-label") || (a.labels?.[0]?.textContent ?? a.textContent).trim();
        }),
      );
    }
    assert.deepEqual(names, [
      "Position", "Back 30 seconds", "Back 15 seconds", "Play", "Forward 15 seconds", "Forward 30 seconds",
      "Speed", "Skip silences", "Keyboard shortcuts",
    ]);
    // Enter on the focused summary opens the shortcut help (a keyboard user's view, focus ring on).
    await A.page.keyboard.press("Enter");
    await A.page.waitForSelector(".dock details.keys[open]", T);
    await shot(A.page, "09-player-keyboard");
    // Closing the dock after the end reports nothing more, and removes it.
    const n = (await events(A.page)).length;
    await dock.getByRole("button", { name: "Close player" }).click();
    await dock.waitFor({ state: "detached", ...T });
    assert.equal((await events(A.page)).length, n);
  });
});
