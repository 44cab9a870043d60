export interface Backoff {
  /** Delay after the first failure; it doubles with every further one. */
  baseMs: number;
  /** The doubling stops here. */
  maxMs: number;
  /**
   * Share of the delay drawn at random (0 = none, 0.5 = "equal jitter"): spreads out the retries
   * of many things that failed together, while the rest keeps a floor under every delay.
   */
  jitter: number;
}

/** Delay after the `attempt`-th failure: base · 2^(attempt-1), capped, less up to `jitter` of it at random. */
export function backoffDelayMs(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const nominal = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(nominal * (1 - backoff.jitter + backoff.jitter * random()));
}

