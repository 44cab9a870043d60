import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { acceptsEveryCard } from "../../modules/gateways/configuration";
import { paypalAmount } from "../../modules/gateways/paypal/paypal-units";
import { findIdempotencyRecord } from "../../modules/idempotency";
import { createIntakeService, createRefundService } from "../../modules/intake";
import { findPaymentById, type PaymentRow, payments, refunds } from "../../modules/payments";
import { CardVault, cardSecrets } from "../../modules/vault";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { buildPipeline } from "../support/harness";
import { paymentBody } from "../support/payments";

/**
 * The services behind the capture, cancel and refund routes, on both backends (PGlite runs one
 * statement at a time; PostgreSQL really interleaves them), with PayPal's units: HUF is whole
 * forints there, so 10.50 HUF cannot be captured or refunded exactly.
 */
for (const backend of BACKENDS) {
  describe(`captures, cancels and refunds behind the API [${backend}]`, () => {
    let database: TestDatabase;
    const vault = new CardVault([Buffer.alloc(32, 1)], Buffer.alloc(32, 2));
    const gateway = { name: "paypal" as const, toGatewayAmount: paypalAmount, acceptsCardData: acceptsEveryCard };
    const finalized: PaymentRow[] = [];
    let intake: ReturnType<typeof createIntakeService>;
    let refundService: ReturnType<typeof createRefundService>;

    beforeAll(async () => {
      database = await createTestDatabase(backend, 20);
      intake = createIntakeService({
        db: database.db,
        vault,
        gateway,
        onFinalInTransaction: async (_tx, moved) => {
          finalized.push(...moved);
        },
      });
      refundService = createRefundService({ db: database.db, digests: vault, gateway });
    });
    afterAll(async () => {
      await database.drop();
    });

    const create = async (overrides: Record<string, unknown> = {}) => {
      const result = await intake.createPayment({ merchantId: "m1", body: paymentBody(undefined, overrides), idempotencyKey: undefined, requestId: "req_test" });
      if (result.kind !== "created") throw new Error(result.kind);
      return result.payment.id;
    };
    const setState = (id: string, state: Partial<typeof payments.$inferInsert>) => database.db.update(payments).set({ attempts: 1, ...state }).where(eq(payments.id, id));
    const refund = (paymentId: string, body: unknown, idempotencyKey?: string) =>
      refundService.createRefund({ merchantId: "m1", paymentId, body, idempotencyKey, requestId: "req_refund" });

    it("refuses a partial capture the gateway's units cannot express exactly, and takes one they can", async () => {
      const id = await create({ currency: "HUF", amount: 2000, capture: false });
      await setState(id, { status: "AUTHORIZED" });
      const odd = await intake.capturePayment({ merchantId: "m1", id, body: { amount: 1050 }, idempotencyKey: undefined, requestId: "req_capture" });
      expect(odd).toEqual({ kind: "invalid", errors: [{ field: "amount", code: "amount_not_supported_by_gateway", message: expect.any(String) }] });
      const whole = await intake.capturePayment({ merchantId: "m1", id, body: { amount: 1000 }, idempotencyKey: undefined, requestId: "req_capture" });
      expect(whole.kind === "accepted" && whole.payment.status).toBe("PROCESSING");
      expect((await findPaymentById(database.db, id))?.captureAmount).toBe(1000);
    });

    it("refuses a refund the gateway's units cannot express exactly, and takes one they can", async () => {
      const id = await create({ currency: "HUF", amount: 2000 });
      await setState(id, { status: "COMPLETED", amountCaptured: 2000, completedAt: sql`now()` as never });
      expect(await refund(id, { amount: 1050 })).toEqual({ kind: "invalid", errors: [{ field: "amount", code: "amount_not_supported_by_gateway", message: expect.any(String) }] });
      const created = await refund(id, { amount: 1000 });
      expect(created.kind === "created" && created.refund).toMatchObject({ amount: 1000, currency: "HUF", status: "PENDING" });
    });

    it("cancels a PENDING payment with its card deleted and the final-state hook run in the same transaction", async () => {
      const id = await create();
      const result = await intake.cancelPayment({ merchantId: "m1", id, body: { reason: "duplicate" }, idempotencyKey: undefined, requestId: "req_cancel" });
      expect(result.kind === "accepted" && result.payment).toMatchObject({ status: "CANCELED", cancellationReason: "duplicate" });
      expect(finalized.filter((p) => p.id === id).map((p) => p.status)).toEqual(["CANCELED"]);
      expect(await database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, id))).toEqual([]);
      expect(await intake.cancelPayment({ merchantId: "m1", id, body: undefined, idempotencyKey: undefined, requestId: "req_cancel" })).toEqual({ kind: "invalid_state", status: "CANCELED" });
      expect(await intake.cancelPayment({ merchantId: "m2", id, body: undefined, idempotencyKey: undefined, requestId: "req_cancel" })).toEqual({ kind: "not_found" });
    });

    it("keeps the card and runs no hook when a cancel is refused because a worker claimed the payment", async () => {
      const id = await create();
      await setState(id, { status: "PROCESSING" });
      const before = finalized.length;
      expect(await intake.cancelPayment({ merchantId: "m1", id, body: {}, idempotencyKey: undefined, requestId: "req_cancel" })).toEqual({ kind: "invalid_state", status: "PROCESSING" });
      expect(finalized.length).toBe(before);
      expect(await database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, id))).toHaveLength(1);
    });

    it("cancels or loses to the real worker's claim, never both and never half: a canceled payment is never charged", async () => {
      const pipeline = buildPipeline(database);
      const cancels = createIntakeService({ db: database.db, vault: pipeline.vault, gateway });
      const ids = await Promise.all(Array.from({ length: 20 }, async () => (await pipeline.create()).id));
      const outcomes = await Promise.all(
        ids.map(async (id) => {
          const [canceled, processed] = await Promise.all([
            cancels.cancelPayment({ merchantId: "m1", id, body: undefined, idempotencyKey: undefined, requestId: "req_cancel" }),
            pipeline.processPayment(pipeline.message(id)),
          ]);
          return { id, canceled: canceled.kind, processed, stored: (await findPaymentById(database.db, id))?.status };
        }),
      );
      for (const outcome of outcomes) {
        if (outcome.canceled === "accepted") expect(outcome).toMatchObject({ processed: "skipped", stored: "CANCELED" });
        else expect(outcome).toMatchObject({ canceled: "invalid_state", stored: "COMPLETED" });
      }
      const charged = new Set(pipeline.stats.requests.map((r) => r.paymentId));
      for (const { id, stored } of outcomes) expect({ id, charged: charged.has(id) }).toEqual({ id, charged: stored === "COMPLETED" });
    });

    it("creates one refund for concurrent requests with one Idempotency-Key, and leaves the key free when a refund is refused", async () => {
      const id = await create();
      await setState(id, { status: "COMPLETED", amountCaptured: 1999, completedAt: sql`now()` as never });
      const results = await Promise.all(Array.from({ length: 10 }, () => refund(id, { amount: 800 }, "k-concurrent")));
      const ids = new Set(results.map((r) => (r.kind === "created" || r.kind === "replayed" ? r.refund.id : r.kind)));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => r.kind === "created")).toHaveLength(1);
      expect(await database.db.select().from(refunds).where(eq(refunds.paymentId, id))).toHaveLength(1);

      // 1199 is left: a refused refund records nothing under its key, so the same key may be used once the request fits.
      expect(await refund(id, { amount: 1500 }, "k-refused")).toEqual({ kind: "refund_exceeds_captured", refundable: 1199 });
      expect(await findIdempotencyRecord(database.db, "refunds", "m1", "k-refused")).toBeUndefined();
      expect((await refund(id, { amount: 1199 }, "k-refused")).kind).toBe("created");
    });

    it("scopes keys by route: a payment's key and a refund's key of the same text are two records", async () => {
      const created = await intake.createPayment({ merchantId: "m1", body: paymentBody(), idempotencyKey: "k-shared", requestId: "req_test" });
      if (created.kind !== "created") throw new Error(created.kind);
      await setState(created.payment.id, { status: "COMPLETED", amountCaptured: 1999, completedAt: sql`now()` as never });
      const refunded = await refund(created.payment.id, {}, "k-shared");
      if (refunded.kind !== "created") throw new Error(refunded.kind);
      expect((await findIdempotencyRecord(database.db, "payments", "m1", "k-shared"))?.resourceId).toBe(created.payment.id);
      expect((await findIdempotencyRecord(database.db, "refunds", "m1", "k-shared"))?.resourceId).toBe(refunded.refund.id);
      const replayed = await intake.createPayment({ merchantId: "m1", body: paymentBody(), idempotencyKey: "k-shared", requestId: "req_test" });
      expect(replayed.kind === "replayed" && replayed.payment.id).toBe(created.payment.id);
    });

    const capture = (id: string, body: unknown, idempotencyKey?: string) =>
      intake.capturePayment({ merchantId: "m1", id, body, idempotencyKey, requestId: "req_capture" });
    const cancel = (id: string, body: unknown, idempotencyKey?: string) =>
      intake.cancelPayment({ merchantId: "m1", id, body, idempotencyKey, requestId: "req_cancel" });
    const authorized = async () => {
      const id = await create({ capture: false });
      await setState(id, { status: "AUTHORIZED" });
      return id;
    };

    it("replays a retried capture with the same Idempotency-Key and body after the payment moved on, and refuses another body", async () => {
      const id = await authorized();
      const first = await capture(id, { amount: 1500 }, "k-capture");
      expect(first.kind === "accepted" && first.payment).toMatchObject({ id, status: "PROCESSING" });
      await setState(id, { status: "COMPLETED", amountCaptured: 1500, completedAt: sql`now()` as never });

      const retried = await capture(id, { amount: 1500 }, "k-capture");
      expect(retried).toMatchObject({ kind: "replayed", statusCode: 202, payment: { id } });
      expect(await capture(id, { amount: 1000 }, "k-capture")).toEqual({ kind: "idempotency_key_reused" });
      // Without a key the same retry is refused by the payment's status, as before.
      expect(await capture(id, { amount: 1500 })).toEqual({ kind: "invalid_state", status: "COMPLETED" });
      expect((await findIdempotencyRecord(database.db, "capture", "m1", "k-capture"))?.resourceId).toBe(id);
    });

    it("never answers a capture key reused on another payment with the first payment", async () => {
      const first = await authorized();
      const other = await authorized();
      expect((await capture(first, {}, "k-capture-other")).kind).toBe("accepted");
      expect(await capture(other, {}, "k-capture-other")).toEqual({ kind: "idempotency_key_reused" });
      expect((await findPaymentById(database.db, other))?.status).toBe("AUTHORIZED");
    });

    it("leaves a capture's key free when the capture is refused, and keeps capture, cancel and refund keys apart", async () => {
      const id = await create({ capture: false });
      expect(await capture(id, {}, "k-shared-ops")).toEqual({ kind: "invalid_state", status: "PENDING" });
      expect(await findIdempotencyRecord(database.db, "capture", "m1", "k-shared-ops")).toBeUndefined();
      await setState(id, { status: "AUTHORIZED" });
      expect((await capture(id, {}, "k-shared-ops")).kind).toBe("accepted");
      // The same text on the cancel route is another key: the cancel meets the payment as it is now.
      expect(await cancel(id, {}, "k-shared-ops")).toEqual({ kind: "invalid_state", status: "PROCESSING" });
      expect(await findIdempotencyRecord(database.db, "cancel", "m1", "k-shared-ops")).toBeUndefined();
    });

    it("replays a retried cancel with the same Idempotency-Key and body, refuses another body, and another payment", async () => {
      const id = await create();
      const first = await cancel(id, { reason: "duplicate" }, "k-cancel");
      expect(first.kind === "accepted" && first.payment).toMatchObject({ id, status: "CANCELED" });
      expect(await cancel(id, { reason: "duplicate" }, "k-cancel")).toMatchObject({ kind: "replayed", statusCode: 202, payment: { id, status: "CANCELED" } });
      expect(await cancel(id, { reason: "fraudulent" }, "k-cancel")).toEqual({ kind: "idempotency_key_reused" });
      expect(await cancel(id, { reason: "duplicate" })).toEqual({ kind: "invalid_state", status: "CANCELED" });
      const other = await create();
      expect(await cancel(other, { reason: "duplicate" }, "k-cancel")).toEqual({ kind: "idempotency_key_reused" });
      expect((await findPaymentById(database.db, other))?.status).toBe("PENDING");
    });

    it("moves a payment once for concurrent captures with one Idempotency-Key: the duplicates replay it, none answers invalid_state", async () => {
      const id = await authorized();
      const results = await Promise.all(Array.from({ length: 10 }, () => capture(id, { amount: 1200 }, "k-capture-concurrent")));
      expect(results.filter((r) => r.kind === "accepted")).toHaveLength(1);
      expect(results.filter((r) => r.kind === "replayed")).toHaveLength(9);
      expect((await findPaymentById(database.db, id))?.captureAmount).toBe(1200);
    });
  });
}
