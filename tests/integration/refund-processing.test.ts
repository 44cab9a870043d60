import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { and, eq, sql } from "drizzle-orm";
import { outbox } from "../../modules/broker";
import { findRefundById, refunds, toRefund } from "../../modules/payments";
import { createSweeper } from "../../modules/processing";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { TEST_CARDS } from "../support/gateway-conformance";
import { buildPipeline, silentLogger } from "../support/harness";
import { dueNow, failingBeforeSending, ledgerRows, operationsPipeline } from "../support/operations";
import { CARDS } from "../support/payments";

/** Stripe's test card whose charges succeed and whose refunds fail. */
const REFUNDS_FAIL = TEST_CARDS.refundFails;

for (const backend of BACKENDS) {
  describe(`refund processing [${backend}]`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
    });
    afterAll(async () => {
      await database.drop();
    });

    const pipeline = (options: Parameters<typeof buildPipeline>[1] = {}) => operationsPipeline(database, options);

    const refundRow = async (id: string) => {
      const row = await findRefundById(database.db, id);
      if (!row) throw new Error("refund vanished");
      return row;
    };

    it("refunds a payment in full: SUCCEEDED with the refund's reference, against the charge, refund.succeeded", async () => {
      const { p, events } = await pipeline();
      const paid = await p.pay(CARDS.visa);
      const refund = await p.refund(paid.id);
      expect(await p.processPayment(p.refundMessage(refund))).toBe("refunded");
      const row = await refundRow(refund.id);
      expect(row).toMatchObject({ status: "SUCCEEDED", amount: 1999, failureCode: null });
      expect(row.completedAt).toBeInstanceOf(Date);
      const [done, ...more] = await ledgerRows(database.db, paid.id, "refund");
      expect(more).toHaveLength(0);
      expect(done).toMatchObject({ outcome: "approved", refundId: refund.id, amount: 1999, targetReference: paid.gatewayReference, reference: row.gatewayReference });
      expect(p.stats.operations.refund.map((r) => r.idempotencyKey)).toEqual([`paystream-${refund.id}`]);
      expect(await p.row(paid.id)).toMatchObject({ status: "COMPLETED", amountCaptured: 1999, amountRefunded: 1999 });
      expect(await events.typesOf(refund.id)).toEqual(["refund.succeeded"]);
    });

    it("a refund attempt that waited too long for a gateway slot is given back uncounted, then refunded once", async () => {
      // The plain simulator, with its latency (the operations pipeline's simulator answers at once).
      const p = buildPipeline(database, { latencyMs: 400, gatewaySlots: { size: 1, maxWaitMs: 150 } });
      const paid = [await p.pay(CARDS.visa), await p.pay(CARDS.visa), await p.pay(CARDS.visa)];
      const asked = await Promise.all(paid.map((payment) => p.refund(payment.id)));
      const results = await Promise.all(asked.map((refund) => p.processPayment(p.refundMessage(refund))));
      expect(results.filter((r) => r === "refunded")).toHaveLength(1);
      expect(results.filter((r) => r === "retry_scheduled")).toHaveLength(2);
      const waiting = asked.filter((_, i) => results[i] === "retry_scheduled");
      for (const refund of waiting) expect(await refundRow(refund.id)).toMatchObject({ status: "PENDING", attempts: 0, leaseExpiresAt: null, outcomeUnknownSince: null });
      for (const refund of waiting) expect(await p.processPayment(p.refundMessage(refund))).toBe("refunded");
      for (const refund of waiting) expect(await refundRow(refund.id)).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
      expect(p.stats.operations.refund).toHaveLength(3);
    });

    it("partial refunds of a partly captured authorization add up, each once at the gateway", async () => {
      const { p } = await pipeline();
      const authorized = await p.authorize(CARDS.visa);
      await p.requestCapture(authorized.id, 1500);
      expect(await p.processPayment(p.message(authorized.id))).toBe("completed");
      const first = await p.refund(authorized.id, 500);
      const second = await p.refund(authorized.id, 300);
      expect(await Promise.all([p.processPayment(p.refundMessage(first)), p.processPayment(p.refundMessage(second))])).toEqual(["refunded", "refunded"]);
      const rest = await p.refund(authorized.id);
      expect(rest.amount).toBe(700);
      expect(await p.processPayment(p.refundMessage(rest))).toBe("refunded");
      expect(await p.row(authorized.id)).toMatchObject({ amountCaptured: 1500, amountRefunded: 1500 });
      expect((await ledgerRows(database.db, authorized.id, "refund")).map((r) => r.amount).sort()).toEqual([300, 500, 700]);
      await expect(p.refund(authorized.id, 1)).rejects.toThrow(/refund_exceeds_captured/);
    });

    it("a refund the gateway refuses is FAILED with its code, its amount is refundable again, refund.failed", async () => {
      const { p, events } = await pipeline();
      const paid = await p.pay(REFUNDS_FAIL);
      const refund = await p.refund(paid.id, 1000);
      expect((await p.row(paid.id)).amountRefunded).toBe(1000);
      expect(await p.processPayment(p.refundMessage(refund))).toBe("failed");
      expect(await refundRow(refund.id)).toMatchObject({ status: "FAILED", failureCode: "refund_failed" });
      expect((await p.row(paid.id)).amountRefunded).toBe(0);
      expect(await events.typesOf(refund.id)).toEqual(["refund.failed"]);
      // All of it can be asked for again.
      expect((await p.refund(paid.id)).amount).toBe(1999);
    });

    it("a refund whose answers are lost stays PENDING with outcome unknown until the reconciler finds it done: one refund", async () => {
      const { p, sim, events } = await pipeline({ maxAttempts: 2 });
      const paid = await p.pay(CARDS.visa);
      const refund = await p.refund(paid.id, 800);
      sim.state.fault = "lost";
      expect(await p.processPayment(p.refundMessage(refund))).toBe("retry_scheduled");
      expect(await p.processPayment(p.refundMessage(refund))).toBe("reconciling");
      const held = await refundRow(refund.id);
      expect(held).toMatchObject({ status: "PENDING", reconciling: true });
      expect(toRefund(held).outcome).toBe("unknown");
      const letters = await database.db.select().from(outbox).where(and(eq(outbox.paymentId, paid.id), eq(outbox.topic, "dlq")));
      expect(letters.map((l) => l.payload)).toMatchObject([{ reason: "outcome_unknown", refundId: refund.id }]);
      expect(await p.processPayment(p.refundMessage(refund))).toBe("skipped");
      // While the gateway is still down, a check tells nothing and decides nothing.
      await database.db.update(refunds).set({ nextCheckAt: dueNow }).where(eq(refunds.id, refund.id));
      await p.reconciler.checkDue();
      expect(await refundRow(refund.id)).toMatchObject({ status: "PENDING", reconcileChecks: 1 });
      sim.state.fault = null;
      await database.db.update(refunds).set({ nextCheckAt: dueNow }).where(eq(refunds.id, refund.id));
      await p.reconciler.checkDue();
      expect(await refundRow(refund.id)).toMatchObject({ status: "SUCCEEDED" });
      expect(p.stats.lookups.filter((l) => l.operation === "refund")).toHaveLength(2);
      expect(await ledgerRows(database.db, paid.id, "refund")).toHaveLength(1);
      expect((await p.row(paid.id)).amountRefunded).toBe(800);
      expect(await events.typesOf(refund.id)).toEqual(["refund.succeeded"]);
    });

    it("a refund the gateway confirms it never got is FAILED by the reconciler, and its amount given back", async () => {
      const p = buildPipeline(database, { gateway: failingBeforeSending(database.db, "refund"), maxAttempts: 1 });
      const paid = await p.pay(CARDS.visa);
      const refund = await p.refund(paid.id);
      expect(await p.processPayment(p.refundMessage(refund))).toBe("reconciling");
      await database.db.update(refunds).set({ nextCheckAt: dueNow }).where(eq(refunds.id, refund.id));
      await p.reconciler.checkDue();
      expect(await refundRow(refund.id)).toMatchObject({ status: "FAILED", failureCode: "gateway_unavailable" });
      expect((await p.row(paid.id)).amountRefunded).toBe(0);
    });

    it("a refund the gateway never took within its attempts is FAILED gateway_unavailable and its amount given back", async () => {
      const { p, sim } = await pipeline({ maxAttempts: 2 });
      const paid = await p.pay(CARDS.visa);
      const refund = await p.refund(paid.id, 100);
      sim.state.fault = "transient";
      expect(await p.processPayment(p.refundMessage(refund))).toBe("retry_scheduled");
      // The retry is queued as the refund's own message, after the back-off.
      const queued = await database.db.select().from(outbox).where(and(eq(outbox.paymentId, paid.id), eq(outbox.topic, "requested")));
      expect(queued.filter((m) => (m.payload as { refundId?: string }).refundId === refund.id).length).toBeGreaterThanOrEqual(2);
      expect(await p.processPayment(p.refundMessage(refund))).toBe("failed");
      expect(await refundRow(refund.id)).toMatchObject({ status: "FAILED", failureCode: "gateway_unavailable", attempts: 2 });
      expect((await p.row(paid.id)).amountRefunded).toBe(0);
      expect(await ledgerRows(database.db, paid.id, "refund")).toHaveLength(0);
    });

    it("a refund message delivered many times at once reaches the gateway once", async () => {
      const { p } = await pipeline();
      const paid = await p.pay(CARDS.visa);
      const refund = await p.refund(paid.id, 1000);
      const results = await Promise.all(Array.from({ length: 4 }, () => p.processPayment(p.refundMessage(refund))));
      expect(results.filter((r) => r === "refunded")).toHaveLength(1);
      expect(results.filter((r) => r === "skipped")).toHaveLength(3);
      expect(await p.processPayment(p.refundMessage(refund))).toBe("skipped");
      expect(p.stats.operations.refund).toHaveLength(1);
      expect(await ledgerRows(database.db, paid.id, "refund")).toHaveLength(1);
    });

    it("the sweeper re-queues a refund nothing will move any more, and never one the reconciler holds", async () => {
      const { p } = await pipeline({ maxAttempts: 1 });
      const paid = await p.pay(CARDS.visa);
      const stranded = await p.refund(paid.id, 100);
      const reconciling = await p.refund(paid.id, 100);
      await database.db.update(refunds).set({ reconciling: true, nextCheckAt: sql`now() + interval '1 hour'` }).where(eq(refunds.id, reconciling.id));
      await database.db.delete(outbox).where(eq(outbox.paymentId, paid.id));
      await database.db.update(refunds).set({ updatedAt: sql`now() - interval '10 minutes'` }).where(eq(refunds.paymentId, paid.id));
      const sweeper = createSweeper(database.db, silentLogger, { intervalMs: 1000, stuckAfterMs: 60_000 });
      expect(await sweeper.sweepOnce()).toBeGreaterThanOrEqual(1);
      const queued = await database.db.select().from(outbox).where(eq(outbox.paymentId, paid.id));
      expect(queued.map((m) => m.payload)).toEqual([{ paymentId: paid.id, refundId: stranded.id, requestId: "req_test" }]);
      // Queued now: the next sweep leaves it alone.
      await sweeper.sweepOnce();
      expect(await database.db.select().from(outbox).where(eq(outbox.paymentId, paid.id))).toHaveLength(1);
      expect(await p.processPayment(p.refundMessage(stranded))).toBe("refunded");
    });
  });
}
