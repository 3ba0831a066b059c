/**
 * Skip-silences planning: pure functions over the silence map from `/proxy/silence`
 * (`[[start, end], …]` in seconds). The dock asks `planSkip` on every `timeupdate` and on a
 * timer aimed at the next silence, and does what it says.
 */

export type Span = [number, number];

export interface SkipOptions {
  /** Silence left before speech resumes, so cuts do not sound clipped (s). */
  keep: number;
  /** Jumps shorter than this are not worth a seek (s). */
  minJump: number;
  /** A check this close before a silence counts as inside it (timers fire a little early) (s). */
  early: number;
}

export const DEFAULT_SKIP: SkipOptions = { keep: 0.1, minJump: 0.3, early: 0.05 };

export type SkipPlan =
  /** Seek to `to`; `skipped` media seconds are jumped over. */
  | { kind: "jump"; to: number; skipped: number }
  /** Nothing to do now; the next silence starts in `in` media seconds. */
  | { kind: "wait"; in: number }
  /** No silence ahead. */
  | { kind: "none" };

/** Validate, sort and merge the proxy's spans; malformed entries are dropped. */
export function normalizeSilences(raw: unknown): Span[] {
  if (!Array.isArray(raw)) return [];
  const spans: Span[] = [];
  for (const s of raw) {
    if (!Array.isArray(s) || s.length < 2) continue;
    const [a, b] = s as unknown[];
    if (typeof a !== "number" || typeof b !== "number" || !Number.isFinite(a) || !Number.isFinite(b)) continue;
    if (b <= a || b <= 0) continue;
    spans.push([Math.max(0, a), b]);
  }
  spans.sort((x, y) => x[0] - y[0]);
  const out: Span[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && s[0] <= last[1]) last[1] = Math.max(last[1], s[1]);
    else out.push([s[0], s[1]]);
  }
  return out;
}

/** Index of the first span whose end is after `t` (spans sorted, disjoint). */
function firstEndingAfter(spans: Span[], t: number): number {
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (spans[mid]![1] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** What to do at media time `t` with normalized `spans`. */
export function planSkip(t: number, spans: Span[], opts: SkipOptions = DEFAULT_SKIP): SkipPlan {
  if (!Number.isFinite(t)) return { kind: "none" };
  for (let i = firstEndingAfter(spans, t); i < spans.length; i++) {
    const [a, b] = spans[i]!;
    if (t >= a - opts.early) {
      const to = b - opts.keep;
      const skipped = to - t;
      if (skipped >= opts.minJump) return { kind: "jump", to, skipped };
      // Too little of this silence left to bother: look at the next one.
      continue;
    }
    return { kind: "wait", in: a - t };
  }
  return { kind: "none" };
}

/** Total silence in the map (s), for "n silences, m:ss" summaries. */
export function totalSilence(spans: Span[]): number {
  return spans.reduce((s, [a, b]) => s + (b - a), 0);
}
