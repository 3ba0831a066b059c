/**
 * Calls to the feed proxy that `skypod serve` mounts at `/proxy/*` for realm members
 * (crates/feeds/README.md lists the endpoints). Each call carries a short-lived token signed by
 * this device's identity for purpose `skypod:proxy`; failures become a `ProxyError` with the
 * proxy's own `{status, message}` and a sentence a person can act on.
 */
import type { RealmId } from "../protocol/generated";
import { serverBase } from "../config";
import { sign, unixNow, type Signer } from "./jwt";

export type ProxyEndpoint = "feed" | "reader" | "title" | "silence" | "raw";

/** Token lifetime (s): the server accepts at most 300; short keeps a leaked one useless. */
const TOKEN_TTL = 120;

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

/** A sentence for the person using the app, from the proxy's status and reason. */
export function proxyErrorText(status: number, detail: string): string {
  const why = detail ? ` (${detail})` : "";
  switch (status) {
    case 0:
      return `The Skypod server cannot be reached${why}.`;
    case 400:
      return `That address cannot be used${why}.`;
    case 401:
      return `The Skypod server did not accept this device's credentials${why}.`;
    case 403:
      return `That address points into a private network, which Skypod does not fetch${why}.`;
    case 404:
      return "This Skypod server has no feed proxy.";
    case 413:
      return `That file is too large to fetch${why}.`;
    case 422:
      return `That address did not return something Skypod can read${why}.`;
    case 429:
      return "Too many requests: wait a moment and try again.";
    case 502:
      return `The site could not be reached or returned an error${why}.`;
    case 504:
      return `The site took too long to answer${why}.`;
    default:
      return `The feed proxy failed with status ${status}${why}.`;
  }
}

/** Read the proxy's `{status, message}` error body; anything else is kept as plain text. */
export function parseProxyError(status: number, body: string): ProxyError {
  let detail = body.trim().slice(0, 300);
  try {
    const j = JSON.parse(body) as { status?: unknown; message?: unknown };
    if (j && typeof j.message === "string") detail = j.message;
  } catch {
    /* not JSON: keep the text */
  }
  return new ProxyError(status, detail, proxyErrorText(status, detail));
}

export interface ProxyOptions {
  /** Server base URL; defaults to the app's server (`config.ts`). */
  base?: string;
  /** Extra query parameters (e.g. `threshold_db` for `silence`). */
  params?: Record<string, string>;
  signal?: AbortSignal;
}

/** The proxy URL for `endpoint` and upstream `url` (no token: that goes in a header). */
export function proxyUrl(base: string, endpoint: ProxyEndpoint, url: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams({ url, ...params });
  return `${base.replace(/\/+$/, "")}/proxy/${endpoint}?${q}`;
}

/** GET `/proxy/<endpoint>?url=…` as this member; resolves to the JSON body. */
export async function proxyJson<T = unknown>(
  identity: Signer,
  realm: RealmId,
  endpoint: Exclude<ProxyEndpoint, "raw">,
  url: string,
  opts: ProxyOptions = {},
): Promise<T> {
  const token = await sign(identity, "proxy", realm, unixNow(), TOKEN_TTL, {});
  let res: Response;
  try {
    res = await fetch(proxyUrl(opts.base ?? serverBase(), endpoint, url, opts.params), {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
      signal: opts.signal,
    });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new ProxyError(0, String(e), proxyErrorText(0, ""));
  }
  const text = await res.text();
  if (!res.ok) throw parseProxyError(res.status, text);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ProxyError(res.status, "the answer is not JSON", "The Skypod server sent an unreadable answer.");
  }
}

/** `/proxy/silence` body (the fields the app uses). */
export interface SilenceMap {
  duration: number;
  silences: Array<[number, number]>;
}
