import { useMemo } from "preact/hooks";
import { feeds as listFeeds, isNewEpisode, playedAnywhere, resumeOffers, type Doc } from "../library/doc";
import { formatTime as clock } from "../player/time";
import { viewsOf } from "../podcast/episodes";
import { ago, useFeeds, useMinuteTick, type FeedsSnapshot } from "../podcast/refresh";
import { startEpisode } from "../app/listen";
import { href } from "../app/router";
import { useApp, useDoc } from "../app/context";
import { Artwork } from "./Artwork";
import { deviceLabel } from "./EpisodeRow";
import { columnsFor } from "./rows";
import { VirtualList } from "./VirtualList";

/** A row of tiles before it is measured (a 9.5rem cover, two lines of title, the gap). */
const TILE_ROW = 230;

/** Tiles of at least 9.5rem, 0.75rem apart (the grid's CSS). */
function gridColumns(width: number): number {
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  return columnsFor(width, 9.5 * rem, 0.75 * rem);
}

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
 * The artwork grid of every subscription with its unplayed and new counts; "continue
 * listening" above. Virtualised: only the rows of tiles near the viewport are in the page, so
 * 300 subscriptions open and scroll like 20 (docs/benchmarks-web.md).
 */
export function PodcastsView() {
  const app = useApp();
  const doc = useDoc(app.lib);
  const snap = useFeeds(app.feeds);
  const feeds = useMemo(() => listFeeds(doc).sort((a, b) => (a.title || a.url).localeCompare(b.title || b.url)), [doc]);
  const counts = useMemo(() => countsOf(doc, snap), [doc, snap]);
  const fetched = feeds.filter((f) => snap.states[f.url]?.feed).length;
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
          <div class="feeds-box" data-count={feeds.length} data-fetched={fetched}>
            <VirtualList
              items={feeds}
              keyOf={(f) => f.url}
              estimate={TILE_ROW}
              overscan={3}
              columns={gridColumns}
              label="Subscriptions"
              class="grid feeds"
              itemAttrs={(f) => ({ class: "tile", "data-feed": f.url })}
              render={(f) => {
                const st = snap.states[f.url];
                const title = f.title || st?.feed?.channel.title || f.url;
                const c = counts[f.url] ?? { unplayed: 0, fresh: 0 };
                return (
                  <a href={href({ view: "podcast", feed: f.url })}>
                    <Artwork url={st?.feed?.channel.image} size={256} title={title} />
                    <span class="tile-title">{title}</span>
                    {c.fresh > 0 && (
                      <span class="badge new" data-new={c.fresh}>
                        {c.fresh} new<span class="sr-only">,</span>
                      </span>
                    )}
                    {st?.feed && c.unplayed > 0 && (
                      <span class="badge count" data-unplayed={c.unplayed}>
                        {c.unplayed}
                        <span class="sr-only"> unplayed</span>
                      </span>
                    )}
                    {st?.error && <span class="badge warn">not updated</span>}
                  </a>
                );
              }}
            />
          </div>
        </>
      )}
    </>
  );
}
