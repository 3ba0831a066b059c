/**
 * Ping/pong health of one link, as a pure state machine (time passed in).
 * `tick(now)` says whether to send a ping or declare the link dead.
 */
import { TIMING } from "../protocol/generated";

export interface HealthConfig {
  intervalMs: number;
  /** A ping unanswered this long means the link is dead. */
  timeoutMs: number;
}

/** The policy both peers share (crates/protocol/src/link.rs, `timing`). */
export const DEFAULT_HEALTH: HealthConfig = { intervalMs: TIMING.pingIntervalMs, timeoutMs: TIMING.pongTimeoutMs };

export interface HealthState {
  nextPingAt: number;
  /** Outstanding ping: its id and when it was sent. */
  pending: { id: number; sentAt: number } | null;
  seq: number;
  rttMs: number | null;
  lastPongAt: number | null;
}

export type HealthAction = { kind: "none" } | { kind: "ping"; id: number } | { kind: "dead"; sinceMs: number };

/** A fresh link: ping at once (so the RTT is known early). */
export function startHealth(now: number): HealthState {
  return { nextPingAt: now, pending: null, seq: 0, rttMs: null, lastPongAt: null };
}

export function tick(s: HealthState, now: number, cfg: HealthConfig = DEFAULT_HEALTH): [HealthState, HealthAction] {
  if (s.pending) {
    const waited = now - s.pending.sentAt;
    if (waited >= cfg.timeoutMs) return [s, { kind: "dead", sinceMs: waited }];
    return [s, { kind: "none" }];
  }
  if (now >= s.nextPingAt) {
    const id = s.seq + 1;
    return [{ ...s, seq: id, pending: { id, sentAt: now } }, { kind: "ping", id }];
  }
  return [s, { kind: "none" }];
}

/** A pong arrived; stale or unknown ids are ignored. */
export function onPong(s: HealthState, id: number, now: number, cfg: HealthConfig = DEFAULT_HEALTH): HealthState {
  if (!s.pending || s.pending.id !== id) return s;
  return { ...s, pending: null, rttMs: now - s.pending.sentAt, lastPongAt: now, nextPingAt: now + cfg.intervalMs };
}

/** When `tick` next has something to do (for scheduling one timer). */
export function nextDeadline(s: HealthState, cfg: HealthConfig = DEFAULT_HEALTH): number {
  return s.pending ? s.pending.sentAt + cfg.timeoutMs : s.nextPingAt;
}
