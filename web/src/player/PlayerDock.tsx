/**
 * The player dock: renders the `Player` (player.ts) — transport, speed, trim level, boost,
 * sleep timer, chapters and transcript — and maps keys to its methods. It decides nothing
 * itself: the element, the skip planner, progress and timers belong to the player.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { TrimLevel } from "../library/doc";
import { player, shownArtwork } from "./player";
import { usePlayer } from "./usePlayer";
import { ARROW_WIDGETS, keyAction, SHORTCUTS } from "./keys";
import { formatTime, spokenTime, SPEEDS, stepSpeed } from "./time";
import { TRIM, TRIM_LABELS, trimmedSeconds } from "./trim";
import { SLEEP_MINUTES } from "./sleep";
import { ChaptersPanel } from "./ChaptersPanel";
import { TranscriptPanel } from "./TranscriptPanel";
import "./dock.css";

const LEVEL_KEY = "skypod.trimLevel";
const lastLevel = (): Exclude<TrimLevel, "off"> => {
  const v = localStorage.getItem(LEVEL_KEY);
  return v === "mild" || v === "medium" || v === "strong" ? v : "medium";
};

export function PlayerDock() {
  const s = usePlayer();
  const host = useRef<HTMLDivElement>(null);
  const section = useRef<HTMLElement>(null);
  const [panel, setPanel] = useState<"" | "chapters" | "transcript">("");
  const [optsOpen, setOptsOpen] = useState(false);

  // The player owns the <audio> element; the dock only gives it a place in the page.
  useEffect(() => {
    const a = player.audio;
    if (a && host.current && a.parentElement !== host.current) host.current.appendChild(a);
  }, [s.gen, !!s.req]);

  // The dock's height as `--dock-h` on the page: the scroll padding (style.css) keeps what the
  // keyboard focuses clear of it, whatever panel is open.
  useEffect(() => {
    const el = section.current;
    const root = document.documentElement.style;
    if (!el) return;
    const ro = new ResizeObserver(() => root.setProperty("--dock-h", `${Math.ceil(el.getBoundingClientRect().height)}px`));
    ro.observe(el);
    return () => {
      ro.disconnect();
      root.removeProperty("--dock-h");
    };
  }, [!!s.req]);

  // Keyboard shortcuts anywhere on the page, unless the focused control uses the key.
  useEffect(() => {
    if (!s.req) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented) return;
      const t = e.target instanceof HTMLElement ? e.target : null;
      const act = keyAction({
        key: e.key,
        shiftKey: e.shiftKey,
        ctrlKey: e.ctrlKey,
        altKey: e.altKey,
        metaKey: e.metaKey,
        tag: t?.tagName ?? "",
        type: t instanceof HTMLInputElement ? t.type : undefined,
        editable: t?.isContentEditable,
        arrowWidget: !!t?.closest(ARROW_WIDGETS),
      });
      if (!act) return;
      e.preventDefault();
      if (act.kind === "toggle") player.toggle();
      else if (act.kind === "seek") player.seekBy(act.delta);
      else if (act.kind === "speed") player.setSpeed(stepSpeed(player.audio?.playbackRate ?? player.state.speed, act.dir));
      else setSkip(player.state.trim === "off");
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, [!!s.req]);

  if (!s.req) return null;
  const req = s.req;
  const playing = s.status === "playing";
  const speeds: number[] = SPEEDS.includes(s.speed as (typeof SPEEDS)[number]) ? [...SPEEDS] : [...SPEEDS, s.speed].sort((x, y) => x - y);
  const dur = s.duration;
  const remaining = Number.isFinite(dur) ? Math.max(0, dur - s.position) : NaN;
  const spans = s.silence.kind === "ready" ? s.silence.value : [];
  const skip = s.trim !== "off";
  const chapters = s.chapters.kind === "ready" ? s.chapters.value : [];
  const chapter = chapters[s.chapter];
  const art = shownArtwork(s);
  const hasCues = s.transcript.kind === "ready" && s.transcript.value.length > 0;

  function setSkip(on: boolean) {
    player.setTrim(on ? lastLevel() : "off");
  }
  const setLevel = (l: TrimLevel) => {
    if (l !== "off") localStorage.setItem(LEVEL_KEY, l);
    player.setTrim(l);
  };
  const sleepValue = s.sleep ? (s.sleep.kind === "at" ? String(s.sleep.minutes) : s.sleep.kind) : "";

  return (
    <section
      ref={section}
      class="dock"
      aria-label="Player"
      data-playing={playing ? "1" : "0"}
      data-status={s.status}
      data-local={s.local ? "1" : "0"}
      data-gain-db={String(player.graphGainDb() ?? "")}
      data-lufs={String(s.loudness.measured?.integrated_lufs ?? "")}
    >
      <div ref={host} class="media" />
      <div class="np">
        {art && <img class="art" src={art} alt="" width={48} height={48} />}
        <div class="np-text">
          <p class="np-title" id="np-title">{req.title}</p>
          <p class="np-feed">
            {chapter ? <span class="np-chapter">{chapter.title}</span> : req.feedTitle}
            {s.local && <span class="badge"> · downloaded</span>}
          </p>
        </div>
        <button type="button" class="icon" aria-label="Close player" onClick={() => player.stop()}>
          <span aria-hidden="true">✕</span>
        </button>
      </div>
      <div class="seek">
        <span class="t" aria-hidden="true">{formatTime(s.position)}</span>
        <input
          type="range"
          aria-label="Position"
          aria-describedby="np-title"
          min={0}
          max={Number.isFinite(dur) ? Math.floor(dur) : 0}
          step={1}
          value={Math.floor(s.position)}
          aria-valuetext={`${spokenTime(s.position)} of ${spokenTime(dur)}`}
          disabled={!Number.isFinite(dur)}
          onInput={(e) => player.seekTo(Number(e.currentTarget.value))}
        />
        <span class="t" aria-hidden="true">−{formatTime(remaining)}</span>
      </div>
      <div class="transport" role="group" aria-label="Playback">
        <button type="button" aria-label="Back 30 seconds" aria-keyshortcuts={SHORTCUTS.back30} onClick={() => player.seekBy(-30)}>
          −30
        </button>
        <button type="button" aria-label="Back 15 seconds" aria-keyshortcuts={SHORTCUTS.back15} onClick={() => player.seekBy(-15)}>
          −15
        </button>
        <button type="button" class="play primary" aria-label={playing ? "Pause" : "Play"} aria-keyshortcuts={SHORTCUTS.toggle} onClick={() => player.toggle()}>
          <span aria-hidden="true">{playing ? "❚❚" : "▶"}</span>
        </button>
        <button type="button" aria-label="Forward 15 seconds" aria-keyshortcuts={SHORTCUTS.fwd15} onClick={() => player.seekBy(15)}>
          +15
        </button>
        <button type="button" aria-label="Forward 30 seconds" aria-keyshortcuts={SHORTCUTS.fwd30} onClick={() => player.seekBy(30)}>
          +30
        </button>
      </div>
      <div class="opts">
        <label class="inline" for="np-speed">
          Speed
        </label>
        <select
          id="np-speed"
          value={String(s.speed)}
          aria-keyshortcuts={`${SHORTCUTS.slower} ${SHORTCUTS.faster}`}
          onChange={(e) => player.setSpeed(Number(e.currentTarget.value))}
        >
          {speeds.map((x) => (
            <option key={x} value={String(x)}>
              {x}×
            </option>
          ))}
        </select>
        <label class="inline">
          <input type="checkbox" checked={skip} aria-keyshortcuts={SHORTCUTS.skip} onChange={(e) => setSkip(e.currentTarget.checked)} /> Skip silences
        </label>
        {/* Not a live region: announcing every skip would talk over the episode. */}
        <span class="saved" data-saved={s.saved.toFixed(2)} data-silences={spans.length} data-cuts={s.cuts.length}>
          {s.silence.kind === "loading" && "Finding silences…"}
          {s.silence.kind === "error" && "No silence map"}
          {s.silence.kind === "ready" &&
            (s.cuts.length === 0 && spans.length === 0
              ? "No silences found"
              : skip
                ? `Time saved ${formatTime(s.saved)}`
                : `${spans.length} silence${spans.length === 1 ? "" : "s"}, ${formatTime(trimmedSeconds(spans, lastLevel()))}`)}
        </span>
      </div>
      {s.silence.kind === "error" && <p class="hint">Silences cannot be skipped: {s.silence.message}</p>}
      {s.error && (
        <p role="alert" class="error">
          {s.error}
        </p>
      )}
      <div class="foot">
        <details class="keys">
          <summary>Keyboard shortcuts</summary>
          <p>
            <kbd>k</kbd>/<kbd>Space</kbd> play/pause · <kbd>←</kbd>/<kbd>→</kbd> 15 s · <kbd>Shift</kbd>+<kbd>←</kbd>/<kbd>→</kbd> 30 s ·{" "}
            <kbd>&lt;</kbd>/<kbd>&gt;</kbd> speed · <kbd>s</kbd> skip silences
          </p>
        </details>
        <details class="options" open={optsOpen} onToggle={(e) => setOptsOpen(e.currentTarget.open)}>
          <summary>Trim, boost, sleep timer</summary>
          <div class="opts more">
          {/* Each label stays on one line with its control when the options wrap. */}
          <span class="pair">
            <label class="inline" for="np-trim">
              Trim level
            </label>
            <select id="np-trim" value={skip ? s.trim : lastLevel()} onChange={(e) => setLevel(e.currentTarget.value as TrimLevel)}>
              {(Object.keys(TRIM) as Array<keyof typeof TRIM>).map((l) => (
                <option key={l} value={l}>
                  {TRIM_LABELS[l]} ({Math.round(TRIM[l].minSilence * 1000)} ms)
                </option>
              ))}
            </select>
          </span>
          <label class="inline">
            <input type="checkbox" checked={s.boost} onChange={(e) => player.setBoost(e.currentTarget.checked)} /> Volume boost
          </label>
          <span class="pair">
            <label class="inline" for="np-sleep">
              Sleep timer
            </label>
            <select
              id="np-sleep"
              value={sleepValue}
              onChange={(e) => {
                const v = e.currentTarget.value;
                player.setSleep(v === "" ? null : v === "episode" || v === "chapter" ? v : Number(v));
              }}
            >
              <option value="">Off</option>
              {SLEEP_MINUTES.map((m) => (
                <option key={m} value={String(m)}>
                  {m} minutes
                </option>
              ))}
              <option value="episode">End of episode</option>
              <option value="chapter" disabled={chapters.length === 0 && !Number.isFinite(dur)}>
                End of chapter
              </option>
            </select>
          </span>
          </div>
        </details>
        {chapters.length > 0 && (
          <button type="button" class="small" aria-expanded={panel === "chapters"} aria-controls="np-chapters" onClick={() => setPanel(panel === "chapters" ? "" : "chapters")}>
            Chapters ({chapters.length})
          </button>
        )}
        {hasCues && (
          <button type="button" class="small" aria-expanded={panel === "transcript"} aria-controls="np-transcript" onClick={() => setPanel(panel === "transcript" ? "" : "transcript")}>
            Transcript
          </button>
        )}
        {s.chapters.kind === "error" && <span class="note" title={s.chapters.message}>No chapters</span>}
        {s.transcript.kind === "error" && <span class="note" title={s.transcript.message}>No transcript</span>}
        {s.sleepRemaining !== null && (
          <span class="sleep-left" data-remaining={s.sleepRemaining.toFixed(1)}>
            Sleeps in {formatTime(s.sleepRemaining)}
          </span>
        )}
      </div>
      {s.loudness.note && s.boost && <p class="hint">{s.loudness.note}</p>}
      {panel === "chapters" && chapters.length > 0 && <ChaptersPanel chapters={chapters} current={s.chapter} />}
      {panel === "transcript" && s.transcript.kind === "ready" && <TranscriptPanel cues={s.transcript.value} position={s.position} />}
    </section>
  );
}
