/**
 * The Downloads screen: storage used and available (and a request for persistent storage),
 * auto-download settings, this device's downloads with progress and controls, and which
 * other devices of the realm hold downloads (from the library).
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import { useDoc } from "../app/context";
import { deviceName, downloadsOf, setSetting, splitEpisodeKey } from "../library/doc";
import type { LibraryStore } from "../library/store";
import { SETTINGS } from "../player/library";
import { downloads, mb, storageInfo, type DownloadMeta, type StorageInfo } from "./manager";
import { bindDownloads, graceHours, keepGlobal } from "./binding";
import type { ProxyContext } from "../lib/proxy";
import { percent } from "./DownloadButton";
import "./downloads.css";

const KEEP = [0, 1, 2, 3, 5, 10];
const GRACE = [0, 1, 6, 24, 72, 168];
const graceText = (h: number) => (h === 0 ? "At once" : h < 24 ? `${h} hour${h === 1 ? "" : "s"}` : `${h / 24} day${h === 24 ? "" : "s"}`);

/** `ctx` lets downloads started here go through the proxy even when no podcast screen is mounted. */
export function DownloadsView({ lib, device, ctx }: { lib: LibraryStore; device: string; ctx?: ProxyContext }) {
  const doc = useDoc(lib);
  useEffect(() => (ctx ? bindDownloads(lib, device, ctx) : undefined), [lib, device, ctx?.realm, ctx?.server]);
  const [list, setList] = useState<DownloadMeta[]>([]);
  const [storage, setStorage] = useState<StorageInfo | null>(null);
  const [persistMsg, setPersistMsg] = useState("");

  useEffect(() => {
    void downloads.load();
    return downloads.subscribe(setList);
  }, []);
  const doneCount = list.filter((m) => m.state === "done").length;
  useEffect(() => {
    void storageInfo().then(setStorage);
  }, [doneCount]);

  const others = useMemo(
    () =>
      Object.keys(doc.devices)
        .filter((d) => d !== device)
        .map((d) => ({ d, name: deviceName(doc, d) ?? d.slice(0, 8), eps: Object.keys(downloadsOf(doc, d)) }))
        .filter((x) => x.eps.length > 0),
    [doc, device],
  );

  const persist = async () => {
    const ok = await navigator.storage?.persist?.().catch(() => false);
    setPersistMsg(ok ? "Downloads are kept even when storage runs low." : "The browser did not grant persistent storage; it may remove downloads when space runs low.");
    setStorage(await storageInfo());
  };
  const saveSetting = (k: string, v: number) => lib.change((d) => setSetting(d, k, v));

  return (
    <section class="card downloads" aria-labelledby="dl-h">
      <h2 id="dl-h">Downloads</h2>
      <p class="hint" data-usage={storage?.usage ?? ""} data-quota={storage?.quota ?? ""}>
        {storage?.usage != null && storage.quota != null
          ? `Storage: ${mb(storage.usage)} used, ${mb(Math.max(0, storage.quota - storage.usage))} available.`
          : "This browser does not report its storage."}
        {storage?.persisted ? " Storage is persistent." : ""}
      </p>
      {storage && storage.usage != null && storage.quota ? (
        <meter min={0} max={storage.quota} value={storage.usage} aria-label="Storage used" />
      ) : null}
      {!storage?.persisted && (
        <button type="button" onClick={() => void persist()}>
          Keep downloads when storage is low
        </button>
      )}
      {persistMsg && <p class="hint">{persistMsg}</p>}

      <div class="row">
        <label for="dl-keep">Keep newest unplayed downloaded (each podcast)</label>
        <select id="dl-keep" value={String(keepGlobal(doc))} onChange={(e) => saveSetting(SETTINGS.keepUnplayed, Number(e.currentTarget.value))}>
          {KEEP.map((n) => (
            <option key={n} value={String(n)}>
              {n === 0 ? "Off" : n}
            </option>
          ))}
        </select>
      </div>
      <div class="row">
        <label for="dl-grace">Remove played downloads after</label>
        <select id="dl-grace" value={String(graceHours(doc))} onChange={(e) => saveSetting(SETTINGS.graceHours, Number(e.currentTarget.value))}>
          {GRACE.map((h) => (
            <option key={h} value={String(h)}>
              {graceText(h)}
            </option>
          ))}
        </select>
      </div>

      {list.length === 0 ? (
        <p class="hint">No downloads on this device. Use “Download” on an episode to listen without a connection.</p>
      ) : (
        <ul class="plain dl-list" aria-label="Downloads on this device">
          {list.map((m) => {
            const p = percent(m);
            return (
              <li key={m.key} data-download={m.key} data-state={m.state}>
                <div class="ep-title">{m.title}</div>
                <div class="hint">
                  {m.feedTitle} · {m.state === "done" ? mb(m.bytes) : `${mb(m.bytes)}${m.total ? ` of ${mb(m.total)}` : ""}`}
                  {m.state === "paused" && " · paused"}
                </div>
                {m.state !== "done" && m.state !== "error" && <progress max={100} value={p ?? undefined} aria-label={`Downloading ${m.title}`} />}
                {m.error && (
                  <p class={m.state === "error" ? "error" : "hint"} role={m.state === "error" ? "alert" : undefined}>
                    {m.error}
                  </p>
                )}
                <div class="row">
                  {m.state === "downloading" || m.state === "queued" ? (
                    <button type="button" onClick={() => downloads.pause(m.key)} aria-label={`Pause the download of ${m.title}`}>
                      Pause
                    </button>
                  ) : m.state === "paused" || m.state === "error" ? (
                    <button type="button" onClick={() => void downloads.resume(m.key)} aria-label={`Resume the download of ${m.title}`}>
                      {m.state === "error" ? "Try again" : "Resume"}
                    </button>
                  ) : null}
                  <button type="button" onClick={() => void (m.state === "done" ? downloads.remove(m.key) : downloads.cancel(m.key))} aria-label={`${m.state === "done" ? "Remove" : "Cancel"} the download of ${m.title}`}>
                    {m.state === "done" ? "Remove" : "Cancel"}
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      {others.length > 0 && (
        <>
          <h3>On your other devices</h3>
          <ul class="plain">
            {others.map((o) => (
              <li key={o.d}>
                {o.name}: {o.eps.length} episode{o.eps.length === 1 ? "" : "s"} ({o.eps.map((k) => splitEpisodeKey(k)?.[1] ?? k).slice(0, 3).join(", ")}
                {o.eps.length > 3 ? ", …" : ""})
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
