// End-to-end, library and podcasts (issue #6 tests 2-5): a subscription and a play position
// sync between two browsers, "continue from <device>" is offered; a native `skypod` device
// exchanges a message and library changes with a browser; bad feed addresses are explained;
// with the servers stopped a reload still shows the library. Everything on 127.0.0.1.
// Run through scripts/e2e.sh (builds the app and the server first).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  cli, diagnostics, goView, invite, joinRealm, openPodcast, p2pLinked, pauseAndSeek, reloadAlone, rss, rssItem, sendRanged, setup, shot, skypodBin,
  startRealm, teardown, waitFor, wav,
} from "./harness.mjs";

const T = { timeout: 20_000 };
// Each episode's enclosure is a real 2-minute WAV, so the player dock can play, seek and pause it.
const AUDIO = wav(120);
let web, realm, browser, A, B, appUrl, fixture, feedUrl;
const children = new Set();

/** The fixture podcast host: feeds with real audio, an OPML list, a page that is not a feed. */
function fixtureServer() {
  const srv = createServer((req, res) => {
    const base = `http://127.0.0.1:${srv.address().port}`;
    const item = (n, title) =>
      rssItem({
        guid: `lc-${n}`, title, audioUrl: `${base}/ep${n}.wav`, length: AUDIO.length, duration: "2:00", day: n,
        notes: `<p>Notes for <b>${title}</b> with <a href="https://example.org/${n}">a link</a>.</p><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">`,
      });
    const feed = (title) => rss({ title, link: `${base}/`, items: [item(1, "Episode One"), item(2, "Episode Two")] });
    const path = new URL(req.url, base).pathname;
    if (path === "/feed.xml") return res.writeHead(200, { "content-type": "application/rss+xml" }).end(feed("Loopback Cast"));
    if (path === "/native.xml") return res.writeHead(200, { "content-type": "application/rss+xml" }).end(feed("Native Cast"));
    if (path === "/subs.opml")
      return res.writeHead(200, { "content-type": "text/x-opml" }).end(`<?xml version="1.0"?><opml version="2.0"><head><title>subs</title></head><body>
  <outline text="News"><outline type="rss" text="Daily" title="Daily" xmlUrl="${base}/daily.xml"/></outline>
  <outline type="rss" text="Weekly" xmlUrl="${base}/weekly.xml"/>
  <outline type="rss" text="Broken" xmlUrl="not a url"/>
</body></opml>`);
    if (path === "/page.html") return res.writeHead(200, { "content-type": "text/html" }).end("<html><body>Just a page</body></html>");
    if (/^\/ep\d\.wav$/.test(path)) return sendRanged(req, res, AUDIO, "audio/wav");
    res.writeHead(404).end("not here");
  });
  return new Promise((resolve) =>
    srv.listen(0, "127.0.0.1", () => resolve({ base: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => srv.close(() => r())) })),
  );
}

/** The Add view (from the Podcasts view's "Add podcast"), unless already there. */
async function addView(page) {
  if (await page.locator("main.view[data-view=add]").count()) return;
  await goView(page, "podcasts");
  await page.getByRole("link", { name: "Add podcast" }).click();
  await page.waitForSelector("main.view[data-view=add]", T);
}

async function subscribeIn(page, url) {
  await addView(page);
  await page.getByLabel("Feed address").fill(url);
  await page.getByRole("button", { name: "Subscribe", exact: true }).click();
}

/** Subscriptions in the Podcasts grid. */
async function feedCount(page) {
  await goView(page, "podcasts");
  return page.locator("ul.feeds > li").count();
}

before(async () => {
  fixture = await fixtureServer();
  feedUrl = `${fixture.base}/feed.xml`;
  // The proxy refuses loopback targets unless told otherwise (test-only switch).
  process.env.SKYPOD_PROXY_ALLOW_FOR_TESTS = "127.0.0.0/8";
  // Browser <-> native P2P needs real loopback candidates, not mDNS names.
  ({ realm, web, appUrl, browser, devices: [A, B] } = await setup({ browserArgs: ["--disable-features=WebRtcHideLocalIpsWithMdns"], devices: 2 }));
});

after(async () => {
  for (const c of children) c.kill("SIGTERM");
  await teardown({ browser, web, realm }, fixture);
});

/** A tile of the Podcasts grid (the page goes to the grid). */
async function tile(page, url, title = "") {
  await goView(page, "podcasts");
  await page.waitForSelector(`li.tile[data-feed="${url}"]${title ? `:has-text("${title}")` : ""}`, T);
}

describe("skypod web: library and podcasts", () => {
  it("A subscribes to a loopback feed, B sees it, B plays to 1:00, A offers to continue from B at 1:00", async () => {
    await startRealm(A.page, appUrl);
    await joinRealm(B.page, appUrl, await invite(A.page));
    await p2pLinked(B.page, T);

    await subscribeIn(A.page, feedUrl);
    await A.page.getByText("Subscribed to Loopback Cast.").waitFor(T);
    await tile(B.page, feedUrl, "Loopback Cast");

    await goView(B.page, "devices");
    await B.page.getByLabel("Name of this device").fill("Phone B");
    await B.page.getByRole("button", { name: "Rename", exact: true }).click();
    await openPodcast(B.page, feedUrl);
    await B.page.getByRole("button", { name: "Play Episode One" }).click();
    const key = `${feedUrl} lc-1`;
    // The real player dock plays the enclosure; B pauses and seeks to 1:00, the dock reports it
    // and the library stores it (and syncs it to A).
    await B.page.getByRole("region", { name: "Player" }).getByText("Episode One").waitFor(T);
    await pauseAndSeek(B.page, 60, { maxBack: 20 });
    await B.page.getByRole("button", { name: "Resume Episode One at 1:00" }).waitFor(T);

    // "Continue listening" on the Podcasts view, and on the episode's row.
    await goView(A.page, "podcasts");
    const offer = A.page.getByRole("button", { name: "Continue from Phone B at 1:00" }).first();
    await offer.waitFor(T);
    await openPodcast(A.page, feedUrl);
    await A.page.locator(`.episode[data-episode="${key}"] button[data-offer]:has-text("Continue from Phone B at 1:00")`).waitFor(T);
    // Notes are shown sanitized: formatting kept, scripts and handlers gone.
    const ep = A.page.locator(`.episode[data-episode="${key}"]`);
    await ep.getByText("Episode notes").click();
    assert.equal(await ep.locator(".notes b").innerText(), "Episode One");
    assert.equal(await ep.locator(".notes script, .notes img, .notes [onerror]").count(), 0);
    assert.equal(await A.page.evaluate(() => globalThis.pwned ?? null), null);
    if (appUrl.startsWith(realm.base)) {
      // Served by skypod: even a script the sanitizer missed would not run (CSP).
      const missed = await A.page.evaluate(async () => {
        const notes = document.querySelector(".notes");
        notes.insertAdjacentHTML("beforeend", `<img src="data:," onerror="globalThis.pwned = 3">`);
        const s = document.createElement("script");
        s.textContent = "globalThis.pwned = 4";
        notes.append(s);
        await new Promise((r) => setTimeout(r, 300));
        return globalThis.pwned ?? null;
      });
      assert.equal(missed, null);
    }
    // Taking the offer starts the episode at B's position.
    await offer.click();
    await A.page.getByRole("region", { name: "Player" }).getByText("Episode One").waitFor(T);
    await A.page.waitForFunction(() => document.querySelector(".dock audio")?.currentTime >= 60, null, T);
    await A.page.waitForSelector(".dock[data-playing='1']", T);
    await A.page.getByRole("region", { name: "Player" }).getByRole("button", { name: "Pause", exact: true }).click();
    await A.page.waitForSelector(".dock[data-playing='0']", T);
    // The queue: add both episodes, move the second up, remove one.
    for (const n of [1, 2]) await A.page.locator(`.episode[data-episode="${feedUrl} lc-${n}"]`).getByRole("button", { name: "Add to queue" }).click();
    await shot(A.page, "10-podcasts-continue-from", { at: ".episode" });
    await goView(A.page, "queue");
    const order = () => A.page.locator("ol.queue li .ep-title").allInnerTexts();
    await A.page.waitForFunction(() => document.querySelectorAll("ol.queue li").length === 2, null, T);
    assert.deepEqual(await order(), ["Episode One", "Episode Two"]);
    await A.page.getByRole("button", { name: "Move Episode Two up" }).click();
    await A.page.waitForFunction(() => document.querySelector("ol.queue li .ep-title")?.textContent === "Episode Two", null, T);
    await A.page.getByRole("button", { name: "Remove Episode Two from the queue" }).click();
    await A.page.waitForFunction(() => document.querySelectorAll("ol.queue li").length === 1, null, T);
    assert.deepEqual(await order(), ["Episode One"]);
    await shot(B.page, "11-podcasts-episodes", { at: ".episode" });
  });

  it("bad feed addresses show a clear message and change nothing", async () => {
    const before = await feedCount(A.page);
    let previous = "";
    const tryUrl = async (url, re) => {
      await subscribeIn(A.page, url);
      // Wait for this attempt's message (the previous one may still be on screen).
      const alert = A.page.locator("section[aria-labelledby=sub-h] [role=alert]", { hasText: re });
      await alert.waitFor(T);
      const text = await alert.innerText();
      assert.notEqual(text, previous);
      previous = text;
    };
    await tryUrl("not a feed address", /not a valid web address/);
    // Keyboard: Enter in the address field submits.
    await A.page.getByLabel("Feed address").fill("mailto:someone@example.org");
    await A.page.getByLabel("Feed address").press("Enter");
    await A.page.locator("section[aria-labelledby=sub-h] [role=alert]", { hasText: "only http and https" }).waitFor(T);
    await tryUrl("ftp://127.0.0.1/feed.xml", /only http and https/);
    await tryUrl("http://127.0.0.1:1/feed.xml", /could not be reached/);
    await tryUrl(`${fixture.base}/page.html`, /does not serve a podcast feed/);
    await shot(A.page, "12-podcasts-invalid-feed", { at: "#sub-h" });
    assert.equal(await feedCount(A.page), before);
  });

  it("imports an OPML list through the proxy; a file that is not OPML is explained", async () => {
    const before = await feedCount(A.page);
    const importFrom = async (url) => {
      await addView(A.page);
      const d = A.page.locator("details", { hasText: "Import an OPML subscription list" });
      if (!(await d.evaluate((e) => e.open))) await d.locator("summary").click();
      await A.page.getByLabel("OPML address").fill(url);
      await A.page.getByRole("button", { name: "Import", exact: true }).click();
    };
    await importFrom(`${fixture.base}/page.html`);
    await A.page.locator("section[aria-labelledby=sub-h] [role=alert]", { hasText: "not an OPML subscription list" }).waitFor(T);
    assert.equal(await feedCount(A.page), before);
    await importFrom(`${fixture.base}/subs.opml`);
    await A.page.getByText("Imported 2 new feeds; skipped 1 with an invalid address.").waitFor(T);
    assert.equal(await feedCount(A.page), before + 2);
    await tile(B.page, `${fixture.base}/weekly.xml`, "Weekly");
  });

  it("a native device (skypod join) exchanges a message and library changes with a browser", async () => {
    const home = mkdtempSync(join(tmpdir(), "skypod-native-"));
    const link = await invite(A.page);
    const joined = await cli(["--home", home, "join", link, "--key-timeout", "30"]);
    assert.match(joined, /Realm key received/);

    // native -> browser message
    await cli(["--home", home, "send", "hello browsers from native", "--settle", "5"]);
    await diagnostics(A.page);
    await A.page.waitForSelector('ol.messages li.in:has-text("hello browsers from native")', T);

    // A burst from the native device to A alone arrives whole and in order, packed into batch
    // frames by the native link writer (A logs the first batch it reads).
    const selfId = await A.page.getAttribute("li.peer[data-link=self]", "data-identid");
    const burst = Array.from({ length: 30 }, (_, i) => `burst ${String(i).padStart(2, "0")}`);
    await cli(["--home", home, "send", ...burst, "--to", selfId, "--settle", "5"]);
    await A.page.waitForSelector('ol.messages li.in:has-text("burst 29")', T);
    const got = await A.page.$$eval("ol.messages li.in .body", (els) => els.map((e) => e.textContent).filter((t) => t.startsWith("burst ")));
    assert.deepEqual(got, burst);
    await A.page.locator("pre.log").getByText(/receiving batches \(\d+ messages in the first\)/).waitFor(T);

    // browser -> native message, seen by `skypod listen`
    const listen = spawn(skypodBin(), ["--home", home, "listen"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SKYPOD_LOG: "warn" } });
    children.add(listen);
    let heard = "";
    listen.stdout.on("data", (d) => { heard += d; });
    const nativeId = (await cli(["--home", home, "whoami"])).match(/[A-Za-z0-9_-]{43}/)?.[0];
    assert.ok(nativeId, "native device id");
    await diagnostics(A.page);
    await A.page.waitForSelector(`li.peer[data-identid="${nativeId}"]:not([data-link=offline])`, T);
    await waitFor(async () => {
      await A.page.getByRole("radio", { name: "Server relay" }).check();
      await A.page.getByLabel("Message", { exact: true }).fill("hello native from A");
      await A.page.getByRole("button", { name: "Send", exact: true }).click();
      await new Promise((r) => setTimeout(r, 1000));
      return heard.includes("hello native from A");
    }, "the native device to hear A");
    listen.kill("SIGTERM");
    children.delete(listen);

    // native -> browser library change: a subscription made on the command line
    const nativeFeed = `${fixture.base}/native.xml`;
    const out = await cli(["--home", home, "subscribe", nativeFeed]);
    assert.match(out, /Subscribed to Native Cast/);
    await tile(A.page, nativeFeed);
    await tile(B.page, nativeFeed);

    // browser -> native library changes: A names itself and reaches 1:30 in the episode it
    // took over from B; the native device lists both feeds and A's position under its name.
    await goView(A.page, "devices");
    await A.page.getByLabel("Name of this device").fill("Laptop A");
    await A.page.getByRole("button", { name: "Rename", exact: true }).click();
    await A.page.getByRole("region", { name: "Player" }).getByRole("button", { name: "Play", exact: true }).click();
    await pauseAndSeek(A.page, 90, { maxBack: 20 });
    let episodes = "";
    let feeds = "";
    await waitFor(async () => {
      feeds = await cli(["--home", home, "feeds"]);
      episodes = await cli(["--home", home, "episodes", feedUrl]).catch((e) => String(e));
      return feeds.includes("Loopback Cast") && feeds.includes("Native Cast") && /Laptop A[^\n]*1:30/.test(episodes);
    }, "the native device to see A's changes", { ms: 40_000, detail: () => `${feeds}\n${episodes}` });
    assert.match(episodes, /Phone B[^\n]*1:00/);
    await shot(A.page, "13-podcasts-native-peer", { at: "#dev-h" });

    // Device management: A removes the native device from the realm.
    A.page.once("dialog", (d) => void d.accept());
    await A.page.locator(`ul.devices li[data-device="${nativeId}"] button`, { hasText: "Remove" }).click();
    await A.page.locator("section[aria-labelledby=dev-h] [role=status]", { hasText: "Removed" }).waitFor(T);
    await A.page.waitForFunction((id) => !document.querySelector(`li.peer[data-identid="${id}"]`), nativeId, T);
    await assert.rejects(cli(["--home", home, "send", "still here?", "--settle", "1"]));
    // The remover rotated the realm key; B got the new one.
    const keyA = await A.page.locator("[data-realm-key^='2:']").getAttribute("data-realm-key", T);
    await goView(B.page, "devices");
    await B.page.waitForSelector(`[data-realm-key="${keyA}"]`, T);
  });

  it("with the servers stopped, a reload shows the library from IndexedDB and the service worker", async () => {
    await reloadAlone(A.page, { web, realm, others: [B] });
    await A.page.waitForSelector("[data-socket=waiting], [data-socket=connecting]", T);
    await tile(A.page, feedUrl, "Loopback Cast");
    await tile(A.page, `${fixture.base}/native.xml`);
    await goView(A.page, "devices");
    // The removed native device stays removed; B is remembered, offline.
    await A.page.waitForSelector("li.peer[data-link=offline]", T);
    assert.equal(await A.page.locator("li.peer").count(), 2);
    // Episodes come from the last copy of the feed; refreshing says the server is away.
    await openPodcast(A.page, feedUrl);
    // A's own position (1:30, newer than B's 1:00) survived the reload: no offer, a resume.
    await A.page.getByRole("button", { name: "Resume Episode One at 1:30" }).waitFor(T);
    assert.equal(await A.page.getByRole("button", { name: /Continue from Phone B/ }).count(), 0);
    await A.page.locator(".episode .hint", { hasText: "Phone B at 1:00" }).first().waitFor(T);
    await A.page.locator("main.view [role=alert]", { hasText: "could not be updated" }).first().waitFor(T);
    await shot(A.page, "14-podcasts-offline");
  });
});
