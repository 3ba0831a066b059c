/**
 * Exponential backoff with jitter, as a pure state machine: time and randomness are passed
 * in, so it is tested without timers.
 */
export interface BackoffConfig {
  baseMs: number;
  capMs: number;
  /** Fraction of the delay that is randomized (0 = none, 1 = "full jitter"). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 500, capMs: 30_000, jitter: 0.5 };

export interface BackoffState {
  attempt: number;
  /** When the next try may start (ms), or null when not waiting. */
  retryAt: number | null;
}

export const initialBackoff: BackoffState = { attempt: 0, retryAt: null };

/** The delay before try number `attempt` (0-based), given `rand` in [0, 1). */
export function delayFor(attempt: number, rand: number, cfg: BackoffConfig = DEFAULT_BACKOFF): number {
  const exp = Math.min(cfg.capMs, cfg.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(exp * (1 - cfg.jitter) + exp * cfg.jitter * rand);
}

/** A try failed at `now`: schedule the next one. */
export function onFailure(s: BackoffState, now: number, rand: number, cfg: BackoffConfig = DEFAULT_BACKOFF): BackoffState {
  return { attempt: s.attempt + 1, retryAt: now + delayFor(s.attempt, rand, cfg) };
}

/** A try succeeded: the next failure starts from the base delay again. */
export function onSuccess(): BackoffState {
  return initialBackoff;
}

export function isDue(s: BackoffState, now: number): boolean {
  return s.retryAt !== null && now >= s.retryAt;
}
