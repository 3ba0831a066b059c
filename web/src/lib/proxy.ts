/**
 * The one client of the feed proxy that `skypod serve` mounts at `/proxy/*` for realm members
 * (crates/feeds/README.md lists the endpoints), used by the podcast screens and the player.
 * The server fetches for us, so CORS never matters. Each call carries a short-lived bearer
 * token signed by this device's identity for purpose `skypod:proxy`; failures become a
 * `ProxyError` with the proxy's own `{status, message}` and a sentence a person can act on.
 */
import { TOKEN_TTL, type RealmId } from "../protocol/generated";
import { serverBase } from "../config";
import { sign, unixNow, type Signer } from "./jwt";

export type ProxyEndpoint = "feed" | "reader" | "title" | "silence" | "raw" | "chapters" | "transcript" | "media";

/** Who asks, and where: this device, its realm, the realm's server (default: `config.ts`). */
export interface ProxyContext {
  me: Signer;
  realm: RealmId;
  server?: string;
}


export class ProxyError extends Error {
  constructor(
    /** HTTP status, or 0 when the server could not be reached. */
    readonly status: number,
    /** The proxy's own reason (or the network error). */
    readonly detail: string,
    message: string,
  ) {
    super(message);
    this.name = "ProxyError";
  }
}

/** What the person asked for, in words, per endpoint. */
const WHAT: Record<ProxyEndpoint, string> = {
  feed: "feed",
  raw: "file",
  silence: "audio file",
  reader: "page",
  title: "page",
  chapters: "chapter list",
  transcript: "transcript",
  media: "audio file",
};

/** A sentence for the person using the app, from the proxy's status and reason (crates/feeds/README.md). */
export function proxyErrorText(status: number, detail: string, endpoint: ProxyEndpoint = "raw"): string {
  const why = detail ? ` (${detail})` : "";
  switch (status) {
    case 0:
      return "The Skypod server cannot be reached. Check your connection and try again.";
    case 400:
      return `That address cannot be fetched${why}.`;
    case 401:
      return "The Skypod server did not accept this device's credentials. Is this device still a member of the realm?";
    case 403:
      return `The server refuses to fetch that address: it points into a private or local network${why}.`;
    case 404:
      return "This Skypod server has no feed proxy.";
    case 413:
      return `That ${WHAT[endpoint]} is too large to fetch.`;
    case 422:
      if (endpoint === "feed") return `That address does not serve a podcast feed${why}.`;
      if (endpoint === "silence") return `That episode's audio cannot be analysed${why}.`;
      return `That ${WHAT[endpoint]} cannot be read${why}.`;
    case 429:
      return "Too many requests: wait a minute and try again.";
    case 502:
      return `The host could not be reached or answered with an error${why}.`;
    case 504:
      return `The host took too long to answer${why}.`;
    default:
      return `The feed proxy failed with status ${status}${why}.`;
  }
}

/** Read the proxy's `{status, message}` error body; anything else is kept as plain text. */
export function parseProxyError(status: number, body: string, endpoint: ProxyEndpoint = "raw"): ProxyError {
  let detail = body.trim().slice(0, 300);
  try {
    const j = JSON.parse(body) as { status?: unknown; message?: unknown };
    if (j && typeof j.message === "string") detail = j.message;
  } catch {
    /* not JSON: keep the text */
  }
  return new ProxyError(status, detail, proxyErrorText(status, detail, endpoint));
}

export interface ProxyOptions {
  /** Extra query parameters (e.g. `threshold_db` for `silence`). */
  params?: Record<string, string>;
  signal?: AbortSignal;
}

/** The proxy URL for `endpoint` and upstream `url` (no token: that goes in a header). */
export function proxyUrl(base: string, endpoint: ProxyEndpoint, url: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams({ url, ...params });
  return `${base.replace(/\/+$/, "")}/proxy/${endpoint}?${q}`;
}

/** GET `/proxy/<endpoint>?url=…` as this member; resolves to the body as text. */
export async function proxyText(ctx: ProxyContext, endpoint: ProxyEndpoint, url: string, opts: ProxyOptions = {}): Promise<string> {
  const token = await sign(ctx.me, "proxy", ctx.realm, unixNow(), TOKEN_TTL.proxy, {});
  let res: Response;
  try {
    res = await fetch(proxyUrl(ctx.server ?? serverBase(), endpoint, url, opts.params), {
      headers: { authorization: `Bearer ${token}` },
      signal: opts.signal,
    });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new ProxyError(0, String(e), proxyErrorText(0, "", endpoint));
  }
  const text = await res.text();
  if (!res.ok) throw parseProxyError(res.status, text, endpoint);
  return text;
}

/** Like `proxyText`, for the JSON endpoints; resolves to the parsed body. */
export async function proxyJson<T = unknown>(
  ctx: ProxyContext,
  endpoint: Exclude<ProxyEndpoint, "raw">,
  url: string,
  opts: ProxyOptions = {},
): Promise<T> {
  const text = await proxyText(ctx, endpoint, url, opts);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ProxyError(200, "the answer is not JSON", "The Skypod server sent an unreadable answer.");
  }
}

/** `/proxy/silence` body (the fields the app uses). */
export interface SilenceMap {
  duration: number;
  silences: Array<[number, number]>;
  /** Measured loudness, from servers that measure it. */
  loudness?: { integrated_lufs: number; true_peak_dbtp: number } | null;
}

/** A bearer token for one proxy request made by hand (streams, Range requests). */
export const proxyToken = (ctx: ProxyContext) => sign(ctx.me, "proxy", ctx.realm, unixNow(), TOKEN_TTL.proxy, {});

/** Signed stream URLs, reused while they have at least half their life left. */
const streamUrls = new Map<string, { url: string; until: number }>();

/**
 * A URL the `<audio>` element can stream an enclosure from through `/proxy/media`: media
 * elements cannot send an `Authorization` header, so the URL carries a token of its own
 * (purpose `skypod:proxy.media`, bound to this one enclosure URL, valid for hours so that
 * the element's later Range requests — seeks, rebuffering — still pass). The enclosure host
 * never sees the device.
 */
export async function mediaStreamUrl(ctx: ProxyContext, enclosure: string): Promise<string> {
  const now = unixNow();
  const key = `${ctx.server ?? ""}|${ctx.realm}|${ctx.me.identid}|${enclosure}`;
  const hit = streamUrls.get(key);
  if (hit && hit.until > now) return hit.url;
  const token = await sign(ctx.me, "media", ctx.realm, now, TOKEN_TTL.media, { url: enclosure });
  const url = proxyUrl(ctx.server ?? serverBase(), "media", enclosure, { token });
  if (streamUrls.size > 256) streamUrls.clear();
  streamUrls.set(key, { url, until: now + Math.floor(TOKEN_TTL.media / 2) });
  return url;
}
