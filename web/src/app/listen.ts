/**
 * From an episode row to the player (src/player/library.ts owns the listening rules: position,
 * speed, played, queue advance, per-podcast settings; downloads play from this device).
 */
import { playOf } from "../library/doc";
import { pickTranscript, playEpisode, type EpisodeInfo, type ListeningEnv } from "../player/library";
import type { EpisodeExtra } from "../downloads/binding";
import { loadedArtwork } from "../podcast/artwork";
import type { EpisodeView } from "../podcast/episodes";
import type { AppContext } from "./context";

export function episodeInfo(app: AppContext, v: EpisodeView): EpisodeInfo | null {
  const url = v.ep.enclosure?.url;
  if (!url) return null;
  const ex = v.ep as EpisodeExtra;
  return {
    key: v.key,
    feedUrl: v.feedUrl,
    feedTitle: v.feedTitle,
    title: v.ep.title ?? "Untitled episode",
    audioUrl: url,
    // Only artwork the proxy already gave us (a blob URL): the page never asks an artwork host.
    artworkUrl: loadedArtwork(v.ep.image) ?? loadedArtwork(app.feeds.snapshot.states[v.feedUrl]?.feed?.channel.image),
    chaptersUrl: ex.chapters_url ?? null,
    transcriptUrl: pickTranscript(ex.transcripts),
  };
}

export function listeningEnv(app: AppContext): ListeningEnv {
  return {
    lib: app.lib,
    device: app.lib.device,
    ctx: app.proxy,
    resolve: (k) => {
      const v = app.episodes.get(k);
      return v ? episodeInfo(app, v) : null;
    },
  };
}

/** Play an episode from `at` (default: this device's position). */
export function startEpisode(app: AppContext, v: EpisodeView, at?: number): void {
  const i = episodeInfo(app, v);
  if (i) playEpisode(listeningEnv(app), i, at ?? playOf(app.lib.doc, app.lib.device, v.key)?.position ?? 0);
}
