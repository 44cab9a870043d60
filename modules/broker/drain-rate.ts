/** How far back the drain rate looks. */
const WINDOW_MS = 60_000;

/**
 * The rate of a count that only grows (messages consumed so far), over about the last minute,
 * from the readings this process took of it (at each scrape, sweep or dashboard refresh): the
 * count itself is service-wide, so every process that reads it sees the same rate.
 */
export class DrainRate {
  private readonly readings: { at: number; total: number }[] = [];

  constructor(private readonly windowMs = WINDOW_MS) {}

  record(total: number, at = Date.now()): void {
    const last = this.readings[this.readings.length - 1];
    // A count that went back (a topic made anew, statistics reset) starts the window again.
    if (last && total < last.total) this.readings.length = 0;
    this.readings.push({ at, total });
    // Keep one reading at or beyond the window's start, so the rate spans the whole window.
    while (this.readings.length > 2 && (this.readings[1] as { at: number }).at <= at - this.windowMs) this.readings.shift();
  }

  /** Per second over the span of the readings kept; undefined until two readings span some time. */
  perSecond(): number | undefined {
    const first = this.readings[0];
    const last = this.readings[this.readings.length - 1];
    if (!first || !last || last.at - first.at < 1_000) return undefined;
    return ((last.total - first.total) * 1000) / (last.at - first.at);
  }
}
