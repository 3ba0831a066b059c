/**
 * Downloads ↔ library: a finished download is recorded under this device in the library
 * (other devices show who holds what), a removed one is dropped; auto-download keeps the
 * newest N unplayed episodes of each podcast on this device and removes played ones after the
 * grace period (`plan.ts`), from the feeds this device has cached.
 */
import { downloadsOf, feeds as listFeeds, playOf, removeDownload, setDownload, type Doc } from "../library/doc";
import type { LibraryStore } from "../library/store";
import type { ProxyContext } from "../lib/proxy";
import { cachedFeed, episodeGuid, type Episode } from "../podcast/feed";
import { episodeKey } from "../library/doc";
import { prefetchSide } from "../player/silenceSource";
import { pickTranscript, SETTINGS } from "../player/library";
import { downloads, type NewDownload } from "./manager";
import { autoDownloadPlan, type PlanEpisode } from "./plan";

/** Feed fields beyond `Episode` that the proxy sends (Podcasting 2.0). */
export type EpisodeExtra = Episode & {
  chapters_url?: string | null;
  transcripts?: Array<{ url: string; mime_type?: string | null }>;
};

export function newDownload(feedUrl: string, feedTitle: string, key: string, ep: EpisodeExtra): NewDownload | null {
  if (!ep.enclosure?.url) return null;
  return {
    key,
    audioUrl: ep.enclosure.url,
    title: ep.title ?? "Untitled episode",
    feedUrl,
    feedTitle,
    chaptersUrl: ep.chapters_url ?? null,
    transcriptUrl: pickTranscript(ep.transcripts),
  };
}

const int = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.floor(v) : d);

export const keepGlobal = (d: Doc) => int(d.settings[SETTINGS.keepUnplayed], 0);
export const graceHours = (d: Doc) => int(d.settings[SETTINGS.graceHours], 24);

async function autoDownload(lib: LibraryStore, device: string): Promise<void> {
  const doc = lib.doc;
  const byFeed: Record<string, PlanEpisode[]> = {};
  const keepPerFeed: Record<string, number> = {};
  const known = new Map<string, NewDownload>();
  for (const f of listFeeds(doc)) {
    const own = doc.subscriptions[f.url]?.settings?.[SETTINGS.keepUnplayed];
    if (typeof own === "number") keepPerFeed[f.url] = own;
    if ((keepPerFeed[f.url] ?? keepGlobal(doc)) === 0 && !Object.keys(downloadsOf(doc, device)).some((k) => k.startsWith(`${f.url} `))) continue;
    const c = await cachedFeed(f.url).catch(() => undefined);
    if (!c) continue;
    byFeed[f.url] = [];
    for (const ep of c.episodes as EpisodeExtra[]) {
      const guid = episodeGuid(ep);
      if (!guid || !ep.enclosure) continue;
      let key: string;
      try {
        key = episodeKey(f.url, guid);
      } catch {
        continue;
      }
      const rec = playOf(doc, device, key);
      byFeed[f.url]!.push({ key, published: ep.published ? Date.parse(ep.published) || 0 : 0, played: !!rec?.completed, playedAt: rec?.updated });
      const n = newDownload(f.url, f.title || c.channel.title || f.url, key, ep);
      if (n) known.set(key, n);
    }
  }
  await downloads.load();
  const plan = autoDownloadPlan({
    feeds: byFeed,
    downloaded: new Set(downloads.list().map((m) => m.key)),
    keepPerFeed,
    keepGlobal: keepGlobal(doc),
    graceHours: graceHours(doc),
    now: Date.now(),
  });
  for (const k of plan.remove) await downloads.remove(k);
  for (const k of plan.download) {
    const n = known.get(k);
    if (n) await downloads.start(n);
  }
}

/** One binding per library and device, however many views ask for it. */
let bound: { lib: LibraryStore; device: string; users: number; un: () => void } | null = null;

export function bindDownloads(lib: LibraryStore, device: string, ctx: ProxyContext): () => void {
  downloads.ctx = ctx;
  if (bound && bound.lib === lib && bound.device === device) bound.users++;
  else {
    bound?.un();
    bound = { lib, device, users: 1, un: bindOnce(lib, device, ctx) };
  }
  const b = bound;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--b.users === 0) {
      b.un();
      if (bound === b) bound = null;
    }
  };
}

function bindOnce(lib: LibraryStore, device: string, ctx: ProxyContext): () => void {
  downloads.onDone = (m) => {
    try {
      lib.change((d) => setDownload(d, device, m.key, m.bytes));
    } catch (e) {
      console.warn("library:", e);
    }
  };
  downloads.onRemoved = (key) => lib.change((d) => removeDownload(d, device, key)[0]);
  downloads.prefetch = (m) => prefetchSide(ctx, m.audioUrl, m.chaptersUrl, m.transcriptUrl);
  // The library and this device's files agree: a download the library lacks is recorded.
  void downloads.load().then(() => {
    for (const m of downloads.list()) if (m.state === "done" && lib.doc.devices[device]?.downloads?.[m.key] !== m.bytes) downloads.onDone(m);
  });
  let t = 0;
  const schedule = () => {
    clearTimeout(t);
    t = window.setTimeout(() => void autoDownload(lib, device).catch((e: unknown) => console.warn("auto-download:", e)), 2000);
  };
  schedule();
  const un = lib.subscribe(schedule);
  return () => {
    clearTimeout(t);
    un();
  };
}
