import { queueMove, queueOf, queueRemove, splitEpisodeKey } from "../library/doc";
import { startEpisode } from "../app/listen";
import { useApp, useDoc } from "../app/context";

/** This device's queue: play, reorder, remove. */
export function QueueView() {
  const app = useApp();
  const { lib } = app;
  const doc = useDoc(lib);
  const device = lib.device;
  const queue = queueOf(doc, device);
  return (
    <>
      <h1 id="view-h">Queue</h1>
      {queue.length === 0 ? (
        <p class="card hint">
          The queue is empty. Use “Add to queue” on an episode of <a href="#/podcasts">your podcasts</a> or of the <a href="#/new">new episodes</a>.
        </p>
      ) : (
        <ol class="plain queue card" aria-label="Queue">
          {queue.map((k, i) => {
            const v = app.episodes.get(k);
            const label = v?.ep.title ?? splitEpisodeKey(k)?.[1] ?? k;
            return (
              <li key={k} class="row">
                <span class="ep-title">{label}</span>
                <button type="button" disabled={!v} onClick={() => v && startEpisode(app, v)} aria-label={`Play ${label}`}>
                  Play
                </button>
                <button type="button" disabled={i === 0} onClick={() => lib.change((d) => queueMove(d, device, k, i - 1))} aria-label={`Move ${label} up`}>
                  ↑
                </button>
                <button type="button" disabled={i === queue.length - 1} onClick={() => lib.change((d) => queueMove(d, device, k, i + 1))} aria-label={`Move ${label} down`}>
                  ↓
                </button>
                <button type="button" onClick={() => lib.change((d) => queueRemove(d, device, k))} aria-label={`Remove ${label} from the queue`}>
                  Remove
                </button>
              </li>
            );
          })}
        </ol>
      )}
    </>
  );
}
