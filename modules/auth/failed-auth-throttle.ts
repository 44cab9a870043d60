/**
 * Failed API-key authentications per client, so that keys cannot be guessed at line speed.
 *
 * A leaky bucket per client: each failure adds one, the bucket drains at `limit` per `windowMs`,
 * and a client whose next failure would overflow `limit` is refused until it has drained enough.
 * So a client gets a burst of `limit` failures, then one more every `windowMs / limit`, and a
 * client that stops failing is forgotten after `windowMs`. Success does not empty the bucket:
 * otherwise one valid key would let its holder interleave unlimited guesses at other merchants' keys.
 *
 * Buckets live in the process, like the per-key rate limit. Their number is capped so that an
 * attacker with many addresses cannot exhaust memory; the coldest buckets go first.
 */
export interface FailedAuthLimits {
  /** Failures allowed per window; 0 turns the throttle off. */
  limit: number;
  windowMs: number;
}

export interface FailedAuthThrottleOptions {
  now?: () => number;
  /** Most clients tracked at once. */
  maxClients?: number;
  /**
   * Told when a client's failures reach the limit, at most once per window per client: the
   * moment to log that someone is guessing keys, without a line per guess.
   */
  onThrottled?: (client: string) => void;
}

interface Bucket {
  level: number;
  updatedAt: number;
  /** When onThrottled was last told about this client. */
  reportedAt: number | undefined;
}

const MAX_CLIENTS = 100_000;

export class FailedAuthThrottle {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private readonly maxClients: number;
  private readonly onThrottled: (client: string) => void;

  constructor(
    private readonly limits: FailedAuthLimits,
    options: FailedAuthThrottleOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.maxClients = options.maxClients ?? MAX_CLIENTS;
    this.onThrottled = options.onThrottled ?? (() => {});
  }

  private levelOf(client: string, now: number): number {
    const bucket = this.buckets.get(client);
    if (!bucket) return 0;
    const drained = ((now - bucket.updatedAt) * this.limits.limit) / this.limits.windowMs;
    return Math.max(0, bucket.level - drained);
  }

  /** 0 when the client may present a key now; otherwise whole seconds to wait (at least 1). */
  retryAfterSeconds(client: string): number {
    if (this.limits.limit <= 0) return 0;
    const excess = this.levelOf(client, this.now()) + 1 - this.limits.limit;
    if (excess <= 0) return 0;
    return Math.max(1, Math.ceil((excess * this.limits.windowMs) / this.limits.limit / 1000));
  }

  /** Whether any client has failures on record: until one has, no client needs to be told apart. */
  hasFailures(): boolean {
    return this.limits.limit > 0 && this.buckets.size > 0;
  }

  /** Counts one failed authentication against the client. */
  recordFailure(client: string): void {
    if (this.limits.limit <= 0) return;
    const now = this.now();
    const level = this.levelOf(client, now) + 1;
    let reportedAt = this.buckets.get(client)?.reportedAt;
    // Throttled from now on exactly when retryAfterSeconds would say so: one more failure would overflow.
    if (level + 1 > this.limits.limit && (reportedAt === undefined || now - reportedAt >= this.limits.windowMs)) {
      reportedAt = now;
      this.onThrottled(client);
    }
    // Re-inserting keeps the map ordered by last failure, coldest first, for eviction.
    this.buckets.delete(client);
    this.buckets.set(client, { level, updatedAt: now, reportedAt });
    if (this.buckets.size > this.maxClients) this.evict(now);
  }

  /** Drops drained buckets, then the coldest, down to 90% of the cap so the scan is not repeated at every failure. */
  private evict(now: number): void {
    for (const client of this.buckets.keys()) if (this.levelOf(client, now) === 0) this.buckets.delete(client);
    const target = Math.floor(this.maxClients * 0.9);
    for (const client of this.buckets.keys()) {
      if (this.buckets.size <= target) break;
      this.buckets.delete(client);
    }
  }

  /** Clients currently tracked (for tests of the memory bound). */
  get size(): number {
    return this.buckets.size;
  }
}
