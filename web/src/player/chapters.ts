/**
 * Chapters and transcript cues: validation of the proxy's JSON and lookups by media time
 * (binary search, so a transcript of thousands of cues costs nothing per tick). Pure.
 */
export interface Chapter {
  start: number;
  end: number | null;
  title: string;
  image: string | null;
  url: string | null;
}

export interface Cue {
  start: number;
  end: number;
  speaker: string | null;
  text: string;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null);
const text = (v: unknown): string | null => (typeof v === "string" && v.trim() ? v.trim() : null);

/** The proxy's `{chapters: [...]}` (or a bare list) → sorted chapters; malformed entries are dropped. */
export function normalizeChapters(raw: unknown): Chapter[] {
  const list = Array.isArray(raw) ? raw : Array.isArray((raw as { chapters?: unknown })?.chapters) ? (raw as { chapters: unknown[] }).chapters : [];
  const out: Chapter[] = [];
  for (const c of list) {
    if (!c || typeof c !== "object") continue;
    const o = c as Record<string, unknown>;
    const start = num(o.start ?? o.startTime);
    if (start === null) continue;
    if (o.toc === false) continue; // Podcasting 2.0: not a table-of-contents entry
    out.push({ start, end: num(o.end ?? o.endTime), title: text(o.title) ?? `Chapter ${out.length + 1}`, image: text(o.image ?? o.img), url: text(o.url) });
  }
  out.sort((a, b) => a.start - b.start);
  // A chapter without an end lasts until the next one.
  for (let i = 0; i < out.length; i++) {
    const next = out[i + 1];
    const c = out[i]!;
    if (next && (c.end === null || c.end > next.start)) c.end = next.start;
  }
  return out;
}

/** The proxy's `{cues: [...]}` → sorted cues with text. */
export function normalizeCues(raw: unknown): Cue[] {
  const list = Array.isArray((raw as { cues?: unknown })?.cues) ? (raw as { cues: unknown[] }).cues : Array.isArray(raw) ? raw : [];
  const out: Cue[] = [];
  for (const c of list) {
    if (!c || typeof c !== "object") continue;
    const o = c as Record<string, unknown>;
    const start = num(o.start);
    const t = text(o.text);
    if (start === null || t === null) continue;
    const end = num(o.end);
    out.push({ start, end: end !== null && end >= start ? end : start, speaker: text(o.speaker), text: t });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** Index of the last item starting at or before `t`, or -1. */
export function lastStartingBy(items: ReadonlyArray<{ start: number }>, t: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid]!.start <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The chapter playing at `t` (index), or -1 before the first. */
export function chapterAt(chapters: Chapter[], t: number): number {
  const i = lastStartingBy(chapters, t);
  if (i < 0) return -1;
  const c = chapters[i]!;
  return c.end === null || t < c.end || i === chapters.length - 1 ? i : -1;
}

/** Where "previous chapter" goes: the current chapter's start, or the one before when within `grace` s of it. */
export function prevChapterStart(chapters: Chapter[], t: number, grace = 3): number | null {
  const i = lastStartingBy(chapters, t);
  if (i < 0) return null;
  if (t - chapters[i]!.start > grace) return chapters[i]!.start;
  return i > 0 ? chapters[i - 1]!.start : chapters[i]!.start;
}

export function nextChapterStart(chapters: Chapter[], t: number): number | null {
  const i = lastStartingBy(chapters, t + 1e-6);
  return chapters[i + 1]?.start ?? null;
}

/** The cue being spoken at `t` (the last cue started by `t`), or -1. */
export function cueAt(cues: Cue[], t: number): number {
  return lastStartingBy(cues, t);
}

/** Indices of cues whose text (or speaker) contains every word of `query`, case-insensitively. */
export function searchCues(cues: Cue[], query: string): number[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  const out: number[] = [];
  cues.forEach((c, i) => {
    const hay = `${c.speaker ?? ""} ${c.text}`.toLowerCase();
    if (words.every((w) => hay.includes(w))) out.push(i);
  });
  return out;
}

/** Rows to render in a virtual list: `[first, last)` with `overscan` rows either side. */
export function visibleRows(scrollTop: number, viewport: number, rowHeight: number, count: number, overscan = 8): [number, number] {
  if (count === 0 || rowHeight <= 0) return [0, 0];
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  return [first, Math.max(first, last)];
}

/** Seconds from a WebVTT / SRT timestamp (`01:02:03.456`, `02:03,456`), or null. */
function stamp(t: string): number | null {
  const m = /^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$/.exec(t.trim());
  if (!m) return null;
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]!.padEnd(3, "0")) / 1000;
}

/** Cues of a WebVTT or SRT file (voice tags `<v Name>` become the speaker; other tags are dropped). */
export function parseVttOrSrt(text: string): Cue[] {
  const out: Cue[] = [];
  for (const block of text.replace(/\r/g, "").split(/\n{2,}/)) {
    const lines = block.split("\n");
    const i = lines.findIndex((l) => l.includes("-->"));
    if (i < 0) continue;
    const [a, b] = lines[i]!.split("-->");
    const start = stamp(a ?? "");
    const end = stamp((b ?? "").trim().split(/\s+/)[0] ?? "");
    if (start === null || end === null) continue;
    let speaker: string | null = null;
    const body = lines
      .slice(i + 1)
      .join(" ")
      .replace(/<v(?:\.[^ >]*)?\s+([^>]+)>/g, (_, n: string) => {
        speaker ??= n.trim();
        return "";
      })
      .replace(/<[^>]*>/g, "")
      .trim();
    if (body) out.push({ start, end: Math.max(start, end), speaker, text: body });
  }
  return out.sort((x, y) => x.start - y.start);
}
