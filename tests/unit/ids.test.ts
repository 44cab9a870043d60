import { describe, expect, it } from "bun:test";
import { newPaymentId } from "../../modules/payments";

describe("payment ids", () => {
  it("are opaque, prefixed and 26 base32 characters", () => {
    expect(newPaymentId()).toMatch(/^pay_[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it("sort by creation time, even within one millisecond", () => {
    const ids = Array.from({ length: 1000 }, () => newPaymentId(1_700_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
    expect(newPaymentId(1_700_000_000_001) > ids[999]!).toBe(true);
  });
});
