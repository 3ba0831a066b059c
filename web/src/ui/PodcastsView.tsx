import { Component } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { feeds as listFeeds, isNewEpisode, playedAnywhere, resumeOffers, type Doc } from "../library/doc";
import { formatTime as clock } from "../player/time";
import { viewsOf } from "../podcast/episodes";
import { ago, useFeeds, useMinuteTick, type FeedsSnapshot } from "../podcast/refresh";
import { startEpisode } from "../app/listen";
import { href } from "../app/router";
import { useApp, useDoc } from "../app/context";
import { Artwork } from "./Artwork";
import { deviceLabel } from "./EpisodeRow";

export interface Counts {
  unplayed: number;
  fresh: number;
}

/** Unplayed and new episodes per feed, from the last copy of each feed. */
export function countsOf(doc: Doc, snap: FeedsSnapshot): Record<string, Counts> {
  const out: Record<string, Counts> = {};
  for (const url of Object.keys(doc.subscriptions)) {
    const f = snap.states[url]?.feed;
    const c = { unplayed: 0, fresh: 0 };
    if (f)
      for (const v of viewsOf(url, "", f)) {
        if (!playedAnywhere(doc, v.key)) c.unplayed++;
        if (isNewEpisode(doc, url, v.published, v.key)) c.fresh++;
      }
    out[url] = c;
  }
  return out;
}

interface TileProps {
  url: string;
  title: string;
  image: string | null;
  fresh: number;
  unplayed: number;
  fetched: boolean;
  failed: boolean;
}

/** One subscription's tile; rendered again only when what it shows changes (not when more tiles are added). */
class Tile extends Component<TileProps> {
  override shouldComponentUpdate(next: TileProps): boolean {
    const p = this.props;
    return (Object.keys(next) as Array<keyof TileProps>).some((k) => next[k] !== p[k]);
  }
  override render({ url, title, image, fresh, unplayed, fetched, failed }: TileProps) {
    return (
      <li class="tile" data-feed={url}>
        <a href={href({ view: "podcast", feed: url })}>
          <Artwork url={image} size={256} title={title} />
          <span class="tile-title">{title}</span>
          {fresh > 0 && (
            <span class="badge new" data-new={fresh}>
              {fresh} new<span class="sr-only">,</span>
            </span>
          )}
          {fetched && unplayed > 0 && (
            <span class="badge count" data-unplayed={unplayed}>
              {unplayed}
              <span class="sr-only"> unplayed</span>
            </span>
          )}
          {failed && <span class="badge warn">not updated</span>}
        </a>
      </li>
    );
  }
}

/** Tiles rendered when the view opens (a few screens on a laptop). */
const FIRST_TILES = 36;
/** Tiles added per task after that, a frame apart (a small part of a frame's budget). */
const MORE_TILES = 24;

/**
 * How many of `total` tiles to render: the first screens at once, the rest in chunks between
 * frames, so opening the view with 300 subscriptions is not one long task, and once the chunks
 * are in, scrolling costs the page nothing but painting (every tile stays in the page: Tab,
 * find in page, screen readers). A virtualised grid opened as fast but scrolled worse, since
 * it mounted tiles and their covers in every scroll frame (docs/benchmarks-web.md).
 */
function useProgressive(total: number): number {
  const [n, setN] = useState(() => Math.min(total, FIRST_TILES));
  useEffect(() => {
    if (n >= total) return;
    const t = setTimeout(() => setN((x) => Math.min(total, x + MORE_TILES)));
    return () => clearTimeout(t);
  }, [n, total]);
  return Math.min(n, total);
}

/** Last refresh of everything, and a button to refresh everything now. */
export function RefreshAll() {
  const app = useApp();
  const snap = useFeeds(app.feeds);
  const now = useMinuteTick();
  const errors = Object.values(snap.states).filter((s) => s.error).length;
  return (
    <p class="hint refresh-line">
      <span role="status">
        {snap.refreshing ? "Updating feeds…" : snap.refreshedAt ? `Updated ${ago(snap.refreshedAt, now)}` : "Not updated yet"}
        {!snap.refreshing && errors > 0 ? ` · ${errors} feed${errors === 1 ? "" : "s"} could not be updated` : ""}
      </span>{" "}
      <button type="button" class="small" disabled={snap.refreshing} onClick={() => void app.feeds.refreshAll(Object.keys(app.lib.doc.subscriptions))}>
        Refresh all
      </button>
    </p>
  );
}

/**
 * The artwork grid of every subscription with its unplayed and new counts (rendered a few
 * screens first, see useProgressive); "continue listening" above.
 */
export function PodcastsView() {
  const app = useApp();
  const doc = useDoc(app.lib);
  const snap = useFeeds(app.feeds);
  const feeds = useMemo(() => listFeeds(doc).sort((a, b) => (a.title || a.url).localeCompare(b.title || b.url)), [doc]);
  const counts = useMemo(() => countsOf(doc, snap), [doc, snap]);
  const shown = useProgressive(feeds.length);
  const name = deviceLabel(app.fallbackName);
  const offers = resumeOffers(doc, app.lib.device).filter((o) => app.episodes.has(o.episode));

  return (
    <>
      <div class="view-head">
        <h1 id="view-h">Podcasts</h1>
        <a class="button" href={href({ view: "add" })}>
          Add podcast
        </a>
      </div>
      <RefreshAll />
      {offers.length > 0 && (
        <section class="card" aria-labelledby="cont-h">
          <h2 id="cont-h">Continue listening</h2>
          <ul class="plain">
            {offers.map((o) => {
              const v = app.episodes.get(o.episode)!;
              return (
                <li key={o.episode} class="offer">
                  <span class="ep-title">{v.ep.title}</span>
                  <button type="button" class="primary" data-offer={o.device} onClick={() => startEpisode(app, v, o.record.position)}>
                    Continue from {name(o)} at {clock(o.record.position)}
                  </button>
                </li>
              );
            })}
          </ul>
        </section>
      )}
      {feeds.length === 0 ? (
        <p class="card hint">
          No subscriptions yet. <a href={href({ view: "add" })}>Add a podcast</a> by address, from a directory search or from an OPML file.
        </p>
      ) : (
        <>
          <p>
            <a href={href({ view: "episodes" })}>All episodes</a> <span class="hint">(search and filter across every podcast)</span>
          </p>
          <ul class="grid feeds" aria-label="Subscriptions">
            {feeds.slice(0, shown).map((f) => {
              const st = snap.states[f.url];
              const c = counts[f.url] ?? { unplayed: 0, fresh: 0 };
              return (
                <Tile
                  key={f.url}
                  url={f.url}
                  title={f.title || st?.feed?.channel.title || f.url}
                  image={st?.feed?.channel.image ?? null}
                  fresh={c.fresh}
                  unplayed={c.unplayed}
                  fetched={!!st?.feed}
                  failed={!!st?.error}
                />
              );
            })}
          </ul>
        </>
      )}
    </>
  );
}
