import { describe, expect, it } from "bun:test";
import { DrainRate } from "../../modules/broker/drain-rate";
import { serviceQueueOf } from "../../modules/dashboard/snapshot";

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

  it("estimates the time to drain from the rate; none while nothing drains", () => {
    expect(serviceQueueOf({ messages: 24_000, oldestAgeSeconds: 90, drainPerSecond: 240 })).toEqual({
      messages: 24_000,
      oldestAgeSeconds: 90,
      drainPerSecond: 240,
      drainEtaSeconds: 100,
    });
    expect(serviceQueueOf({ messages: 0, oldestAgeSeconds: 0, drainPerSecond: undefined }).drainEtaSeconds).toBe(0);
    expect(serviceQueueOf({ messages: 5, oldestAgeSeconds: 3, drainPerSecond: 0 }).drainEtaSeconds).toBeNull();
    expect(serviceQueueOf({ messages: 5, oldestAgeSeconds: 3, drainPerSecond: undefined })).toMatchObject({ drainPerSecond: null, drainEtaSeconds: null });
  });
});
