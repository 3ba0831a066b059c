import { useEffect, useMemo, useRef } from "preact/hooks";
import { markSeen, notifyOn, setNotify, unsubscribe } from "../library/doc";
import { sanitizeHtml, safeHref } from "../podcast/sanitize";
import { viewsOf } from "../podcast/episodes";
import { ago, useFeeds, useMinuteTick } from "../podcast/refresh";
import { navigate } from "../app/router";
import { useApp, useDoc } from "../app/context";
import { Artwork } from "./Artwork";
import { PodcastPlaybackSettings } from "../player/PlaybackSettings";
import { EpisodeBrowser } from "./EpisodeBrowser";

interface Funding {
  url: string;
  text?: string | null;
}

/** Newest publish time per feed among `list` (what "seen" is set to). */
export function newestOf(list: Array<{ feedUrl: string; published: number | null }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of list) if (v.published !== null && v.published > (out[v.feedUrl] ?? 0)) out[v.feedUrl] = v.published;
  return out;
}

/** One podcast: artwork, author, description, funding links, settings, and its episodes. */
export function PodcastView({ feed: url }: { feed: string }) {
  const app = useApp();
  const doc = useDoc(app.lib);
  const snap = useFeeds(app.feeds);
  const now = useMinuteTick();
  const sub = doc.subscriptions[url];
  const st = snap.states[url];
  const f = st?.feed;
  const title = (sub?.title ? String(sub.title) : "") || f?.channel.title || url;
  const list = useMemo(() => (f ? viewsOf(url, title, f) : []), [f, url, title]);
  const notes = useMemo(() => (f?.channel.description ? sanitizeHtml(f.channel.description) : ""), [f]);
  const funding = ((f?.channel as { funding?: Funding[] } | undefined)?.funding ?? []).filter((x) => safeHref(x.url));

  // Open = refresh this feed; leaving the page marks what it showed as seen.
  useEffect(() => {
    if (sub) void app.feeds.refresh(url);
  }, [url, !!sub]);
  const shown = useRef(list);
  shown.current = list;
  useEffect(() => {
    const leave = () => {
      const upTo = newestOf(shown.current);
      if (Object.keys(upTo).length && app.lib.doc.subscriptions[url]) app.lib.change((d) => markSeen(d, app.lib.device, upTo));
    };
    addEventListener("pagehide", leave);
    return () => {
      removeEventListener("pagehide", leave);
      leave();
    };
  }, [url]);

  if (!sub) {
    return (
      <>
        <h1 id="view-h">Podcast</h1>
        <p class="card">
          You are not subscribed to <code>{url}</code>. <a href="#/add">Add it</a> or go back to <a href="#/podcasts">your podcasts</a>.
        </p>
      </>
    );
  }
  const site = f?.channel.link ? safeHref(f.channel.link) : null;
  return (
    <>
      <header class="pod-head" data-feed={url}>
        <Artwork url={f?.channel.image} size={512} title={title} class="cover" />
        <div>
          <h1 id="view-h">{title}</h1>
          {f?.channel.author && <p class="author">{f.channel.author}</p>}
          <p class="hint">
            {st?.busy ? "Updating…" : st?.fetchedAt ? `Updated ${ago(st.fetchedAt, now)}` : "Not fetched yet"}{" "}
            <button type="button" class="small" disabled={st?.busy} onClick={() => void app.feeds.refresh(url)}>
              Refresh
            </button>
          </p>
        </div>
      </header>
      {st?.error && (
        <p role="alert" class="error">
          This feed could not be updated: {st.error}
          {f ? " The episodes below are from the last copy." : ""}
        </p>
      )}
      {(notes || site || funding.length > 0) && (
        <details class="card about">
          <summary>About this podcast</summary>
          {notes && <div class="notes" dangerouslySetInnerHTML={{ __html: notes }} />}
          {site && (
            <p>
              <a href={site} rel="noopener noreferrer" target="_blank">
                Website
              </a>
            </p>
          )}
          {funding.length > 0 && (
            <ul class="plain funding" aria-label="Support this podcast">
              {funding.map((x) => (
                <li key={x.url}>
                  <a href={safeHref(x.url) ?? undefined} rel="noopener noreferrer" target="_blank">
                    {x.text?.trim() || "Support this podcast"}
                  </a>
                </li>
              ))}
            </ul>
          )}
          <p class="hint">
            Feed: <code>{url}</code>
          </p>
        </details>
      )}
      <div class="row pod-actions">
        <label class="switch">
          <input type="checkbox" checked={notifyOn(doc, url)} onChange={(e) => app.lib.change((d) => setNotify(d, url, e.currentTarget.checked))} />
          Notify me of new episodes
        </label>
        <button
          type="button"
          onClick={() => {
            if (confirm(`Unsubscribe from ${title}? Positions are kept.`)) {
              app.lib.change((d) => unsubscribe(d, url));
              navigate({ view: "podcasts" });
            }
          }}
        >
          Unsubscribe
        </button>
      </div>
      <details class="card podcast-playback">
        <summary>Playback settings for this podcast</summary>
        <PodcastPlaybackSettings lib={app.lib} feedUrl={url} />
      </details>
      {f ? (
        <EpisodeBrowser list={list} doc={doc} label={`Episodes of ${title}`} id="pod" />
      ) : (
        <p class="hint" role="status">
          {st?.busy ? "Fetching the episodes…" : "No episodes yet."}
        </p>
      )}
    </>
  );
}
