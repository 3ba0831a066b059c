// End-to-end, the library as an app (issue 12): routed views with deep links, reload and the
// back button; artwork only through the proxy; a new episode shows up in New on two devices
// and disappears on the second once seen on the first; filters and search; directory search
// against a fixture directory; OPML export round trip; a 3,000-episode feed; axe-core on every
// view (light and dark) with no serious or critical violation; keyboard-only navigation;
// phone and laptop screenshots. Everything on 127.0.0.1.
// Run through scripts/e2e.sh (builds the app and the server first).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { ROOT, device, goView, launch, openPodcast, rss, shot, skypodServer, webApp } from "./harness.mjs";

const T = { timeout: 20_000 };
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const ICON = readFileSync(join(ROOT, "web/public/icons/icon-192.png"));
const METRICS = join(ROOT, "web/e2e/last-metrics.json");
const BIG = 3000;
const metrics = {};
let web, realm, browser, A, B, appUrl, fixture, showUrl, bigUrl;
/** Every URL the pages asked for (the artwork host must never be among them). */
const requests = [];

const day = (n) => new Date(Date.UTC(2026, 9, n, 10)).toUTCString();
const item = (base, n, title, pub, notes) => `
  <item><title>${title}</title><guid isPermaLink="false">show-${n}</guid>
    <description><![CDATA[${notes}]]></description>
    <enclosure url="${base}/ep${n}.mp3" type="audio/mpeg" length="1000"/>
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

function watch(page) {
  page.on("request", (r) => requests.push(r.url()));
}

async function axe(page) {
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.evaluate(AXE); // not a <script>: the app's CSP allows no inline script
  const r = await page.evaluate(async () => {
    const res = await globalThis.axe.run(document, { resultTypes: ["violations"] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  return r.filter((v) => v.impact === "serious" || v.impact === "critical");
}

const VIEWS = ["podcasts", "new", "queue", "downloads", "devices", "settings"];

async function invite(page) {
  await goView(page, "devices");
  await page.getByRole("button", { name: "Create invitation" }).click();
  await page.waitForFunction(() => /#join=/.test(document.querySelector("#invite-link")?.value ?? ""), null, T);
  return page.getByLabel(/Invitation link/).inputValue();
}

before(async () => {
  fixture = await fixtureServer();
  showUrl = `${fixture.base}/show.xml`;
  bigUrl = `${fixture.base}/big.xml`;
  process.env.SKYPOD_PROXY_ALLOW_FOR_TESTS = "127.0.0.0/8";
  process.env.SKYPOD_DIRECTORY = "itunes";
  process.env.SKYPOD_DIRECTORY_URL = `${fixture.base}/dir/search`;
  realm = await skypodServer();
  ({ web, appUrl } = await webApp(realm));
  browser = await launch();
  A = await device(browser);
  B = await device(browser);
  watch(A.page);
  watch(B.page);
});

after(async () => {
  await browser?.close();
  await web?.close();
  await realm?.stop();
  await fixture?.close();
  if (Object.keys(metrics).length) {
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

describe("skypod web: the library as an app", () => {
  it("directory search against the fixture directory; a broken directory is explained", async () => {
    await A.page.goto(appUrl);
    await A.page.getByRole("button", { name: "Start a new realm" }).click();
    await A.page.waitForSelector("[data-socket=online]", T);
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

  it("artwork comes through /proxy/image only, lazily, with a placeholder", async () => {
    await openPodcast(A.page, showUrl);
    const cover = A.page.locator(".pod-head .art");
    assert.equal(await cover.getAttribute("data-art"), "1");
    // A proxy endpoint answers 401 without a token; a server without /proxy/image falls through to the app.
    const image = (await fetch(`${realm.base}/proxy/image?url=x&size=96`)).status;
    if (image !== 401) {
      // This server has no image endpoint yet: the placeholder stays, nothing else is asked.
      await cover.locator(".art-ph").waitFor(T);
    } else {
      await A.page.waitForSelector(".pod-head .art[data-loaded='1'] img[src^='blob:']", T);
      await goView(A.page, "podcasts");
      await A.page.waitForSelector(`li.tile[data-feed="${showUrl}"] .art[data-loaded='1']`, T);
    }
    const origin = fixture.base;
    const direct = requests.filter((u) => u.startsWith(origin));
    assert.deepEqual(direct, [], "the page never asks the podcast or artwork host itself");
    assert.ok(requests.some((u) => u.includes("/proxy/image?") && u.includes(encodeURIComponent(`${origin}/art.png`))), "the cover was asked of the proxy");
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
    await A.page.waitForSelector("main.view[data-view=episodes] .episodes-box [data-count='3']", T);
  });

  it("a new episode shows up in New on both devices and is gone on the second once seen on the first", async () => {
    const link = await invite(A.page);
    await B.page.goto(appUrl);
    await B.page.getByRole("button", { name: "Sync to an existing install" }).click();
    await B.page.getByLabel("Invitation link").fill(link);
    await B.page.getByRole("button", { name: "Join" }).click();
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
    await goView(A.page, "podcasts");
    await A.page.getByRole("link", { name: "Add podcast" }).click();
    await A.page.getByLabel("Feed address").fill(bigUrl);
    await A.page.getByRole("button", { name: "Subscribe", exact: true }).click();
    await A.page.getByText("Subscribed to Big Archive.").waitFor({ timeout: 60_000 });
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
    const frames = await A.page.evaluate(async () => {
      const times = [];
      let last = performance.now();
      let on = true;
      const loop = (t) => {
        times.push(t - last);
        last = t;
        if (on) requestAnimationFrame(loop);
      };
      requestAnimationFrame(loop);
      for (let i = 0; i < 120; i++) {
        scrollBy(0, 400);
        await new Promise((r) => requestAnimationFrame(r));
      }
      on = false;
      return times.slice(1);
    });
    frames.sort((a, b) => a - b);
    const p = (q) => Math.round(frames[Math.min(frames.length - 1, Math.floor(q * frames.length))] * 10) / 10;
    metrics.bigFeedScrollFrameMs = { p50: p(0.5), p95: p(0.95), max: p(1), frames: frames.length };
    // The end of the list is reachable and rendered.
    await A.page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
    await A.page.waitForSelector(".vlist .episode:has-text('Big episode 1')", T);
    assert.ok((await A.page.locator(".vlist .vrow").count()) < 60);
    await A.page.getByLabel("Search episodes").fill("2999");
    await A.page.waitForSelector(".episodes-box [data-count='1']", T);
  });

  it("axe-core on every view, light and dark: no serious or critical violation; keyboard-only navigation", async () => {
    const pages = [...VIEWS, "podcast", "add", "episodes"];
    for (const scheme of ["light", "dark"]) {
      await A.page.emulateMedia({ colorScheme: scheme });
      for (const v of pages) {
        if (v === "podcast") await openPodcast(A.page, showUrl);
        else if (v === "add" || v === "episodes") {
          await goView(A.page, "podcasts");
          await A.page.getByRole("link", { name: v === "add" ? "Add podcast" : "All episodes" }).click();
          await A.page.waitForSelector(`main.view[data-view=${v}]`, T);
        } else await goView(A.page, v);
        if (v === "devices") await A.page.locator("details.diagnostics summary").click();
        const bad = await axe(A.page);
        assert.deepEqual(bad, [], `${scheme} ${v}: ${JSON.stringify(bad, null, 1)}`);
        const { sw, iw } = await A.page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: innerWidth }));
        assert.ok(sw <= iw, `${v} is ${sw}px wide in a ${iw}px phone viewport`);
      }
    }
    await A.page.emulateMedia({ colorScheme: "light" });
    // Keyboard only: from the top of the page, Tab reaches the navigation; Enter opens a
    // view and puts focus on its heading; Tab goes on into the view.
    for (const v of VIEWS) {
      const from = v === "podcasts" ? "settings" : "podcasts";
      await A.page.goto(`${appUrl}#/${from}`);
      await A.page.waitForSelector(`main.view[data-view=${from}]`, T);
      let found = false;
      for (let i = 0; i < 30 && !found; i++) {
        await A.page.keyboard.press("Tab");
        found = await A.page.evaluate((view) => document.activeElement?.getAttribute("data-nav") === view, v);
      }
      assert.ok(found, `Tab reaches the ${v} navigation link`);
      await A.page.keyboard.press("Enter");
      await A.page.waitForSelector(`main.view[data-view=${v}]`, T);
      await A.page.waitForFunction(() => document.activeElement?.id === "view-h", null, T);
      await A.page.keyboard.press("Tab");
      const inMain = await A.page.evaluate(() => !!document.activeElement?.closest("main"));
      assert.ok(inMain, `Tab after the ${v} heading stays in the view`);
    }
  });

  it("screenshots: phone and laptop, light and dark", async () => {
    const laptop = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    const L = await laptop.newPage();
    watch(L);
    // The laptop is a third device of the realm (a browser context is a device).
    const link = await invite(A.page);
    await L.goto(appUrl);
    await L.getByRole("button", { name: "Sync to an existing install" }).click();
    await L.getByLabel("Invitation link").fill(link);
    await L.getByRole("button", { name: "Join" }).click();
    await goView(L, "podcasts");
    await L.waitForSelector(`li.tile[data-feed="${showUrl}"]`, T);
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
    await laptop.close();
  });
});
