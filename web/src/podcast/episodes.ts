/**
 * Episodes as the views list them: keyed like the library, with filters (unplayed, in
 * progress, downloaded, played), date order either way, and a client-side search index over
 * titles and show notes. Pure functions, unit-tested (test/episodes.test.ts).
 */
import { episodeKey, inProgressAnywhere, isNewEpisode, playedAnywhere, type Doc } from "../library/doc";
import { episodeGuid, type Episode, type FeedJson } from "./feed";

/** One episode of a subscribed feed. */
export interface EpisodeView {
  key: string;
  feedUrl: string;
  feedTitle: string;
  ep: Episode;
  /** Publish time (ms since the epoch), or null when the feed gives none or a bad one. */
  published: number | null;
}

export function publishedMs(ep: Episode): number | null {
  if (!ep.published) return null;
  const t = Date.parse(ep.published);
  return Number.isFinite(t) ? t : null;
}

/** The episodes of one cached feed; episodes without a usable guid are left out. */
export function viewsOf(feedUrl: string, feedTitle: string, f: FeedJson): EpisodeView[] {
  const out: EpisodeView[] = [];
  for (const ep of f.episodes) {
    const guid = episodeGuid(ep);
    if (!guid) continue;
    try {
      out.push({ key: episodeKey(feedUrl, guid), feedUrl, feedTitle, ep, published: publishedMs(ep) });
    } catch {
      /* an unusable guid: skip the episode */
    }
  }
  return out;
}

export type Filter = "all" | "unplayed" | "in-progress" | "downloaded" | "played";
export const FILTERS: ReadonlyArray<[Filter, string]> = [
  ["all", "All"],
  ["unplayed", "Unplayed"],
  ["in-progress", "In progress"],
  ["downloaded", "Downloaded"],
  ["played", "Played"],
];
export type Order = "newest" | "oldest";

export interface Query {
  filter: Filter;
  order: Order;
  /** Search text: every word must start a word of the title or the notes. */
  text: string;
}

/** Whether an episode passes a filter; `downloaded` says what this device holds offline. */
export function passes(doc: Doc, v: EpisodeView, f: Filter, downloaded: (key: string) => boolean): boolean {
  switch (f) {
    case "all":
      return true;
    case "played":
      return playedAnywhere(doc, v.key);
    case "unplayed":
      return !playedAnywhere(doc, v.key);
    case "in-progress":
      return inProgressAnywhere(doc, v.key);
    case "downloaded":
      return downloaded(v.key);
  }
}

/** Newest first (or oldest); episodes without a date keep the feed's order, after dated ones. */
export function sortByDate(list: EpisodeView[], order: Order): EpisodeView[] {
  const idx = new Map(list.map((v, i) => [v, i]));
  const dir = order === "newest" ? -1 : 1;
  return [...list].sort((a, b) => {
    if (a.published === null || b.published === null) {
      if (a.published !== b.published) return a.published === null ? 1 : -1;
      return (idx.get(a) ?? 0) - (idx.get(b) ?? 0);
    }
    return dir * (a.published - b.published) || (idx.get(a) ?? 0) - (idx.get(b) ?? 0);
  });
}

/** Apply a query: search, filter, order. */
export function applyQuery(
  doc: Doc,
  list: EpisodeView[],
  q: Query,
  index: SearchIndex | null,
  downloaded: (key: string) => boolean,
): EpisodeView[] {
  let out = list;
  if (q.text.trim() && index) {
    const hits = index.search(q.text);
    out = out.filter((v) => hits.has(v.key));
  }
  if (q.filter !== "all") out = out.filter((v) => passes(doc, v, q.filter, downloaded));
  return sortByDate(out, q.order);
}

/** Episodes new to the listener (see `isNewEpisode`), newest first. */
export function newEpisodes(doc: Doc, list: EpisodeView[]): EpisodeView[] {
  return sortByDate(
    list.filter((v) => isNewEpisode(doc, v.feedUrl, v.published, v.key)),
    "newest",
  );
}

// ----- search -----

/** Text without markup, entities, accents or case: what the index is built from. */
export function plainWords(s: string): string[] {
  const noTags = s.replace(/<[^>]*>/g, " ").replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, " ");
  return noTags
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0);
}

/**
 * An inverted index: every distinct word (sorted, for prefix look-ups by binary search) →
 * the episodes it appears in. Built once per feed copy; a query of a few words over a
 * 3,000-episode feed touches only the words that start with them.
 */
export class SearchIndex {
  private words: string[] = [];
  private postings: Array<Set<string>> = [];

  constructor(list: EpisodeView[]) {
    const m = new Map<string, Set<string>>();
    for (const v of list) {
      const text = `${v.ep.title ?? ""} ${v.ep.description ?? ""}`;
      for (const w of new Set(plainWords(text))) {
        let s = m.get(w);
        if (!s) m.set(w, (s = new Set()));
        s.add(v.key);
      }
    }
    this.words = [...m.keys()].sort();
    this.postings = this.words.map((w) => m.get(w) as Set<string>);
  }

  get size(): number {
    return this.words.length;
  }

  /** Keys of the episodes where every query word starts some word. */
  search(text: string): Set<string> {
    const terms = [...new Set(plainWords(text))];
    let result: Set<string> | null = null;
    for (const t of terms) {
      const hits = new Set<string>();
      for (let i = this.lowerBound(t); i < this.words.length && (this.words[i] as string).startsWith(t); i++) {
        for (const k of this.postings[i] as Set<string>) if (!result || result.has(k)) hits.add(k);
      }
      result = hits;
      if (result.size === 0) break;
    }
    return result ?? new Set();
  }

  private lowerBound(t: string): number {
    let lo = 0;
    let hi = this.words.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.words[mid] as string) < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
