// End-to-end: listening. A podcast host on loopback serves a feed whose episodes are WAVs with
// real digital silences, a Podcasting 2.0 chapter list and a transcript of thousands of cues;
// the app subscribes through the realm server's proxy (which maps silences, measures loudness
// and converts chapters and transcripts) and plays as a listener would, in Debian chromium:
// trim levels, chapters, transcript, the queue playing on, the sleep timer (end of episode, end
// of chapter, minutes), downloads with progress and a resumed drop, auto-download and its grace
// period, loudness gain on the downloaded copy and on a stream, and offline playback with the
// server stopped. axe-core checks the player with chapters and transcript open. Hours and
// minutes pass on the page's clock (playwright's `page.clock`, jumped forward) at the end of the
// file, offline: a page ahead of the server would sign tokens the server refuses as early.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { axe, goView, openPodcast, saveMetrics, setup, shot, subscribeTo, swControlled, teardown, wav } from "./harness.mjs";

const T = { timeout: 20_000 };
const metrics = {};
let web, realm, browser, A, appUrl, host, feedUrl;

// "Pauses": 0.2 s, 0.35 s, 0.6 s and 6 s silences → strong trims 4, medium 3, mild 2.
const PAUSES = { title: "Pauses of every length", guid: "pauses", body: wav(60, { silences: [[5, 5.2], [10, 10.35], [15, 15.6], [30, 36]] }) };
const SHORT_A = { title: "Short A", guid: "short-a", body: wav(3) };
const SHORT_B = { title: "Short B", guid: "short-b", body: wav(14) };
const SHORT_C = { title: "Short C", guid: "short-c", body: wav(3) };
// The download: 150 s (2.4 MB) with a 6 s silence, quieter than the others (loudness gain > 0).
const LONG = { title: "Long episode for the train", guid: "long", body: wav(150, { silences: [[20, 26]], amp: 4000 }) };
const EPISODES = [PAUSES, SHORT_A, SHORT_B, SHORT_C, LONG];
const CHAPTERS = [
  { startTime: 0, title: "Welcome" },
  { startTime: 20, title: "The middle part" },
  { startTime: 40, title: "Goodbye" },
];
const CUES = 3000;
const vtt = () => {
  const ts = (s) => `${String(Math.floor(s / 3600)).padStart(2, "0")}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}.000`;
  let out = "WEBVTT\n\n";
  for (let i = 0; i < CUES; i++) out += `${ts(i * 2)} --> ${ts(i * 2 + 2)}\n<v ${i % 2 ? "Bo" : "Al"}>Line number ${i}${i === 777 ? " with the needle word" : ""}\n\n`;
  return out;
};

/** Requests the host saw for the long episode (Range headers), and a switch to drop one transfer. */
const longRequests = [];
let dropNextAt = 0;

function podcastHost() {
  const srv = createServer((req, res) => {
    const base = `http://127.0.0.1:${srv.address().port}`;
    const path = new URL(req.url, base).pathname;
    const ep = EPISODES.find((e) => path === `/${e.guid}.wav`);
    if (ep) return sendSlow(req, res, ep);
    const cors = { "access-control-allow-origin": "*" };
    if (path === "/chapters.json") return res.writeHead(200, { ...cors, "content-type": "application/json+chapters" }).end(JSON.stringify({ version: "1.2.0", chapters: CHAPTERS }));
    if (path === "/transcript.vtt") return res.writeHead(200, { ...cors, "content-type": "text/vtt" }).end(vtt());
    if (path === "/feed.xml") {
      const items = EPISODES.map(
        (e, i) => `<item><title>${e.title}</title><guid isPermaLink="false">${e.guid}</guid>
        <enclosure url="${base}/${e.guid}.wav" type="audio/wav" length="${e.body.length}"/>
        <pubDate>Mon, 0${i + 1} Nov 2026 10:00:00 GMT</pubDate>
        ${e === PAUSES ? `<podcast:chapters url="${base}/chapters.json" type="application/json+chapters"/><podcast:transcript url="${base}/transcript.vtt" type="text/vtt"/>` : ""}</item>`,
      );
      return res.writeHead(200, { "content-type": "application/rss+xml" }).end(`<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>
<title>Listening fixture</title><link>${base}/</link><description>Loopback.</description>${items.join("")}</channel></rss>`);
    }
    res.writeHead(404).end();
  });
  return new Promise((r) => srv.listen(0, "127.0.0.1", () => r({ port: srv.address().port, close: () => new Promise((c) => { srv.closeAllConnections?.(); srv.close(() => c()); }) })));
}

/** Range support; the long episode goes out in 32 KiB slices every 15 ms (progress is visible), and can be cut once. */
function sendSlow(req, res, ep) {
  const body = ep.body;
  const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
  let start = 0;
  let end = body.length - 1;
  const head = {
    "content-type": "audio/wav", "accept-ranges": "bytes", "cache-control": "no-store",
    "access-control-allow-origin": "*", "access-control-expose-headers": "content-range, content-length",
  };
  if (m && (m[1] || m[2])) {
    start = m[1] ? Number(m[1]) : body.length - Number(m[2]);
    end = m[1] && m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
    if (start >= body.length) return res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
    res.writeHead(206, { ...head, "content-range": `bytes ${start}-${end}/${body.length}`, "content-length": end - start + 1 });
  } else res.writeHead(200, { ...head, "content-length": body.length });
  if (req.method === "HEAD") return res.end();
  if (ep !== LONG) return res.end(body.subarray(start, end + 1));
  longRequests.push({ range: req.headers.range ?? "", ua: req.headers["user-agent"] ?? "" });
  let pos = start;
  const drop = dropNextAt;
  dropNextAt = 0;
  const tick = () => {
    if (res.destroyed) return;
    if (drop && pos >= drop) {
      res.socket?.destroy();
      return;
    }
    const next = Math.min(end + 1, pos + 32 * 1024);
    res.write(body.subarray(pos, next));
    pos = next;
    if (pos > end) res.end();
    else setTimeout(tick, 15);
  };
  tick();
}

const el = (page, f, arg) => page.evaluate(f, arg);
/** Click something in the page body: scrolled to the middle first, above the sticky player dock. */
async function tap(loc) {
  await loc.waitFor(T);
  await loc.evaluate((e) => {
    e.scrollIntoView({ block: "start" });
    scrollBy(0, -(document.querySelector("header")?.getBoundingClientRect().height ?? 0) - 8);
  });
  try {
    await loc.click({ timeout: 3000 });
  } catch (e) {
    const dims = await el(A.page, () => ({ dock: document.querySelector(".dock")?.getBoundingClientRect().toJSON(), h: innerHeight, doc: document.documentElement.scrollHeight, y: scrollY }));
    throw new Error(`${e.message}\n${JSON.stringify(dims)}`, { cause: e });
  }
}
const row = (title) => A.page.locator(".episode", { hasText: title });
/** The dock's <audio>: the time ranges it has played, as [start, end] seconds. */
const playedRanges = () =>
  el(A.page, () => {
    const a = document.querySelector(".dock audio");
    const out = [];
    for (let i = 0; i < a.played.length; i++) out.push([a.played.start(i), a.played.end(i)]);
    return out;
  });

before(async () => {
  host = await podcastHost();
  feedUrl = `http://127.0.0.1:${host.port}/feed.xml`;
  process.env.SKYPOD_PROXY_ALLOW_FOR_TESTS = "127.0.0.1/32";
  ({ realm, web, appUrl, browser, devices: [A] } = await setup({ browserArgs: ["--autoplay-policy=no-user-gesture-required"] }));
});

after(async () => {
  await teardown({ browser, web, realm }, host);
  saveMetrics(metrics, { section: "listening" });
});

async function openFeed() {
  if (!(await A.page.locator(`main.view[data-view=podcast] .pod-head[data-feed="${feedUrl}"]`).count())) await openPodcast(A.page, feedUrl);
  await row(PAUSES.title).waitFor(T);
}

async function playFromList(title) {
  await tap(row(title).getByRole("button", { name: new RegExp(`^(Play|Resume) ${title}`) }));
  await A.page.locator(".dock .np-title", { hasText: title }).waitFor(T);
}

async function pauseDock() {
  await A.page.waitForSelector(".dock[data-playing='1']", T);
  await A.page.getByRole("region", { name: "Player" }).getByRole("button", { name: "Pause", exact: true }).click();
  await A.page.waitForSelector(".dock[data-playing='0']", T);
}

describe("listening", () => {
  it("a new realm subscribes to the fixture podcast", async () => {
    await A.page.goto(appUrl);
    await A.page.waitForSelector("main.first-run button:not([disabled])", T);
    await A.page.getByRole("button", { name: "Start a new realm" }).click();
    await A.page.waitForSelector("main.view", T);
    await subscribeTo(A.page, feedUrl, "Listening fixture");
    await openFeed();
  });

  it("trim levels give different skip plans from one silence map, and the podcast keeps its level", async () => {
    await playFromList(PAUSES.title);
    await pauseDock();
    await A.page.waitForSelector(".dock .saved[data-silences='4']", T);
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.getByLabel("Skip silences").check();
    await dock.getByText("Trim, boost, sleep timer").click();
    const cuts = {};
    for (const level of ["mild", "medium", "strong"]) {
      await dock.getByLabel("Trim level").selectOption(level);
      cuts[level] = Number(await A.page.locator(".dock .saved").getAttribute("data-cuts"));
    }
    assert.deepEqual(cuts, { mild: 2, medium: 3, strong: 4 });
    await dock.getByText("Trim, boost, sleep timer").click();
    // The level is the podcast's, in the library: its settings show it.
    const pp = A.page.getByRole("group", { name: "Playback settings for this podcast" });
    await tap(A.page.locator("details.podcast-playback summary").first());
    await A.page.waitForFunction(() => document.querySelector(".podcast-settings select[id^='pp-trim']")?.value === "strong", null, T);
    assert.equal(await pp.getByLabel("Trim silences").inputValue(), "strong");
    // Play through the first three cuts (strong): the silences are jumped, time saved is counted.
    await dock.getByRole("button", { name: "Play", exact: true }).click();
    await A.page.waitForFunction(() => document.querySelector(".dock audio").currentTime > 16, null, { timeout: 30_000 });
    await pauseDock();
    const played = await playedRanges();
    // The 0.6 s silence is never played through (the 0.2 s and 0.35 s ones are cut too, but a
    // timer firing a few ms late may play a sliver of them).
    assert.ok(!played.some(([a, b]) => a <= 15.3 && b >= 15.3), `played through 15.3: ${JSON.stringify(played)}`);
    const saved = Number(await A.page.locator(".dock .saved").getAttribute("data-saved"));
    assert.ok(saved > 0.8 && saved < 1.3, `saved ${saved} s of 1.15 s of silence`);
    // Saved time reaches the library (on pause) and is shown in the playback settings (Settings view).
    await goView(A.page, "settings");
    await A.page.waitForFunction(() => Number(document.querySelector(".time-saved")?.dataset.total) > 0.5, null, T);
    await openFeed();
  });

  it("chapters: list, tap to jump, previous/next, current chapter in Media Session", async () => {
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.getByRole("button", { name: /^Chapters \(3\)/ }).click();
    const list = dock.getByRole("region", { name: "Chapters" });
    await list.getByRole("button", { name: /The middle part/ }).click();
    await A.page.waitForFunction(() => Math.abs(document.querySelector(".dock audio").currentTime - 20) < 0.5, null, T);
    await A.page.waitForSelector(".dock [data-chapter='1'][aria-current='true']", T);
    assert.match(await el(A.page, () => navigator.mediaSession.metadata?.title ?? ""), /^The middle part · /);
    await dock.getByRole("button", { name: "Next chapter" }).click();
    await A.page.waitForFunction(() => Math.abs(document.querySelector(".dock audio").currentTime - 40) < 0.5, null, T);
    await A.page.waitForSelector(".dock [data-chapter='2'][aria-current='true']", T);
    await dock.getByRole("button", { name: "Previous chapter" }).click();
    await A.page.waitForFunction(() => Math.abs(document.querySelector(".dock audio").currentTime - 20) < 0.5, null, T);
  });

  it("transcript: follows the current cue, tap to seek, search; thousands of cues, few rows", async () => {
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.getByRole("button", { name: "Transcript" }).click();
    const box = A.page.locator(".dock .cues");
    assert.equal(Number(await box.getAttribute("data-count")), CUES);
    // Virtualised: a few dozen rows exist, not 3000.
    const rows = await A.page.locator(".dock .cues li").count();
    assert.ok(rows > 3 && rows < 60, `${rows} rows rendered`);
    // At 20 s the current cue is #10, highlighted and scrolled into view.
    await A.page.waitForSelector(".dock .cue[data-cue='10'][aria-current='true']", T);
    const inView = () =>
      el(A.page, () => {
        const c = document.querySelector(".dock .cue[aria-current='true']");
        const b = document.querySelector(".dock .cues").getBoundingClientRect();
        const r = c?.getBoundingClientRect();
        return !!r && r.top >= b.top - 1 && r.bottom <= b.bottom + 1;
      });
    assert.ok(await inView(), "current cue in view");
    // Following while playing: 4 s later the highlight has moved on and is still in view.
    await dock.getByRole("button", { name: "Play", exact: true }).click();
    await A.page.waitForSelector(".dock .cue[data-cue='12'][aria-current='true']", { timeout: 10_000 });
    assert.ok(await inView(), "followed cue in view");
    await pauseDock();
    // Tap a cue: seek there.
    await A.page.locator(".dock .cue[data-cue='5']").click();
    await A.page.waitForFunction(() => Math.abs(document.querySelector(".dock audio").currentTime - 10) < 0.3, null, T);
    // Search finds the one cue far down (row 777) and scrolls to it; tapping it seeks past the audio's end is clamped.
    await dock.getByLabel("Search transcript").fill("needle word");
    await A.page.waitForSelector(".dock [data-hits='1']", T);
    await A.page.locator(".dock .cue[data-cue='777']").waitFor(T);
    metrics.transcriptRows = rows;
  });

  it("axe-core: no serious or critical violations with chapters and transcript open; every control reachable by keyboard", async () => {
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.getByLabel("Search transcript").fill("");
    // One panel at a time in the dock: the transcript first, then the chapters.
    // The options too: every control of the dock is checked.
    await dock.getByText("Trim, boost, sleep timer").click();
    const check = async (what) => {
      const res = await axe(A.page, ".dock");
      assert.deepEqual(res, [], `${what}: ${res.map((v) => `${v.id}: ${v.nodes.join(", ")}`).join("; ")}`);
    };
    await check("transcript open");
    // Keyboard: Tab from "Close player" visits every enabled control of the dock.
    const reach = async () => {
      await dock.getByRole("button", { name: "Close player" }).focus();
      const seen = new Set();
      for (let i = 0; i < 80; i++) {
        const id = await el(A.page, () => {
          const a = document.activeElement;
          if (!a.closest(".dock")) return null;
          a.dataset.kb ??= String(Math.random());
          return a.dataset.kb;
        });
        if (id === null) break;
        seen.add(id);
        await A.page.keyboard.press("Tab");
      }
      return el(A.page, (ids) => {
        const all = [...document.querySelectorAll(".dock button, .dock input, .dock select, .dock summary")].filter((e) => !e.disabled && e.checkVisibility({ contentVisibilityAuto: true, visibilityProperty: true }));
        return all.filter((e) => !ids.includes(e.dataset.kb ?? "")).map((e) => e.outerHTML.slice(0, 100));
      }, [...seen]);
    };
    assert.deepEqual(await reach(), [], "controls the keyboard cannot reach (transcript open)");
    await dock.getByRole("button", { name: /^Chapters \(3\)/ }).click();
    await dock.getByRole("region", { name: "Chapters" }).waitFor(T);
    await check("chapters open");
    assert.deepEqual(await reach(), [], "controls the keyboard cannot reach (chapters open)");
    await shot(A.page, "10-player-chapters", { at: ".dock" });
    // Panels closed again: the dock is back to its small size.
    await dock.getByText("Trim, boost, sleep timer").click();
    await dock.getByRole("button", { name: /^Chapters \(3\)/ }).click();
    await dock.getByRole("region", { name: "Chapters" }).waitFor({ state: "detached", ...T });
  });

  it("the queue plays on: the ended episode is played, leaves the queue, and the next one starts", async () => {
    await tap(row(SHORT_A.title).getByRole("button", { name: "Add to queue" }));
    await tap(row(SHORT_B.title).getByRole("button", { name: "Add to queue" }));
    for (const t of [SHORT_A.title, SHORT_B.title]) await row(t).getByRole("button", { name: /^Queued/ }).waitFor(T);
    await tap(A.page.getByRole("button", { name: `Play ${SHORT_A.title}` }).first());
    await A.page.locator(".dock .np-title", { hasText: SHORT_A.title }).waitFor(T);
    // A (3 s) ends → B starts by itself.
    await A.page.locator(".dock .np-title", { hasText: SHORT_B.title }).waitFor({ timeout: 20_000 });
    await A.page.waitForSelector(".dock[data-playing='1']", T);
    await row(SHORT_A.title).getByRole("button", { name: "Mark unplayed" }).waitFor(T);
    await row(SHORT_A.title).getByRole("button", { name: /^Add to queue/ }).waitFor(T);
    await row(SHORT_B.title).getByRole("button", { name: /^Queued/ }).waitFor(T);
  });

  it("sleep timer, end of episode: the last seconds fade out and the queue does not play on", async () => {
    await tap(row(SHORT_C.title).getByRole("button", { name: "Add to queue" }));
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.getByText("Trim, boost, sleep timer").click();
    await dock.getByLabel("Sleep timer").selectOption("episode");
    await dock.getByText("Trim, boost, sleep timer").click();
    await A.page.waitForSelector(".dock .sleep-left", T);
    // B is 14 s long: inside the last 10 s the volume goes down.
    await A.page.waitForFunction(() => {
      const a = document.querySelector(".dock audio");
      return a.duration - a.currentTime < 6 && a.volume < 0.7 && a.volume > 0;
    }, null, { timeout: 20_000 });
    await A.page.waitForSelector(".dock[data-status='ended']", { timeout: 20_000 });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await A.page.locator(".dock .np-title").innerText(), SHORT_B.title);
    assert.equal(await A.page.locator(".dock").getAttribute("data-playing"), "0");
    // B is played and out of the queue; C waits there.
    await row(SHORT_B.title).getByRole("button", { name: /^Add to queue/ }).waitFor(T);
    await row(SHORT_C.title).getByRole("button", { name: /^Queued/ }).waitFor(T);
    await A.page.waitForSelector(".dock .sleep-left", { state: "detached", ...T });
  });

  it("sleep timer, end of chapter: the last seconds fade, then it pauses at the chapter's end", async () => {
    const dock = A.page.getByRole("region", { name: "Player" });
    const audio = () => el(A.page, () => {
      const a = document.querySelector(".dock audio");
      return { at: a.currentTime, volume: a.volume, paused: a.paused, duration: a.duration };
    });
    await playFromList(PAUSES.title);
    await A.page.waitForSelector(".dock[data-playing='1']", T);
    // End of chapter: "The middle part" runs from 20 to 40 s.
    const chapters = dock.getByRole("region", { name: "Chapters" });
    const opened = !(await chapters.isVisible());
    if (opened) await dock.getByRole("button", { name: /^Chapters \(3\)/ }).click();
    await el(A.page, () => { document.querySelector(".dock audio").currentTime = 36.5; });
    await A.page.waitForSelector(".dock [data-chapter='1'][aria-current='true']", T);
    if (opened) await dock.getByRole("button", { name: /^Chapters \(3\)/ }).click();
    await dock.getByText("Trim, boost, sleep timer").click();
    await dock.getByLabel("Sleep timer").selectOption("chapter");
    await A.page.waitForFunction(() => {
      const a = document.querySelector(".dock audio");
      return !a.paused && a.volume > 0 && a.volume < 0.5;
    }, null, T);
    await A.page.waitForSelector(".dock[data-playing='0']", T);
    const a = await audio();
    assert.ok(a.at > 39.5 && a.at < 41, `paused at ${a.at} s; the chapter ends at 40 s`);
    assert.equal(await dock.getByLabel("Sleep timer").inputValue(), "", "the timer is cleared");
    assert.equal(a.volume, 1, "the volume is back for the next play");
    await dock.getByText("Trim, boost, sleep timer").click();
  });

  it("download: progress, a dropped connection resumes with Range, the library records it", async () => {
    dropNextAt = 700_000;
    const t0 = Date.now();
    await tap(row(LONG.title).getByRole("button", { name: `Download ${LONG.title}` }));
    const prog = row(LONG.title).locator("progress");
    await prog.waitFor(T);
    metrics.tapToProgressMs = Date.now() - t0;
    // Progress moves (the host sends slowly), the drop pauses it with a sentence, resume continues.
    await A.page
      .waitForFunction((t) => {
        const p = [...document.querySelectorAll(".episode")].find((l) => l.textContent.includes(t))?.querySelector("progress");
        return p && p.value > 5 && p.value < 100;
      }, LONG.title, T)
      .catch(async (e) => {
        throw new Error(`${e.message}: ${await row(LONG.title).innerHTML()} ${JSON.stringify(longRequests)}`, { cause: e });
      });
    const resume = row(LONG.title).getByRole("button", { name: `Resume the download of ${LONG.title}` });
    await resume.waitFor(T);
    assert.match(await row(LONG.title).locator(".dl-progress").innerText(), /resumes from/);
    await resume.click();
    await row(LONG.title).getByRole("button", { name: `Remove the download of ${LONG.title}` }).waitFor({ timeout: 40_000 });
    metrics.downloadMs = Date.now() - t0;
    // The second request asked for the rest only.
    const ranged = longRequests.filter((r) => /^bytes=[1-9]\d*-$/.test(r.range));
    assert.ok(ranged.length >= 1, `Range requests: ${JSON.stringify(longRequests)}`);
    // The Downloads view lists it with its size; storage is shown.
    await goView(A.page, "downloads");
    await A.page.locator(`.downloads li[data-state='done']`, { hasText: LONG.title }).waitFor(T);
    assert.match(await A.page.locator(".downloads > p.hint").first().innerText(), /Storage: .* used, .* available/);
    // Through the realm server's /proxy/media, not from the browser straight to the host.
    assert.ok(longRequests.every((r) => !/Chrome/.test(r.ua)), `requests from the browser itself: ${JSON.stringify(longRequests)}`);
    await openFeed();
  });

  it("auto-download: the newest unplayed are fetched by themselves; a played download stays within the grace period", async () => {
    await goView(A.page, "downloads");
    await A.page.getByLabel("Remove played downloads after").selectOption("1");
    await A.page.getByLabel("Keep newest unplayed downloaded (each podcast)").selectOption("2");
    // The two newest unplayed: the long one (downloaded above) and Short C, fetched by itself.
    const listed = (title, state = "done") => A.page.locator(`.downloads li[data-state='${state}']`, { hasText: title });
    await listed(SHORT_C.title).waitFor({ timeout: 30_000 });
    assert.equal(await A.page.locator(".downloads li[data-download]").count(), 2);
    // A played episode downloaded by hand is kept for the grace period (1 hour)…
    await openFeed();
    await tap(row(SHORT_B.title).getByRole("button", { name: `Download ${SHORT_B.title}` }));
    await row(SHORT_B.title).getByRole("button", { name: `Remove the download of ${SHORT_B.title}` }).waitFor(T);
    await goView(A.page, "downloads");
    await new Promise((r) => setTimeout(r, 3000)); // a planning pass follows every library change (2 s)
    await listed(SHORT_B.title).waitFor(T);
    // …and leaves once it has passed: the last test of this file.
    await openFeed();
  });

  it("loudness: the downloaded copy plays through the audio graph with the gain to −16 LUFS", async () => {
    await playFromList(LONG.title);
    await A.page.waitForSelector(".dock[data-local='1']", T);
    await A.page.waitForFunction(() => document.querySelector(".dock")?.dataset.lufs !== "", null, T);
    await A.page.waitForFunction(() => document.querySelector(".dock")?.dataset.gainDb !== "", null, T);
    const { lufs, gain } = await el(A.page, () => ({ lufs: Number(document.querySelector(".dock").dataset.lufs), gain: Number(document.querySelector(".dock").dataset.gainDb) }));
    assert.ok(lufs < -16, `measured ${lufs} LUFS`);
    assert.ok(Math.abs(gain - Math.min(18, -16 - lufs)) < 0.05, `gain ${gain} dB for ${lufs} LUFS`);
    // The graph hears the audio (a source Web Audio may not read would give it zeros).
    await A.page.waitForFunction(() => globalThis.skypodDebug.audioPeak() > 0.01, null, T);
    metrics.loudness = { lufs, gainDb: gain };
    await pauseDock();
  });

  it("loudness: a streamed episode (through /proxy/media) plays through the same graph, gain to −16 LUFS", async () => {
    // "Pauses" is not downloaded and louder than the target: a negative gain.
    await playFromList(PAUSES.title);
    await A.page.waitForSelector(".dock[data-local='0'][data-playing='1']", T);
    const src = await el(A.page, () => document.querySelector(".dock audio").currentSrc);
    assert.match(src, /\/proxy\/media\?url=.*&token=/);
    await A.page.waitForFunction(() => document.querySelector(".dock")?.dataset.lufs !== "", null, T);
    await A.page.waitForFunction(() => document.querySelector(".dock")?.dataset.gainDb !== "", null, T);
    const { lufs, gain } = await el(A.page, () => ({ lufs: Number(document.querySelector(".dock").dataset.lufs), gain: Number(document.querySelector(".dock").dataset.gainDb) }));
    assert.ok(lufs > -16, `measured ${lufs} LUFS`);
    assert.ok(Math.abs(gain - Math.max(-18, -16 - lufs)) < 0.05, `gain ${gain} dB for ${lufs} LUFS`);
    // Not tainted: the stream's samples reach the graph, same-origin or (another server) in CORS mode.
    await A.page.waitForFunction(() => globalThis.skypodDebug.audioPeak() > 0.01, null, T);
    metrics.loudnessStream = { lufs, gainDb: gain };
    await pauseDock();
  });

  it("offline: server stopped, network off, reload: the download plays, seeks and skips silences from the stored map", async () => {
    // The app shell comes from the service worker once the server is gone.
    await swControlled(A.page);
    await realm.stop();
    await host.close();
    await A.ctx.setOffline(true);
    const t0 = Date.now();
    await A.page.reload();
    await openFeed();
    await tap(row(LONG.title).getByRole("button", { name: new RegExp(`^(Play|Resume) ${LONG.title}`) }));
    await A.page.waitForSelector(".dock[data-local='1'][data-playing='1']", T);
    metrics.offlineStartToPlayingMs = Date.now() - t0;
    await A.page.waitForSelector(".dock .saved[data-silences='1']", T);
    // Seek with the slider (keyboard: Home, then 15 steps of 1 s) and keep playing from there.
    await A.page.getByRole("slider", { name: "Position" }).focus();
    await A.page.keyboard.press("Home");
    for (let i = 0; i < 15; i++) await A.page.keyboard.press("ArrowRight");
    await A.page.waitForFunction(() => Math.abs(document.querySelector(".dock audio").currentTime - 15) < 1.5, null, T);
    const dock = A.page.getByRole("region", { name: "Player" });
    if (!(await dock.getByLabel("Skip silences").isChecked())) await dock.getByLabel("Skip silences").check();
    await A.page.waitForFunction(() => document.querySelector(".dock audio").currentTime > 27, null, { timeout: 30_000 });
    const played = await playedRanges();
    assert.ok(!played.some(([a, b]) => a <= 23 && b >= 23), `played through the silence offline: ${JSON.stringify(played)}`);
    assert.ok(await el(A.page, () => !navigator.onLine));
  });

  it("sleep timer in minutes, on a clock jumped forward: the last seconds fade, then it pauses mid-episode", async () => {
    // Last in the file, offline on the download: with its clock jumped 5 min ahead the page's
    // tokens would look early to a server. The clock runs on by itself; only the jump is fake,
    // so the deadline comes 6 s of playing later and the fade runs in real time.
    const dock = A.page.getByRole("region", { name: "Player" });
    await A.page.waitForSelector(".dock[data-playing='1']", T);
    await A.page.clock.install();
    await dock.getByText("Trim, boost, sleep timer").click();
    await dock.getByLabel("Sleep timer").selectOption("5");
    await A.page.waitForSelector(".dock .sleep-left", T);
    const from = await el(A.page, () => document.querySelector(".dock audio").currentTime);
    await A.page.clock.fastForward("04:54");
    await A.page.waitForFunction(() => {
      const a = document.querySelector(".dock audio");
      return !a.paused && a.volume > 0 && a.volume < 0.8;
    }, null, T);
    await A.page.waitForSelector(".dock[data-playing='0']", T);
    const a = await el(A.page, () => {
      const a = document.querySelector(".dock audio");
      return { at: a.currentTime, duration: a.duration };
    });
    assert.ok(a.at > from + 4 && a.at < a.duration - 10, `paused at ${a.at} s of ${a.duration} s (from ${from} s): mid-episode`);
    assert.equal(await dock.getByLabel("Sleep timer").inputValue(), "", "the timer is cleared");
  });

  it("auto-download, an hour later (clock jumped, offline): the played download is removed, the unplayed ones stay", async () => {
    await goView(A.page, "downloads");
    const listed = (title) => A.page.locator(".downloads li[data-download]", { hasText: title });
    // Minutes after it was played, through every library change since (the plays above), it is kept.
    await listed(SHORT_B.title).waitFor(T);
    await A.page.clock.fastForward("01:00:00");
    // Any library change runs the planner (the jump may have caused one); this one also keeps
    // only the newest unplayed.
    await A.page.getByLabel("Keep newest unplayed downloaded (each podcast)").selectOption("1");
    await listed(SHORT_B.title).waitFor({ state: "detached", ...T });
    await listed(LONG.title).waitFor(T);
    await listed(SHORT_C.title).waitFor(T); // unplayed downloads are never removed for being old
  });
});
