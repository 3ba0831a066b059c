import { useEffect, useMemo, useState } from "preact/hooks";
import type { Identity } from "../lib/identity";
import {
  continueFrom, episodeKey, feeds as listFeeds, LibraryInputError, markPlayed, normalizeFeedUrl, playOf, queueAdd,
  queueMove, queueOf, queueRemove, resumeOffer, resumeOffers, setTitle, splitEpisodeKey, subscribe,
  unsubscribe, type Doc, type Feed, type Resume,
} from "../library/doc";
import type { LibraryStore } from "../library/store";
import { bindPlayerSettings, pickTranscript, playEpisode, type EpisodeInfo, type ListeningEnv } from "../player/library";
import { bindDownloads, newDownload, type EpisodeExtra } from "../downloads/binding";
import { DownloadButton } from "../downloads/DownloadButton";
import { DownloadsView } from "../downloads/DownloadsView";
import { PlaybackSettings, PodcastPlaybackSettings } from "../player/PlaybackSettings";
import { formatTime as clock } from "../player/time";
import { parseOpml } from "../podcast/opml";
import { cachedFeed, episodeGuid, fetchFeed, type Episode, type FeedJson } from "../podcast/feed";
import { proxyText, ProxyError, type ProxyContext } from "../lib/proxy";
import { sanitizeHtml } from "../podcast/sanitize";

export function useDoc(lib: LibraryStore): Doc {
  const [doc, setDoc] = useState(lib.doc);
  useEffect(() => {
    setDoc(lib.doc);
    return lib.subscribe(setDoc);
  }, [lib]);
  return doc;
}

const message = (e: unknown) => (e instanceof LibraryInputError || e instanceof ProxyError || e instanceof Error ? e.message : String(e));

/** An episode as the UI needs it: from the cached feed, keyed like the library. */
interface EpisodeView {
  key: string;
  feedUrl: string;
  feedTitle: string;
  ep: Episode;
}

function viewsOf(feedUrl: string, feedTitle: string, f: FeedJson): EpisodeView[] {
  const out: EpisodeView[] = [];
  for (const ep of f.episodes) {
    const guid = episodeGuid(ep);
    if (!guid) continue;
    try {
      out.push({ key: episodeKey(feedUrl, guid), feedUrl, feedTitle, ep });
    } catch {
      /* an unusable guid: skip the episode */
    }
  }
  return out;
}

interface Props {
  lib: LibraryStore;
  me: Identity;
  ctx: ProxyContext;
  /** Short labels for devices without a name in the library. */
  fallbackName: (id: string) => string;
}

/** The podcast screens: subscribe/import, "continue from", feeds, episodes with notes, the queue. */
export function Podcasts({ lib, me, ctx, fallbackName }: Props) {
  const doc = useDoc(lib);
  const device = me.identid;
  const feeds = useMemo(() => listFeeds(doc), [doc]);
  const [open, setOpen] = useState<string | null>(null);
  const [cache, setCache] = useState<Record<string, FeedJson>>({});

  // Episodes come from the proxy; the last copy of each subscribed feed is kept for offline use.
  useEffect(() => {
    let live = true;
    void (async () => {
      const next: Record<string, FeedJson> = {};
      for (const f of feeds) {
        const c = await cachedFeed(f.url).catch(() => undefined);
        if (c) next[f.url] = c;
      }
      if (live) setCache((old) => ({ ...next, ...old }));
    })();
    return () => {
      live = false;
    };
  }, [feeds.map((f) => f.url).join("\n")]);

  const episodes = useMemo(() => {
    const m = new Map<string, EpisodeView>();
    for (const f of feeds) {
      const c = cache[f.url];
      if (c) for (const v of viewsOf(f.url, f.title || c.channel.title || f.url, c)) m.set(v.key, v);
    }
    return m;
  }, [feeds, cache]);

  const name = (r: Resume) => r.deviceName ?? fallbackName(r.device);

  // Playback and downloads follow the library (settings, auto-download, who holds what).
  useEffect(() => bindPlayerSettings(lib), [lib]);
  useEffect(() => bindDownloads(lib, device, ctx), [lib, device, ctx.realm, ctx.server]);

  const info = (v: EpisodeView): EpisodeInfo | null => {
    const url = v.ep.enclosure?.url;
    if (!url) return null;
    const ex = v.ep as EpisodeExtra;
    return {
      key: v.key,
      feedUrl: v.feedUrl,
      feedTitle: v.feedTitle,
      title: v.ep.title ?? "Untitled episode",
      audioUrl: url,
      artworkUrl: v.ep.image ?? cache[v.feedUrl]?.channel.image ?? undefined,
      chaptersUrl: ex.chapters_url ?? null,
      transcriptUrl: pickTranscript(ex.transcripts),
    };
  };
  const env: ListeningEnv = {
    lib,
    device,
    ctx,
    resolve: (k) => {
      const v = episodes.get(k);
      return v ? info(v) : null;
    },
  };
  const start = (v: EpisodeView, at?: number) => {
    const i = info(v);
    if (i) playEpisode(env, i, at ?? playOf(lib.doc, device, v.key)?.position ?? 0);
  };

  const refresh = async (f: Feed): Promise<void> => {
    const j = await fetchFeed(ctx, f.url);
    setCache((c) => ({ ...c, [f.url]: j }));
    const t = j.channel.title?.trim();
    if (t && t !== f.title) lib.change((d) => setTitle(d, f.url, t));
  };

  const offers = resumeOffers(doc, device).filter((o) => episodes.has(o.episode));
  const queue = queueOf(doc, device);

  return (
    <>
      <Subscribe lib={lib} ctx={ctx} onAdded={(url, j) => setCache((c) => ({ ...c, [url]: j }))} />

      {offers.length > 0 && (
        <section class="card" aria-labelledby="cont-h">
          <h2 id="cont-h">Continue listening</h2>
          <ul class="plain">
            {offers.map((o) => {
              const v = episodes.get(o.episode)!;
              return (
                <li key={o.episode} class="offer">
                  <span class="ep-title">{v.ep.title}</span>
                  <button type="button" class="primary" data-offer={o.device} onClick={() => start(v, o.record.position)}>
                    Continue from {name(o)} at {clock(o.record.position)}
                  </button>
                </li>
              );
            })}
          </ul>
        </section>
      )}

      <section class="card" aria-labelledby="feeds-h">
        <h2 id="feeds-h">Podcasts</h2>
        {feeds.length === 0 ? (
          <p class="hint">No subscriptions yet. Add a feed address above or import an OPML file.</p>
        ) : (
          <ul class="plain feeds" aria-label="Subscriptions">
            {feeds.map((f) => (
              <li key={f.url}>
                <FeedRow
                  feed={f}
                  open={open === f.url}
                  lib={lib}
                  onToggle={() => setOpen(open === f.url ? null : f.url)}
                  onRefresh={() => refresh(f)}
                  onUnsubscribe={() => {
                    if (confirm(`Unsubscribe from ${f.title || f.url}? Positions are kept.`)) lib.change((d) => unsubscribe(d, f.url));
                  }}
                >
                  {cache[f.url] ? (
                    <ol class="plain episodes" aria-label={`Episodes of ${f.title || f.url}`}>
                      {viewsOf(f.url, f.title, cache[f.url] as FeedJson).map((v) => (
                        <EpisodeRow
                          key={v.key}
                          v={v}
                          doc={doc}
                          device={device}
                          queued={queue.includes(v.key)}
                          offer={resumeOffer(doc, device, v.key)}
                          name={name}
                          onPlay={(at) => start(v, at)}
                          onQueue={() => lib.change((d) => (queue.includes(v.key) ? queueRemove(d, device, v.key) : queueAdd(d, device, v.key)))}
                          onPlayed={(p) => lib.change((d) => markPlayed(d, device, v.key, p))}
                        />
                      ))}
                    </ol>
                  ) : null}
                </FeedRow>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section class="card" aria-labelledby="queue-h">
        <h2 id="queue-h">Queue</h2>
        {queue.length === 0 ? (
          <p class="hint">The queue is empty. Use “Add to queue” on an episode.</p>
        ) : (
          <ol class="plain queue" aria-label="Queue">
            {queue.map((k, i) => {
              const v = episodes.get(k);
              const label = v?.ep.title ?? splitEpisodeKey(k)?.[1] ?? k;
              return (
                <li key={k} class="row">
                  <span class="ep-title">{label}</span>
                  <button type="button" disabled={!v} onClick={() => v && start(v)} aria-label={`Play ${label}`}>Play</button>
                  <button type="button" disabled={i === 0} onClick={() => lib.change((d) => queueMove(d, device, k, i - 1))} aria-label={`Move ${label} up`}>↑</button>
                  <button type="button" disabled={i === queue.length - 1} onClick={() => lib.change((d) => queueMove(d, device, k, i + 1))} aria-label={`Move ${label} down`}>↓</button>
                  <button type="button" onClick={() => lib.change((d) => queueRemove(d, device, k))} aria-label={`Remove ${label} from the queue`}>Remove</button>
                </li>
              );
            })}
          </ol>
        )}
      </section>

      {/* Until the app has a Downloads route and a Settings screen, they live here. */}
      <DownloadsView lib={lib} device={device} ctx={ctx} />
      <PlaybackSettings lib={lib} />
    </>
  );
}

function FeedRow(props: {
  feed: Feed;
  lib: LibraryStore;
  open: boolean;
  onToggle(): void;
  onRefresh(): Promise<void>;
  onUnsubscribe(): void;
  children: preact.ComponentChildren;
}) {
  const { feed, open } = props;
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const refresh = async () => {
    setBusy(true);
    setError("");
    try {
      await props.onRefresh();
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    if (open) void refresh();
  }, [open]);
  const id = `feed-${btoa(encodeURIComponent(feed.url)).replace(/[^a-zA-Z0-9]/g, "").slice(-24)}`;
  return (
    <div class="feed" data-feed={feed.url}>
      <div class="row">
        <button type="button" class="feed-title" aria-expanded={open} aria-controls={id} onClick={props.onToggle}>
          {feed.title || feed.url}
        </button>
        <button type="button" onClick={props.onUnsubscribe} aria-label={`Unsubscribe from ${feed.title || feed.url}`}>Unsubscribe</button>
      </div>
      {open && (
        <div id={id}>
          <p class="hint">
            <code>{feed.url}</code> {busy ? "· updating…" : <button type="button" class="link" onClick={() => void refresh()}>Refresh</button>}
          </p>
          {error && <p role="alert" class="error">{error}</p>}
          <details class="podcast-playback">
            <summary>Playback settings for this podcast</summary>
            <PodcastPlaybackSettings lib={props.lib} feedUrl={feed.url} />
          </details>
          {props.children}
        </div>
      )}
    </div>
  );
}

function EpisodeRow(props: {
  v: EpisodeView;
  doc: Doc;
  device: string;
  queued: boolean;
  offer: Resume | null;
  name: (r: Resume) => string;
  onPlay(at?: number): void;
  onQueue(): void;
  onPlayed(p: boolean): void;
}) {
  const { v, offer } = props;
  const mine = playOf(props.doc, props.device, v.key);
  const title = v.ep.title ?? "Untitled episode";
  const dur = mine?.duration ?? v.ep.duration_seconds ?? null;
  const others = continueFrom(props.doc, v.key).filter((r) => r.device !== props.device);
  const notes = v.ep.description ? sanitizeHtml(v.ep.description) : "";
  return (
    <li class="episode" data-episode={v.key}>
      <div class="ep-title">{title}</div>
      <div class="hint">
        {v.ep.published ? new Date(v.ep.published).toLocaleDateString() : ""}
        {dur ? ` · ${clock(dur)}` : ""}
        {mine?.completed ? " · played" : mine && mine.position > 0 ? ` · at ${clock(mine.position)}` : ""}
        {mine && mine.speed !== 1 ? ` · ${mine.speed}×` : ""}
        {others.map((r) => ` · ${props.name(r)} at ${clock(r.record.position)}`).join("")}
      </div>
      <div class="row">
        {mine && mine.position > 0 && !mine.completed ? (
          <button type="button" class="primary" disabled={!v.ep.enclosure} onClick={() => props.onPlay()} aria-label={`Resume ${title} at ${clock(mine.position)}`}>
            Resume at {clock(mine.position)}
          </button>
        ) : (
          <button type="button" class="primary" disabled={!v.ep.enclosure} onClick={() => props.onPlay()} aria-label={`Play ${title}`}>
            Play
          </button>
        )}
        {offer && !offer.record.completed && (
          <button type="button" data-offer={offer.device} onClick={() => props.onPlay(offer.record.position)}>
            Continue from {props.name(offer)} at {clock(offer.record.position)}
          </button>
        )}
        <button type="button" onClick={props.onQueue} aria-pressed={props.queued}>
          {props.queued ? "Queued ✓" : "Add to queue"}
        </button>
        <button type="button" onClick={() => props.onPlayed(!mine?.completed)}>
          {mine?.completed ? "Mark unplayed" : "Mark played"}
        </button>
        <DownloadButton item={newDownload(v.feedUrl, v.feedTitle, v.key, v.ep as EpisodeExtra)} title={title} />
      </div>
      {notes && (
        <details>
          <summary>Episode notes</summary>
          <div class="notes" dangerouslySetInnerHTML={{ __html: notes }} />
        </details>
      )}
    </li>
  );
}

function Subscribe({ lib, ctx, onAdded }: { lib: LibraryStore; ctx: ProxyContext; onAdded(url: string, f: FeedJson): void }) {
  const [url, setUrl] = useState("");
  const [opmlUrl, setOpmlUrl] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [status, setStatus] = useState("");

  const run = async (f: () => Promise<string>) => {
    setBusy(true);
    setError("");
    setStatus("");
    try {
      setStatus(await f());
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };

  const add = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      // Validate first: a bad address never reaches the server or the library.
      const u = normalizeFeedUrl(url);
      if (lib.doc.subscriptions[u]) return "You are already subscribed to this feed.";
      const j = await fetchFeed(ctx, u);
      const title = j.channel.title?.trim() || u;
      lib.change((d) => subscribe(d, [{ url: u, title, htmlUrl: j.channel.link ?? undefined }])[0]);
      onAdded(u, j);
      setUrl("");
      return `Subscribed to ${title}.`;
    });
  };

  const importText = (text: string) => {
    const list = parseOpml(text);
    if (list.length === 0) throw new Error("That OPML file lists no feeds.");
    const ok = list.filter((f) => {
      try {
        normalizeFeedUrl(f.url);
        return true;
      } catch {
        return false;
      }
    });
    let added: string[] = [];
    lib.change((d) => {
      const [next, a] = subscribe(d, ok);
      added = a;
      return next;
    });
    const skipped = list.length - ok.length;
    return `Imported ${added.length} new feed${added.length === 1 ? "" : "s"}${skipped ? `; skipped ${skipped} with an invalid address` : ""}.`;
  };

  const importUrl = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const u = normalizeFeedUrl(opmlUrl);
      const r = importText(await proxyText(ctx, "raw", u));
      setOpmlUrl("");
      return r;
    });
  };

  const importFile = (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    void run(async () => {
      const r = importText(await file.text());
      input.value = "";
      return r;
    });
  };

  return (
    <section class="card" aria-labelledby="sub-h">
      <h2 id="sub-h">Subscribe</h2>
      <form onSubmit={add} aria-busy={busy}>
        <label for="feed-url">Feed address</label>
        <div class="row">
          <input id="feed-url" name="feed-url" inputMode="url" autocomplete="off" placeholder="https://example.com/feed.xml" value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
          <button type="submit" disabled={busy}>Subscribe</button>
        </div>
      </form>
      <details>
        <summary>Import an OPML subscription list</summary>
        <form onSubmit={importUrl}>
          <label for="opml-url">OPML address</label>
          <div class="row">
            <input id="opml-url" inputMode="url" autocomplete="off" placeholder="https://example.com/subscriptions.opml" value={opmlUrl} onInput={(e) => setOpmlUrl(e.currentTarget.value)} />
            <button type="submit" disabled={busy}>Import</button>
          </div>
        </form>
        <label for="opml-file">Or an OPML file from this device</label>
        <input id="opml-file" type="file" accept=".opml,.xml,text/xml,text/x-opml,application/xml" onChange={importFile} disabled={busy} />
      </details>
      {error ? <p role="alert" class="error">{error}</p> : <p class="status" role="status">{busy ? "Working…" : status}</p>}
    </section>
  );
}
