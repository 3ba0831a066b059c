/**
 * A console / E2E handle on the player seam: `skypodPlayerDebug.play({audioUrl, …})` plays a
 * URL through `nowPlaying.play()` exactly as the library UI would (silence map from the realm
 * server's proxy), and `events` records the request's callbacks. Harmless in production: it can
 * only do what the app's own buttons do, and exposes no key material.
 */
import { loadOrCreateIdentity } from "../lib/identity";
import { loadRealm } from "../state";
import { play } from "./nowPlaying";
import { proxySilences } from "./silenceSource";

export interface DebugEvent {
  type: "progress" | "speed" | "ended";
  pos?: number;
  dur?: number;
  speed?: number;
  autoplay?: boolean;
}

export interface DebugPlay {
  audioUrl: string;
  title?: string;
  feedTitle?: string;
  artworkUrl?: string;
  startAt?: number;
  speed?: number;
  autoplay?: boolean;
}

export function installPlayerDebug(): void {
  const g = globalThis as { skypodPlayerDebug?: unknown };
  if (g.skypodPlayerDebug) return;
  const events: DebugEvent[] = [];
  g.skypodPlayerDebug = {
    events,
    async play(o: DebugPlay): Promise<void> {
      const [id, realm] = await Promise.all([loadOrCreateIdentity(), loadRealm()]);
      if (!realm) throw new Error("join or create a realm first");
      play({
        episodeKey: `debug:${o.audioUrl}`,
        title: o.title ?? "Test episode",
        feedTitle: o.feedTitle ?? "Test feed",
        audioUrl: o.audioUrl,
        artworkUrl: o.artworkUrl,
        startAt: o.startAt ?? 0,
        speed: o.speed ?? 1,
        autoplay: o.autoplay,
        silences: proxySilences(id, realm.realmid, o.audioUrl),
        onProgress: (pos, dur) => events.push({ type: "progress", pos, dur }),
        onSpeed: (speed) => events.push({ type: "speed", speed }),
        onEnded: () => events.push({ type: "ended" }),
      });
    },
  };
}
