/**
 * Every subscribed feed as the app last fetched it, and keeping them fresh: all feeds are
 * refreshed when the app opens and every 30 minutes while it is open (through the proxy, which
 * revalidates with ETag/Last-Modified, so an unchanged feed costs the host a 304), and on
 * demand. A feed that fails keeps its last episodes and carries the proxy's sentence.
 */
import { useEffect, useState } from "preact/hooks";
import { kv } from "../lib/idb";
import { useObserved } from "../lib/observable";
import { ProxyError, type ProxyContext } from "../lib/proxy";
import { cachedFeed, fetchFeed, type FeedJson } from "./feed";

export const REFRESH_EVERY_MS = 30 * 60_000;
/** Feeds fetched at once during "refresh all" (300 subscriptions must not open 300 requests). */
const PARALLEL = 4;
const RATE_RETRIES = 6;
const RATE_WAIT_MS = 2_000;

export interface FeedState {
  feed?: FeedJson;
  /** When the last successful fetch ended (ms), from this session or an earlier one. */
  fetchedAt?: number;
  /** Why the last refresh failed (a sentence for the listener), if it did. */
  error?: string;
  busy: boolean;
}

export interface FeedsSnapshot {
  states: Readonly<Record<string, FeedState>>;
  /** When the last refresh of everything ended. */
  refreshedAt: number | null;
  refreshing: boolean;
}

const metaKey = (url: string) => `feedmeta:${url}`;

export class FeedStore {
  private snap: FeedsSnapshot = { states: {}, refreshedAt: null, refreshing: false };
  private listeners = new Set<(s: FeedsSnapshot) => void>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private loaded = new Set<string>();
  /** Called after a refresh brought a feed copy (new or unchanged). */
  onFeed: (url: string, feed: FeedJson) => void = () => {};

  constructor(private ctx: ProxyContext) {}

  get snapshot(): FeedsSnapshot {
    return this.snap;
  }

  subscribe(f: (s: FeedsSnapshot) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private set(next: Partial<FeedsSnapshot>): void {
    this.snap = { ...this.snap, ...next };
    for (const l of this.listeners) l(this.snap);
  }

  private patch(url: string, p: Partial<FeedState>): void {
    const old = this.snap.states[url] ?? { busy: false };
    this.set({ states: { ...this.snap.states, [url]: { ...old, ...p } } });
  }

  /** Read the stored copies of feeds not loaded yet (offline start, instant first paint). */
  async load(urls: string[]): Promise<void> {
    const todo = urls.filter((u) => !this.loaded.has(u));
    for (const u of todo) this.loaded.add(u);
    const got = await Promise.all(
      todo.map(async (u) => {
        const [feed, meta] = await Promise.all([cachedFeed(u).catch(() => undefined), kv.get<{ fetchedAt: number }>(metaKey(u)).catch(() => undefined)]);
        return [u, feed, meta?.fetchedAt] as const;
      }),
    );
    const states = { ...this.snap.states };
    for (const [u, feed, fetchedAt] of got) {
      const old = states[u];
      // A fetch that finished meanwhile is newer than the stored copy.
      if (feed && !old?.feed) states[u] = { ...(old ?? { busy: false }), feed, fetchedAt };
    }
    this.set({ states });
  }

  /** A feed just fetched elsewhere (e.g. by the subscribe form). */
  put(url: string, feed: FeedJson): void {
    const fetchedAt = Date.now();
    this.loaded.add(url);
    this.patch(url, { feed, fetchedAt, error: undefined });
    void kv.set(metaKey(url), { fetchedAt }).catch(() => undefined);
  }

  /** Fetch one feed now; on failure the last copy stays and the error is kept. */
  async refresh(url: string): Promise<FeedJson | null> {
    this.patch(url, { busy: true });
    try {
      const feed = await this.fetchPatiently(url);
      const fetchedAt = Date.now();
      this.patch(url, { feed, fetchedAt, error: undefined, busy: false });
      void kv.set(metaKey(url), { fetchedAt }).catch(() => undefined);
      this.onFeed(url, feed);
      return feed;
    } catch (e) {
      const error = e instanceof ProxyError || e instanceof Error ? e.message : String(e);
      this.patch(url, { error, busy: false });
      return null;
    }
  }

  /**
   * The proxy limits each member's request rate (2/s sustained, bursts of 60 by default): a
   * library of 300 feeds meets it on every refresh. A 429 is waited out and retried (a few
   * times), so a refresh of everything is slower but complete.
   */
  private async fetchPatiently(url: string): Promise<FeedJson> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fetchFeed(this.ctx, url);
      } catch (e) {
        if (!(e instanceof ProxyError && e.status === 429) || attempt >= RATE_RETRIES) throw e;
        await new Promise((r) => setTimeout(r, RATE_WAIT_MS * (attempt + 1)));
      }
    }
  }

  /** Refresh every feed, a few at a time. */
  async refreshAll(urls: string[]): Promise<void> {
    if (this.snap.refreshing) return;
    this.set({ refreshing: true });
    const queue = [...urls];
    const worker = async () => {
      for (let u = queue.shift(); u !== undefined; u = queue.shift()) await this.refresh(u);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
    this.set({ refreshing: false, refreshedAt: Date.now() });
  }

  /** Refresh everything now and every 30 minutes until `stop()`. */
  start(urls: () => string[]): void {
    this.stop();
    void this.load(urls()).then(() => this.refreshAll(urls()));
    this.timer = setInterval(() => void this.refreshAll(urls()), REFRESH_EVERY_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

export function useFeeds(store: FeedStore): FeedsSnapshot {
  return useObserved(store, () => store.snapshot);
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ago(t: number, now = Date.now()): string {
  const min = Math.floor((now - t) / 60_000);
  if (min < 1) return "just now";
  if (min < 60) return `${min} min ago`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} days ago`;
}

/** Re-render every minute (for "updated n min ago"). */
export function useMinuteTick(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 60_000);
    return () => clearInterval(t);
  }, []);
  return now;
}
