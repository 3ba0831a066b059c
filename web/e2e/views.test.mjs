// End-to-end, the library as an app (issue 12): routed views with deep links, reload and the
// back button; artwork only through the proxy; a new episode shows up in New on two devices
// and disappears on the second once seen on the first; filters and search; directory search
// against a fixture directory; OPML export round trip; a 3,000-episode feed; axe-core on every
// view (phone and laptop, light and dark) with no serious or critical violation; keyboard-only
// navigation through every view with visible focus; phone and laptop screenshots. Everything on 127.0.0.1.
// Run through scripts/e2e.sh (builds the app and the server first).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  ROOT, axe, diagnostics, goView, invite, joinRealm, openPodcast, quantile, rss, saveMetrics, scrollFrameTimes, sendRanged, setup, shot,
  startRealm, subscribeTo, teardown, wav,
} from "./harness.mjs";

const T = { timeout: 20_000 };
const ICON = readFileSync(join(ROOT, "web/public/icons/icon-192.png"));
const BIG = 3000;
// The show's episodes are real audio (10 minutes, 9.6 MB), so one can play under the keyboard test.
const AUDIO = wav(600);
const metrics = {};
let web, realm, browser, A, B, appUrl, fixture, showUrl, bigUrl;
/** Every URL the pages asked for (the artwork host must never be among them). */
const requests = [];

const day = (n) => new Date(Date.UTC(2026, 9, n, 10)).toUTCString();
const item = (base, n, title, pub, notes) => `
  <item><title>${title}</title><guid isPermaLink="false">show-${n}</guid>
    <description><![CDATA[${notes}]]></description>
    <enclosure url="${base}/ep${n}.wav" type="audio/wav" length="${AUDIO.length}"/>
    <itunes:image href="${base}/art-${n}.png"/>
    <itunes:duration>10:00</itunes:duration><pubDate>${pub}</pubDate></item>`;

/** The podcast host (feeds, artwork) and a directory that answers like the iTunes Search API. */
function fixtureServer() {
  const state = { grown: false, grownAt: "" };
  const srv = createServer((req, res) => {
    const base = `http://127.0.0.1:${srv.address().port}`;
    const u = new URL(req.url, base);
    if (u.pathname === "/show.xml") {
      const items = [
        item(base, 1, "Episode One: borrow checker", day(1), "<p>Notes about <b>lifetimes</b>.</p>"),
        item(base, 2, "Episode Two: async", day(2), "<p>Tokio and executors.</p>"),
        item(base, 3, "Episode Three: café", day(3), "<p>Crêpes and espresso.</p>"),
      ];
      if (state.grown) items.push(item(base, 4, "Episode Four: fresh", state.grownAt, "<p>Just published.</p>"));
      const body = rss({ title: "Loopback Show", link: `${base}/`, image: `${base}/art.png`, items: items.reverse() })
        .replace('<rss version="2.0" ', '<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0" ')
        .replace("<channel>", `<channel><itunes:author>Loopback Author</itunes:author><podcast:funding url="https://example.org/support">Support the show</podcast:funding>`);
      return res.writeHead(200, { "content-type": "application/rss+xml" }).end(body);
    }
    if (u.pathname === "/big.xml") {
      const items = [];
      for (let i = BIG; i >= 1; i--) {
        const pub = new Date(Date.UTC(2018, 0, 1) + i * 86_400_000).toUTCString();
        items.push(`<item><title>Big episode ${i}</title><guid isPermaLink="false">big-${i}</guid><description><![CDATA[<p>Show notes for number ${i}: ${"words ".repeat(30)}</p>]]></description><enclosure url="${base}/big${i}.mp3" type="audio/mpeg" length="1000"/><pubDate>${pub}</pubDate></item>`);
      }
      return res.writeHead(200, { "content-type": "application/rss+xml" }).end(rss({ title: "Big Archive", link: `${base}/`, items }));
    }
    if (u.pathname === "/broken.xml") {
      // Its cover claims to be a PNG but is not one: the proxy cannot decode it.
      const body = rss({ title: "Broken Cover Show", link: `${base}/`, image: `${base}/broken.png`, items: [item(base, 9, "Only episode", day(1), "<p>x</p>").replace(/<itunes:image[^>]*>/, "")] });
      return res.writeHead(200, { "content-type": "application/rss+xml" }).end(body);
    }
    if (/^\/ep\d+\.wav$/.test(u.pathname)) return sendRanged(req, res, AUDIO, "audio/wav");
    if (u.pathname === "/broken.png") return res.writeHead(200, { "content-type": "image/png" }).end("these bytes are not a PNG");
    if (/^\/art(-\d+)?\.png$/.test(u.pathname)) return res.writeHead(200, { "content-type": "image/png" }).end(ICON);
    if (u.pathname === "/dir/search") {
      const term = u.searchParams.get("term") ?? "";
      if (term === "down") return res.writeHead(500).end("directory broken");
      const results = /loop/i.test(term)
        ? [
            { collectionName: "Loopback Show", artistName: "Loopback Author", feedUrl: `${base}/show.xml`, artworkUrl600: `${base}/art.png` },
            { collectionName: "Another Loop", artistName: "Someone", feedUrl: `${base}/missing.xml` },
          ]
        : [];
      return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ resultCount: results.length, results }));
    }
    res.writeHead(404).end("not here");
  });
  return new Promise((resolve) =>
    srv.listen(0, "127.0.0.1", () =>
      resolve({
        base: `http://127.0.0.1:${srv.address().port}`,
        grow: () => Object.assign(state, { grown: true, grownAt: new Date().toUTCString() }),
        close: () => new Promise((r) => srv.close(() => r())),
      }),
    ),
  );
}

/** Every /proxy/image answer the pages got: URL → {status, type}. */
const images = new Map();

function watch(page) {
  page.on("request", (r) => requests.push(r.url()));
  page.on("response", (r) => {
    if (r.url().includes("/proxy/image?"))
      images.set(r.url(), { status: r.status(), type: r.headers()["content-type"] ?? "" });
  });
}

/** Hosts the pages asked other than the app's static server and the realm server. */
function foreignHosts() {
  const allowed = new Set([new URL(appUrl).host, new URL(realm.base).host]);
  return [...new Set(requests.filter((u) => /^https?:/.test(u)).map((u) => new URL(u).host))].filter((h) => !allowed.has(h));
}

const VIEWS = ["podcasts", "new", "queue", "downloads", "devices", "settings"];

let laptopDevice = null;
/** A laptop-sized (1280×800) third device of the realm (a browser context is a device), joined once. */
async function laptop() {
  if (laptopDevice) return laptopDevice;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const L = await ctx.newPage();
  watch(L);
  await joinRealm(L, appUrl, await invite(A.page));
  await goView(L, "podcasts");
  await L.waitForSelector(`li.tile[data-feed="${showUrl}"]`, T);
  laptopDevice = L;
  return L;
}

/**
 * The focused element and whether a person can see that it has the focus: an outline of at
 * least 2 px (on the element, or on the chip around a radio button), inside the viewport, and
 * not under the fixed navigation, the sticky header or the player (the element found at its
 * centre is the element itself or inside it).
 */
function focusState() {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return { none: true };
  const shown = el.closest("label.chip") ?? el;
  const cs = getComputedStyle(shown);
  const r = shown.getBoundingClientRect();
  const cx = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
  const cy = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
  const hit = document.elementFromPoint(cx, cy);
  const name = (el.getAttribute("aria-label") || el.labels?.[0]?.textContent || el.textContent || "").trim().replace(/\s+/g, " ");
  // No part of it under the sticky header, the phone's bottom navigation or the player dock
  // (unless it is taller than half the screen and cannot fit between them).
  const hiddenBy = [];
  for (const o of document.querySelectorAll(".top, .nav, .dock")) {
    if (o.contains(shown) || r.height > innerHeight / 2) continue;
    const pos = getComputedStyle(o).position;
    if (pos !== "fixed" && pos !== "sticky") continue;
    const b = o.getBoundingClientRect();
    const w = Math.min(r.right, b.right) - Math.max(r.left, b.left);
    const h = Math.min(r.bottom, b.bottom) - Math.max(r.top, b.top);
    if (w > 1 && h > 1) hiddenBy.push(`.${o.className.split(" ")[0]} (${Math.round(h)} px)`);
  }
  return {
    what: `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} "${name.slice(0, 60)}"`,
    name,
    ring: cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 2,
    inView: r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth,
    coveredBy: hit && (shown === hit || shown.contains(hit)) ? "" : hit ? `${hit.tagName.toLowerCase()}.${hit.className}` : "nothing",
    hiddenBy: hiddenBy.join(", "),
    inDock: !!el.closest(".dock"),
  };
}

/** Whether the focused element matches `sel` and its name matches `name` (a RegExp source). */
function focusIs([sel, name]) {
  const el = document.activeElement;
  if (!el?.matches(sel)) return false;
  const n = (el.getAttribute("aria-label") || el.labels?.[0]?.textContent || el.textContent || "").trim().replace(/\s+/g, " ");
  return !name || new RegExp(name).test(n);
}

/** Assert that the focus is visible (see focusState). */
async function focusVisible(page, where) {
  const f = await page.evaluate(focusState);
  assert.ok(!f.none, `${where}: nothing has the focus`);
  assert.ok(f.ring, `${where}: no visible outline on ${f.what}`);
  assert.ok(f.inView, `${where}: ${f.what} is outside the viewport`);
  assert.equal(f.coveredBy, "", `${where}: ${f.what} is covered`);
  assert.equal(f.hiddenBy, "", `${where}: ${f.what} is partly hidden`);
  return f;
}

/** Press Tab (or Shift+Tab) until the focus is on `sel` named `name`; every stop on the way has a visible focus. */
async function tabTo(page, sel, name = "", { back = false, max = 90 } = {}) {
  const path = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
    const f = await page.evaluate(focusState);
    if (!f.none) await focusVisible(page, `Tab stop ${i + 1} towards ${sel} ${name}`);
    path.push(f.none ? "(page)" : f.what);
    if (await page.evaluate(focusIs, [sel, name])) return;
  }
  assert.fail(`${back ? "Shift+Tab" : "Tab"} never reached ${sel} ${name}: ${path.join(" → ")}`);
}

/** Enter on the focused navigation link: the view opens and its heading has the (visible) focus. */
async function enterView(page, view, heading) {
  await page.keyboard.press("Enter");
  await page.waitForSelector(`main.view[data-view=${view}]`, T);
  await page.waitForFunction(() => document.activeElement?.id === "view-h", null, T);
  const f = await focusVisible(page, `the ${view} heading`);
  if (heading) assert.equal(f.name, heading);
}

/**
 * Keyboard only (no clicks) through Podcasts, a podcast's page, Queue, New, Downloads, Devices
 * and Settings: Tab to the navigation, Enter opens the view and focuses its heading, Tab
 * reaches the view's main controls, Enter or Space works them; back to the navigation with
 * Shift+Tab.
 */
async function keyboardJourney(page) {
  // A fresh load (not a same-document hash change), so Tab starts at the top of the page.
  await page.goto(`${appUrl}#/settings`);
  await page.reload();
  await page.waitForSelector("main.view[data-view=settings]", T);
  await page.waitForSelector("[data-socket=online]", T);
  // Podcasts: the grid (virtualised) and its controls; Enter on a tile opens the podcast.
  await tabTo(page, "nav a[data-nav=podcasts]");
  await enterView(page, "podcasts", "Podcasts");
  await tabTo(page, "main a", "^Add podcast$");
  await tabTo(page, "main button", "^Refresh all$");
  await tabTo(page, "main a", "^All episodes$");
  await tabTo(page, `li.tile[data-feed="${showUrl}"] a`);
  await enterView(page, "podcast", "Loopback Show");
  // The podcast's page: refresh, about, unsubscribe, search, an episode's actions.
  await tabTo(page, "main button", "^Refresh$");
  await tabTo(page, "main summary", "^About this podcast$");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("details.about")?.open, null, T);
  await tabTo(page, "main a", "^Support the show$");
  await tabTo(page, "main button", "^Unsubscribe$");
  await tabTo(page, "main input[type=search]");
  await page.keyboard.type("async");
  await page.waitForSelector(".episodes-box [data-count='1']", T);
  await tabTo(page, "main button", "^Add to queue: Episode Two: async$");
  await page.keyboard.press("Enter");
  await page.waitForSelector("button[aria-pressed=true][aria-label='Queued: Episode Two: async']", T);
  // Queue: the episode is there; Remove with the keyboard.
  await tabTo(page, "nav a[data-nav=queue]", "", { back: true });
  await enterView(page, "queue", "Queue");
  await tabTo(page, "main button", "^Play Episode Two: async$");
  await tabTo(page, "main button", "^Remove Episode Two: async from the queue$");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => !document.querySelector("ol.queue"), null, T);
  // New, Downloads, Devices, Settings.
  await tabTo(page, "nav a[data-nav=new]", "", { back: true });
  await enterView(page, "new", "New episodes");
  await tabTo(page, "main button", "^Refresh all$");
  await tabTo(page, "nav a[data-nav=downloads]", "", { back: true });
  await enterView(page, "downloads");
  await tabTo(page, "main select#dl-keep");
  await tabTo(page, "nav a[data-nav=devices]", "", { back: true });
  await enterView(page, "devices", "Devices");
  await tabTo(page, "main button", "^Create invitation$");
  await tabTo(page, "main summary", "^Diagnostics");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector("details.diagnostics")?.open, null, T);
  await tabTo(page, "nav a[data-nav=settings]", "", { back: true });
  await enterView(page, "settings", "Settings");
  const notify = "main input[type=checkbox]";
  await tabTo(page, notify, "Loopback Show");
  const before = await page.evaluate(() => document.activeElement.checked);
  await page.keyboard.press("Space");
  await page.waitForFunction((b) => document.activeElement.checked === !b, before, T);
  await page.keyboard.press("Space");
  await page.waitForFunction((b) => document.activeElement.checked === b, before, T);
}

/**
 * Keyboard only with the player dock showing (an episode playing): Enter on an episode's Play
 * button starts it; then every view is opened from the navigation with the keyboard and every
 * Tab stop of the view, down to the dock and through the dock's controls, has a visible focus
 * that no part of the dock (nor the header or the bottom navigation) hides; Shift+Tab goes back
 * up through the view to the navigation.
 */
async function keyboardWithDock(page) {
  await page.goto(`${appUrl}#/podcast/${encodeURIComponent(showUrl)}`);
  await page.reload();
  await page.waitForSelector("main.view[data-view=podcast] .vlist .episode", T);
  await page.waitForSelector("[data-socket=online]", T);
  await tabTo(page, "main button", "^Play Episode Three: café$");
  await page.keyboard.press("Enter");
  await page.waitForSelector(".dock[data-playing='1']", T);
  const stops = {};
  for (const view of ["podcasts", "podcast", "new", "queue", "downloads", "devices", "settings"]) {
    if (view === "podcast") {
      // From the grid: back up from the player to the show's tile, Enter.
      await tabTo(page, `li.tile[data-feed="${showUrl}"] a`, "", { back: true, max: 200 });
      await enterView(page, "podcast", "Loopback Show");
    } else {
      await tabTo(page, `nav a[data-nav=${view}]`, "", { back: true, max: 200 });
      await enterView(page, view);
    }
    // Down through the view into the dock, and through the dock until the focus leaves it.
    let entered = false;
    let n = 0;
    for (; n < 250; n++) {
      await page.keyboard.press("Tab");
      const where = await page.evaluate(() => {
        const a = document.activeElement;
        return !a || a === document.body ? "none" : a.closest(".dock") ? "dock" : a.closest("main") ? "main" : `other: ${a.outerHTML.slice(0, 80)}`;
      });
      if (where === "dock") entered = true;
      if (entered && where !== "dock") break;
      assert.ok(where === "main" || where === "dock", `${view} with the dock, Tab stop ${n + 1}: the focus left the view before reaching the player (${where})`);
      await focusVisible(page, `${view} with the dock, Tab stop ${n + 1}`);
    }
    assert.ok(entered, `${view}: Tab never reached the player`);
    stops[view] = n;
    // The player is still there and playing (keyboard use never stopped it).
    assert.equal(await page.locator(".dock").getAttribute("data-playing"), "1");
  }
  // Pause and close the player with the keyboard.
  await page.keyboard.press("k");
  await page.waitForSelector(".dock[data-playing='0']", T);
  await tabTo(page, ".dock button", "^Close player$", { back: true });
  await page.keyboard.press("Enter");
  await page.waitForSelector(".dock", { state: "detached", ...T });
  return stops;
}

before(async () => {
  fixture = await fixtureServer();
  showUrl = `${fixture.base}/show.xml`;
  bigUrl = `${fixture.base}/big.xml`;
  process.env.SKYPOD_PROXY_ALLOW_FOR_TESTS = "127.0.0.0/8";
  process.env.SKYPOD_DIRECTORY = "itunes";
  process.env.SKYPOD_DIRECTORY_URL = `${fixture.base}/dir/search`;
  ({ realm, web, appUrl, browser, devices: [A, B] } = await setup({ devices: 2 }));
  watch(A.page);
  watch(B.page);
});

after(async () => {
  await teardown({ browser, web, realm }, fixture);
  saveMetrics(metrics);
});

describe("skypod web: the library as an app", () => {
  it("directory search against the fixture directory; a broken directory is explained", async () => {
    await startRealm(A.page, appUrl);
    await goView(A.page, "podcasts");
    await A.page.getByRole("link", { name: "Add podcast" }).click();
    await A.page.getByLabel("Podcast name").fill("down");
    await A.page.getByRole("button", { name: "Search", exact: true }).click();
    await A.page.locator("section[aria-labelledby=dir-h] [role=alert]", { hasText: "answered with an error" }).waitFor(T);
    await A.page.getByLabel("Podcast name").fill("loopback");
    await A.page.getByLabel("Podcast name").press("Enter");
    await A.page.getByText("2 results from iTunes").waitFor(T);
    // The query is in the URL: a reload comes back to the results.
    assert.match(await A.page.evaluate(() => location.hash), /^#\/add\?q=loopback$/);
    await A.page.reload();
    await A.page.getByText("2 results from iTunes").waitFor(T);
    await shot(A.page, "20-views-directory-search");
    await A.page.getByRole("button", { name: "Subscribe to Loopback Show" }).click();
    await A.page.getByText("Subscribed to Loopback Show.").waitFor(T);
    await A.page.locator(`li.result[data-feed="${showUrl}"]`).getByRole("link", { name: "Open" }).waitFor(T);
    // A result whose feed does not exist: the proxy's sentence, nothing subscribed.
    await A.page.getByRole("button", { name: "Subscribe to Another Loop" }).click();
    await A.page.locator("section[aria-labelledby=dir-h] [role=alert]", { hasText: "answered with an error" }).waitFor(T);
    assert.equal(await A.page.locator(`li.result[data-feed="${fixture.base}/missing.xml"] button`).count(), 1);
  });

  it("views have their own URLs: deep links, reload and the back button", async () => {
    await goView(A.page, "podcasts");
    const tile = A.page.locator(`li.tile[data-feed="${showUrl}"]`);
    await tile.locator("[data-unplayed='3']").waitFor(T);
    await tile.locator("a").click();
    await A.page.getByRole("heading", { level: 1, name: "Loopback Show" }).waitFor(T);
    assert.equal(await A.page.evaluate(() => location.hash), `#/podcast/${encodeURIComponent(showUrl)}`);
    await A.page.getByText("Loopback Author").waitFor(T);
    await A.page.getByText("About this podcast").click();
    await A.page.getByRole("link", { name: "Support the show" }).waitFor(T);
    await A.page.getByText("Updated just now").waitFor(T);
    // Reload: the same view.
    await A.page.reload();
    await A.page.getByRole("heading", { level: 1, name: "Loopback Show" }).waitFor(T);
    // Back and forward through the views.
    await goView(A.page, "queue");
    await goView(A.page, "settings");
    await A.page.goBack();
    await A.page.waitForSelector("main.view[data-view=queue]", T);
    await A.page.goBack();
    await A.page.waitForSelector("main.view[data-view=podcast]", T);
    await A.page.goForward();
    await A.page.waitForSelector("main.view[data-view=queue]", T);
    // A deep link opens its view directly (another tab of the same device).
    const tab = await A.ctx.newPage();
    watch(tab);
    await tab.goto(`${appUrl}#/podcast/${encodeURIComponent(showUrl)}`);
    await tab.getByRole("heading", { level: 1, name: "Loopback Show" }).waitFor(T);
    await tab.goto(`${appUrl}#/settings`);
    await tab.getByRole("heading", { level: 1, name: "Settings" }).waitFor(T);
    // An unknown route and a podcast not subscribed are explained, not blank.
    await tab.goto(`${appUrl}#/podcast/${encodeURIComponent("https://example.org/none.xml")}`);
    await tab.getByText("You are not subscribed to").waitFor(T);
    await tab.close();
  });

  it("artwork comes through /proxy/image only, lazily; a broken cover shows the placeholder", async () => {
    // The server has the endpoint (without a member's token it answers 401, not the app's page).
    assert.equal((await fetch(`${realm.base}/proxy/image?url=x&size=96`)).status, 401);
    const origin = fixture.base;
    const art = encodeURIComponent(`${origin}/art.png`);
    const bodies = images;
    {
      await openPodcast(A.page, showUrl);
      const cover = A.page.locator(".pod-head .art");
      assert.equal(await cover.getAttribute("data-art"), "1");
      await A.page.waitForSelector(".pod-head .art[data-loaded='1'] img", T);
      // The <img> shows a decoded picture made by the proxy: the host serves a PNG, the proxy
      // re-encodes it (JPEG, or WebP when it has alpha) at 512 px at most, and the page shows
      // that answer as a blob: URL (the proxy wants the bearer token, which <img src> cannot send).
      // Reading the blob back needs `connect-src blob:`, which the app's own CSP (served with
      // E2E_SAME_ORIGIN=1) does not grant: then only the decoded picture is compared.
      const shown = await cover.locator("img").evaluate(async (img) => {
        await img.decode();
        const blob = await fetch(img.src).then((r) => r.blob()).catch(() => null);
        const head = blob ? Array.from(new Uint8Array(await blob.slice(0, 12).arrayBuffer())) : null;
        return { src: img.src, w: img.naturalWidth, h: img.naturalHeight, type: blob?.type ?? null, head };
      });
      assert.match(shown.src, /^blob:/);
      // The fixture cover is 192×192; the proxy never enlarges.
      assert.deepEqual([shown.w, shown.h], [192, 192]);
      const key = [...bodies.keys()].find((u) => u.includes(`url=${art}`) && u.includes("size=512"));
      assert.ok(key, `a /proxy/image request for the cover at 512 px, among ${[...bodies.keys()].join(" ")}`);
      const proxied = bodies.get(key);
      assert.equal(proxied.status, 200);
      assert.match(proxied.type, /^image\/(jpeg|webp)$/);
      if (shown.head) {
        assert.equal(shown.type, proxied.type, "the <img> shows what /proxy/image sent");
        const magic = Buffer.from(shown.head);
        const isWebp = magic.subarray(0, 4).toString("latin1") === "RIFF" && magic.subarray(8, 12).toString("latin1") === "WEBP";
        const isJpeg = magic[0] === 0xff && magic[1] === 0xd8;
        assert.ok(proxied.type === "image/webp" ? isWebp : isJpeg, `the shown bytes are ${proxied.type}, not the host's PNG (${magic.toString("hex")})`);
      } else {
        assert.equal(process.env.E2E_SAME_ORIGIN, "1", "the blob could not be read back without the app's CSP");
      }
      // The grid's tile: the same cover at 256 px.
      await goView(A.page, "podcasts");
      const tileImg = A.page.locator(`li.tile[data-feed="${showUrl}"] .art[data-loaded='1'] img`);
      await tileImg.waitFor(T);
      assert.ok((await tileImg.evaluate((i) => i.decode().then(() => i.naturalWidth))) > 0);
      assert.ok([...bodies.keys()].some((u) => u.includes(`url=${art}`) && u.includes("size=256")));

      // A cover that cannot be decoded: the proxy refuses it, the tile keeps its placeholder.
      const brokenFeed = `${origin}/broken.xml`;
      await subscribeTo(A.page, brokenFeed, "Broken Cover Show");
      await goView(A.page, "podcasts");
      const broken = encodeURIComponent(`${origin}/broken.png`);
      for (let i = 0; i < 100 && ![...bodies.keys()].some((u) => u.includes(`url=${broken}`)); i++) await new Promise((r) => setTimeout(r, 100));
      const refused = [...bodies.entries()].find(([u]) => u.includes(`url=${broken}`));
      assert.ok(refused, "the broken cover was asked of the proxy");
      assert.ok(refused[1].status >= 400, `the proxy refused the broken cover (${refused[1].status})`);
      const tile = A.page.locator(`li.tile[data-feed="${brokenFeed}"]`);
      await tile.locator(".art[data-art='1'][data-loaded='0'] .art-ph").waitFor(T);
      assert.equal((await tile.locator(".art-ph").innerText()).trim(), "B");
      assert.equal(await tile.locator("img").count(), 0);
      const box = await tile.locator(".art").boundingBox();
      assert.ok(box && box.width > 100 && Math.abs(box.width - box.height) < 1, `the placeholder is a square tile (${JSON.stringify(box)})`);
      await shot(A.page, "23-views-broken-cover", { at: `li.tile[data-feed="${brokenFeed}"]` });
    }
    // The pages asked only the app's server and the realm server: never the podcast or artwork host.
    assert.deepEqual(foreignHosts(), [], "hosts other than the app's and the realm server's");
    assert.deepEqual(requests.filter((u) => u.startsWith(origin)), [], "the page never asks the podcast or artwork host itself");
  });

  it("filters (played, unplayed, in progress), date order and search in titles and notes", async () => {
    await openPodcast(A.page, showUrl);
    const titles = () => A.page.locator(".vlist .episode h3").allInnerTexts();
    const count = (n) => A.page.waitForSelector(`.episodes-box [data-count='${n}']`, T);
    await count(3);
    assert.deepEqual((await titles()).map((t) => t.trim()), ["Episode Three: café", "Episode Two: async", "Episode One: borrow checker"]);
    await A.page.getByRole("button", { name: "Mark played: Episode One: borrow checker" }).click();
    await A.page.locator("label.chip").filter({ hasText: /^Played$/ }).click();
    await count(1);
    assert.deepEqual((await titles()).map((t) => t.trim()), ["Episode One: borrow checker"]);
    await A.page.locator("label.chip").filter({ hasText: /^Unplayed$/ }).click();
    await count(2);
    await A.page.locator("label.chip").filter({ hasText: /^In progress$/ }).click();
    await count(0);
    await A.page.locator("label.chip").filter({ hasText: /^All$/ }).click();
    await A.page.getByLabel("Sort").selectOption("oldest");
    await A.page.waitForFunction(() => document.querySelector(".vlist .episode h3")?.textContent.includes("Episode One"), null, T);
    // Search: notes and titles, word prefixes, accents ignored.
    await A.page.getByLabel("Search episodes").fill("crepes");
    await count(1);
    assert.match((await titles())[0], /café/);
    await A.page.getByLabel("Search episodes").fill("tok");
    await count(1);
    assert.match((await titles())[0], /async/);
    await A.page.getByLabel("Search episodes").fill("");
    await count(3);
    await shot(A.page, "21-views-podcast-filters");
    // Across the library: All episodes.
    await goView(A.page, "podcasts");
    await A.page.getByRole("link", { name: "All episodes" }).click();
    // Loopback Show's three and the broken-cover show's one.
    await A.page.waitForSelector("main.view[data-view=episodes] .episodes-box [data-count='4']", T);
  });

  it("a new episode shows up in New on both devices and is gone on the second once seen on the first", async () => {
    await joinRealm(B.page, appUrl, await invite(A.page));
    await goView(B.page, "podcasts");
    await B.page.waitForSelector(`li.tile[data-feed="${showUrl}"]`, T);
    // Nothing is new yet: the episodes are older than the subscription.
    await goView(A.page, "new");
    await A.page.waitForSelector("[data-empty=new]", T);

    fixture.grow();
    for (const d of [A, B]) {
      await goView(d.page, "podcasts");
      await d.page.getByRole("button", { name: "Refresh all" }).click();
      await d.page.waitForSelector(`li.tile[data-feed="${showUrl}"] [data-new='1']`, T);
      await d.page.waitForSelector("nav [data-new-count='1']", T);
    }
    // A looks at New and marks it seen; B's counts and inbox empty by sync alone.
    await goView(A.page, "new");
    await A.page.waitForSelector(".new-list .episode:has-text('Episode Four: fresh')", T);
    await shot(A.page, "22-views-new");
    await A.page.getByRole("button", { name: "Mark all as seen" }).click();
    await A.page.waitForSelector("[data-empty=new]", T);
    await B.page.waitForFunction(() => !document.querySelector("nav [data-new-count]"), null, T);
    await B.page.waitForSelector(`li.tile[data-feed="${showUrl}"]:not(:has([data-new]))`, T);
    await goView(B.page, "new");
    await B.page.waitForSelector("[data-empty=new]", T);
  });

  it("OPML export round trip: export, unsubscribe, import the file, the podcast is back", async () => {
    await goView(A.page, "settings");
    const [download] = await Promise.all([A.page.waitForEvent("download"), A.page.getByRole("button", { name: "Export OPML" }).click()]);
    const file = await download.path();
    const text = readFileSync(file, "utf8");
    assert.match(text, /<opml version="2.0">/);
    assert.ok(text.includes(`xmlUrl="${showUrl}"`), text);
    await openPodcast(A.page, showUrl);
    A.page.once("dialog", (d) => void d.accept());
    await A.page.getByRole("button", { name: "Unsubscribe" }).click();
    await A.page.waitForSelector("main.view[data-view=podcasts]", T);
    assert.equal(await A.page.locator(`li.tile[data-feed="${showUrl}"]`).count(), 0);
    await A.page.getByRole("link", { name: "Add podcast" }).click();
    await A.page.getByText("Import an OPML subscription list").click();
    await A.page.getByLabel("Or an OPML file from this device").setInputFiles(file);
    await A.page.getByText("Imported 1 new feed.").waitFor(T);
    await goView(A.page, "podcasts");
    await A.page.waitForSelector(`li.tile[data-feed="${showUrl}"]:has-text("Loopback Show")`, T);
  });

  it("a 3,000-episode feed opens fast and scrolls smoothly (virtualised list)", async () => {
    await subscribeTo(A.page, bigUrl, "Big Archive", { timeout: 60_000 });
    await goView(A.page, "podcasts");
    // Tap → first episodes painted (the feed's last copy is in memory; the refresh on open runs behind).
    const tapToPaint = await A.page.evaluate(async (url) => {
      const a = document.querySelector(`li.tile[data-feed="${url}"] a`);
      const t0 = performance.now();
      a.click();
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        if (document.querySelector(".vlist .episode")) break;
      }
      // One more frame: the rows are painted, not only in the DOM.
      await new Promise((r) => requestAnimationFrame(r));
      return performance.now() - t0;
    }, bigUrl);
    metrics.bigFeedTapToEpisodesMs = Math.round(tapToPaint);
    await A.page.waitForSelector(`.episodes-box [data-count='${BIG}']`, T);
    const rendered = await A.page.locator(".vlist .vrow").count();
    assert.ok(rendered > 0 && rendered < 60, `${rendered} rows in the DOM for ${BIG} episodes`);
    // Scroll through the list with the wheel; frame times from requestAnimationFrame.
    const frames = await A.page.evaluate(scrollFrameTimes, { step: 400, max: 120 });
    frames.sort((a, b) => a - b);
    const p = (q) => quantile(frames, q);
    metrics.bigFeedScrollFrameMs = { p50: p(0.5), p95: p(0.95), max: p(1), frames: frames.length };
    // The end of the list is reachable and rendered.
    await A.page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
    await A.page.waitForSelector(".vlist .episode:has-text('Big episode 1')", T);
    assert.ok((await A.page.locator(".vlist .vrow").count()) < 60);
    await A.page.getByLabel("Search episodes").fill("2999");
    await A.page.waitForSelector(".episodes-box [data-count='1']", T);
  });

  it("axe-core on every view, phone and laptop, light and dark: no serious or critical violation", async () => {
    const L = await laptop();
    for (const [page, size] of [[A.page, "phone"], [L, "laptop"]]) {
      for (const scheme of ["light", "dark"]) {
        await page.emulateMedia({ colorScheme: scheme });
        for (const v of [...VIEWS, "podcast", "add", "episodes"]) {
          if (v === "podcast") await openPodcast(page, showUrl);
          else if (v === "add" || v === "episodes") {
            await goView(page, "podcasts");
            await page.getByRole("link", { name: v === "add" ? "Add podcast" : "All episodes" }).click();
            await page.waitForSelector(`main.view[data-view=${v}]`, T);
          } else await goView(page, v);
          if (v === "devices") await diagnostics(page);
          const bad = await axe(page);
          assert.deepEqual(bad, [], `${size} ${scheme} ${v}: ${JSON.stringify(bad, null, 1)}`);
          const { sw, iw } = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: innerWidth }));
          assert.ok(sw <= iw, `${v} is ${sw}px wide in a ${iw}px ${size} viewport`);
        }
      }
      await page.emulateMedia({ colorScheme: "light" });
    }
  });

  it("keyboard only, phone and laptop: every view's main controls reached with Tab, navigation with Enter, focus always visible", async () => {
    for (const page of [A.page, await laptop()]) await keyboardJourney(page);
  });

  it("keyboard only with an episode playing, phone and laptop: every view reachable, no focus hidden behind the player dock", async () => {
    for (const [page, size] of [[A.page, "phone"], [await laptop(), "laptop"]]) metrics[`keyboardWithDockStops_${size}`] = await keyboardWithDock(page);
  });

  it("screenshots: phone and laptop, light and dark", async () => {
    const L = await laptop();
    for (const [page, size] of [[A.page, "phone"], [L, "laptop"]]) {
      for (const scheme of ["light", "dark"]) {
        await page.emulateMedia({ colorScheme: scheme });
        await goView(page, "podcasts");
        await shot(page, `30-podcasts-${size}-${scheme}`);
        await openPodcast(page, showUrl);
        await shot(page, `31-podcast-${size}-${scheme}`);
        await goView(page, "devices");
        await shot(page, `32-devices-${size}-${scheme}`);
      }
      await page.emulateMedia({ colorScheme: "light" });
    }
    assert.deepEqual(requests.filter((u) => u.startsWith(fixture.base)), []);
    assert.deepEqual(foreignHosts(), []);
  });
});
