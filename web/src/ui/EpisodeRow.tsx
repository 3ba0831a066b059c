import { continueFrom, isNewEpisode, markPlayed, playOf, queueAdd, queueOf, queueRemove, resumeOffer, type Doc, type Resume } from "../library/doc";
import { formatTime as clock } from "../player/time";
import { sanitizeHtml } from "../podcast/sanitize";
import type { EpisodeView } from "../podcast/episodes";
import { startEpisode } from "../app/listen";
import { href } from "../app/router";
import { useApp } from "../app/context";
import { Artwork } from "./Artwork";
import { DownloadButton } from "../downloads/DownloadButton";
import { newDownload, type EpisodeExtra } from "../downloads/binding";

export function deviceLabel(fallback: (id: string) => string) {
  return (r: Resume) => r.deviceName ?? fallback(r.device);
}

/** One episode: date, length, where every device is, play/resume, continue-from, queue, played, notes. */
export function EpisodeRow({ v, doc, showFeed = false }: { v: EpisodeView; doc: Doc; showFeed?: boolean }) {
  const app = useApp();
  const { lib } = app;
  const device = lib.device;
  const name = deviceLabel(app.fallbackName);
  const mine = playOf(doc, device, v.key);
  const title = v.ep.title ?? "Untitled episode";
  const dur = mine?.duration ?? v.ep.duration_seconds ?? null;
  const others = continueFrom(doc, v.key).filter((r) => r.device !== device);
  const offer = resumeOffer(doc, device, v.key);
  const queued = queueOf(doc, device).includes(v.key);
  const fresh = isNewEpisode(doc, v.feedUrl, v.published, v.key);
  const downloaded = app.downloaded(v.key);
  return (
    <article class="episode" data-episode={v.key} data-new={fresh ? "1" : "0"} aria-label={title}>
      {showFeed && <Artwork url={v.ep.image ?? app.feeds.snapshot.states[v.feedUrl]?.feed?.channel.image} size={96} title={v.feedTitle} class="thumb" />}
      <div class="ep-main">
        <h3 class="ep-title">
          {fresh && <span class="badge new">New</span>} {title}
        </h3>
        <p class="hint ep-meta">
          {showFeed && (
            <>
              <a href={href({ view: "podcast", feed: v.feedUrl })}>{v.feedTitle}</a>
              {" · "}
            </>
          )}
          {v.published !== null ? new Date(v.published).toLocaleDateString() : ""}
          {dur ? ` · ${clock(dur)}` : ""}
          {mine?.completed ? " · played" : mine && mine.position > 0 ? ` · at ${clock(mine.position)}` : ""}
          {mine && mine.speed !== 1 ? ` · ${mine.speed}×` : ""}
          {downloaded ? " · downloaded" : ""}
          {others.map((r) => ` · ${name(r)} at ${clock(r.record.position)}`).join("")}
        </p>
        <div class="row actions">
          {mine && mine.position > 0 && !mine.completed ? (
            <button type="button" class="primary" disabled={!v.ep.enclosure} onClick={() => startEpisode(app, v)} aria-label={`Resume ${title} at ${clock(mine.position)}`}>
              Resume at {clock(mine.position)}
            </button>
          ) : (
            <button type="button" class="primary" disabled={!v.ep.enclosure} onClick={() => startEpisode(app, v)} aria-label={`Play ${title}`}>
              Play
            </button>
          )}
          {offer && !offer.record.completed && (
            <button type="button" data-offer={offer.device} onClick={() => startEpisode(app, v, offer.record.position)}>
              Continue from {name(offer)} at {clock(offer.record.position)}
            </button>
          )}
          <button
            type="button"
            onClick={() => lib.change((d) => (queued ? queueRemove(d, device, v.key) : queueAdd(d, device, v.key)))}
            aria-pressed={queued}
            aria-label={`${queued ? "Queued" : "Add to queue"}: ${title}`}
          >
            {queued ? "Queued ✓" : "Add to queue"}
          </button>
          <button type="button" onClick={() => lib.change((d) => markPlayed(d, device, v.key, !mine?.completed))} aria-label={`${mine?.completed ? "Mark unplayed" : "Mark played"}: ${title}`}>
            {mine?.completed ? "Mark unplayed" : "Mark played"}
          </button>
          <DownloadButton item={newDownload(v.feedUrl, v.feedTitle, v.key, v.ep as EpisodeExtra)} title={title} />
        </div>
        {v.ep.description && <Notes html={v.ep.description} />}
      </div>
    </article>
  );
}

/** Show notes, sanitized only when opened (a 3,000-episode list sanitizes nothing up front). */
function Notes({ html }: { html: string }) {
  return (
    <details
      onToggle={(e) => {
        const d = e.currentTarget as HTMLDetailsElement;
        const box = d.querySelector(".notes");
        if (d.open && box && !box.hasChildNodes()) box.innerHTML = sanitizeHtml(html);
      }}
    >
      <summary>Episode notes</summary>
      <div class="notes" />
    </details>
  );
}
