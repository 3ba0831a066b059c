/**
 * The player: owns the <audio> element, the skip planner, progress reports, the sleep timer,
 * chapters, transcript and loudness, and exposes one state object that views subscribe to
 * (AntennaPod's PlaybackServiceMediaPlayer is the model). The dock and the panels only render
 * `state` and call methods; what the player decides is in pure modules (silence.ts, trim.ts,
 * sleep.ts, chapters.ts, loudness.ts, progress.ts, time.ts).
 */
import type { TrimLevel } from "../library/doc";
import { chapterAt, nextChapterStart, prevChapterStart, type Chapter, type Cue } from "./chapters";
import { gainFor, LoudnessGraph, mediaSource, type Loudness } from "./loudness";
import { current, onChange, play as playRequest, stop as stopRequest, type PlayRequest, type SilenceResult } from "./nowPlaying";
import { ProgressClock, type ProgressReason } from "./progress";
import { planSkip, type Span } from "./silence";
import { sleepIn, sleepStep, type SleepTimer } from "./sleep";
import { clampSpeed, seekTarget } from "./time";
import { cutsFor, MAP_PARAMS } from "./trim";

export type Status = "idle" | "loading" | "playing" | "paused" | "ended" | "error";

export type Loadable<T> = { kind: "none" } | { kind: "loading" } | { kind: "ready"; value: T } | { kind: "error"; message: string };

/** Device-wide playback settings the player applies (the library binding keeps them current). */
export interface PlayerSettings {
  skipBack: number;
  skipForward: number;
  /** Normalise loudness to −16 LUFS when the episode's loudness is known. */
  normalize: boolean;
}

export const DEFAULT_SETTINGS: PlayerSettings = { skipBack: 15, skipForward: 30, normalize: true };

export interface PlayerState {
  req: PlayRequest | null;
  /** Bumped on every load: views re-mount the element when it changes. */
  gen: number;
  status: Status;
  position: number;
  duration: number;
  speed: number;
  trim: TrimLevel;
  boost: boolean;
  silence: Loadable<Span[]>;
  /** The cuts the trim level makes in the silence map. */
  cuts: Span[];
  /** Listener seconds saved in this episode. */
  saved: number;
  error: string;
  chapters: Loadable<Chapter[]>;
  chapter: number;
  /** Chapter image URL → the image loaded through the proxy (a blob URL). */
  chapterArt: Record<string, string>;
  transcript: Loadable<Cue[]>;
  sleep: SleepTimer | null;
  sleepRemaining: number | null;
  /** Playing a downloaded copy on this device. */
  local: boolean;
  loudness: { measured: Loudness | null; gainDb: number; applied: boolean; note: string };
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Chapter images loaded per episode, at most. */
const MAX_CHAPTER_IMAGES = 64;

/** The artwork to show: the current chapter's image once the proxy gave it, else the episode's. */
export function shownArtwork(st: PlayerState): string | undefined {
  const ch = st.chapters.kind === "ready" ? st.chapters.value[st.chapter] : undefined;
  return (ch?.image ? st.chapterArt[ch.image] : undefined) ?? st.req?.artworkUrl;
}

function initial(gen: number, req: PlayRequest | null): PlayerState {
  return {
    req,
    gen,
    status: req ? "loading" : "idle",
    position: req?.startAt ?? 0,
    duration: NaN,
    speed: clampSpeed(req?.speed ?? 1),
    trim: req?.trim ?? "off",
    boost: req?.boost ?? false,
    silence: { kind: "loading" },
    cuts: [],
    saved: 0,
    error: "",
    chapters: req?.chapters ? { kind: "loading" } : { kind: "none" },
    chapter: -1,
    chapterArt: {},
    transcript: req?.transcript ? { kind: "loading" } : { kind: "none" },
    sleep: null,
    sleepRemaining: null,
    local: false,
    loudness: { measured: null, gainDb: 0, applied: false, note: "" },
  };
}

/** Seconds of unreported saving before `onSaved` is called (fewer library writes). */
const SAVED_BATCH = 5;

export class Player {
  private st: PlayerState = initial(0, null);
  private listeners = new Set<(s: PlayerState) => void>();
  audio: HTMLAudioElement | null = null;
  private graph: LoudnessGraph | null = null;
  /** Whether Web Audio may read the element's source (see `mediaSource`); false until `src` is set. */
  private processable = false;
  private clock = new ProgressClock();
  private spans: Span[] = [];
  private timer = 0;
  private sleepTimer = 0;
  private internalSeek = false;
  private unsaved = 0;
  private settings: PlayerSettings = { ...DEFAULT_SETTINGS };
  private cleanup: Array<() => void> = [];

  get state(): PlayerState {
    return this.st;
  }

  subscribe(f: (s: PlayerState) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private set(patch: Partial<PlayerState>): void {
    this.st = { ...this.st, ...patch };
    for (const l of this.listeners) l(this.st);
  }

  configure(s: Partial<PlayerSettings>): void {
    this.settings = { ...this.settings, ...s };
    this.applyLoudness();
  }

  get config(): PlayerSettings {
    return this.settings;
  }

  // ----- loading -----

  /** Load a request (a fresh <audio> element each time, so nothing leaks between episodes). */
  load(req: PlayRequest | null): void {
    // A "minutes" sleep timer runs on into the next episode; the others end with this one.
    const keepSleep = this.st.sleep?.kind === "at" ? this.st.sleep : null;
    this.unload();
    const gen = this.st.gen + 1;
    this.st = initial(gen, req);
    if (!req) {
      this.set({});
      return;
    }
    if (keepSleep) {
      this.st.sleep = keepSleep;
      this.sleepTimer = window.setInterval(() => this.sleepTick(), 250);
    }
    const a = new Audio();
    a.preload = "metadata";
    this.audio = a;
    this.spans = [];
    this.unsaved = 0;
    this.clock.reset();
    this.wire(a, req, gen);
    this.mediaSession();
    this.set({});
    const speed = clampSpeed(req.speed);
    a.defaultPlaybackRate = speed;
    // Local copy first (offline), else the stream through the proxy (never the enclosure
    // host: it would learn the device's address). Both choices are async; start on the
    // stream when the local copy is not quick.
    const start = (url: string, local: boolean) => {
      if (gen !== this.st.gen) return;
      // CORS mode must be chosen before `src`: it decides whether the loudness graph hears the audio.
      const plan = mediaSource(url, location.origin);
      if (plan.crossOrigin) a.crossOrigin = plan.crossOrigin;
      else a.removeAttribute("crossorigin");
      this.processable = plan.processable;
      a.src = url;
      a.playbackRate = speed;
      this.set({ local });
      // The silence map (with loudness) may have come first: now the graph can be built.
      this.applyLoudness();
      if (req.autoplay !== false) a.play().catch(() => undefined);
    };
    const stream = () =>
      req.streamUrl().then(
        (u) => start(u, false),
        (e: unknown) => {
          if (gen === this.st.gen) this.set({ status: "error", error: `This episode cannot be streamed: ${message(e)}` });
        },
      );
    if (req.localUrl) {
      let decided = false;
      // Offline there is nothing to fall back to: wait for the local copy however long it takes.
      const fallback = navigator.onLine
        ? window.setTimeout(() => {
            decided = true;
            void stream();
          }, 400)
        : 0;
      req
        .localUrl()
        .catch(() => null)
        .then((u) => {
          if (decided) return;
          clearTimeout(fallback);
          decided = true;
          if (u) start(u, true);
          else void stream();
        });
    } else void stream();
    this.loadSide(req, gen);
  }

  private loadSide(req: PlayRequest, gen: number): void {
    const live = () => gen === this.st.gen;
    Promise.resolve()
      .then(() => req.silences(MAP_PARAMS))
      .then((r) => {
        if (!live()) return;
        const res: SilenceResult = Array.isArray(r) ? { spans: r, loudness: null } : r;
        this.spans = res.spans;
        this.set({ silence: { kind: "ready", value: res.spans }, cuts: cutsFor(res.spans, this.st.trim) });
        this.st.loudness = { ...this.st.loudness, measured: res.loudness };
        this.applyLoudness();
        this.checkSkip();
      })
      .catch((e: unknown) => live() && this.set({ silence: { kind: "error", message: message(e) } }));
    if (req.chapters) {
      req
        .chapters()
        .then((c) => {
          if (!live()) return;
          this.set({ chapters: { kind: "ready", value: c }, chapter: chapterAt(c, this.st.position) });
          this.metadata();
          this.loadChapterArt(req, c, live);
        })
        .catch((e: unknown) => live() && this.set({ chapters: { kind: "error", message: message(e) } }));
    }
    if (req.transcript) {
      req
        .transcript()
        .then((c) => live() && this.set({ transcript: { kind: "ready", value: c } }))
        .catch((e: unknown) => live() && this.set({ transcript: { kind: "error", message: message(e) } }));
    }
  }

  private unload(): void {
    const a = this.audio;
    const req = this.st.req;
    clearTimeout(this.timer);
    clearInterval(this.sleepTimer);
    this.flushSaved();
    if (a && req) {
      if (a.currentTime > 0 && !a.ended) req.onProgress(a.currentTime, Number.isFinite(a.duration) ? a.duration : 0);
      a.pause();
    }
    for (const c of this.cleanup.splice(0)) c();
    if (a) {
      a.removeAttribute("src");
      a.load();
      a.remove();
    }
    if (this.graph) void this.graph.ctx.close().catch(() => undefined);
    this.graph = null;
    this.processable = false;
    this.audio = null;
  }

  private wire(a: HTMLAudioElement, req: PlayRequest, gen: number): void {
    const on = (ev: string, f: () => void) => {
      const h = () => gen === this.st.gen && f();
      a.addEventListener(ev, h);
      this.cleanup.push(() => a.removeEventListener(ev, h));
    };
    on("loadedmetadata", () => {
      this.set({ duration: a.duration, status: this.st.status === "loading" ? "paused" : this.st.status });
      if (req.startAt > 0) this.seekTo(Math.min(req.startAt, Number.isFinite(a.duration) ? a.duration : req.startAt), true);
      this.positionState();
    });
    on("durationchange", () => this.set({ duration: a.duration }));
    on("timeupdate", () => {
      const t = a.currentTime;
      const ch = this.st.chapters.kind === "ready" ? chapterAt(this.st.chapters.value, t) : -1;
      const changed = ch !== this.st.chapter;
      this.set({ position: t, chapter: ch });
      if (changed) this.metadata();
      if (!a.paused) this.report("tick");
      this.checkSkip();
    });
    on("play", () => {
      this.graph?.resume();
      this.set({ status: "playing", error: "" });
      if (navigator.mediaSession) navigator.mediaSession.playbackState = "playing";
      this.positionState();
      this.checkSkip();
    });
    on("pause", () => {
      clearTimeout(this.timer);
      if (!a.ended) this.set({ status: "paused" });
      if (navigator.mediaSession) navigator.mediaSession.playbackState = "paused";
      this.positionState();
      if (!a.ended) this.report("pause");
      this.flushSaved();
    });
    on("seeked", () => {
      this.positionState();
      if (this.internalSeek) this.internalSeek = false;
      else this.report("seek");
      this.set({ position: a.currentTime });
      this.checkSkip();
    });
    on("ratechange", () => {
      this.set({ speed: clampSpeed(a.playbackRate) });
      this.positionState();
      this.checkSkip();
    });
    on("ended", () => this.ended());
    on("error", () => {
      const code = a.error?.code;
      this.set({
        status: "error",
        error:
          code === 4
            ? "This episode's audio cannot be played in this browser (format or address not supported)."
            : "The episode's audio could not be loaded. Check the connection and try again.",
      });
    });
  }

  private ended(): void {
    const a = this.audio;
    const req = this.st.req;
    if (!a || !req) return;
    this.set({ status: "ended", position: a.duration });
    this.report("end");
    this.flushSaved();
    const sleeping = this.st.sleep;
    const next = req.onEnded();
    // "End of episode" / "end of chapter" stop the queue from playing on.
    if (sleeping && sleeping.kind !== "at") {
      this.clearSleep();
      return;
    }
    if (next) playRequest({ ...next, autoplay: true });
  }

  // ----- transport -----

  play(): void {
    const a = this.audio;
    if (!a) return;
    this.graph?.resume();
    a.play().catch((e: unknown) => this.set({ error: `Cannot play this episode: ${message(e)}` }));
  }

  pause(): void {
    this.audio?.pause();
  }

  toggle(): void {
    if (!this.audio) return;
    if (this.audio.paused) this.play();
    else this.pause();
  }

  seekTo(t: number, internal = false): void {
    const a = this.audio;
    if (!a) return;
    this.internalSeek = internal;
    a.currentTime = seekTarget(t, 0, a.duration);
    this.set({ position: a.currentTime });
  }

  seekBy(delta: number): void {
    const a = this.audio;
    if (a) this.seekTo(seekTarget(a.currentTime, delta, a.duration));
  }

  skipBack(): void {
    this.seekBy(-this.settings.skipBack);
  }

  skipForward(): void {
    this.seekBy(this.settings.skipForward);
  }

  setSpeed(x: number): void {
    const a = this.audio;
    const s = clampSpeed(x);
    if (a) {
      a.defaultPlaybackRate = s;
      a.playbackRate = s;
    }
    this.set({ speed: s });
    this.st.req?.onSpeed(s);
  }

  setTrim(level: TrimLevel): void {
    this.set({ trim: level, cuts: cutsFor(this.spans, level) });
    this.st.req?.onSettings?.({ trim: level });
    this.checkSkip();
  }

  setBoost(on: boolean): void {
    this.set({ boost: on });
    this.st.req?.onSettings?.({ boost: on });
    this.applyLoudness();
  }

  /** The next queued episode (Media Session "next track"). */
  next(): boolean {
    const n = this.st.req?.next?.();
    if (!n) return false;
    playRequest({ ...n, autoplay: true });
    return true;
  }

  stop(): void {
    stopRequest();
  }

  // ----- chapters -----

  jumpToChapter(i: number): void {
    const c = this.st.chapters.kind === "ready" ? this.st.chapters.value[i] : undefined;
    if (c) this.seekTo(c.start);
  }

  prevChapter(): boolean {
    return this.seekToChapter(prevChapterStart);
  }

  nextChapter(): boolean {
    return this.seekToChapter(nextChapterStart);
  }

  /** Seek to the chapter start `find` picks from the current time; false when there is none. */
  private seekToChapter(find: (chapters: Chapter[], at: number) => number | null): boolean {
    if (this.st.chapters.kind !== "ready" || !this.audio) return false;
    const t = find(this.st.chapters.value, this.audio.currentTime);
    if (t === null) return false;
    this.seekTo(t);
    return true;
  }

  // ----- sleep timer -----

  /** Minutes from now, "episode" or "chapter"; null cancels. */
  setSleep(what: number | "episode" | "chapter" | null): void {
    clearInterval(this.sleepTimer);
    if (this.audio) this.audio.volume = 1;
    if (what === null) {
      this.set({ sleep: null, sleepRemaining: null });
      return;
    }
    let t: SleepTimer;
    if (what === "episode") t = { kind: "episode" };
    else if (what === "chapter") {
      const ch = this.st.chapters.kind === "ready" ? this.st.chapters.value[this.st.chapter] : undefined;
      const end = ch?.end ?? (Number.isFinite(this.st.duration) ? this.st.duration : null);
      if (end === null) return;
      t = { kind: "chapter", end };
    } else t = sleepIn(what, Date.now());
    this.set({ sleep: t });
    this.sleepTick();
    this.sleepTimer = window.setInterval(() => this.sleepTick(), 250);
  }

  private clearSleep(): void {
    clearInterval(this.sleepTimer);
    if (this.audio) this.audio.volume = 1;
    this.set({ sleep: null, sleepRemaining: null });
  }

  private sleepTick(): void {
    const a = this.audio;
    const t = this.st.sleep;
    if (!a || !t) return;
    // A wall-clock timer only runs down while playing.
    if (t.kind === "at" && a.paused) {
      this.set({ sleep: { ...t, at: t.at + 250 } });
      return;
    }
    const s = sleepStep(t, { nowMs: Date.now(), position: a.currentTime, duration: a.duration, rate: a.playbackRate });
    a.volume = s.volume;
    this.set({ sleepRemaining: s.remaining });
    if (s.stop) {
      a.pause();
      this.clearSleep();
    }
  }

  // ----- skip silences -----

  /** Jump over the cut we are in, and aim a timer at the next one (timeupdate is ~4 Hz). */
  private checkSkip(): void {
    const a = this.audio;
    clearTimeout(this.timer);
    if (!a || a.paused || this.st.cuts.length === 0) return;
    const plan = planSkip(a.currentTime, this.st.cuts, { keep: 0, minJump: 0.05, early: 0.03 });
    const rate = a.playbackRate > 0 ? a.playbackRate : 1;
    if (plan.kind === "jump") {
      this.addSaved(plan.skipped / rate);
      this.seekTo(plan.to, true);
      this.timer = window.setTimeout(() => this.checkSkip(), 50);
    } else if (plan.kind === "wait") {
      this.timer = window.setTimeout(() => this.checkSkip(), Math.max(20, (plan.in / rate) * 1000));
    }
  }

  private addSaved(s: number): void {
    this.unsaved += s;
    this.set({ saved: this.st.saved + s });
    if (this.unsaved >= SAVED_BATCH) this.flushSaved();
  }

  private flushSaved(): void {
    if (this.unsaved > 0) this.st.req?.onSaved?.(this.unsaved);
    this.unsaved = 0;
  }

  // ----- loudness -----

  private applyLoudness(): void {
    const a = this.audio;
    if (!a) return;
    const { measured } = this.st.loudness;
    const want = this.settings.normalize || this.st.boost;
    if (!want) {
      this.graph?.set(0, false);
      this.set({ loudness: { measured, gainDb: 0, applied: false, note: "Loudness normalisation is off." } });
      return;
    }
    // Web Audio hears only same-origin or CORS audio: the downloaded copy and the proxy's stream
    // are (see `mediaSource`). Until `src` is set, which of the two is not known yet.
    if (!this.processable) {
      this.set({ loudness: { measured, gainDb: 0, applied: false, note: a.src ? "Loudness cannot be adjusted for this source." : "" } });
      return;
    }
    const plan = gainFor(measured);
    try {
      if (!this.graph) {
        this.graph = new LoudnessGraph(a);
        if (!a.paused) this.graph.resume();
      }
      this.graph.set(plan.gainDb, this.st.boost);
      this.set({
        loudness: { measured, gainDb: plan.gainDb, applied: true, note: measured ? "" : "This episode's loudness is not known yet." },
      });
    } catch (e) {
      this.set({ loudness: { measured, gainDb: 0, applied: false, note: `Loudness cannot be adjusted here: ${message(e)}` } });
    }
  }

  /** The gain the audio graph applies now (dB), read back from the GainNode; null without a graph. */
  graphGainDb(): number | null {
    return this.graph ? Math.round(20 * Math.log10(this.graph.gain.gain.value) * 100) / 100 : null;
  }

  /** The largest sample the audio graph sends out now; null without a graph (E2E hook). */
  graphOutputPeak(): number | null {
    return this.graph ? this.graph.outputPeak() : null;
  }

  // ----- progress and Media Session -----

  /** Chapter images through the proxy (never from their host), a bounded number per episode. */
  private loadChapterArt(req: PlayRequest, chapters: Chapter[], live: () => boolean): void {
    const load = req.chapterArtwork;
    if (!load) return;
    const urls = [...new Set(chapters.map((c) => c.image).filter((u): u is string => !!u))].slice(0, MAX_CHAPTER_IMAGES);
    for (const url of urls) {
      load(url)
        .then((blob) => {
          if (!live()) return;
          this.set({ chapterArt: { ...this.st.chapterArt, [url]: blob } });
          this.metadata();
        })
        .catch(() => undefined);
    }
  }

  /** Title, podcast and artwork; the current chapter's title and image when there is one. */
  private metadata(): void {
    const req = this.st.req;
    const ms = navigator.mediaSession;
    if (!req || !ms || typeof MediaMetadata === "undefined") return;
    const ch = this.st.chapters.kind === "ready" ? this.st.chapters.value[this.st.chapter] : undefined;
    const art = shownArtwork(this.st);
    ms.metadata = new MediaMetadata({
      title: ch ? `${ch.title} · ${req.title}` : req.title,
      artist: req.feedTitle,
      album: ch ? req.title : "Skypod",
      artwork: art ? [{ src: art }] : [],
    });
  }

  /** Lock screen, headset and OS media keys; skip lengths from the settings. */
  private mediaSession(): void {
    const ms = navigator.mediaSession;
    if (!ms) return;
    this.metadata();
    const handlers: Array<[MediaSessionAction, MediaSessionActionHandler | null]> = [
      ["play", () => this.play()],
      ["pause", () => this.pause()],
      ["seekbackward", (d) => this.seekBy(-(d.seekOffset ?? this.settings.skipBack))],
      ["seekforward", (d) => this.seekBy(d.seekOffset ?? this.settings.skipForward)],
      [
        "seekto",
        (d) => {
          const a = this.audio;
          if (!a || d.seekTime === undefined) return;
          if (d.fastSeek && "fastSeek" in a) a.fastSeek(d.seekTime);
          else this.seekTo(d.seekTime);
          this.positionState();
        },
      ],
      // Next: the next chapter when there is one, else the next queued episode.
      ["nexttrack", () => void (this.nextChapter() || this.next())],
      // Previous: the chapter's start (or the one before), else the episode's start.
      ["previoustrack", () => void (this.prevChapter() || this.seekTo(0))],
    ];
    const set = (a: MediaSessionAction, h: MediaSessionActionHandler | null) => {
      try {
        ms.setActionHandler(a, h);
      } catch {
        /* an action this browser does not know */
      }
    };
    for (const [a, h] of handlers) set(a, h);
    this.cleanup.push(() => {
      for (const [a] of handlers) set(a, null);
      ms.metadata = null;
      ms.playbackState = "none";
    });
  }

  private report(reason: ProgressReason): void {
    const a = this.audio;
    const req = this.st.req;
    if (!a || !req) return;
    const d = Number.isFinite(a.duration) ? a.duration : 0;
    const p = reason === "end" ? d : a.currentTime;
    if (this.clock.should(reason, Date.now(), p)) req.onProgress(p, d);
  }

  positionState(): void {
    const a = this.audio;
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
  }
}

/** The app's one player, following the nowPlaying seam. */
export const player = new Player();
onChange((req) => player.load(req));
if (current()) player.load(current());
