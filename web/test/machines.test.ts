import { describe, expect, it } from "vitest";
import { delayFor, initialBackoff, isDue, onFailure, onSuccess } from "../src/realm/backoff";
import { nextDeadline, onPong, startHealth, tick } from "../src/realm/health";
import {
  adopt, classifySignal, initialCid, initialNegotiation, isPolite, onRemoteDescription, setPhase, startAttempt,
} from "../src/realm/negotiation";

describe("backoff", () => {
  const cfg = { baseMs: 500, capMs: 30_000, jitter: 0.5 };
  it("doubles, caps and jitters within bounds", () => {
    expect(delayFor(0, 0, cfg)).toBe(250);
    expect(delayFor(0, 1, cfg)).toBe(500);
    expect(delayFor(3, 1, cfg)).toBe(4000);
    expect(delayFor(20, 1, cfg)).toBe(30_000);
    expect(delayFor(20, 0, cfg)).toBe(15_000);
    for (let a = 0; a < 12; a++) {
      const d = delayFor(a, Math.random(), cfg);
      expect(d).toBeGreaterThanOrEqual(Math.min(30_000, 500 * 2 ** a) / 2);
      expect(d).toBeLessThanOrEqual(Math.min(30_000, 500 * 2 ** a));
    }
  });
  it("schedules retries from now and resets on success", () => {
    let s = onFailure(initialBackoff, 1000, 1, cfg);
    expect(s).toEqual({ attempt: 1, retryAt: 1500 });
    expect(isDue(s, 1499)).toBe(false);
    expect(isDue(s, 1500)).toBe(true);
    s = onFailure(s, 2000, 1, cfg);
    expect(s).toEqual({ attempt: 2, retryAt: 3000 });
    expect(onSuccess()).toEqual(initialBackoff);
    expect(isDue(initialBackoff, 1e12)).toBe(false);
  });
});

describe("health", () => {
  const cfg = { intervalMs: 30_000, timeoutMs: 10_000 };
  it("pings at once, measures RTT, then waits an interval", () => {
    let s = startHealth(0);
    let a;
    [s, a] = tick(s, 0, cfg);
    expect(a).toEqual({ kind: "ping", id: 1 });
    [s, a] = tick(s, 5, cfg);
    expect(a).toEqual({ kind: "none" }); // one ping outstanding at a time
    s = onPong(s, 1, 12, cfg);
    expect(s.rttMs).toBe(12);
    expect(nextDeadline(s, cfg)).toBe(30_012);
    [s, a] = tick(s, 30_000, cfg);
    expect(a.kind).toBe("none");
    [s, a] = tick(s, 30_012, cfg);
    expect(a).toEqual({ kind: "ping", id: 2 });
    expect(s.pending).toEqual({ id: 2, sentAt: 30_012 });
  });
  it("ignores stale pongs and declares a silent link dead", () => {
    let s = startHealth(0);
    [s] = tick(s, 0, cfg);
    const same = onPong(s, 99, 3, cfg);
    expect(same).toBe(s);
    expect(nextDeadline(s, cfg)).toBe(10_000);
    const [, a] = tick(s, 10_000, cfg);
    expect(a).toEqual({ kind: "dead", sinceMs: 10_000 });
  });
});

describe("perfect negotiation", () => {
  it("politeness is the identid order, opposite on each side", () => {
    expect(isPolite("A", "B")).toBe(true);
    expect(isPolite("B", "A")).toBe(false);
  });
  it("impolite ignores a colliding offer; polite rolls back and answers", () => {
    const imp = { ...initialNegotiation(false), makingOffer: true };
    const [s1, d1] = onRemoteDescription(imp, "offer", "have-local-offer");
    expect(d1).toEqual({ kind: "ignore" });
    expect(s1.ignoreOffer).toBe(true);
    const pol = { ...initialNegotiation(true), makingOffer: true };
    const [s2, d2] = onRemoteDescription(pol, "offer", "have-local-offer");
    expect(d2).toEqual({ kind: "apply", rollback: true, answer: true });
    expect(s2.ignoreOffer).toBe(false);
  });
  it("a normal offer and answer apply", () => {
    const [, d] = onRemoteDescription(initialNegotiation(false), "offer", "stable");
    expect(d).toEqual({ kind: "apply", rollback: false, answer: true });
    const [s, d2] = onRemoteDescription(initialNegotiation(true), "answer", "have-local-offer");
    expect(d2).toEqual({ kind: "apply", rollback: false, answer: false });
    expect(s.settingRemoteAnswerPending).toBe(true);
  });
});

describe("connection ids", () => {
  it("processes the current cid, ignores stale ones and unknown candidates", () => {
    let s = startAttempt(initialCid, "c1");
    expect(classifySignal(s, "c1", false, true)).toEqual({ kind: "process" });
    s = startAttempt(s, "c2");
    expect(classifySignal(s, "c1", true, true)).toEqual({ kind: "ignore", why: "stale" });
    expect(classifySignal(s, "zz", false, true)).toEqual({ kind: "ignore", why: "unknown" });
  });
  it("glare between two new attempts resolves to the impolite side's cid", () => {
    // both sides started an attempt at once
    const polite = startAttempt(initialCid, "from-polite");
    const impolite = startAttempt(initialCid, "from-impolite");
    expect(classifySignal(impolite, "from-polite", true, false)).toEqual({ kind: "ignore", why: "glare" });
    expect(classifySignal(polite, "from-impolite", true, true)).toEqual({ kind: "adopt" });
    const after = adopt(polite, "from-impolite");
    expect(after.current).toBe("from-impolite");
    expect(classifySignal(after, "from-polite", true, true).kind).toBe("ignore");
  });
  it("an impolite side whose link failed adopts a new remote attempt", () => {
    const s = setPhase(startAttempt(initialCid, "old"), "failed");
    expect(classifySignal(s, "new", true, false)).toEqual({ kind: "adopt" });
    expect(classifySignal(initialCid, "first", true, false)).toEqual({ kind: "adopt" });
  });
});

import { counterBytes, frame, readCounter, T_PING } from "../src/realm/peer";

describe("data channel frames (shared with the native peer)", () => {
  it("tag byte then body; ping counters are 8-byte big-endian", () => {
    const f = frame(T_PING, counterBytes(258));
    expect([...f]).toEqual([1, 0, 0, 0, 0, 0, 0, 1, 2]);
    expect(readCounter(f.subarray(1))).toBe(258);
    expect(readCounter(new Uint8Array(3))).toBeNull();
  });
});
