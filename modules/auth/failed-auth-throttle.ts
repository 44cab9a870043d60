/**
 * Failed API-key authentications per client, so that keys cannot be guessed at line speed.
 *
 * A leaky bucket per client: each failure adds one, the bucket drains at `limit` per `windowMs`,
 * and a client whose next failure would overflow `limit` is refused until it has drained enough.
 * So a client gets a burst of `limit` failures, then one more every `windowMs / limit`, and a
 * client that stops failing is forgotten after `windowMs`. Success does not empty the bucket:
 * otherwise one valid key would let its holder interleave unlimited guesses at other merchants' keys.
 *
 * A throttle must not lock out the merchants who share a client address with a guesser (a NAT, a
 * proxy, a CDN edge): a key that authenticated from a client within the last window keeps working
 * from it while the client is throttled, and each use renews that for another window. Any other
 * key from a throttled client is refused unchecked, valid or not, so a right guess is still not
 * revealed (docs/CONTRACT.md §11).
 *
 * Buckets and remembered keys live in the process, like the per-key rate limit. Their number is
 * capped so that an attacker with many addresses cannot exhaust memory; the coldest go first.
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
  /** Per client: the keys that authenticated from it, and when each last did. */
  private readonly provenKeys = new Map<string, Map<string, number>>();
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

  /** Whether the throttle is on (a limit above 0). */
  get enabled(): boolean {
    return this.limits.limit > 0;
  }

  /** Whether any client has failures on record: until one has, no client is throttled. */
  hasFailures(): boolean {
    return this.limits.limit > 0 && this.buckets.size > 0;
  }

  /** Remembers that `key` (an identity of the key, never the key) authenticated from `client` now. */
  recordSuccess(client: string, key: string): void {
    if (this.limits.limit <= 0) return;
    const now = this.now();
    const keys = this.provenKeys.get(client) ?? new Map<string, number>();
    keys.set(key, now);
    // Re-inserting keeps the map ordered by last success, coldest first, for eviction.
    this.provenKeys.delete(client);
    this.provenKeys.set(client, keys);
    if (this.provenKeys.size > this.maxClients)
      evict(this.provenKeys, this.maxClients, (proven) => [...proven.values()].every((at) => now - at > this.limits.windowMs));
  }

  /** Whether `key` authenticated from `client` within the last window: then it keeps working there while the client is throttled. */
  provenFrom(client: string, key: string): boolean {
    const at = this.provenKeys.get(client)?.get(key);
    return at !== undefined && this.now() - at <= this.limits.windowMs;
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
    if (this.buckets.size > this.maxClients) evict(this.buckets, this.maxClients, (_, client) => this.levelOf(client, now) === 0);
  }

  /** Clients currently tracked, with failures or with proven keys (for tests of the memory bound). */
  get size(): number {
    return Math.max(this.buckets.size, this.provenKeys.size);
  }
}

/**
 * Drops the entries that no longer matter, then the coldest (the map is kept ordered coldest
 * first), down to 90% of the cap so the scan is not repeated at every insert.
 */
function evict<V>(map: Map<string, V>, cap: number, expired: (value: V, client: string) => boolean): void {
  for (const [client, value] of map) if (expired(value, client)) map.delete(client);
  const target = Math.floor(cap * 0.9);
  for (const client of map.keys()) {
    if (map.size <= target) break;
    map.delete(client);
  }
}
