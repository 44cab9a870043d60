import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");

/**
 * patches/kafkajs+2.2.4.patch (applied by patch-package at install): KafkaJS schedules its
 * pending-request check with a negative delay whenever nothing is pending and no throttle is set
 * (kafkajs#1751, fixed upstream only in unmerged pull requests), so every connection printed a
 * TimeoutNegativeWarning. The delay is now at least 1 ms: what the runtime used anyway.
 */
describe("the KafkaJS request queue (patched)", () => {
  it("schedules its pending-request check without a negative delay: no TimeoutNegativeWarning", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on("warning", onWarning);
    try {
      const RequestQueue = require(join(ROOT, "node_modules/kafkajs/src/network/requestQueue/index.js"));
      const logger = { debug() {}, info() {}, warn() {}, error() {}, namespace: () => logger };
      const queue = new RequestQueue({ instrumentationEmitter: null, maxInFlightRequests: null, requestTimeout: 1000, enforceRequestTimeout: false, clientId: "t", broker: "b", logger, isConnected: () => true });
      let checks = 0;
      queue.checkPendingRequests = () => checks++;
      queue.scheduleCheckPendingRequests();
      await Bun.sleep(30);
      expect(warnings.filter((w) => w.startsWith("TimeoutNegativeWarning"))).toEqual([]);
      // The check still runs, as it did after the runtime's 1 ms.
      expect(checks).toBe(1);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("is applied from the committed patch at install", () => {
    const patch = readFileSync(join(ROOT, "patches/kafkajs+2.2.4.patch"), "utf8");
    expect(patch).toContain("Math.max(scheduleAt, 1)");
    expect(readFileSync(join(ROOT, "node_modules/kafkajs/src/network/requestQueue/index.js"), "utf8")).toContain("Math.max(scheduleAt, 1)");
  });
});
