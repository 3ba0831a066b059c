import { describe, expect, it } from "vitest";
import { DEFAULT_SKIP, normalizeSilences, planSkip, totalSilence, type Span } from "../src/player/silence";
import { clampSpeed, formatTime, seekTarget, spokenTime, stepSpeed } from "../src/player/time";
import { keyAction, type KeyInput } from "../src/player/keys";
import { ProgressClock } from "../src/player/progress";

describe("normalizeSilences", () => {
  it("sorts, merges overlaps and drops malformed spans", () => {
    const raw = [[10, 12], [1, 2], [11.5, 13], "x", [5], [4, 3], [NaN, 2], [-1, 0.5], [6, Infinity], [20, 21]];
    expect(normalizeSilences(raw)).toEqual([[0, 0.5], [1, 2], [10, 13], [20, 21]]);
  });
  it("anything but an array is no silences", () => {
    expect(normalizeSilences(null)).toEqual([]);
    expect(normalizeSilences({ silences: [[1, 2]] })).toEqual([]);
  });
});

describe("planSkip", () => {
  const spans: Span[] = [[3, 9], [20, 20.6], [30, 30.3]];
  it("inside a silence: jump to just before its end", () => {
    const p = planSkip(4, spans);
    expect(p.kind).toBe("jump");
    if (p.kind !== "jump") return;
    expect(p.to).toBeCloseTo(9 - DEFAULT_SKIP.keep);
    expect(p.skipped).toBeCloseTo(9 - DEFAULT_SKIP.keep - 4);
  });
  it("a timer firing a little early still counts as inside", () => {
    expect(planSkip(3 - DEFAULT_SKIP.early / 2, spans).kind).toBe("jump");
    const p = planSkip(3 - DEFAULT_SKIP.early * 2, spans);
    expect(p.kind).toBe("wait");
    if (p.kind === "wait") expect(p.in).toBeCloseTo(DEFAULT_SKIP.early * 2);
  });
  it("before a silence: wait for it", () => {
    const p = planSkip(1, spans);
    expect(p).toEqual({ kind: "wait", in: 2 });
  });
  it("after the jump target, no new jump in the same silence (no seek loop)", () => {
    const p = planSkip(9 - DEFAULT_SKIP.keep, spans);
    expect(p.kind).toBe("wait");
    if (p.kind === "wait") expect(p.in).toBeCloseTo(11 + DEFAULT_SKIP.keep);
  });
  it("a silence too short to be worth a seek is passed over", () => {
    // 30–30.3: 0.2 s would be jumped, under minJump
    const p = planSkip(30, spans);
    expect(p).toEqual({ kind: "none" });
    // 20–20.6 from its start: 0.5 s, worth it
    expect(planSkip(20, spans).kind).toBe("jump");
  });
  it("after the last silence, or with none, nothing to do", () => {
    expect(planSkip(40, spans)).toEqual({ kind: "none" });
    expect(planSkip(0, [])).toEqual({ kind: "none" });
    expect(planSkip(NaN, spans)).toEqual({ kind: "none" });
  });
  it("at a span's exact end, that span is over", () => {
    expect(planSkip(9, spans)).toEqual({ kind: "wait", in: 11 });
  });
  it("uses binary search correctly over many spans", () => {
    const many: Span[] = Array.from({ length: 1000 }, (_, i) => [i * 10 + 5, i * 10 + 7]);
    const p = planSkip(5005.5, many);
    expect(p.kind).toBe("jump");
    if (p.kind === "jump") expect(p.to).toBeCloseTo(5007 - DEFAULT_SKIP.keep);
    expect(planSkip(5008, many)).toEqual({ kind: "wait", in: 7 });
  });
  it("totals the silence", () => {
    expect(totalSilence(spans)).toBeCloseTo(6.9);
  });
});

describe("time and speed", () => {
  it("formats times", () => {
    expect(formatTime(0)).toBe("0:00");
    expect(formatTime(65.9)).toBe("1:05");
    expect(formatTime(3723)).toBe("1:02:03");
    expect(formatTime(NaN)).toBe("--:--");
    expect(formatTime(-1)).toBe("--:--");
    expect(spokenTime(3723)).toBe("1 hour 2 minutes 3 seconds");
    expect(spokenTime(0)).toBe("0 seconds");
    expect(spokenTime(61)).toBe("1 minute 1 second");
  });
  it("keeps speeds in 0.5–3", () => {
    expect(clampSpeed(0.1)).toBe(0.5);
    expect(clampSpeed(9)).toBe(3);
    expect(clampSpeed(NaN)).toBe(1);
    expect(clampSpeed(1.234)).toBe(1.23);
  });
  it("steps through the offered speeds", () => {
    expect(stepSpeed(1, 1)).toBe(1.1);
    expect(stepSpeed(1, -1)).toBe(0.75);
    expect(stepSpeed(3, 1)).toBe(3);
    expect(stepSpeed(0.5, -1)).toBe(0.5);
    expect(stepSpeed(1.3, 1)).toBe(1.5);
    expect(stepSpeed(1.3, -1)).toBe(1.25);
  });
  it("relative seeks stay inside the episode", () => {
    expect(seekTarget(10, -15, 100)).toBe(0);
    expect(seekTarget(90, 30, 100)).toBe(100);
    expect(seekTarget(90, 30, NaN)).toBe(120);
    expect(seekTarget(40, 15, 100)).toBe(55);
  });
});

describe("keyboard shortcuts", () => {
  const k = (key: string, o: Partial<KeyInput> = {}): KeyInput => ({
    key, shiftKey: false, ctrlKey: false, altKey: false, metaKey: false, tag: "BODY", ...o,
  });
  it("maps the documented keys", () => {
    expect(keyAction(k("k"))).toEqual({ kind: "toggle" });
    expect(keyAction(k(" "))).toEqual({ kind: "toggle" });
    expect(keyAction(k("ArrowLeft"))).toEqual({ kind: "seek", delta: -15 });
    expect(keyAction(k("ArrowRight"))).toEqual({ kind: "seek", delta: 15 });
    expect(keyAction(k("ArrowLeft", { shiftKey: true }))).toEqual({ kind: "seek", delta: -30 });
    expect(keyAction(k("ArrowRight", { shiftKey: true }))).toEqual({ kind: "seek", delta: 30 });
    expect(keyAction(k(">", { shiftKey: true }))).toEqual({ kind: "speed", dir: 1 });
    expect(keyAction(k("<", { shiftKey: true }))).toEqual({ kind: "speed", dir: -1 });
    expect(keyAction(k("s"))).toEqual({ kind: "skipSilences" });
    expect(keyAction(k("x"))).toBeNull();
  });
  it("leaves typing, browser shortcuts and the focused control's own keys alone", () => {
    expect(keyAction(k("k", { tag: "INPUT", type: "text" }))).toBeNull();
    expect(keyAction(k("s", { tag: "TEXTAREA" }))).toBeNull();
    expect(keyAction(k("k", { editable: true, tag: "DIV" }))).toBeNull();
    expect(keyAction(k("ArrowLeft", { tag: "SELECT" }))).toBeNull();
    expect(keyAction(k("ArrowRight", { tag: "INPUT", type: "range" }))).toBeNull();
    expect(keyAction(k("k", { tag: "INPUT", type: "range" }))).toEqual({ kind: "toggle" });
    expect(keyAction(k(" ", { tag: "INPUT", type: "checkbox" }))).toBeNull();
    expect(keyAction(k("ArrowLeft", { tag: "INPUT", type: "radio" }))).toBeNull();
    expect(keyAction(k(" ", { tag: "BUTTON" }))).toBeNull();
    expect(keyAction(k("k", { tag: "BUTTON" }))).toEqual({ kind: "toggle" });
    expect(keyAction(k("ArrowLeft", { tag: "BUTTON", arrowWidget: true }))).toBeNull();
    expect(keyAction(k("k", { tag: "BUTTON", arrowWidget: true }))).toEqual({ kind: "toggle" });
    expect(keyAction(k("ArrowLeft", { ctrlKey: true }))).toBeNull();
    expect(keyAction(k("s", { metaKey: true }))).toBeNull();
  });
});

describe("progress reports", () => {
  it("every 5 s while playing, at once on seek and end", () => {
    const c = new ProgressClock(5000);
    expect(c.should("tick", 0, 0)).toBe(true);
    expect(c.should("tick", 4999, 5)).toBe(false);
    expect(c.should("tick", 5000, 5)).toBe(true);
    expect(c.should("seek", 5100, 60)).toBe(true);
    expect(c.should("tick", 6000, 61)).toBe(false);
    expect(c.should("end", 6100, 100)).toBe(true);
  });
  it("a pause reports, unless it repeats the last report's position", () => {
    const c = new ProgressClock(5000);
    expect(c.should("pause", 0, 12)).toBe(true);
    expect(c.should("pause", 100, 12)).toBe(false);
    expect(c.should("pause", 200, 13)).toBe(true);
    c.reset();
    expect(c.should("pause", 300, 13)).toBe(true);
  });
});
