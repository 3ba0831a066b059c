/**
 * Playback settings (mounted by the Settings screen): continuous playback, skip lengths,
 * default trim level, loudness normalisation and boost, all synced in the library; and the
 * time saved by trimming, per podcast and in total over every device (as Overcast shows it).
 * `PodcastPlaybackSettings` is the same for one podcast (speed, trim, boost, auto-download).
 */
import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { useDoc } from "../app/context";
import {
  CONTINUOUS_PLAYBACK, effectiveSettings, feeds as listFeeds, podcastSettings, setPodcastSettings, setSetting, timeSaved,
  timeSavedTotal, TRIM_LEVELS, type PodcastSettingsPatch, type TrimLevel,
} from "../library/doc";
import type { LibraryStore } from "../library/store";
import { SETTINGS } from "./library";
import { SPEEDS } from "./time";
import { TRIM, TRIM_LABELS } from "./trim";
import * as A from "@automerge/automerge/slim";

const SKIPS = [5, 10, 15, 30, 45, 60];
/** The two skip lengths: their select's id and label, the setting, and its default. */
const SKIP_SETTINGS = [
  { id: "pb-back", label: "Skip back", key: SETTINGS.skipBack, fallback: 15 },
  { id: "pb-fwd", label: "Skip forward", key: SETTINGS.skipForward, fallback: 30 },
];

/** "2 hours 5 minutes", "45 seconds". */
export function savedText(sec: number): string {
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h} hour${h === 1 ? "" : "s"}${m ? ` ${m} minute${m === 1 ? "" : "s"}` : ""}`;
  if (m > 0) return `${m} minute${m === 1 ? "" : "s"}`;
  return `${s} second${s === 1 ? "" : "s"}`;
}

const levelText = (l: TrimLevel) => (l === "off" ? "Off" : `${TRIM_LABELS[l]} (silences over ${Math.round(TRIM[l].minSilence * 1000)} ms)`);

export function PlaybackSettings({ lib }: { lib: LibraryStore }) {
  const doc = useDoc(lib);
  const set = (k: string, v: number | boolean | string) => lib.change((d) => setSetting(d, k, v));
  const num = (k: string, d: number) => (typeof doc.settings[k] === "number" ? (doc.settings[k] as number) : d);
  const trim = String(doc.settings[SETTINGS.trim] ?? "off");
  const total = timeSavedTotal(doc);
  const per = timeSaved(doc);
  const titles = Object.fromEntries(listFeeds(doc).map((f) => [f.url, f.title || f.url]));
  return (
    <section class="card playback-settings" aria-labelledby="pb-h">
      <h2 id="pb-h">Playback</h2>
      <label class="inline">
        <input type="checkbox" checked={doc.settings[CONTINUOUS_PLAYBACK] !== false} onChange={(e) => set(CONTINUOUS_PLAYBACK, e.currentTarget.checked)} />{" "}
        Continuous playback (start the next queued episode)
      </label>
      <div class="row">
        {SKIP_SETTINGS.map(({ id, label, key, fallback }) => (
          <Fragment key={id}>
            <label for={id}>{label}</label>
            <select id={id} value={String(num(key, fallback))} onChange={(e) => set(key, Number(e.currentTarget.value))}>
              {SKIPS.map((s) => (
                <option key={s} value={String(s)}>
                  {s} seconds
                </option>
              ))}
            </select>
          </Fragment>
        ))}
      </div>
      <div class="row">
        <label for="pb-trim">Trim silences (default for every podcast)</label>
        <select id="pb-trim" value={trim} onChange={(e) => set(SETTINGS.trim, e.currentTarget.value)}>
          {TRIM_LEVELS.map((l) => (
            <option key={l} value={l}>
              {levelText(l)}
            </option>
          ))}
        </select>
      </div>
      <label class="inline">
        <input type="checkbox" checked={doc.settings[SETTINGS.normalize] !== false} onChange={(e) => set(SETTINGS.normalize, e.currentTarget.checked)} /> Even out
        loudness (−16 LUFS)
      </label>
      <label class="inline">
        <input type="checkbox" checked={doc.settings[SETTINGS.boost] === true} onChange={(e) => set(SETTINGS.boost, e.currentTarget.checked)} /> Volume boost for
        noisy places (default)
      </label>
      <h3>Time saved</h3>
      <p class="time-saved" data-total={total.toFixed(2)}>
        {total > 0 ? `You have saved ${savedText(total)} by trimming silences, on all your devices.` : "Trim silences to save time; it adds up here across your devices."}
      </p>
      {Object.keys(per).length > 0 && (
        <ul class="plain" aria-label="Time saved per podcast">
          {Object.entries(per)
            .sort((a, b) => b[1] - a[1])
            .map(([f, s]) => (
              <li key={f} data-feed={f} data-saved={s.toFixed(2)}>
                {titles[f] ?? f}: {savedText(s)}
              </li>
            ))}
        </ul>
      )}
    </section>
  );
}

/** One podcast's own settings; "Default" follows the global setting. */
export function PodcastPlaybackSettings({ lib, feedUrl }: { lib: LibraryStore; feedUrl: string }) {
  const doc = useDoc(lib);
  const [error, setError] = useState("");
  if (!doc.subscriptions[feedUrl]) return null;
  const own = podcastSettings(doc, feedUrl);
  const eff = effectiveSettings(doc, feedUrl);
  const keep = doc.subscriptions[feedUrl]?.settings?.[SETTINGS.keepUnplayed];
  const change = (p: PodcastSettingsPatch) => {
    try {
      setError("");
      lib.change((d) => setPodcastSettings(d, feedUrl, p));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const setKeep = (v: number | null) =>
    lib.change((d) =>
      A.change(d, (x) => {
        const s = x.subscriptions[feedUrl];
        if (!s) return;
        s.settings ??= {};
        if (v === null) delete s.settings[SETTINGS.keepUnplayed];
        else s.settings[SETTINGS.keepUnplayed] = v;
      }),
    );
  const id = (k: string) => `pp-${k}-${feedUrl.length}`;
  return (
    <div class="podcast-settings" role="group" aria-label="Playback settings for this podcast">
      <label for={id("speed")}>Speed</label>
      <select id={id("speed")} value={own.speed === undefined ? "" : String(own.speed)} onChange={(e) => change({ speed: e.currentTarget.value ? Number(e.currentTarget.value) : null })}>
        <option value="">Default ({eff.speed}×)</option>
        {SPEEDS.map((s) => (
          <option key={s} value={String(s)}>
            {s}×
          </option>
        ))}
      </select>
      <label for={id("trim")}>Trim silences</label>
      <select id={id("trim")} value={own.trim ?? ""} onChange={(e) => change({ trim: (e.currentTarget.value || null) as TrimLevel | null })}>
        <option value="">Default</option>
        {TRIM_LEVELS.map((l) => (
          <option key={l} value={l}>
            {levelText(l)}
          </option>
        ))}
      </select>
      <label for={id("boost")}>Volume boost</label>
      <select id={id("boost")} value={own.boost === undefined ? "" : own.boost ? "on" : "off"} onChange={(e) => change({ boost: e.currentTarget.value === "" ? null : e.currentTarget.value === "on" })}>
        <option value="">Default</option>
        <option value="on">On</option>
        <option value="off">Off</option>
      </select>
      <label for={id("keep")}>Keep newest unplayed downloaded</label>
      <select id={id("keep")} value={typeof keep === "number" ? String(keep) : ""} onChange={(e) => setKeep(e.currentTarget.value === "" ? null : Number(e.currentTarget.value))}>
        <option value="">Default</option>
        {[0, 1, 2, 3, 5, 10].map((n) => (
          <option key={n} value={String(n)}>
            {n === 0 ? "None" : n}
          </option>
        ))}
      </select>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </div>
  );
}
