/**
 * What is playing: the one seam between the library UI (episode lists, queue,
 * "continue from") and the player. The library side calls `play()`; the `Player`
 * (player.ts) loads `current()` and reports progress through the request's callbacks, so the
 * player never touches the CRDT and the library never touches the <audio> element.
 */
import type { TrimLevel } from "../library/doc";
import type { Chapter, Cue } from "./chapters";
import type { Loudness } from "./loudness";
import type { Span } from "./silence";

/** Parameters of the silence analysis a loader is asked for. */
export interface SilenceParams {
  thresholdDb: number;
  minSilence: number;
}

/** A silence map with the loudness measured alongside it (when the server measures it). */
export interface SilenceResult {
  spans: Span[];
  loudness: Loudness | null;
}

/** One episode to play, as the library UI knows it. */
export interface PlayRequest {
  /** Library episode key (`episode_key(feed_url, guid)` in crates/library). */
  episodeKey: string;
  title: string;
  feedTitle: string;
  /** The podcast's feed URL (per-podcast settings, time saved). */
  feedUrl?: string;
  /** Enclosure URL: the episode's identity for silence maps, chapters and downloads. */
  audioUrl: string;
  /** Where the <audio> element streams the enclosure from: `/proxy/media`, never the host. */
  streamUrl: () => Promise<string>;
  /** The episode's artwork, already loaded through the proxy (a blob URL). */
  artworkUrl?: string;
  /** Loads a chapter's image through the proxy; resolves to a URL the page may show. */
  chapterArtwork?: (url: string) => Promise<string>;
  /** Where to start, in seconds (own position or a "continue from" offer). */
  startAt: number;
  /** Playback rate, 0.5–3. */
  speed: number;
  /** Trim level and volume boost (the podcast's effective settings); default off. */
  trim?: TrimLevel;
  boost?: boolean;
  /**
   * Silent spans `[start, end]` in seconds, from `/proxy/silence` (or the copy stored with a
   * download); resolves later or never. A loader may return the spans alone (older callers).
   */
  silences: (params?: SilenceParams) => Promise<Span[] | SilenceResult>;
  /** Chapters and transcript cues, when the episode has them; a failure leaves the episode playable. */
  chapters?: () => Promise<Chapter[]>;
  transcript?: () => Promise<Cue[]>;
  /** A same-origin URL of a downloaded copy on this device, when there is one. */
  localUrl?: () => Promise<string | null>;
  /** Called every few seconds while playing, on pause, seek and end. */
  onProgress: (positionSec: number, durationSec: number) => void;
  onSpeed: (speed: number) => void;
  /** The listener changed the trim level or the boost in the player (per-podcast settings). */
  onSettings?: (patch: { trim?: TrimLevel; boost?: boolean }) => void;
  /** Listener seconds saved by trimming, reported in batches. */
  onSaved?: (seconds: number) => void;
  /** The episode ended; returns the episode to start next (the queue plays on), if any. */
  onEnded: () => PlayRequest | null | void;
  /** Start playing at once (default true); false only loads it (e.g. restoring the last episode). */
  autoplay?: boolean;
  /** The next queued episode, when the queue has one (Media Session "next track"). */
  next?: () => PlayRequest | null;
}

type Listener = (req: PlayRequest | null) => void;

let now: PlayRequest | null = null;
const listeners = new Set<Listener>();

export function play(req: PlayRequest): void {
  now = req;
  for (const l of listeners) l(now);
}

export function stop(): void {
  now = null;
  for (const l of listeners) l(now);
}

export function current(): PlayRequest | null {
  return now;
}

export function onChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}
