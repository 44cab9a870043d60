import { afterAll, beforeAll, beforeEach, describe, expect, it } from "bun:test";
import { createGatewayEventPruner, gatewayEvents, PRUNE_BATCH, pruneGatewayEvents } from "../../modules/gateway-events";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { silentLogger } from "../support/harness";

const DAY = 86_400_000;

/**
 * Gateway-event records are kept GATEWAY_EVENT_RETENTION_MS (README, "Gateway events"): a worker
 * deletes older ones in batches, oldest first, and leaves every younger one.
 */
for (const backend of BACKENDS) {
  describe(`gateway-event record retention [${backend}]`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
    });
    afterAll(async () => {
      await database.drop();
    });
    beforeEach(async () => {
      await database.db.delete(gatewayEvents);
    });

    /** `count` records received `ageDays` ago, ids prefixed with `prefix`. */
    async function seed(prefix: string, count: number, ageDays: number): Promise<void> {
      const receivedAt = new Date(Date.now() - ageDays * DAY);
      for (let from = 0; from < count; from += 500)
        await database.db.insert(gatewayEvents).values(
          Array.from({ length: Math.min(500, count - from) }, (_, i) => ({
            gateway: i % 2 === 0 ? "stripe" : "paypal",
            eventId: `${prefix}_${from + i}`,
            type: "charge.refund.updated",
            result: "applied" as const,
            paymentId: null,
            receivedAt,
          })),
        );
    }
    const remaining = async () =>
      (await database.db.select({ id: gatewayEvents.eventId }).from(gatewayEvents)).map((r) => r.id).sort();

    it("deletes the records received before the cut-off, and only those", async () => {
      await seed("old", 7, 40);
      await seed("edge", 3, 34);
      await seed("new", 5, 1);
      expect(await pruneGatewayEvents(database.db, new Date(Date.now() - 35 * DAY))).toBe(7);
      const left = await remaining();
      expect(left).toHaveLength(8);
      expect(left.every((id) => id.startsWith("edge_") || id.startsWith("new_"))).toBe(true);
      expect(await pruneGatewayEvents(database.db, new Date(Date.now() - 35 * DAY))).toBe(0);
    });

    it("takes at most a batch per statement, the oldest first", async () => {
      await seed("older", 4, 60);
      await seed("old", 6, 50);
      expect(await pruneGatewayEvents(database.db, new Date(Date.now() - 35 * DAY), 5)).toBe(5);
      const left = await remaining();
      // The four oldest went first, then one of the next day's.
      expect(left.filter((id) => id.startsWith("older_"))).toEqual([]);
      expect(left).toHaveLength(5);
    });

    it("the pruner empties a backlog of more than one batch at its first round, then leaves the young records", async () => {
      await seed("backlog", PRUNE_BATCH + 250, 90);
      await seed("young", 20, 2);
      const pruner = createGatewayEventPruner({ db: database.db, retentionMs: 35 * DAY, logger: silentLogger });
      pruner.start();
      try {
        const deadline = Date.now() + 30_000;
        while ((await remaining()).length > 20 && Date.now() < deadline) await Bun.sleep(50);
      } finally {
        await pruner.stop();
      }
      const left = await remaining();
      expect(left).toHaveLength(20);
      expect(left.every((id) => id.startsWith("young_"))).toBe(true);
    });

    it("two workers pruning at once delete each record once and leave no old one", async () => {
      await seed("race", 900, 60);
      const counts = await Promise.all(Array.from({ length: 3 }, () => pruneGatewayEvents(database.db, new Date(Date.now() - 35 * DAY), 400)));
      // Rows one statement holds are skipped by the others: each row is deleted, and counted, once.
      let total = counts.reduce((a, b) => a + b, 0);
      for (let n = -1; n !== 0; total += n) n = await pruneGatewayEvents(database.db, new Date(Date.now() - 35 * DAY), 400);
      expect(total).toBe(900);
      expect(await remaining()).toEqual([]);
    });
  });
}
