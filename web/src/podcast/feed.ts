/**
 * Feeds as the proxy's `/proxy/feed` returns them (types generated from crates/model), fetched through the one
 * proxy client (`lib/proxy.ts`); the last copy of each feed is kept in IndexedDB for offline use.
 */
import { kv } from "../lib/idb";
import { proxyJson, ProxyError, type ProxyContext } from "../lib/proxy";
import type { Episode, FeedResponse } from "../model/generated";

export type { Episode };
export type FeedJson = FeedResponse;

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
