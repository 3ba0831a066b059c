/** `m:ss` or `h:mm:ss`; unknown or negative durations show as `--:--`. */
export function formatTime(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return "--:--";
  const s = Math.floor(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Words for screen readers: "1 hour 2 minutes 5 seconds". */
export function spokenTime(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return "unknown";
  const s = Math.floor(sec);
  const parts: string[] = [];
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h) parts.push(`${h} hour${h === 1 ? "" : "s"}`);
  if (m) parts.push(`${m} minute${m === 1 ? "" : "s"}`);
  if (r || parts.length === 0) parts.push(`${r} second${r === 1 ? "" : "s"}`);
  return parts.join(" ");
}

/** Speeds offered by the dock (the issue asks for 0.5–3×). */
export const SPEEDS = [0.5, 0.75, 1, 1.1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 3] as const;
export const MIN_SPEED = 0.5;
export const MAX_SPEED = 3;

export function clampSpeed(x: number): number {
  if (!Number.isFinite(x)) return 1;
  return Math.min(MAX_SPEED, Math.max(MIN_SPEED, Math.round(x * 100) / 100));
}

/** The next offered speed above (`dir` 1) or below (`dir` -1) `x`, staying in range. */
export function stepSpeed(x: number, dir: 1 | -1): number {
  const c = clampSpeed(x);
  if (dir > 0) return SPEEDS.find((s) => s > c + 1e-9) ?? MAX_SPEED;
  return [...SPEEDS].reverse().find((s) => s < c - 1e-9) ?? MIN_SPEED;
}

/** Where a relative seek lands, kept inside [0, duration] (duration may be unknown). */
export function seekTarget(pos: number, delta: number, duration: number): number {
  const t = Math.max(0, pos + delta);
  return Number.isFinite(duration) && duration > 0 ? Math.min(t, duration) : t;
}
