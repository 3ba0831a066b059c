/**
 * When the dock reports progress to the library: every `intervalMs` while playing, and at once
 * on pause, seek and end. Pure (the clock is passed in) so it is unit-tested.
 */
export type ProgressReason = "tick" | "pause" | "seek" | "end";

export class ProgressClock {
  private last = -Infinity;
  private lastPos = NaN;

  constructor(private readonly intervalMs = 5000) {}

  /** Whether to report now; when it says yes it also records the report. */
  should(reason: ProgressReason, nowMs: number, pos: number): boolean {
    let yes: boolean;
    if (reason === "tick") yes = nowMs - this.last >= this.intervalMs;
    // A pause right after a report at the same position adds nothing.
    else if (reason === "pause") yes = !(pos === this.lastPos && nowMs - this.last < this.intervalMs);
    else yes = true;
    if (yes) {
      this.last = nowMs;
      this.lastPos = pos;
    }
    return yes;
  }

  reset(): void {
    this.last = -Infinity;
    this.lastPos = NaN;
  }
}
