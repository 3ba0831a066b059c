// End-to-end: the player dock. A feed whose episode is a WAV with a real 6 s silence is served
// on loopback; the app subscribes to it through the realm server's feed proxy, which also maps
// the silence (`/proxy/silence`, the real analysis); the episode is played from the episode
// list, as a listener would. Speed, skip silences, Media Session, keyboard and the progress
// reports (seen as the positions the library shows) are checked on the real <audio>.
// Also an accessibility pass over the screens it visits (names, focus order, phone width).
// Run through scripts/e2e.sh (builds the app and the server first).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { device, goView, openPodcast, rss, rssItem, saveMetrics, sendRanged, setup, shot, subscribeTo, teardown, wav } from "./harness.mjs";
import { measure } from "../scripts/check-budget.mjs";

const T = { timeout: 20_000 };
// Tone 0–8 s, digital silence 8–14 s, tone 14–60 s. The silence starts late enough that the
// few moments of playback before the test pauses never reach it.
const SILENCE = [8, 14];
const LENGTH = 60;
const TITLE = "Fixture episode with a long pause";
const metrics = {};
let web, realm, browser, A, appUrl, fixture, feedUrl;

/** The podcast host: the feed (artwork from the app's icons) and its episode, with Range support. */
function podcastHost(body) {
  const srv = createServer((req, res) => {
    const base = `http://127.0.0.1:${srv.address().port}`;
    const path = new URL(req.url, base).pathname;
    if (path === "/episode.wav") return sendRanged(req, res, body, "audio/wav");
    if (path === "/feed.xml") {
      const items = [rssItem({ guid: "pause-1", title: TITLE, audioUrl: `${base}/episode.wav`, length: body.length, duration: "1:00" })];
      const image = new URL("icons/icon-192.png", appUrl).href;
      return res.writeHead(200, { "content-type": "application/rss+xml" }).end(rss({ title: "Skypod test feed", link: `${base}/`, image, items }));
    }
    res.writeHead(404).end();
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
/** The episode's row in the list: its "Resume at" button shows the position the library holds. */
const row = (page) => page.locator(".episode", { hasText: TITLE });
const resumeAt = (page, sec) => row(page).getByRole("button", { name: `Resume ${TITLE} at ${clock(sec)}` }).waitFor(T);
const clock = (sec) => {
  const s = Math.floor(sec);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

before(async () => {
  fixture = await podcastHost(wav(LENGTH, { silences: [SILENCE] }));
  feedUrl = `http://127.0.0.1:${fixture.port}/feed.xml`;
  // The proxy refuses loopback addresses unless told otherwise (tests only).
  process.env.SKYPOD_PROXY_ALLOW_FOR_TESTS = "127.0.0.1/32";
  ({ realm, web, appUrl, browser, devices: [A] } = await setup());
});

after(async () => {
  await teardown({ browser, web, realm }, fixture);
  saveMetrics(metrics);
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
    await A.page.waitForSelector("main.view", T);
    assert.deepEqual(await unlabelled(A.page), []);
    await fitsPhone(A.page);
    // the invitation panel with its QR code and link
    await goView(A.page, "devices");
    await A.page.getByRole("button", { name: "Create invitation" }).click();
    await A.page.getByRole("img", { name: "Invitation QR code" }).waitFor(T);
    assert.deepEqual(await unlabelled(A.page), []);
    await fitsPhone(A.page);
  });

  it("plays an episode from the list; speed takes effect and is saved", async () => {
    // Nothing the page loads may come from the podcast host: it would learn the listener's address.
    const hostRequests = [];
    const onRequest = (r) => {
      if (new URL(r.url()).port === String(fixture.port)) hostRequests.push(r.url());
    };
    A.page.on("request", onRequest);
    await subscribeTo(A.page, feedUrl, "Skypod test feed");
    await openPodcast(A.page, feedUrl);
    const t0 = Date.now();
    await row(A.page).getByRole("button", { name: `Play ${TITLE}` }).click();
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.getByText(TITLE).waitFor(T);
    // The click started playback; pause at once, set things up, then play on.
    await A.page.waitForSelector(".dock[data-playing='1']", T);
    await dock.getByRole("button", { name: "Pause", exact: true }).click();
    await A.page.waitForSelector(".dock[data-playing='0']", T);
    assert.ok((await audioState(A.page)).t < SILENCE[0] - 1, "paused before the silence");
    // The real analysis found the silence (tone/zeros boundaries, 10 ms windows).
    await A.page.waitForSelector(".dock .saved[data-silences='1']", T);
    metrics.silenceMapMs = Date.now() - t0;
    // The episode streams through the proxy with a stream token bound to its enclosure.
    const src = await el(A.page, () => document.querySelector(".dock audio").currentSrc);
    const u = new URL(src);
    assert.equal(u.pathname, "/proxy/media", src);
    assert.equal(u.searchParams.get("url"), `http://127.0.0.1:${fixture.port}/episode.wav`);
    assert.ok(u.searchParams.get("token"), src);
    A.page.off("request", onRequest);
    assert.deepEqual(hostRequests, [], "the page asked the podcast host directly");
    assert.deepEqual(await unlabelled(A.page), []);
    await fitsPhone(A.page);

    await dock.getByLabel("Speed").selectOption("2");
    await A.page.waitForFunction(() => document.querySelector(".dock audio").playbackRate === 2, null, T);
    // keyboard: ">" one step up, "<" back down
    await A.page.locator("main h1").first().click();
    await A.page.keyboard.press(">");
    assert.equal((await audioState(A.page)).rate, 2.25);
    await A.page.keyboard.press("<");
    assert.equal((await audioState(A.page)).rate, 2);
    assert.equal(await dock.getByLabel("Speed").inputValue(), "2");
    // The speed went into the library for this episode (shown in its row).
    await row(A.page).locator(".hint", { hasText: "2×" }).waitFor(T);
  });

  it("skip silences jumps over the silence /proxy/silence reported, and shows the time saved", async () => {
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.getByLabel("Skip silences").check();
    await dock.getByRole("button", { name: "Play", exact: true }).click();
    await dock.getByRole("button", { name: "Pause", exact: true }).waitFor(T);
    const ms = await el(A.page, () => ({
      title: navigator.mediaSession?.metadata?.title,
      artist: navigator.mediaSession?.metadata?.artist,
      art: navigator.mediaSession?.metadata?.artwork?.[0]?.src ?? "",
      state: navigator.mediaSession?.playbackState,
    }));
    const { art, ...rest } = ms;
    assert.deepEqual(rest, { title: TITLE, artist: "Skypod test feed", state: "playing" });
    // Artwork only through the proxy (issue 12): a blob URL made from /proxy/image, or none.
    assert.match(art, /^(blob:|$)/);
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
    await shot(A.page, "08-player-dock", { at: ".episode" });
  });

  it("keyboard and progress reports: pause, seek and end reach the library", async () => {
    await row(A.page).getByRole("button", { name: /^Add to queue/ }).click();
    await row(A.page).getByRole("button", { name: /^Queued/ }).waitFor(T);
    await A.page.locator("main h1").first().click();
    await A.page.keyboard.press("k");
    await A.page.waitForSelector(".dock[data-playing='0']", T);
    const paused = await audioState(A.page);
    assert.ok(paused.t > SILENCE[1], JSON.stringify(paused));
    // The pause was reported: the episode's row offers to resume there.
    await resumeAt(A.page, paused.t);

    await A.page.keyboard.press("Shift+ArrowRight");
    await A.page.waitForFunction((t) => Math.abs(document.querySelector(".dock audio").currentTime - t) < 0.01, paused.t + 30, T);
    await resumeAt(A.page, paused.t + 30);

    await A.page.keyboard.press("ArrowLeft");
    await A.page.waitForFunction((t) => Math.abs(document.querySelector(".dock audio").currentTime - t) < 0.01, paused.t + 15, T);
    await resumeAt(A.page, paused.t + 15);
    // the seek slider follows, with a spoken value
    const vt = await A.page.getByRole("slider", { name: "Position" }).getAttribute("aria-valuetext");
    assert.match(vt, /seconds? of 1 minute$/);

    // The slider by keyboard (End, then two steps back), then play to the end: the end is
    // reported, so the episode is marked played and leaves the queue.
    await A.page.getByRole("slider", { name: "Position" }).focus();
    await A.page.keyboard.press("End");
    await A.page.keyboard.press("ArrowLeft");
    await A.page.keyboard.press("ArrowLeft");
    await A.page.waitForFunction((t) => Math.abs(document.querySelector(".dock audio").currentTime - t) < 0.01, LENGTH - 2, T);
    await resumeAt(A.page, LENGTH - 2);
    await A.page.getByRole("button", { name: "Play", exact: true }).click();
    await row(A.page).getByRole("button", { name: "Mark unplayed" }).waitFor({ timeout: 40_000 });
    await row(A.page).locator(".hint", { hasText: "played" }).waitFor(T);
    // Played to the end: it left the queue.
    await row(A.page).getByRole("button", { name: /^Add to queue/ }).waitFor(T);
  });

  it("figures: main bundle gzip, time to interactive from `skypod serve` (not asserted)", async () => {
    metrics.mainBundleGzipKiB = Math.round((measure().total / 1024) * 10) / 10;
    // Fresh contexts (cold HTTP cache and storage) in the warm browser, app from skypod serve.
    const runs = [];
    for (let i = 0; i < 5; i++) {
      const d = await device(browser);
      await d.page.goto(`${realm.base}/`);
      await d.page.waitForSelector("main.first-run button:not([disabled]), main.view", T);
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
    await shot(A.page, "09-player-keyboard", { at: ".episode" });
    // Closing the dock after the end reports nothing more (the episode stays played), and removes it.
    await dock.getByRole("button", { name: "Close player" }).click();
    await dock.waitFor({ state: "detached", ...T });
    await A.page.locator("main h1").first().click();
    assert.equal(await row(A.page).getByRole("button", { name: "Mark unplayed" }).count(), 1);
    assert.equal(await row(A.page).getByRole("button", { name: /^Resume / }).count(), 0);
  });

  it("figures: a member's home screen with the library, after a reload (not asserted)", async () => {
    // A member's home screen with the library usable (Automerge's WASM loaded, compiled and the
    // document read from IndexedDB): reloads of A (the app from its origin, through its service worker).
    const home = [];
    for (let i = 0; i < 5; i++) {
      await A.page.reload();
      await A.page.locator("main.view").waitFor(T);
      home.push(await el(A.page, () => Math.round(performance.now())));
    }
    metrics.ttiHomeLibraryMs = home;
  });
});
