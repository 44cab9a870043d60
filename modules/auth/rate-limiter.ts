/**
 * Token bucket per key: `rps` tokens a second, bursts up to one second's worth.
 * Buckets live in the process (one API process per node is the deployment unit).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();

  constructor(
    private readonly rps: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** 0 when allowed; otherwise seconds to wait before the next request will be accepted. */
  take(key: string): number {
    if (this.rps <= 0) return 0;
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.rps, updatedAt: now };
    bucket.tokens = Math.min(this.rps, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.rps);
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.rps));
  }
}
