/**
 * Feeds as the proxy's `/proxy/feed` returns them (crates/feeds), fetched through the one
 * proxy client (`lib/proxy.ts`); the last copy of each feed is kept in IndexedDB for offline use.
 */
import { kv } from "../lib/idb";
import { proxyJson, ProxyError, type ProxyContext } from "../lib/proxy";

export interface Episode {
  guid: string | null;
  title: string | null;
  link: string | null;
  description: string | null;
  published: string | null;
  enclosure: { url: string; mime_type: string | null; length: number | null } | null;
  duration_seconds: number | null;
  image: string | null;
}

export interface FeedJson {
  channel: { title: string | null; description: string | null; link: string | null; image: string | null; author: string | null };
  episodes: Episode[];
  final_url: string;
  stale: boolean;
}

const cacheKey = (url: string) => `feed:${url}`;

/** Fetch a feed through the proxy and keep a copy for offline use. */
export async function fetchFeed(ctx: ProxyContext, url: string): Promise<FeedJson> {
  const f = await proxyJson<FeedJson>(ctx, "feed", url);
  if (!f || typeof f !== "object" || !Array.isArray(f.episodes)) throw new ProxyError(200, "no episode list", "The proxy's answer was not a feed.");
  await kv.set(cacheKey(url), f);
  return f;
}

/** The copy from the last successful fetch, if any. */
export const cachedFeed = (url: string) => kv.get<FeedJson>(cacheKey(url));

/** The episode's guid as the library keys it: its guid, else its enclosure URL. */
export function episodeGuid(e: Episode): string | null {
  return e.guid || e.enclosure?.url || null;
}
