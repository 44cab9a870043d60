import { describe, expect, it } from "bun:test";
import { DrainRate } from "../../modules/broker/drain-rate";
import { merchantQueueOf } from "../../modules/dashboard/snapshot";

describe("the backlog's drain rate and time to drain", () => {
  it("measures the rate of the consumed count over about the last minute, not before two readings a second apart", () => {
    const rate = new DrainRate(60_000);
    rate.record(1_000, 0);
    expect(rate.perSecond()).toBeUndefined();
    rate.record(1_100, 500);
    expect(rate.perSecond()).toBeUndefined();
    rate.record(1_240, 2_000);
    expect(rate.perSecond()).toBe(120);
    // Later readings: the window slides, the old fast start no longer counts.
    for (let at = 3_000; at <= 120_000; at += 1_000) rate.record(1_240 + (at - 2_000) / 100, at);
    expect(rate.perSecond()).toBeCloseTo(10, 5);
  });

  it("starts again when the count goes back (a topic made anew)", () => {
    const rate = new DrainRate(60_000);
    rate.record(5_000, 0);
    rate.record(6_000, 10_000);
    rate.record(10, 11_000);
    expect(rate.perSecond()).toBeUndefined();
  });

  it("estimates the time to drain a merchant's waiting messages at its own pace; none while it finalizes nothing", () => {
    expect(merchantQueueOf({ messages: 2_400, oldestAgeSeconds: 90 }, 24)).toEqual({
      messages: 2_400,
      oldestAgeSeconds: 90,
      drainPerSecond: 24,
      drainEtaSeconds: 100,
    });
    expect(merchantQueueOf({ messages: 0, oldestAgeSeconds: 0 }, 0).drainEtaSeconds).toBe(0);
    expect(merchantQueueOf({ messages: 5, oldestAgeSeconds: 3 }, 0).drainEtaSeconds).toBeNull();
  });
});
