/**
 * What is playing: the one seam between the library UI (episode lists, queue,
 * "continue from") and the player dock. The library side calls `play()`; the player
 * renders `current()` and reports progress through the request's callbacks, so the
 * player never touches the CRDT and the library never touches the <audio> element.
 */

/** One episode to play, as the library UI knows it. */
export interface PlayRequest {
  /** Library episode key (`episode_key(feed_url, guid)` in crates/library). */
  episodeKey: string;
  title: string;
  feedTitle: string;
  /** Enclosure URL; the <audio> element fetches it directly (media needs no CORS). */
  audioUrl: string;
  artworkUrl?: string;
  /** Where to start, in seconds (own position or a "continue from" offer). */
  startAt: number;
  /** Playback rate, 0.5–3. */
  speed: number;
  /** Silent spans `[start, end]` in seconds, from `/proxy/silence`; resolves later or never. */
  silences: () => Promise<Array<[number, number]>>;
  /** Called every few seconds while playing, on pause, seek and end. */
  onProgress: (positionSec: number, durationSec: number) => void;
  onSpeed: (speed: number) => void;
  onEnded: () => void;
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
