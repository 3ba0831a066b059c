/**
 * The player's side of the library: builds a `PlayRequest` for an episode whose callbacks
 * apply the listening rules of `library/doc.ts` (progress, speed, per-podcast settings, time
 * saved, "episode ended → played, out of the queue, next starts"), and keeps the player's
 * device settings in step with the library's global settings. The UI only calls `playEpisode`.
 */
import {
  addTimeSaved, CONTINUOUS_PLAYBACK, effectiveSettings, episodeEnded, playOf, queueOf, setPodcastSettings, setPosition,
  setSpeed, type Doc,
} from "../library/doc";
import type { LibraryStore } from "../library/store";
import { mediaStreamUrl, type ProxyContext } from "../lib/proxy";
import { localUrl } from "../downloads/manager";
import { artworkUrl } from "../podcast/artwork";
import { play, type PlayRequest } from "./nowPlaying";
import { player, DEFAULT_SETTINGS } from "./player";
import { chaptersLoader, embeddedChaptersLoader, proxySilences, transcriptLoader } from "./silenceSource";

/** An episode as the player needs it (from the cached feed). */
export interface EpisodeInfo {
  key: string;
  feedUrl: string;
  feedTitle: string;
  title: string;
  audioUrl: string;
  artworkUrl?: string;
  chaptersUrl?: string | null;
  transcriptUrl?: string | null;
}

export interface ListeningEnv {
  lib: LibraryStore;
  device: string;
  ctx: ProxyContext;
  /** An episode by library key, when this device knows it (for the queue). */
  resolve: (key: string) => EpisodeInfo | null;
}

/** Setting keys in the library's global `settings` map. */
export const SETTINGS = {
  continuous: CONTINUOUS_PLAYBACK,
  skipBack: "skip_back",
  skipForward: "skip_forward",
  normalize: "normalize_loudness",
  trim: "trim",
  boost: "boost",
  keepUnplayed: "auto_download_keep",
  graceHours: "download_grace_hours",
} as const;

function safe(f: () => void): void {
  try {
    f();
  } catch (e) {
    console.warn("library:", e);
  }
}

/** Transcript types the proxy converts, best first (the feed may list several). */
export function pickTranscript(ts: Array<{ url: string; mime_type?: string | null }> | undefined | null): string | null {
  if (!ts?.length) return null;
  const rank = (m?: string | null) => ["application/json", "text/vtt", "application/x-subrip", "application/srt", "text/html", "text/plain"].indexOf(m ?? "");
  const sorted = [...ts].sort((a, b) => (rank(a.mime_type) + 100) % 100 - ((rank(b.mime_type) + 100) % 100));
  return sorted[0]?.url ?? null;
}

/** A request whose callbacks write to the library; the queue plays on through `onEnded`. */
export function requestFor(env: ListeningEnv, ep: EpisodeInfo, startAt?: number): PlayRequest {
  const { lib, device, ctx } = env;
  const mine = playOf(lib.doc, device, ep.key);
  let eff = { speed: 1, trim: "off" as const as "off" | "mild" | "medium" | "strong", boost: false };
  try {
    eff = effectiveSettings(lib.doc, ep.feedUrl);
  } catch {
    /* not subscribed (e.g. an episode from a shared link): defaults */
  }
  const podcastChange = (f: (d: Doc) => Doc) => safe(() => lib.change(f));
  return {
    episodeKey: ep.key,
    title: ep.title,
    feedTitle: ep.feedTitle,
    feedUrl: ep.feedUrl,
    audioUrl: ep.audioUrl,
    artworkUrl: ep.artworkUrl,
    startAt: startAt ?? (mine && !mine.completed ? mine.position : 0),
    // The episode's own speed when set on this device, else the podcast's.
    speed: mine && mine.speed !== 1 ? mine.speed : eff.speed,
    trim: eff.trim,
    boost: eff.boost,
    silences: proxySilences(ctx, ep.audioUrl),
    chapters: ep.chaptersUrl ? chaptersLoader(ctx, ep.chaptersUrl) : embeddedChaptersLoader(ctx, ep.audioUrl),
    transcript: ep.transcriptUrl ? transcriptLoader(ctx, ep.transcriptUrl) : undefined,
    localUrl: () => localUrl(ep.key),
    streamUrl: () => mediaStreamUrl(ctx, ep.audioUrl),
    chapterArtwork: (url) => artworkUrl(ctx, url, 256),
    // The player reports what the media element says; a NaN or out-of-range value is dropped
    // (and logged) rather than thrown back into the player.
    onProgress: (pos, dur) =>
      safe(() => lib.change((d) => setPosition(d, device, ep.key, pos, Number.isFinite(dur) && dur > 0 ? dur : undefined))),
    onSpeed: (s) =>
      safe(() =>
        lib.change((d) => {
          const d1 = setSpeed(d, device, ep.key, s);
          return d1.subscriptions[ep.feedUrl] ? setPodcastSettings(d1, ep.feedUrl, { speed: s }) : d1;
        }),
      ),
    onSettings: (patch) => podcastChange((d) => (d.subscriptions[ep.feedUrl] ? setPodcastSettings(d, ep.feedUrl, patch) : d)),
    onSaved: (s) => podcastChange((d) => addTimeSaved(d, device, ep.feedUrl, Math.min(s, 86_400))),
    onEnded: () => {
      let next: string | null = null;
      safe(() =>
        lib.change((d) => {
          const [d1, n] = episodeEnded(d, device, ep.key);
          next = n;
          return d1;
        }),
      );
      const n = next === null ? null : env.resolve(next);
      return n ? requestFor(env, n) : null;
    },
    next: () => {
      const q = queueOf(lib.doc, device).filter((k) => k !== ep.key);
      const n = q.map((k) => env.resolve(k)).find((x) => !!x);
      return n ? requestFor(env, n) : null;
    },
  };
}

export function playEpisode(env: ListeningEnv, ep: EpisodeInfo, startAt?: number): void {
  play(requestFor(env, ep, startAt));
}

const num = (v: unknown, d: number, lo: number, hi: number) => (typeof v === "number" && Number.isFinite(v) && v >= lo && v <= hi ? v : d);

/** Keep the player's device settings in step with the library's global settings. */
export function bindPlayerSettings(lib: LibraryStore): () => void {
  const apply = (d: Doc) =>
    player.configure({
      skipBack: num(d.settings[SETTINGS.skipBack], DEFAULT_SETTINGS.skipBack, 1, 300),
      skipForward: num(d.settings[SETTINGS.skipForward], DEFAULT_SETTINGS.skipForward, 1, 300),
      normalize: d.settings[SETTINGS.normalize] !== false,
    });
  apply(lib.doc);
  return lib.subscribe(apply);
}
