/**
 * The sleep timer as a pure function of time: minutes from now, the end of the episode or the
 * end of the current chapter; the last `FADE` seconds fade out. The player asks `sleepStep`
 * on every tick and applies the volume it returns, pausing when it says so.
 */
export const SLEEP_MINUTES = [5, 10, 15, 30, 45, 60] as const;
/** Seconds of fade-out before the timer pauses playback. */
export const FADE = 10;

export type SleepTimer =
  /** Wall-clock deadline (ms since epoch). */
  | { kind: "at"; at: number; minutes: number }
  /** When the episode ends. */
  | { kind: "episode" }
  /** When the media position reaches `end` (the chapter's end, media seconds). */
  | { kind: "chapter"; end: number };

export interface SleepInput {
  nowMs: number;
  /** Media position and duration (s); duration may be NaN. */
  position: number;
  duration: number;
  /** Playback rate: media seconds per wall second. */
  rate: number;
}

export interface SleepStep {
  /** Wall seconds left, or null when unknown. */
  remaining: number | null;
  /** Volume factor 0..1 for the fade. */
  volume: number;
  /** Pause now and clear the timer. */
  stop: boolean;
}

/** Where the timer stands at `i`. */
export function sleepStep(t: SleepTimer, i: SleepInput): SleepStep {
  const rate = i.rate > 0 ? i.rate : 1;
  let remaining: number | null;
  if (t.kind === "at") remaining = (t.at - i.nowMs) / 1000;
  else if (t.kind === "chapter") remaining = (t.end - i.position) / rate;
  else remaining = Number.isFinite(i.duration) ? (i.duration - i.position) / rate : null;
  if (remaining === null) return { remaining, volume: 1, stop: false };
  // "End of episode" stops at the end by itself; fading its last seconds is still kind.
  const stop = remaining <= 0 && t.kind !== "episode";
  const volume = remaining >= FADE ? 1 : Math.max(0, remaining / FADE);
  return { remaining: Math.max(0, remaining), volume, stop };
}

/** A timer `minutes` from `nowMs`. */
export const sleepIn = (minutes: number, nowMs: number): SleepTimer => ({ kind: "at", at: nowMs + minutes * 60_000, minutes });
