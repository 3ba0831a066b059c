/**
 * Trim levels: each a (minimum silence, padding kept) pair, after Pocket Casts Android
 * (416/291 ms, 300/225 ms, 83/0 ms at about −42 dBFS). The silence map is fetched once per
 * episode with the shortest minimum of all levels (`MAP_PARAMS`); each level keeps the spans it
 * trims and the padding it leaves, so switching levels needs no new analysis. Pure.
 */
import type { TrimLevel } from "../library/doc";
import type { Span } from "./silence";

export interface TrimParams {
  /** Shortest silence trimmed (s). */
  minSilence: number;
  /** Silence kept in total around a cut (s), half before and half after. */
  padding: number;
}

export const TRIM: Record<Exclude<TrimLevel, "off">, TrimParams> = {
  mild: { minSilence: 0.416, padding: 0.291 },
  medium: { minSilence: 0.3, padding: 0.225 },
  strong: { minSilence: 0.083, padding: 0 },
};

/** `/proxy/silence` parameters that cover every level. */
export const MAP_PARAMS = { thresholdDb: -42, minSilence: 0.083 } as const;

export const TRIM_LABELS: Record<TrimLevel, string> = { off: "Off", mild: "Mild", medium: "Medium", strong: "Strong" };

/** Shortest cut worth a seek of the media element (s): shorter jumps cost more than they save. */
export const MIN_CUT = 0.05;

/** The cuts a level makes in a (normalized) silence map: `[from, to]` media seconds, sorted. */
export function cutsFor(spans: Span[], level: TrimLevel): Span[] {
  if (level === "off") return [];
  const p = TRIM[level];
  const out: Span[] = [];
  for (const [a, b] of spans) {
    if (b - a < p.minSilence) continue;
    const from = a + p.padding / 2;
    const to = b - p.padding / 2;
    if (to - from >= MIN_CUT) out.push([from, to]);
  }
  return out;
}

/** Media seconds a level removes from the map. */
export function trimmedSeconds(spans: Span[], level: TrimLevel): number {
  return cutsFor(spans, level).reduce((s, [a, b]) => s + (b - a), 0);
}
