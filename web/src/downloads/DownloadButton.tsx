/** Download / progress / pause / resume / remove for one episode, wherever an episode is shown. */
import { useEffect, useState } from "preact/hooks";
import { downloads, mb, type DownloadMeta, type NewDownload } from "./manager";

export function useDownload(key: string): DownloadMeta | undefined {
  const [m, setM] = useState(() => downloads.get(key));
  useEffect(() => {
    void downloads.load();
    return downloads.subscribe(() => setM(downloads.get(key)));
  }, [key]);
  return m;
}

export const percent = (m: DownloadMeta) => (m.total ? Math.floor((100 * m.bytes) / m.total) : null);

export function DownloadButton({ item, title }: { item: NewDownload | null; title: string }) {
  const m = useDownload(item?.key ?? "");
  if (!item) return null;
  if (!m || m.state === "error") {
    return (
      <>
        <button type="button" onClick={() => void downloads.start(item)} aria-label={`Download ${title}`}>
          Download
        </button>
        {m?.error && (
          <p role="alert" class="error">
            {m.error}
          </p>
        )}
      </>
    );
  }
  if (m.state === "done") {
    return (
      <button type="button" data-downloaded="1" onClick={() => void downloads.remove(item.key)} aria-label={`Remove the download of ${title}`}>
        Downloaded ✓ {mb(m.bytes)}
      </button>
    );
  }
  const p = percent(m);
  return (
    <span class="dl-progress" data-state={m.state}>
      <progress max={100} value={p ?? undefined} aria-label={`Downloading ${title}`} />
      <span class="hint">
        {p === null ? mb(m.bytes) : `${p}%`}
        {m.state === "paused" ? " · paused" : ""}
      </span>
      {m.state === "paused" ? (
        <button type="button" onClick={() => void downloads.resume(item.key)} aria-label={`Resume the download of ${title}`}>
          Resume
        </button>
      ) : (
        <button type="button" onClick={() => downloads.pause(item.key)} aria-label={`Pause the download of ${title}`}>
          Pause
        </button>
      )}
      <button type="button" onClick={() => void downloads.cancel(item.key)} aria-label={`Cancel the download of ${title}`}>
        Cancel
      </button>
      {m.error && <span class="hint">{m.error}</span>}
    </span>
  );
}
