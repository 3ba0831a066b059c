/**
 * Channel and episode images, always through the server's `/proxy/image?url=&size=` (the
 * page never asks an artwork host itself: no tracking, no mixed content, one size per view).
 * The proxy wants the member's bearer token, which an `<img src>` cannot send, so the bytes
 * are fetched and shown as a blob URL; each (url, size) is fetched once per session, at most a
 * few at a time, and the oldest blob URLs are released past a bound.
 */
import { ProxyError, type ProxyContext } from "../lib/proxy";
import { proxyGet } from "./proxyGet";

export type ArtSize = 96 | 256 | 512;

const MAX_KEPT = 600;
const PARALLEL = 6;
const kept = new Map<string, Promise<string>>();
/** Blob URLs already made, for callers that cannot wait (the player's artwork). */
const ready = new Map<string, string>();

/** A blob URL of this image that is already loaded (largest size first), or undefined. */
export function loadedArtwork(url: string | null | undefined): string | undefined {
  if (!url) return undefined;
  for (const size of [512, 256, 96]) {
    const u = ready.get(`${size} ${url}`);
    if (u) return u;
  }
  return undefined;
}

/** The blob URL of this image at this size if it is already loaded (a tile shown again: no placeholder flash). */
export function readyArtwork(url: string, size: ArtSize): string | undefined {
  return ready.get(`${size} ${url}`);
}

/** Set when the server has no image endpoint (404, or the app's own page): stop asking. */
let noEndpoint = false;
let running = 0;
const waiting: Array<() => void> = [];

async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await f();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** A blob URL of the image at `size` px; rejects when the proxy cannot give one. */
export function artworkUrl(ctx: ProxyContext, url: string, size: ArtSize): Promise<string> {
  const key = `${size} ${url}`;
  const hit = kept.get(key);
  if (hit) {
    // Most recently used last.
    kept.delete(key);
    kept.set(key, hit);
    return hit;
  }
  if (noEndpoint) return Promise.reject(new Error("this server has no image proxy"));
  const p = slot(async () => {
    if (noEndpoint) throw new Error("this server has no image proxy");
    const res = await proxyGet(ctx, "image", { url, size: String(size) }).catch((e: unknown) => {
      if (e instanceof ProxyError && e.status === 404) noEndpoint = true;
      throw e;
    });
    const type = res.headers.get("content-type") ?? "";
    if (type.startsWith("text/html")) noEndpoint = true;
    if (!type.startsWith("image/")) throw new Error(`not an image (${type || "no type"})`);
    const blobUrl = URL.createObjectURL(await res.blob());
    ready.set(key, blobUrl);
    return blobUrl;
  });
  kept.set(key, p);
  p.catch(() => kept.delete(key));
  while (kept.size > MAX_KEPT) {
    const [oldKey, old] = kept.entries().next().value as [string, Promise<string>];
    kept.delete(oldKey);
    ready.delete(oldKey);
    void old.then((u) => URL.revokeObjectURL(u)).catch(() => undefined);
  }
  return p;
}
