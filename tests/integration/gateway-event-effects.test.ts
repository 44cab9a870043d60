import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { createGatewayEventService, type GatewayEvent } from "../../modules/gateway-events";
import { createSimulatorGateway, type DisputeRecord, type Gateway, type GatewayDispute } from "../../modules/gateways";
import {
  disputes,
  expediteGatewayCheck,
  expediteRefundCheck,
  failRefundAfterSuccess,
  findPaymentById,
  findRefundById,
  payments,
  recordDispute,
  refunds,
} from "../../modules/payments";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { buildPipeline } from "../support/harness";
import { CARDS } from "../support/payments";

/**
 * What the gateways' events may do to the payments aggregate (docs/CONTRACT.md §10), each through a
 * guarded statement: a late refund failure happens once, a dispute never leaves won or lost, a
 * look-up is brought forward only for work that waits on one, and an event is handled once however
 * many deliveries of it arrive together.
 */
for (const backend of BACKENDS) {
  describe(`effects of gateway events on the payments aggregate [${backend}]`, () => {
    let database: TestDatabase;
    let pipeline: ReturnType<typeof buildPipeline>;
    beforeAll(async () => {
      database = await createTestDatabase(backend, 20);
      pipeline = buildPipeline(database);
    });
    afterAll(async () => {
      await database.drop();
    });

    /** A COMPLETED simulator payment with a SUCCEEDED refund of `amount`. */
    async function succeededRefund(amount: number) {
      const payment = await pipeline.pay(CARDS.visa);
      const refund = await pipeline.refund(payment.id, amount);
      await pipeline.processPayment(pipeline.refundMessage(refund));
      const done = await findRefundById(database.db, refund.id);
      expect(done?.status).toBe("SUCCEEDED");
      return { payment, refund: done! };
    }

    it("fails a SUCCEEDED refund once, giving its amount back in the same statement, however many notices race", async () => {
      const { payment, refund } = await succeededRefund(600);
      expect((await findPaymentById(database.db, payment.id))?.amountRefunded).toBe(600);
      const results = await Promise.all(Array.from({ length: 8 }, () => failRefundAfterSuccess(database.db, refund.id, { code: "refund_failed", message: "late" })));
      expect(results.filter((r) => r !== undefined).map((r) => r?.status)).toEqual(["FAILED"]);
      expect((await findPaymentById(database.db, payment.id))?.amountRefunded).toBe(0);
      expect(await findRefundById(database.db, refund.id)).toMatchObject({ status: "FAILED", failureCode: "refund_failed", completedAt: expect.any(Date) });
    });

    it("never fails a refund that has not succeeded: a PENDING one waits for its own gateway answer", async () => {
      const payment = await pipeline.pay(CARDS.visa);
      const pending = await pipeline.refund(payment.id, 100);
      expect(await failRefundAfterSuccess(database.db, pending.id, { code: "refund_failed", message: "late" })).toBeUndefined();
      expect(await findRefundById(database.db, pending.id)).toMatchObject({ status: "PENDING" });
      expect((await findPaymentById(database.db, payment.id))?.amountRefunded).toBe(100);
    });

    it("brings a look-up forward only for unfinished work that waits on one", async () => {
      const completed = await pipeline.pay(CARDS.visa);
      expect(await expediteGatewayCheck(database.db, completed.id)).toBe(false);
      const fresh = await pipeline.create(CARDS.visa);
      expect(await expediteGatewayCheck(database.db, fresh.id)).toBe(false);

      // An unknown outcome the reconciler holds, first looked up an hour from now.
      const held = await pipeline.create(CARDS.visa);
      await database.db
        .update(payments)
        .set({ status: "PROCESSING", attempts: 1, reconciling: true, outcomeUnknownSince: sql`now()`, nextCheckAt: sql`now() + interval '1 hour'` })
        .where(eq(payments.id, held.id));
      expect(await expediteGatewayCheck(database.db, held.id)).toBe(true);
      const due = await findPaymentById(database.db, held.id);
      expect(due!.nextCheckAt!.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      // Already due, it stays due (and a woken reconciler finds it).
      expect(await expediteGatewayCheck(database.db, held.id)).toBe(true);
      // The reconciler now settles it by the gateway's answer (the simulator holds no charge: FAILED),
      // after which there is nothing left to look up.
      await pipeline.reconciler.checkDue();
      expect((await findPaymentById(database.db, held.id))?.status).toBe("FAILED");
      expect(await expediteGatewayCheck(database.db, held.id)).toBe(false);

      const { refund } = await succeededRefund(50);
      expect(await expediteRefundCheck(database.db, refund.id)).toBe(false);
    });

    it("records a dispute from the gateway's states, never out of won or lost, with amountDisputed from the disputes not won", async () => {
      const payment = await pipeline.pay(CARDS.visa);
      const state = (status: GatewayDispute["status"], amount = 1999) => ({
        gatewayReference: `dp_${payment.id}`,
        amount,
        currency: "USD",
        reason: "fraudulent",
        status,
        evidenceDueBy: new Date("2030-01-01T00:00:00Z"),
      });
      const record = (status: GatewayDispute["status"], amount?: number) => database.db.transaction((tx) => recordDispute(tx, payment, state(status, amount)));

      const created = await record("needs_response");
      expect(created.kind).toBe("created");
      expect((await findPaymentById(database.db, payment.id))?.amountDisputed).toBe(1999);
      expect((await record("needs_response")).kind).toBe("unchanged");
      const reviewed = await record("under_review", 1500);
      expect(reviewed).toMatchObject({ kind: "updated", previous: "needs_response", dispute: { status: "under_review", amount: 1500, revision: 2 } });
      expect((await findPaymentById(database.db, payment.id))?.amountDisputed).toBe(1500);
      expect((await record("won", 1500)).kind).toBe("updated");
      expect((await findPaymentById(database.db, payment.id))?.amountDisputed).toBe(0);
      // Closed stays closed, whatever an older fetch says.
      expect((await record("needs_response", 1500)).kind).toBe("unchanged");
      expect((await record("lost", 1500)).kind).toBe("unchanged");
      const [stored] = await database.db.select().from(disputes).where(eq(disputes.paymentId, payment.id));
      expect(stored).toMatchObject({ status: "won", revision: 3 });
    });

    it("handles an event once however many deliveries of it arrive together, and ignores disputes the gateway does not hold", async () => {
      const payment = await pipeline.pay(CARDS.visa);
      const held: GatewayDispute = {
        gatewayReference: "dp_gateway_1",
        paymentReference: payment.gatewayReference,
        amount: 1999,
        currency: "USD",
        reason: "fraudulent",
        status: "needs_response",
        evidenceDueBy: null,
      };
      // The simulator has no disputes; this gateway's record holds one, as Stripe's would.
      const gateway: Gateway = {
        ...createSimulatorGateway(database.db, { latencyMs: 0, transientFailureRate: 0 }),
        retrieveDispute: async (reference): Promise<DisputeRecord> => (reference === held.gatewayReference ? { kind: "found", dispute: held } : { kind: "not_found" }),
      };
      const service = createGatewayEventService({ db: database.db, gateway });
      const event: GatewayEvent = { gateway: "stripe", id: `evt_${payment.id}`, type: "charge.dispute.created", subject: { kind: "dispute", reference: "dp_gateway_1" } };
      const results = await Promise.all(Array.from({ length: 6 }, () => service.handle(event)));
      expect(results.map((r) => r.result).sort()).toEqual(["applied", "duplicate", "duplicate", "duplicate", "duplicate", "duplicate"]);
      expect(await database.db.select().from(disputes).where(eq(disputes.paymentId, payment.id))).toHaveLength(1);

      const unknown = await service.handle({ ...event, id: "evt_unknown_dispute", subject: { kind: "dispute", reference: "dp_nobody" } });
      expect(unknown.result).toBe("ignored");
      const refundNotOurs = await service.handle({ ...event, id: "evt_refund_not_ours", type: "refund.failed", subject: { kind: "refund", reference: "re_nobody" } });
      expect(refundNotOurs.result).toBe("ignored");
      expect(await database.db.select().from(refunds).where(eq(refunds.gatewayReference, "re_nobody"))).toHaveLength(0);
    });

    it("has a late failure delivered again while a worker still holds the refund, then applies it once the refund has succeeded", async () => {
      const payment = await pipeline.pay(CARDS.visa);
      const refund = await pipeline.refund(payment.id, 400);
      // The gateway named the refund, but the worker has not recorded its answer yet.
      await database.db.update(refunds).set({ gatewayReference: "gw_refund_race" }).where(eq(refunds.id, refund.id));
      const gateway: Gateway = {
        ...createSimulatorGateway(database.db, { latencyMs: 0, transientFailureRate: 0 }),
        retrieveRefund: async (reference) => ({ kind: "found", gatewayReference: reference, status: "failed", failureReason: "lost_or_stolen_card" }),
      };
      const service = createGatewayEventService({ db: database.db, gateway });
      const event: GatewayEvent = { gateway: "stripe", id: "evt_refund_race", type: "refund.failed", subject: { kind: "refund", reference: "gw_refund_race" } };
      await expect(service.handle(event)).rejects.toThrow(/still being recorded/);

      // The worker records the gateway's first answer: succeeded.
      await database.db
        .update(refunds)
        .set({ status: "SUCCEEDED", completedAt: sql`now()` })
        .where(eq(refunds.id, refund.id));
      expect((await service.handle(event)).result).toBe("applied");
      expect(await findRefundById(database.db, refund.id)).toMatchObject({ status: "FAILED", failureCode: "refund_failed" });
      expect((await findPaymentById(database.db, payment.id))?.amountRefunded).toBe(0);
      expect((await service.handle(event)).result).toBe("duplicate");
    });
  });
}
