import { useEffect, useMemo, useRef } from "preact/hooks";
import { markSeen } from "../library/doc";
import { newEpisodes } from "../podcast/episodes";
import { useApp, useDoc } from "../app/context";
import { EpisodeRow } from "./EpisodeRow";
import { newestOf } from "./PodcastView";
import { RefreshAll } from "./PodcastsView";
import { VirtualList } from "./VirtualList";

/**
 * The inbox: episodes published since the listener last looked, across every podcast.
 * "Seen" is synced: what is marked here is no longer new on the other devices either.
 */
export function NewView() {
  const app = useApp();
  const doc = useDoc(app.lib);
  const list = useMemo(() => newEpisodes(doc, [...app.episodes.values()]), [doc, app.episodes]);
  const shown = useRef(list);
  shown.current = list;
  const markAll = (upTo = newestOf(shown.current)) => {
    if (Object.keys(upTo).length) app.lib.change((d) => markSeen(d, app.lib.device, upTo));
  };
  // Leaving the inbox marks what it showed as seen, like a mail client.
  useEffect(() => {
    const leave = () => markAll();
    addEventListener("pagehide", leave);
    return () => {
      removeEventListener("pagehide", leave);
      leave();
    };
  }, []);

  return (
    <>
      <div class="view-head">
        <h1 id="view-h">New episodes</h1>
        {list.length > 0 && (
          <button type="button" onClick={() => markAll()}>
            Mark all as seen
          </button>
        )}
      </div>
      <RefreshAll />
      {list.length === 0 ? (
        <p class="card hint" data-empty="new">
          Nothing new. New episodes of your podcasts show up here, on every device, until you have seen them.
        </p>
      ) : (
        <VirtualList items={list} keyOf={(v) => v.key} estimate={170} label="New episodes" class="episodes new-list" render={(v) => <EpisodeRow v={v} doc={doc} showFeed />} />
      )}
    </>
  );
}
