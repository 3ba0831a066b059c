/**
 * From an episode row to the player: builds the `PlayRequest` whose callbacks write
 * position, speed and "played" into the library (the player never touches the CRDT).
 */
import { markPlayed, playOf, queueOf, queueRemove, setPosition, setSpeed } from "../library/doc";
import { play, type PlayRequest } from "../player/nowPlaying";
import { proxySilences } from "../player/silenceSource";
import type { EpisodeView } from "../podcast/episodes";
import { safe, type AppContext } from "./context";

export function playRequest(app: AppContext, v: EpisodeView, startAt: number): PlayRequest | null {
  const { lib } = app;
  const device = lib.device;
  const url = v.ep.enclosure?.url;
  if (!url) return null;
  const mine = playOf(lib.doc, device, v.key);
  return {
    episodeKey: v.key,
    title: v.ep.title ?? "Untitled episode",
    feedTitle: v.feedTitle,
    audioUrl: url,
    artworkUrl: v.ep.image ?? app.feeds.snapshot.states[v.feedUrl]?.feed?.channel.image ?? undefined,
    startAt,
    speed: mine?.speed ?? 1,
    silences: proxySilences(app.proxy, url),
    // The player reports what the media element says; a NaN or out-of-range value is dropped
    // (and logged) rather than thrown back into the player.
    onProgress: (pos, dur) =>
      safe(() => lib.change((d) => setPosition(d, device, v.key, pos, Number.isFinite(dur) && dur > 0 ? dur : undefined))),
    onSpeed: (s) => safe(() => lib.change((d) => setSpeed(d, device, v.key, s))),
    onEnded: () => safe(() => lib.change((d) => queueRemove(markPlayed(d, device, v.key, true), device, v.key))),
    next: () => {
      const q = queueOf(lib.doc, device).filter((k) => k !== v.key);
      const n = q.map((k) => app.episodes.get(k)).find((x) => x?.ep.enclosure);
      return n ? playRequest(app, n, playOf(lib.doc, device, n.key)?.position ?? 0) : null;
    },
  };
}

/** Play an episode from `at` (default: this device's position). */
export function startEpisode(app: AppContext, v: EpisodeView, at?: number): void {
  const r = playRequest(app, v, at ?? playOf(app.lib.doc, app.lib.device, v.key)?.position ?? 0);
  if (r) play(r);
}
