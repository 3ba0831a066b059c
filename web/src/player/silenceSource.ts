/**
 * Loaders for a `PlayRequest`: the silence map (with loudness), chapters and transcript from
 * the realm server's proxy. Each answer is kept in IndexedDB, so an episode played before
 * (or downloaded) still skips silences and shows chapters with the server stopped and the
 * network offline; a stored copy is used first, since none of these change for one URL.
 */
import { kv } from "../lib/idb";
import { proxyJson, type ProxyContext, type SilenceMap } from "../lib/proxy";
import { normalizeChapters, normalizeCues, type Chapter, type Cue } from "./chapters";
import type { SilenceParams, SilenceResult } from "./nowPlaying";
import { normalizeSilences, type Span } from "./silence";
import { MAP_PARAMS } from "./trim";

const sKey = (url: string, p: SilenceParams) => `silence+loudness:${p.thresholdDb}:${p.minSilence}:${url}`;

/** Stored first, else the proxy (then stored); a failure is retried by the next call. */
function cached<T>(key: string, fetchIt: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null;
  return () =>
    (p ??= kv
      .get<T>(key)
      .catch(() => undefined)
      .then(async (hit) => {
        if (hit !== undefined) return hit;
        const v = await fetchIt();
        await kv.set(key, v).catch(() => undefined);
        return v;
      })
      .catch((e: unknown) => {
        p = null;
        throw e;
      }));
}

/** The silence map (and loudness) for an enclosure, for `PlayRequest.silences`. */
export function proxySilences(ctx: ProxyContext, audioUrl: string): (params?: SilenceParams) => Promise<SilenceResult> {
  const loaders = new Map<string, () => Promise<SilenceResult>>();
  return (params = MAP_PARAMS) => {
    const key = sKey(audioUrl, params);
    let l = loaders.get(key);
    if (!l) {
      l = cached(key, () =>
        proxyJson<SilenceMap>(ctx, "silence", audioUrl, {
          // Loudness is measured in the same decoding pass (the player normalises with it).
          params: { threshold_db: String(params.thresholdDb), min_silence: String(params.minSilence), loudness: "true" },
        }).then((m) => ({ spans: normalizeSilences(m.silences), loudness: m.loudness ?? null })),
      );
      loaders.set(key, l);
    }
    return l();
  };
}

/** The proxy's answer: chapter and transcript files are never fetched from their host directly (it would learn the device's address). */
function viaProxy(ctx: ProxyContext, endpoint: "chapters" | "transcript", url: string): Promise<unknown> {
  return proxyJson<unknown>(ctx, endpoint, url);
}

export const chaptersLoader = (ctx: ProxyContext, url: string): (() => Promise<Chapter[]>) => {
  const raw = cached(`chapters:${url}`, () => viaProxy(ctx, "chapters", url));
  return () => raw().then(normalizeChapters);
};

/** Chapters embedded in the audio (ID3 CHAP, MP4), when the feed names no chapter file; none is not an error. */
export const embeddedChaptersLoader = (ctx: ProxyContext, audioUrl: string): (() => Promise<Chapter[]>) => {
  const raw = cached(`chapters-embedded:${audioUrl}`, () => proxyJson<unknown>(ctx, "chapters", audioUrl).catch(() => ({ chapters: [] })));
  return () => raw().then(normalizeChapters);
};

export const transcriptLoader = (ctx: ProxyContext, url: string): (() => Promise<Cue[]>) => {
  const raw = cached(`transcript:${url}`, () => viaProxy(ctx, "transcript", url));
  return () => raw().then(normalizeCues);
};

/** Fetch and store everything an offline play needs besides the audio (errors are ignored: the episode still plays). */
export async function prefetchSide(ctx: ProxyContext, audioUrl: string, chaptersUrl?: string | null, transcriptUrl?: string | null): Promise<void> {
  await Promise.allSettled([
    proxySilences(ctx, audioUrl)(),
    chaptersUrl ? chaptersLoader(ctx, chaptersUrl)() : embeddedChaptersLoader(ctx, audioUrl)(),
    transcriptUrl ? transcriptLoader(ctx, transcriptUrl)() : null,
  ]);
}

export type { Span };
