/**
 * The player dock: renders `current()` from the nowPlaying seam in an <audio> element, with
 * transport controls, speed, skip-silences, Media Session and keyboard shortcuts, and reports
 * progress back through the request's callbacks. Everything it decides is in pure modules
 * (silence.ts, keys.ts, progress.ts, time.ts); this file only wires them to the DOM.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { current, onChange, play, stop, type PlayRequest } from "./nowPlaying";
import { planSkip, totalSilence, type Span } from "./silence";
import { ARROW_WIDGETS, keyAction, SHORTCUTS } from "./keys";
import { ProgressClock, type ProgressReason } from "./progress";
import { clampSpeed, formatTime, seekTarget, spokenTime, SPEEDS, stepSpeed } from "./time";
import "./dock.css";

const SKIP_KEY = "skypod.skipSilences";

type SilenceState =
  | { kind: "loading" }
  | { kind: "ready"; spans: Span[] }
  | { kind: "error"; message: string };

export function PlayerDock() {
  // Every play() gets a fresh Dock (and <audio>), so no state leaks between requests.
  const [now, setNow] = useState({ req: current(), gen: 0 });
  useEffect(() => {
    return onChange((req) => setNow((n) => ({ req, gen: n.gen + 1 })));
  }, []);
  if (!now.req) return null;
  return <Dock key={now.gen} req={now.req} />;
}

function Dock({ req }: { req: PlayRequest }) {
  const audio = useRef<HTMLAudioElement>(null);
  const [playing, setPlaying] = useState(false);
  const [pos, setPos] = useState(req.startAt);
  const [dur, setDur] = useState(NaN);
  const [speed, setSpeedState] = useState(clampSpeed(req.speed));
  const [skip, setSkip] = useState(() => localStorage.getItem(SKIP_KEY) === "1");
  const [silence, setSilence] = useState<SilenceState>({ kind: "loading" });
  // Wall-clock seconds saved by skipping (media seconds / rate at the time of the jump).
  const [saved, setSaved] = useState(0);
  const [error, setError] = useState("");

  // Mutable state the media event handlers read without re-subscribing.
  const live = useRef({ spans: [] as Span[], skip, internalSeek: false, timer: 0, clock: new ProgressClock() });
  live.current.skip = skip;

  const el = () => audio.current;

  const report = (reason: ProgressReason) => {
    const a = el();
    if (!a) return;
    const d = Number.isFinite(a.duration) ? a.duration : 0;
    const p = reason === "end" ? d : a.currentTime;
    if (live.current.clock.should(reason, Date.now(), p)) req.onProgress(p, d);
  };

  const updatePositionState = () => {
    const a = el();
    const ms = navigator.mediaSession;
    if (!a || !ms?.setPositionState || !Number.isFinite(a.duration) || a.duration <= 0) return;
    try {
      ms.setPositionState({
        duration: a.duration,
        playbackRate: a.playbackRate > 0 ? a.playbackRate : 1,
        position: Math.min(Math.max(0, a.currentTime), a.duration),
      });
    } catch {
      /* a browser refusing a state is not worth an error */
    }
  };

  const seekTo = (t: number, internal = false) => {
    const a = el();
    if (!a) return;
    live.current.internalSeek = internal;
    a.currentTime = seekTarget(t, 0, a.duration);
    setPos(a.currentTime);
  };
  const seekBy = (delta: number) => {
    const a = el();
    if (a) seekTo(seekTarget(a.currentTime, delta, a.duration));
  };
  const toggle = () => {
    const a = el();
    if (!a) return;
    if (a.paused) a.play().catch((e: unknown) => setError(`Cannot play this episode: ${String(e)}`));
    else a.pause();
  };
  const setSpeed = (x: number) => {
    const a = el();
    const s = clampSpeed(x);
    if (a) {
      a.defaultPlaybackRate = s;
      a.playbackRate = s;
    }
    setSpeedState(s);
    req.onSpeed(s);
  };
  const setSkipOn = (on: boolean) => {
    localStorage.setItem(SKIP_KEY, on ? "1" : "0");
    setSkip(on);
    live.current.skip = on;
    checkSkip();
  };

  /** Jump over the silence we are in, and aim a timer at the next one (timeupdate is ~4 Hz). */
  const checkSkip = () => {
    const a = el();
    const l = live.current;
    clearTimeout(l.timer);
    if (!a || !l.skip || a.paused || l.spans.length === 0) return;
    const plan = planSkip(a.currentTime, l.spans);
    if (plan.kind === "jump") {
      const rate = a.playbackRate > 0 ? a.playbackRate : 1;
      setSaved((s) => s + plan.skipped / rate);
      seekTo(plan.to, true);
      l.timer = window.setTimeout(checkSkip, 50);
    } else if (plan.kind === "wait") {
      const rate = a.playbackRate > 0 ? a.playbackRate : 1;
      l.timer = window.setTimeout(checkSkip, Math.max(20, (plan.in / rate) * 1000));
    }
  };

  // A new request: load it, fetch its silence map; report the old one's position when it goes.
  useEffect(() => {
    const a = el();
    if (!a) return;
    const l = live.current;
    l.clock.reset();
    l.spans = [];
    setSaved(0);
    setError("");
    setSilence({ kind: "loading" });
    const s = clampSpeed(req.speed);
    setSpeedState(s);
    a.defaultPlaybackRate = s;
    a.src = req.audioUrl;
    a.playbackRate = s;
    if (req.autoplay !== false) {
      // Allowed when the page has had a user gesture (the click that chose the episode);
      // otherwise the Play button is there.
      a.play().catch(() => undefined);
    }
    let gone = false;
    Promise.resolve()
      .then(() => req.silences())
      .then((spans) => {
        if (gone) return;
        l.spans = spans;
        setSilence({ kind: "ready", spans });
        checkSkip();
      })
      .catch((e: unknown) => !gone && setSilence({ kind: "error", message: e instanceof Error ? e.message : String(e) }));
    return () => {
      gone = true;
      clearTimeout(l.timer);
      if (a.currentTime > 0 && !a.ended) req.onProgress(a.currentTime, Number.isFinite(a.duration) ? a.duration : 0);
      a.pause();
    };
  }, [req]);

  // Media Session: lock screen / headset / OS media keys.
  useEffect(() => {
    const ms = navigator.mediaSession;
    if (!ms) return;
    if (typeof MediaMetadata !== "undefined") {
      ms.metadata = new MediaMetadata({
        title: req.title,
        artist: req.feedTitle,
        album: "Skypod",
        artwork: req.artworkUrl ? [{ src: req.artworkUrl }] : [],
      });
    }
    const handlers: Array<[MediaSessionAction, MediaSessionActionHandler | null]> = [
      ["play", () => void el()?.play()],
      ["pause", () => el()?.pause()],
      ["seekbackward", (d) => seekBy(-(d.seekOffset ?? 15))],
      ["seekforward", (d) => seekBy(d.seekOffset ?? 30)],
      [
        "seekto",
        (d) => {
          const a = el();
          if (!a || d.seekTime === undefined) return;
          if (d.fastSeek && "fastSeek" in a) a.fastSeek(d.seekTime);
          else seekTo(d.seekTime);
          updatePositionState();
        },
      ],
      [
        "nexttrack",
        req.next
          ? () => {
              const n = req.next?.();
              if (n) play(n);
            }
          : null,
      ],
    ];
    const set = (a: MediaSessionAction, h: MediaSessionActionHandler | null) => {
      try {
        ms.setActionHandler(a, h);
      } catch {
        /* an action this browser does not know */
      }
    };
    for (const [a, h] of handlers) set(a, h);
    return () => {
      for (const [a] of handlers) set(a, null);
      ms.metadata = null;
      ms.playbackState = "none";
    };
  }, [req]);

  // Keyboard shortcuts anywhere on the page, unless the focused control uses the key.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      // Another handler (a list, a dialog) already used this key.
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
      const a = el();
      if (act.kind === "toggle") toggle();
      else if (act.kind === "seek") seekBy(act.delta);
      else if (act.kind === "speed") setSpeed(stepSpeed(a?.playbackRate ?? speed, act.dir));
      else setSkipOn(!live.current.skip);
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  });

  const speeds: number[] = SPEEDS.includes(speed as (typeof SPEEDS)[number]) ? [...SPEEDS] : [...SPEEDS, speed].sort((x, y) => x - y);
  const remaining = Number.isFinite(dur) ? Math.max(0, dur - pos) : NaN;
  const spans = silence.kind === "ready" ? silence.spans : [];

  return (
    <section class="dock" aria-label="Player" data-playing={playing ? "1" : "0"}>
      <audio
        ref={audio}
        preload="metadata"
        onLoadedMetadata={(e) => {
          const a = e.currentTarget;
          setDur(a.duration);
          if (req.startAt > 0) seekTo(Math.min(req.startAt, Number.isFinite(a.duration) ? a.duration : req.startAt), true);
          updatePositionState();
        }}
        onDurationChange={(e) => setDur(e.currentTarget.duration)}
        onTimeUpdate={(e) => {
          setPos(e.currentTarget.currentTime);
          if (!e.currentTarget.paused) report("tick");
          checkSkip();
        }}
        onPlay={() => {
          setPlaying(true);
          setError("");
          if (navigator.mediaSession) navigator.mediaSession.playbackState = "playing";
          updatePositionState();
          checkSkip();
        }}
        onPause={() => {
          setPlaying(false);
          clearTimeout(live.current.timer);
          if (navigator.mediaSession) navigator.mediaSession.playbackState = "paused";
          updatePositionState();
          if (!el()?.ended) report("pause");
        }}
        onSeeked={() => {
          updatePositionState();
          if (live.current.internalSeek) live.current.internalSeek = false;
          else report("seek");
          checkSkip();
        }}
        onRateChange={(e) => {
          setSpeedState(clampSpeed(e.currentTarget.playbackRate));
          updatePositionState();
          checkSkip();
        }}
        onEnded={() => {
          setPlaying(false);
          report("end");
          req.onEnded();
        }}
        onError={(e) => {
          const code = e.currentTarget.error?.code;
          setError(
            code === 4
              ? "This episode's audio cannot be played in this browser (format or address not supported)."
              : "The episode's audio could not be loaded. Check the connection and try again.",
          );
        }}
      />
      <div class="np">
        {req.artworkUrl && <img class="art" src={req.artworkUrl} alt="" width={48} height={48} />}
        <div class="np-text">
          <p class="np-title" id="np-title">{req.title}</p>
          <p class="np-feed">{req.feedTitle}</p>
        </div>
        <button type="button" class="icon" aria-label="Close player" onClick={() => stop()}>
          <span aria-hidden="true">✕</span>
        </button>
      </div>
      <div class="seek">
        <span class="t" aria-hidden="true">{formatTime(pos)}</span>
        <input
          type="range"
          aria-label="Position"
          aria-describedby="np-title"
          min={0}
          max={Number.isFinite(dur) ? Math.floor(dur) : 0}
          step={1}
          value={Math.floor(pos)}
          aria-valuetext={`${spokenTime(pos)} of ${spokenTime(dur)}`}
          disabled={!Number.isFinite(dur)}
          onInput={(e) => seekTo(Number(e.currentTarget.value))}
        />
        <span class="t" aria-hidden="true">−{formatTime(remaining)}</span>
      </div>
      <div class="transport" role="group" aria-label="Playback">
        <button type="button" aria-label="Back 30 seconds" aria-keyshortcuts={SHORTCUTS.back30} onClick={() => seekBy(-30)}>
          −30
        </button>
        <button type="button" aria-label="Back 15 seconds" aria-keyshortcuts={SHORTCUTS.back15} onClick={() => seekBy(-15)}>
          −15
        </button>
        <button type="button" class="play primary" aria-label={playing ? "Pause" : "Play"} aria-keyshortcuts={SHORTCUTS.toggle} onClick={toggle}>
          <span aria-hidden="true">{playing ? "❚❚" : "▶"}</span>
        </button>
        <button type="button" aria-label="Forward 15 seconds" aria-keyshortcuts={SHORTCUTS.fwd15} onClick={() => seekBy(15)}>
          +15
        </button>
        <button type="button" aria-label="Forward 30 seconds" aria-keyshortcuts={SHORTCUTS.fwd30} onClick={() => seekBy(30)}>
          +30
        </button>
      </div>
      <div class="opts">
        <label class="inline" for="np-speed">
          Speed
        </label>
        <select
          id="np-speed"
          value={String(speed)}
          aria-keyshortcuts={`${SHORTCUTS.slower} ${SHORTCUTS.faster}`}
          onChange={(e) => setSpeed(Number(e.currentTarget.value))}
        >
          {speeds.map((s) => (
            <option key={s} value={String(s)}>
              {s}×
            </option>
          ))}
        </select>
        <label class="inline">
          <input type="checkbox" checked={skip} aria-keyshortcuts={SHORTCUTS.skip} onChange={(e) => setSkipOn(e.currentTarget.checked)} /> Skip silences
        </label>
        {/* Not a live region: announcing every skip would talk over the episode. */}
        <span class="saved" data-saved={saved.toFixed(2)} data-silences={spans.length}>
          {silence.kind === "loading" && "Finding silences…"}
          {silence.kind === "error" && "No silence map"}
          {silence.kind === "ready" &&
            (spans.length === 0
              ? "No silences found"
              : skip
                ? `Time saved ${formatTime(saved)}`
                : `${spans.length} silence${spans.length === 1 ? "" : "s"}, ${formatTime(totalSilence(spans))}`)}
        </span>
      </div>
      {silence.kind === "error" && <p class="hint">Silences cannot be skipped: {silence.message}</p>}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <details class="keys">
        <summary>Keyboard shortcuts</summary>
        <p>
          <kbd>k</kbd>/<kbd>Space</kbd> play/pause · <kbd>←</kbd>/<kbd>→</kbd> 15 s · <kbd>Shift</kbd>+<kbd>←</kbd>/<kbd>→</kbd> 30 s ·{" "}
          <kbd>&lt;</kbd>/<kbd>&gt;</kbd> speed · <kbd>s</kbd> skip silences
        </p>
      </details>
    </section>
  );
}
