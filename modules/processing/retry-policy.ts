import { backoffDelayMs } from "../runtime";

export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before attempt `attempt + 1`: exponential in the attempts made so far, capped, with
 * "equal jitter" (half fixed, half random) so retries of many payments spread out after an
 * outage instead of hammering the gateway together, while never retrying immediately.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  return backoffDelayMs({ baseMs: policy.baseMs, maxMs: policy.maxMs, jitter: 0.5 }, attempt, random);
}

export function hasAttemptsLeft(policy: RetryPolicy, attemptsMade: number): boolean {
  return attemptsMade < policy.maxAttempts;
}
