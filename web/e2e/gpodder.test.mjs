// End-to-end, the gpodder bridge (issue #14) with the web app: a browser starts a realm and
// invites a native `skypod node --gpodder-listen` (with an account from `skypod bridge user
// add`); a phone app speaking the gpodder.net API v2 as AntennaPod does uploads a position,
// and the browser offers "Continue from AntennaPod (mobile) via node at 12:34" and resumes
// there; a position set in the browser's player comes back to the app, the browser named; the
// Devices view lists the phone as a device bridged by the node.
// Everything on 127.0.0.1. Run through scripts/e2e.sh (builds the app first).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  axe, cli, freePort, goView, invite, openPodcast, pauseAndSeek, rss, rssItem, sendRanged, setup, shot, skypodBin, startRealm, subscribeTo,
  teardown, waitFor, wav,
} from "./harness.mjs";

const T = { timeout: 20_000 };
// 15 minutes of real audio (8 kHz 16-bit mono, 14.4 MB), long enough to resume at 12:34.
const AUDIO = wav(900);
const USER = "alice";
const PASSWORD = "phone password 1";
const PHONE = "antennapod-phone";
let web, realm, browser, A, appUrl, fixture, feedUrl, node, bridge;
let nodeLog = "";

/** The podcast host: one feed of two episodes, each a real 15-minute WAV (ranged). */
function fixtureServer() {
  const srv = createServer((req, res) => {
    const base = `http://127.0.0.1:${srv.address().port}`;
    const path = new URL(req.url, base).pathname;
    if (path === "/feed.xml") {
      const items = [1, 2].map((n) =>
        rssItem({ guid: `gp-${n}`, title: `Bridge Episode ${n}`, audioUrl: `${base}/ep${n}.wav`, length: AUDIO.length, duration: "15:00", day: n }),
      );
      return res.writeHead(200, { "content-type": "application/rss+xml" }).end(rss({ title: "Bridge Cast", link: `${base}/`, items }));
    }
    if (/^\/ep\d\.wav$/.test(path)) return sendRanged(req, res, AUDIO, "audio/wav");
    res.writeHead(404).end("not here");
  });
  return new Promise((resolve) =>
    srv.listen(0, "127.0.0.1", () => resolve({ base: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => srv.close(() => r())) })),
  );
}

/** A request to the bridge as a gpodder client sends it: HTTP Basic on every request. */
async function gpodder(method, path, body) {
  const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
  const r = await fetch(`${bridge}${path}`, {
    method,
    headers: { authorization: auth, "user-agent": "AntennaPod/3.5.0", ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  assert.equal(r.status, 200, `${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** ISO 8601 UTC without milliseconds, as AntennaPod sends action timestamps. */
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "");

before(async () => {
  fixture = await fixtureServer();
  feedUrl = `${fixture.base}/feed.xml`;
  // The proxy refuses loopback targets unless told otherwise (test-only switch); the node
  // fetches the feed through it to match the app's episode URLs.
  process.env.SKYPOD_PROXY_ALLOW_FOR_TESTS = "127.0.0.0/8";
  // Browser <-> native P2P needs real loopback candidates, not mDNS names.
  ({ realm, web, appUrl, browser, devices: [A] } = await setup({ browserArgs: ["--disable-features=WebRtcHideLocalIpsWithMdns"] }));
});

after(async () => {
  if (node && node.exitCode === null) {
    const gone = new Promise((r) => node.once("exit", r));
    node.kill("SIGTERM");
    await gone;
  }
  await teardown({ browser, web, realm }, fixture);
});

describe("skypod web: the gpodder bridge", () => {
  it("a position from a gpodder app shows in the web app as 'continue from'; the web app's position reaches the app", { timeout: 300_000 }, async () => {
    // The browser starts the realm, names itself, and invites the node.
    await startRealm(A.page, appUrl);
    await goView(A.page, "devices");
    await A.page.getByLabel("Name of this device").fill("Laptop Browser");
    await A.page.getByRole("button", { name: "Rename", exact: true }).click();
    const link = await invite(A.page);

    const home = mkdtempSync(join(tmpdir(), "skypod-gpodder-node-"));
    assert.match(await cli(["--home", home, "join", link, "--key-timeout", "30"]), /Realm key received/);
    await cli(["--home", home, "bridge", "user", "add", USER], { input: `${PASSWORD}\n` });
    assert.equal((await cli(["--home", home, "bridge", "user", "list"])).trim(), USER);

    // The node, with the bridge on a loopback port.
    const port = await freePort();
    node = spawn(skypodBin(), ["--home", home, "node", "--gpodder-listen", `127.0.0.1:${port}`], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, SKYPOD_LOG: "info", NO_COLOR: "1" },
    });
    node.stdout.on("data", (d) => { nodeLog += d; });
    node.stderr.on("data", (d) => { nodeLog += d; });
    await waitFor(() => nodeLog.includes("library node running") && nodeLog.includes("gpodder bridge at"), "the node and its bridge to start", { ms: 60_000, detail: () => nodeLog, every: 300 });
    bridge = `http://127.0.0.1:${port}`;

    // The browser subscribes; the subscription reaches the node.
    await subscribeTo(A.page, feedUrl, "Bridge Cast");

    // The phone, as AntennaPod's gpodder.net sync does it: log in, register the device,
    // fetch the subscriptions, upload a play action.
    await gpodder("POST", `/api/2/auth/${USER}/login.json`);
    await gpodder("POST", `/api/2/devices/${USER}/${PHONE}.json`, { caption: "AntennaPod", type: "mobile" });
    let subs = null;
    await waitFor(async () => {
      subs = await gpodder("GET", `/api/2/subscriptions/${USER}/${PHONE}.json?since=0`);
      return subs.add.includes(feedUrl);
    }, "the browser's subscription to reach the bridge", { ms: 60_000, detail: () => JSON.stringify(subs), every: 300 });
    const playedAt = iso(Date.now() - 30_000);
    const up = await gpodder("POST", `/api/2/episodes/${USER}.json`, [
      {
        podcast: feedUrl, episode: `${fixture.base}/ep1.wav`, guid: "gp-1", device: PHONE, action: "play",
        timestamp: playedAt, started: 0, position: 754, total: 900,
      },
    ]);
    assert.equal(typeof up.timestamp, "number");
    const since = up.timestamp;
    // Matched through the feed (the node fetched it through the server's proxy), not kept aside.
    assert.match(await cli(["--home", home, "bridge", "unmatched"]), /Every episode action from gpodder apps matched an episode/);

    // The browser: "Continue listening" on the Podcasts view and on the episode's row.
    const offerText = "Continue from AntennaPod (mobile) via node at 12:34";
    await goView(A.page, "podcasts");
    await A.page.getByRole("button", { name: offerText }).waitFor({ timeout: 90_000 });
    await openPodcast(A.page, feedUrl);
    const row = A.page.locator(`.episode[data-episode="${feedUrl} gp-1"]`);
    const offer = row.locator("button[data-offer]", { hasText: offerText });
    await offer.waitFor(T);
    await row.locator(".ep-meta", { hasText: "AntennaPod (mobile) via node at 12:34" }).waitFor(T);
    const rowSel = `.episode[data-episode="${feedUrl} gp-1"]`;
    assert.deepEqual(await axe(A.page), [], "axe: the podcast view with the bridged offer (phone, light)");
    await shot(A.page, "40-gpodder-continue-from-antennapod", { at: rowSel });
    // Laptop, dark: the same view.
    await A.page.setViewportSize({ width: 1280, height: 800 });
    await A.page.emulateMedia({ colorScheme: "dark" });
    assert.deepEqual(await axe(A.page), [], "axe: the podcast view with the bridged offer (laptop, dark)");
    await shot(A.page, "41-gpodder-continue-from-antennapod-laptop-dark", { at: rowSel });
    await A.page.setViewportSize({ width: 390, height: 844 });
    await A.page.emulateMedia({ colorScheme: "light" });

    // Taking the offer (by keyboard) starts the episode at the phone's position.
    await offer.focus();
    await A.page.keyboard.press("Enter");
    const dock = A.page.getByRole("region", { name: "Player" });
    await dock.getByText("Bridge Episode 1").waitFor(T);
    await A.page.waitForFunction(() => document.querySelector(".dock audio")?.currentTime >= 754, null, T);
    await A.page.waitForSelector(".dock[data-playing='1']", T);
    await dock.getByRole("button", { name: "Pause", exact: true }).click();
    await A.page.waitForSelector(".dock[data-playing='0']", T);

    // And back: the browser listens to episode two up to 2:00.
    await A.page.getByRole("button", { name: "Play Bridge Episode 2" }).click();
    await dock.getByText("Bridge Episode 2").waitFor(T);
    await pauseAndSeek(A.page, 120);
    await A.page.getByRole("button", { name: "Resume Bridge Episode 2 at 2:00" }).waitFor(T);

    let got = null;
    let two = null;
    await waitFor(async () => {
      got = await gpodder("GET", `/api/2/episodes/${USER}.json?since=${since}`);
      two = got.actions.find((a) => a.guid === "gp-2" && a.action === "play" && a.position === 120);
      return !!two;
    }, "the browser's position to reach the gpodder app", { ms: 90_000, detail: () => JSON.stringify(got, null, 1), every: 300 });
    assert.equal(two.podcast, feedUrl);
    assert.equal(two.episode, `${fixture.base}/ep2.wav`);
    assert.equal(two.total, 900);
    assert.equal(two.started, 0);
    assert.equal(two.device, "Laptop Browser");
    // Episode one: the browser's take-over (at 12:34 or just after) is now the newest record.
    const one = got.actions.find((a) => a.guid === "gp-1");
    assert.ok(one, JSON.stringify(got));
    assert.equal(one.device, "Laptop Browser");
    assert.ok(one.position >= 754 && one.position < 800, JSON.stringify(one));
    // `since` the answer's timestamp: nothing new.
    const later = await gpodder("GET", `/api/2/episodes/${USER}.json?since=${got.timestamp}`);
    assert.deepEqual(later.actions.filter((a) => a.guid === "gp-2"), [], JSON.stringify(later));

    // The Devices view lists the phone as a bridged device: its app, the node it comes through,
    // when it last played (the action's own time), apart from the realm's members and with no
    // pair or remove control (only the node writes its records).
    await goView(A.page, "devices");
    const bridged = A.page.getByRole("list", { name: "Apps synced through a bridge" }).locator("li[data-bridged]");
    await bridged.first().waitFor(T);
    assert.equal(await bridged.count(), 1);
    assert.match(await bridged.getAttribute("data-bridged"), new RegExp(`/gpodder/${USER}/${PHONE}$`));
    const text = (await bridged.innerText()).replace(/\s+/g, " ");
    assert.match(text, /^AntennaPod \(mobile\) gpodder sync via node · last activity (just now|\d+ min ago) · 1 episode$/, text);
    const last = Number(await bridged.locator("time").getAttribute("data-last"));
    assert.equal(last, Date.parse(`${playedAt}Z`), "last activity is when the phone played, not when it synced");
    assert.equal(await bridged.locator("button, a, input, select").count(), 0);
    const members = A.page.getByRole("list", { name: "Devices in this realm" });
    assert.equal(await members.locator("li", { hasText: "AntennaPod" }).count(), 0);
    assert.deepEqual(await axe(A.page), [], "axe: the Devices view with a bridged device (phone, light)");
    await shot(A.page, "42-gpodder-devices-bridged", { at: "#bridged-h" });
    await A.page.setViewportSize({ width: 1280, height: 800 });
    await A.page.emulateMedia({ colorScheme: "dark" });
    assert.deepEqual(await axe(A.page), [], "axe: the Devices view with a bridged device (laptop, dark)");
    await shot(A.page, "43-gpodder-devices-bridged-laptop-dark", { at: "#bridged-h" });
  });
});
