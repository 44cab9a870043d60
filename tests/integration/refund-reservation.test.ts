import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { outbox, paymentMessagesInsert } from "../../modules/broker";
import { cancelPending, createRefund, findPaymentById, newRefundId, payments, refunds, requestCapture, requestVoid } from "../../modules/payments";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { buildPipeline } from "../support/harness";
import { CARDS } from "../support/payments";

for (const backend of BACKENDS) {
  describe(`refund reservation and payment requests [${backend}]`, () => {
    let database: TestDatabase;
    let pipeline: ReturnType<typeof buildPipeline>;
    beforeAll(async () => {
      database = await createTestDatabase(backend, 20);
      pipeline = buildPipeline(database);
    });
    afterAll(async () => {
      await database.drop();
    });

    const refundOf = (paymentId: string, amount: number | null, merchantId = "m1") =>
      createRefund(
        database.db,
        { id: newRefundId(), merchantId, paymentId, amount, reason: null, metadata: {}, requestId: null },
        (created) => paymentMessagesInsert([{ paymentId, refundId: "x", requestId: null, delayMs: 0 }], created),
      );
    const queuedFor = async (paymentId: string) => database.db.select().from(outbox).where(eq(outbox.paymentId, paymentId));

    it("never lets concurrent refunds pass the captured amount: of 20 simultaneous 60.00 refunds of 100.00, exactly one is created", async () => {
      const payment = await pipeline.pay(CARDS.visa);
      expect(payment).toMatchObject({ status: "COMPLETED", amount: 1999, amountCaptured: 1999, amountRefunded: 0 });
      const results = await Promise.all(Array.from({ length: 20 }, () => refundOf(payment.id, 1200)));
      expect(results.filter((r) => r.kind === "created")).toHaveLength(1);
      expect(results.filter((r) => r.kind === "refund_exceeds_captured").map((r) => r.kind === "refund_exceeds_captured" && r.refundable)).toEqual(
        Array(19).fill(799),
      );
      const stored = await database.db.select().from(refunds).where(eq(refunds.paymentId, payment.id));
      expect(stored.map((r) => [r.amount, r.status, r.currency])).toEqual([[1200, "PENDING", "USD"]]);
      expect((await findPaymentById(database.db, payment.id))?.amountRefunded).toBe(1200);
    });

    it("fills the captured amount exactly with concurrent partial refunds, and a refund of 'the rest' takes what is left", async () => {
      const payment = await pipeline.pay(CARDS.visa);
      const results = await Promise.all(Array.from({ length: 30 }, () => refundOf(payment.id, 100)));
      expect(results.filter((r) => r.kind === "created")).toHaveLength(19);
      const rest = await refundOf(payment.id, null);
      expect(rest.kind === "created" && rest.refund.amount).toBe(99);
      expect(await refundOf(payment.id, null)).toEqual({ kind: "refund_exceeds_captured", refundable: 0 });
      const [sum] = await database.db.select({ total: sql<number>`sum(amount)::int` }).from(refunds).where(eq(refunds.paymentId, payment.id));
      expect(sum?.total).toBe(1999);
      expect((await findPaymentById(database.db, payment.id))?.amountRefunded).toBe(1999);
      // Each refund queued exactly one message naming it.
      expect((await queuedFor(payment.id)).filter((m) => (m.payload as { refundId?: string }).refundId)).toHaveLength(20);
    });

    it("refuses refunds of payments that are not COMPLETED, of other merchants' payments, and a CHECK stops any write past the captured amount", async () => {
      const declined = await pipeline.pay(CARDS.declined);
      expect(await refundOf(declined.id, 100)).toEqual({ kind: "invalid_state", status: "FAILED" });
      const payment = await pipeline.pay(CARDS.visa);
      expect(await refundOf(payment.id, 100, "m2")).toEqual({ kind: "payment_not_found" });
      expect(await refundOf(payment.id, 0)).toEqual({ kind: "refund_exceeds_captured", refundable: 1999 });
      const overRefund = await database.db
        .update(payments)
        .set({ amountRefunded: 2000 })
        .where(eq(payments.id, payment.id))
        .then(() => null, (error: Error) => String(error.cause));
      expect(overRefund).toContain('violates check constraint "payments_refunded_within_captured"');
    });

    it("captures, voids and cancels only from the states the status machine allows, with the worker's message in the same statement", async () => {
      const queue = (paymentId: string) => (moved: Parameters<typeof paymentMessagesInsert>[1]) =>
        paymentMessagesInsert([{ paymentId, requestId: "req_capture", delayMs: 0 }], moved);
      const pending = await pipeline.create(CARDS.visa);
      expect(await requestCapture(database.db, { merchantId: "m1", id: pending.id, amount: null }, queue(pending.id))).toBeUndefined();
      const canceled = await cancelPending(database.db, { merchantId: "m1", id: pending.id, reason: "requested_by_customer" });
      expect(canceled).toMatchObject({ status: "CANCELED", cancellationReason: "requested_by_customer" });
      expect(canceled?.completedAt).toBeInstanceOf(Date);
      expect(await pipeline.processPayment(pipeline.message(pending.id))).toBe("skipped");

      const authorized = await pipeline.create(CARDS.visa);
      await database.db.update(payments).set({ status: "AUTHORIZED", attempts: 1, operation: "authorize", captureMethod: "manual" }).where(eq(payments.id, authorized.id));
      expect(await cancelPending(database.db, { merchantId: "m1", id: authorized.id, reason: null })).toBeUndefined();
      expect(await requestCapture(database.db, { merchantId: "m1", id: authorized.id, amount: 2000 }, queue(authorized.id))).toBeUndefined();
      expect(await requestCapture(database.db, { merchantId: "m2", id: authorized.id, amount: 500 }, queue(authorized.id))).toBeUndefined();
      const before = (await queuedFor(authorized.id)).length;
      const capturing = await requestCapture(database.db, { merchantId: "m1", id: authorized.id, amount: 500 }, queue(authorized.id));
      expect(capturing).toMatchObject({ status: "PROCESSING", operation: "capture", captureAmount: 500, operationAttemptsBase: 1 });
      expect((await queuedFor(authorized.id)).length).toBe(before + 1);
      // Already moving: a second capture or a void is refused.
      expect(await requestCapture(database.db, { merchantId: "m1", id: authorized.id, amount: 500 }, queue(authorized.id))).toBeUndefined();
      expect(await requestVoid(database.db, { merchantId: "m1", id: authorized.id, reason: null }, queue(authorized.id))).toBeUndefined();
    });
  });
}
