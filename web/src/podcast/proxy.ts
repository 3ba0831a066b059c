/**
 * The server's feed proxy (crates/feeds, mounted by crates/server/src/proxy.rs): feeds as
 * JSON and raw files (OPML), fetched server-side so CORS never matters. Every request carries
 * a short-lived bearer token signed by this device's identity (purpose `skypod:proxy`).
 */
import { sign, unixNow, type Signer } from "../lib/jwt";
import { kv } from "../lib/idb";

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

/** A failed proxy request, with a message meant for people. */
export class ProxyError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** What each proxy status means for the person who typed the address (crates/feeds/README.md). */
export function proxyErrorText(status: number, detail: string, what: "feed" | "file"): string {
  const d = detail ? ` (${detail})` : "";
  switch (status) {
    case 400:
      return `That address cannot be fetched${d}.`;
    case 401:
      return "The server did not accept this device's credentials. Is this device still a member of the realm?";
    case 403:
      return `The server refuses to fetch that address: it points to a private or local network${d}.`;
    case 413:
      return `That ${what} is too large.`;
    case 422:
      return what === "feed" ? `That address does not serve a podcast feed${d}.` : `That file cannot be read${d}.`;
    case 429:
      return "Too many requests: wait a minute and try again.";
    case 502:
      return `The host could not be reached or answered with an error${d}.`;
    case 504:
      return `The host took too long to answer${d}.`;
    default:
      return `The feed proxy failed with status ${status}${d}.`;
  }
}

export interface ProxyContext {
  me: Signer;
  realm: string;
  server: string;
}

async function proxyGet(ctx: ProxyContext, kind: "feed" | "raw" | "silence", url: string): Promise<Response> {
  const token = await sign(ctx.me, "proxy", ctx.realm, unixNow(), 120, {});
  let r: Response;
  try {
    r = await fetch(`${ctx.server}/proxy/${kind}?url=${encodeURIComponent(url)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
  } catch {
    throw new ProxyError("The Skypod server cannot be reached. Check your connection and try again.", 0);
  }
  if (!r.ok) {
    let detail = "";
    try {
      detail = String(((await r.json()) as { message?: unknown }).message ?? "");
    } catch {
      /* not JSON */
    }
    throw new ProxyError(proxyErrorText(r.status, detail, kind === "feed" ? "feed" : "file"), r.status);
  }
  return r;
}

const cacheKey = (url: string) => `feed:${url}`;

/** Fetch a feed through the proxy and keep a copy for offline use. */
export async function fetchFeed(ctx: ProxyContext, url: string): Promise<FeedJson> {
  const r = await proxyGet(ctx, "feed", url);
  const f = (await r.json()) as FeedJson;
  if (!f || typeof f !== "object" || !Array.isArray(f.episodes)) throw new ProxyError("The proxy's answer was not a feed.", 0);
  await kv.set(cacheKey(url), f);
  return f;
}

/** The copy from the last successful fetch, if any. */
export const cachedFeed = (url: string) => kv.get<FeedJson>(cacheKey(url));

/** A raw file (OPML) through the proxy, as text. */
export async function fetchRaw(ctx: ProxyContext, url: string): Promise<string> {
  return (await proxyGet(ctx, "raw", url)).text();
}

/** The episode's guid as the library keys it: its guid, else its enclosure URL. */
export function episodeGuid(e: Episode): string | null {
  return e.guid || e.enclosure?.url || null;
}

/** Silent spans of an episode's audio (`/proxy/silence`), for "skip silences". */
export async function fetchSilences(ctx: ProxyContext, audioUrl: string): Promise<Array<[number, number]>> {
  const r = await proxyGet(ctx, "silence", audioUrl);
  const j = (await r.json()) as { silences?: unknown };
  return Array.isArray(j.silences) ? (j.silences as Array<[number, number]>).filter((s) => Array.isArray(s) && s.length === 2) : [];
}
