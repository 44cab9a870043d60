import { describe, expect, it } from "bun:test";
import { hasAttemptsLeft, retryDelayMs } from "../../modules/processing";

const policy = { maxAttempts: 5, baseMs: 500, maxMs: 60_000 };

describe("retry policy", () => {
  it("doubles the delay with every attempt", () => {
    const fixed = () => 1;
    expect([1, 2, 3, 4].map((a) => retryDelayMs(policy, a, fixed))).toEqual([500, 1000, 2000, 4000]);
  });

  it("jitters between half and the whole exponential delay", () => {
    expect(retryDelayMs(policy, 3, () => 0)).toBe(1000);
    expect(retryDelayMs(policy, 3, () => 1)).toBe(2000);
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(policy, 3);
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });

  it("never exceeds the cap, however many attempts", () => {
    expect(retryDelayMs(policy, 40, () => 1)).toBe(60_000);
    expect(retryDelayMs(policy, 1000, () => 1)).toBe(60_000);
  });

  it("stops after MAX_ATTEMPTS attempts", () => {
    expect(hasAttemptsLeft(policy, 4)).toBe(true);
    expect(hasAttemptsLeft(policy, 5)).toBe(false);
  });
});
