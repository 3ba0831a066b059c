// Pure parts of the player and downloads: trim levels, sleep timer, chapter/cue lookup and the
// virtual window, loudness gain, auto-download planning.
import { describe, expect, it } from "vitest";
import { cutsFor, MAP_PARAMS, TRIM, trimmedSeconds } from "../src/player/trim";
import { FADE, sleepIn, sleepStep } from "../src/player/sleep";
import { parseVttOrSrt, chapterAt, cueAt, nextChapterStart, normalizeChapters, normalizeCues, prevChapterStart, searchCues, visibleRows } from "../src/player/chapters";
import { CEILING_DBTP, gainFor, MAX_GAIN_DB, mediaSource, TARGET_LUFS } from "../src/player/loudness";
import { planSkip, type Span } from "../src/player/silence";
import { autoDownloadPlan } from "../src/downloads/plan";

describe("trim levels", () => {
  // 0.1 s, 0.35 s, 0.5 s and 6 s silences.
  const spans: Span[] = [[1, 1.1], [2, 2.35], [3, 3.5], [8, 14]];
  it("are (minimum silence, padding) pairs after Pocket Casts, from one map", () => {
    expect(TRIM.mild).toEqual({ minSilence: 0.416, padding: 0.291 });
    expect(TRIM.strong.padding).toBe(0);
    expect(MAP_PARAMS.minSilence).toBeLessThanOrEqual(Math.min(...Object.values(TRIM).map((t) => t.minSilence)));
  });
  it("give different skip plans", () => {
    expect(cutsFor(spans, "off")).toEqual([]);
    const mild = cutsFor(spans, "mild");
    const medium = cutsFor(spans, "medium");
    const strong = cutsFor(spans, "strong");
    expect(mild.length).toBe(2); // 0.5 s and 6 s
    expect(medium.length).toBe(3); // + 0.35 s
    expect(strong.length).toBe(4); // every one
    expect(mild[1]![0]).toBeCloseTo(8 + 0.291 / 2);
    expect(mild[1]![1]).toBeCloseTo(14 - 0.291 / 2);
    expect(strong[3]).toEqual([8, 14]);
    expect(trimmedSeconds(spans, "strong")).toBeGreaterThan(trimmedSeconds(spans, "medium"));
    expect(trimmedSeconds(spans, "medium")).toBeGreaterThan(trimmedSeconds(spans, "mild"));
  });
  it("plan a jump to the end of the cut, not into speech", () => {
    const cuts = cutsFor(spans, "medium");
    const p = planSkip(8.2, cuts, { keep: 0, minJump: 0.05, early: 0.03 });
    expect(p.kind).toBe("jump");
    if (p.kind === "jump") expect(p.to).toBeCloseTo(14 - 0.225 / 2);
    expect(planSkip(5, cuts, { keep: 0, minJump: 0.05, early: 0.03 })).toEqual({ kind: "wait", in: 8 + 0.1125 - 5 });
  });
});

describe("sleep timer", () => {
  const at = (pos: number, nowMs = 0, rate = 1) => ({ nowMs, position: pos, duration: 600, rate });
  it("fades over the last 10 s and stops at the deadline", () => {
    const t = sleepIn(5, 0);
    expect(sleepStep(t, at(0, 0))).toEqual({ remaining: 300, volume: 1, stop: false });
    const s = sleepStep(t, at(0, 295_000));
    expect(s.volume).toBeCloseTo(5 / FADE);
    expect(s.stop).toBe(false);
    expect(sleepStep(t, at(0, 300_000)).stop).toBe(true);
  });
  it("end of chapter counts media time at the playback rate; end of episode never pauses by itself", () => {
    expect(sleepStep({ kind: "chapter", end: 100 }, at(80, 0, 2)).remaining).toBe(10);
    expect(sleepStep({ kind: "chapter", end: 100 }, at(100)).stop).toBe(true);
    const e = sleepStep({ kind: "episode" }, at(600));
    expect(e.stop).toBe(false);
    expect(e.volume).toBe(0);
    expect(sleepStep({ kind: "episode" }, { ...at(0), duration: NaN }).remaining).toBeNull();
  });
});

describe("chapters and cues", () => {
  const ch = normalizeChapters({
    chapters: [{ start: 60, title: "Two" }, { start: 0, title: "One", end: 70 }, { startTime: 120, title: "Three", img: "a.png" }, { title: "bad" }, { start: 200, toc: false }],
  });
  it("validates, sorts and closes chapters", () => {
    expect(ch.map((c) => [c.start, c.end, c.title])).toEqual([[0, 60, "One"], [60, 120, "Two"], [120, null, "Three"]]);
    expect(ch[2]!.image).toBe("a.png");
  });
  it("finds the chapter at a time, and the previous/next starts", () => {
    expect(chapterAt(ch, 0)).toBe(0);
    expect(chapterAt(ch, 59.9)).toBe(0);
    expect(chapterAt(ch, 60)).toBe(1);
    expect(chapterAt(ch, 5000)).toBe(2);
    expect(nextChapterStart(ch, 10)).toBe(60);
    expect(nextChapterStart(ch, 130)).toBeNull();
    expect(prevChapterStart(ch, 70)).toBe(60);
    expect(prevChapterStart(ch, 61)).toBe(0);
  });
  it("finds the cue of thousands by binary search, and searches text", () => {
    const cues = normalizeCues({ cues: Array.from({ length: 5000 }, (_, i) => ({ start: i * 2, end: i * 2 + 1.5, speaker: i % 2 ? "Bo" : null, text: `line ${i}` })) });
    expect(cues.length).toBe(5000);
    expect(cueAt(cues, 0)).toBe(0);
    expect(cueAt(cues, 4001)).toBe(2000);
    expect(cueAt(cues, -1)).toBe(-1);
    expect(searchCues(cues, "LINE 4999")).toEqual([4999]);
    expect(searchCues(cues, "bo line 1").length).toBeGreaterThan(100);
    expect(searchCues(cues, "  ")).toEqual([]);
    expect(normalizeCues({ cues: [{ start: 1, text: "" }, { start: "x", text: "a" }, { start: 2, end: 1, text: "b" }] })).toEqual([
      { start: 2, end: 2, speaker: null, text: "b" },
    ]);
  });
  it("parses WebVTT and SRT cues with speakers", () => {
    const vtt = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.500 align:start\n<v Alice>Hello <b>there</b>\n\n00:01:00.000 --> 00:01:01.000\nno speaker\n\nbroken --> x\nskip";
    expect(parseVttOrSrt(vtt)).toEqual([
      { start: 1, end: 2.5, speaker: "Alice", text: "Hello there" },
      { start: 60, end: 61, speaker: null, text: "no speaker" },
    ]);
    expect(parseVttOrSrt("1\r\n00:00:03,5 --> 00:00:04,000\r\nsrt line\r\n")[0]).toEqual({ start: 3.5, end: 4, speaker: null, text: "srt line" });
  });
  it("renders only the rows in view", () => {
    expect(visibleRows(0, 300, 50, 5000, 2)).toEqual([0, 8]);
    expect(visibleRows(50_000, 300, 50, 5000, 2)).toEqual([998, 1008]);
    expect(visibleRows(0, 300, 50, 0)).toEqual([0, 0]);
  });
});

describe("loudness", () => {
  it("normalises to −16 LUFS, with the limiter when the peak would pass −1 dBTP", () => {
    expect(gainFor({ integrated_lufs: -23, true_peak_dbtp: -10 })).toEqual({ gainDb: 7, limiting: false });
    expect(gainFor({ integrated_lufs: -20, true_peak_dbtp: -2 })).toEqual({ gainDb: 4, limiting: true });
    expect(gainFor({ integrated_lufs: -12, true_peak_dbtp: 0 }).gainDb).toBe(TARGET_LUFS + 12);
    expect(gainFor({ integrated_lufs: -60, true_peak_dbtp: -40 }).gainDb).toBe(MAX_GAIN_DB);
    expect(gainFor(null)).toEqual({ gainDb: 0, limiting: false });
    expect(gainFor({ integrated_lufs: -Infinity, true_peak_dbtp: -Infinity })).toEqual({ gainDb: 0, limiting: false });
    expect(CEILING_DBTP).toBe(-1);
  });

  it("processes downloads and streams alike: same-origin as is, the proxy on another origin in CORS mode", () => {
    const page = "https://pod.example";
    // A downloaded copy: a blob URL of this page.
    expect(mediaSource("blob:https://pod.example/4f1c", page)).toEqual({ crossOrigin: null, processable: true });
    // The stream through `skypod serve`'s own /proxy/media: same origin, relative or absolute.
    expect(mediaSource("/proxy/media?url=x&token=t", page)).toEqual({ crossOrigin: null, processable: true });
    expect(mediaSource("https://pod.example/proxy/media?url=x&token=t", page)).toEqual({ crossOrigin: null, processable: true });
    // A realm server elsewhere (`?server=`): CORS mode, or the graph would hear silence.
    expect(mediaSource("http://127.0.0.1:9/proxy/media?url=x&token=t", page)).toEqual({ crossOrigin: "anonymous", processable: true });
    expect(mediaSource("https://pod.example:8443/proxy/media", page)).toEqual({ crossOrigin: "anonymous", processable: true });
    // Nothing the graph could read.
    expect(mediaSource("blob:https://other.example/4f1c", page).processable).toBe(false);
    expect(mediaSource("data:audio/wav;base64,UklGRg==", page)).toEqual({ crossOrigin: null, processable: false });
    expect(mediaSource("http://[bad", page)).toEqual({ crossOrigin: null, processable: false });
  });
});

describe("auto-download plan", () => {
  const H = 3_600_000;
  const eps = [
    { key: "f e1", published: 1, played: true, playedAt: 0 },
    { key: "f e2", published: 2, played: false },
    { key: "f e3", published: 3, played: false },
    { key: "f e4", published: 4, played: true, playedAt: 10 * H },
    { key: "f e5", published: 5, played: false },
  ];
  it("keeps the newest N unplayed and removes played ones after the grace period", () => {
    const p = autoDownloadPlan({ feeds: { f: eps }, downloaded: new Set(["f e1", "f e4", "f e5"]), keepPerFeed: {}, keepGlobal: 2, graceHours: 24, now: 30 * H });
    expect(p).toEqual({ download: ["f e3"], remove: ["f e1"] });
  });
  it("a podcast's own N wins over the global one; 0 downloads nothing", () => {
    const p = autoDownloadPlan({ feeds: { f: eps, g: [{ key: "g x", published: 1, played: false }] }, downloaded: new Set(), keepPerFeed: { f: 0 }, keepGlobal: 1, graceHours: 0, now: 0 });
    expect(p.download).toEqual(["g x"]);
  });
});
