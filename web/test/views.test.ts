// The app views' pure parts: routes, "seen" marks and new episodes (same rule as
// crates/library), filters, date order, the search index, OPML export.
import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as A from "@automerge/automerge/slim";
import {
  genesisBytes, isNewEpisode, markPlayed, markSeen, notifyOn, seenWatermark, setNotify, setPosition, subscribe, type Doc,
  type LibraryDoc,
} from "../src/library/doc";
import { applyQuery, newEpisodes, plainWords, SearchIndex, sortByDate, viewsOf, type EpisodeView } from "../src/podcast/episodes";
import type { Episode, FeedJson } from "../src/podcast/feed";
import { exportOpml } from "../src/podcast/opmlExport";
import { href, parseRoute } from "../src/app/router";
import { toAnnounce } from "../src/podcast/notify";

beforeAll(async () => {
  await A.initializeWasm(readFileSync(new URL("../node_modules/@automerge/automerge/dist/automerge.wasm", import.meta.url)));
});

const F = "https://example.com/feed.xml";
const day = (n: number) => Date.UTC(2026, 10, n, 10);
const ep = (n: number, title: string, notes = "", published: number | null = day(n)): Episode => ({
  guid: `g${n}`, title, link: null, description: notes, published: published === null ? null : new Date(published).toUTCString(),
  enclosure: { url: `https://example.com/${n}.mp3`, mime_type: "audio/mpeg", length: null }, duration_seconds: 60, image: null,
  alternate_enclosures: [], season: null, episode: null, episode_type: null, explicit: null, transcripts: [],
  chapters_url: null, chapters_type: null, persons: [], warnings: [],
});
const feed = (eps: Episode[]): FeedJson => ({ channel: {
    feed_type: "rss2", title: "T", description: null, link: null, image: null, author: null, categories: [], language: null,
    explicit: null, funding: [], podcast_guid: null, locked: null, locked_owner: null, new_feed_url: null, itunes_type: null,
  }, episodes: eps, final_url: F, content_hash: "", cache: "hit", stale: false });

function fresh(addedAt: number): Doc {
  const d = A.load<LibraryDoc>(genesisBytes());
  return A.change(subscribe(d, [{ url: F, title: "T" }])[0], (x) => {
    (x.subscriptions[F] as { added: number }).added = addedAt;
  });
}

describe("routes", () => {
  it("round-trip through the fragment, feed URLs included", () => {
    for (const r of [
      { view: "podcasts" }, { view: "new" }, { view: "queue" }, { view: "downloads" }, { view: "devices" }, { view: "settings" },
      { view: "episodes" }, { view: "add" }, { view: "add", q: "rust & friends" }, { view: "podcast", feed: "https://e.com/f.xml?a=1&b=2#x" },
    ] as const) {
      expect(parseRoute(href(r))).toEqual(r);
    }
  });
  it("send anything unknown or broken to the grid", () => {
    expect(parseRoute("")).toEqual({ view: "podcasts" });
    expect(parseRoute("#/nope")).toEqual({ view: "podcasts" });
    expect(parseRoute("#/podcast/%E0%A4%A")).toEqual({ view: "podcasts" });
    expect(parseRoute("#/podcast/")).toEqual({ view: "podcasts" });
  });
});

describe("seen marks and new episodes", () => {
  it("are new after the subscription time until a device marks them seen, on every device", () => {
    let phone = fresh(day(3));
    let laptop = A.merge(A.init<LibraryDoc>(), phone);
    const list = viewsOf(F, "T", feed([ep(2, "Old"), ep(4, "Four"), ep(5, "Five")]));
    expect(newEpisodes(phone, list).map((v) => v.ep.title)).toEqual(["Five", "Four"]);
    // The phone shows episode 4 and marks the feed seen up to it.
    phone = markSeen(phone, "phone", { [F]: day(4) });
    expect(seenWatermark(phone, F)).toBe(day(4));
    laptop = A.merge(laptop, phone);
    expect(newEpisodes(laptop, list).map((v) => v.ep.title)).toEqual(["Five"]);
    // A mark never goes down, and marking below the watermark writes nothing.
    const same = markSeen(laptop, "laptop", { [F]: day(3) });
    expect(same).toBe(laptop);
    // Concurrent marks on two devices: the larger wins everywhere.
    phone = markSeen(phone, "phone", { [F]: day(5) - 1 });
    laptop = markSeen(laptop, "laptop", { [F]: day(5) });
    const a = A.merge(A.clone(phone), laptop);
    const b = A.merge(A.clone(laptop), phone);
    expect(seenWatermark(a, F)).toBe(day(5));
    expect(seenWatermark(b, F)).toBe(day(5));
    expect(newEpisodes(a, list)).toEqual([]);
  });

  it("an episode played anywhere is not new; one without a date never is", () => {
    let d = fresh(day(1));
    const list = viewsOf(F, "T", feed([ep(4, "Four"), ep(9, "Undated", "", null)]));
    const four = list[0] as EpisodeView;
    expect(isNewEpisode(d, F, four.published, four.key)).toBe(true);
    d = markPlayed(d, "laptop", four.key, true);
    expect(isNewEpisode(d, F, four.published, four.key)).toBe(false);
    expect(newEpisodes(d, list)).toEqual([]);
  });

  it("refuses bad marks and ignores non-numbers written by a buggy peer", () => {
    let d = fresh(day(1));
    expect(markSeen(d, "x", { [F]: Number.NaN })).toBe(d);
    expect(markSeen(d, "x", { [F]: -5 })).toBe(d);
    d = A.change(d, (x) => {
      x.devices.y = { seen: { [F]: "soon" } } as never;
    });
    expect(seenWatermark(d, F)).toBe(day(1));
  });

  it("per-podcast notification switch, and what gets announced once", () => {
    let d = fresh(day(3));
    const f = feed([ep(2, "Old"), ep(4, "Four")]);
    expect(toAnnounce(d, F, f, new Set())).toEqual([]);
    d = setNotify(d, F, true);
    expect(notifyOn(d, F)).toBe(true);
    const t = toAnnounce(d, F, f, new Set());
    expect(t.map((x) => x.title)).toEqual(["Four"]);
    expect(toAnnounce(d, F, f, new Set(t.map((x) => x.key)))).toEqual([]);
  });
});

describe("filters, order and search", () => {
  const list = viewsOf(F, "T", feed([
    ep(1, "Rust in production", "<p>Borrow <b>checker</b> stories &amp; more</p>"),
    ep(3, "Café talk", "Espresso and <i>crêpes</i>"),
    ep(2, "Undated special", "", null),
    ep(4, "Tokio deep dive", "async runtimes"),
  ]));
  const key = (n: number) => `${F} g${n}`;

  it("filters by played, unplayed, in progress and downloaded", () => {
    let d = fresh(0);
    d = markPlayed(d, "a", key(1), true);
    d = setPosition(d, "b", key(3), 30);
    const q = (filter: "all" | "played" | "unplayed" | "in-progress" | "downloaded") =>
      applyQuery(d, list, { filter, order: "newest", text: "" }, null, (k) => k === key(4)).map((v) => v.ep.guid);
    expect(q("played")).toEqual(["g1"]);
    expect(q("unplayed")).toEqual(["g4", "g3", "g2"]);
    expect(q("in-progress")).toEqual(["g3"]);
    expect(q("downloaded")).toEqual(["g4"]);
    expect(q("all")).toHaveLength(4);
  });

  it("sorts by date either way, undated last in feed order", () => {
    expect(sortByDate(list, "newest").map((v) => v.ep.guid)).toEqual(["g4", "g3", "g1", "g2"]);
    expect(sortByDate(list, "oldest").map((v) => v.ep.guid)).toEqual(["g1", "g3", "g4", "g2"]);
  });

  it("searches titles and notes by word prefix, without markup, case or accents", () => {
    const idx = new SearchIndex(list);
    const s = (t: string) => [...idx.search(t)].sort();
    expect(s("rust")).toEqual([key(1)]);
    expect(s("CHECK")).toEqual([key(1)]);
    expect(s("cafe")).toEqual([key(3)]);
    expect(s("crepes espresso")).toEqual([key(3)]);
    expect(s("async tok")).toEqual([key(4)]);
    expect(s("amp")).toEqual([]);
    expect(s("rust tokio")).toEqual([]);
    expect(plainWords("<a href='x'>Hé</a>&nbsp;Ho")).toEqual(["he", "ho"]);
    const d = fresh(0);
    expect(applyQuery(d, list, { filter: "all", order: "oldest", text: "s" }, idx, () => false).map((v) => v.ep.guid)).toEqual(["g1", "g2"]);
  });

  it("indexes a 3,000-episode feed and answers in a few milliseconds", () => {
    const big = viewsOf(F, "T", feed(Array.from({ length: 3000 }, (_, i) => ep(i + 1, `Episode ${i} about topic${i % 50}`, `<p>Notes ${"word ".repeat(200)} n${i}</p>`))));
    const idx = new SearchIndex(big);
    expect(idx.search("topic7").size).toBe(60);
    expect(idx.search("n2999").size).toBe(1);
  });
});

describe("OPML export", () => {
  it("writes folders as nested outlines, escapes text, and parses back", () => {
    const text = exportOpml([
      { url: "https://a.example/f?x=1&y=2", title: 'A "quoted" <cast>', folder: ["News", "Daily"], tags: [], added: 0, htmlUrl: "https://a.example/" },
      { url: "https://b.example/f", title: "", folder: [], tags: [], added: 0 },
    ]);
    expect(text).toContain('xmlUrl="https://a.example/f?x=1&amp;y=2"');
    expect(text).toContain('text="A &quot;quoted&quot; &lt;cast&gt;"');
    expect(text).toMatch(/<outline text="News" title="News">\s*<outline text="Daily" title="Daily">\s*<outline type="rss"/);
    expect(text).toContain('text="https://b.example/f"');
  });
});
