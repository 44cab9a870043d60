import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { paymentMessagesInsert } from "../../modules/broker";
import { completeAction, createSimulatorGateway, type Gateway, simulatorCharges } from "../../modules/gateways";
import { payments, requestActionCancel } from "../../modules/payments";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { buildPipeline } from "../support/harness";
import { paymentBody, paymentMethodBody } from "../support/payments";

/**
 * The end of a customer's wait (ACTION_TTL_MS, a merchant's cancel; docs/CONTRACT.md §9) against
 * what the gateway already did. Found by the chaos run (scripts/chaos-actions.ts), where customers
 * completed 3-D Secure just before the deadline or the merchant's cancel, while workers were down:
 * - the reconciler expired a payment without looking it up; the gateway refused to cancel a charge
 *   the customer had completed, the payment waited again, was expired again, and so on;
 * - a payment back to waiting after a refused cancel still carried `cancel_action`, and the
 *   look-up that found it charged judged it by the cancel's endings and threw, at every look-up;
 * both charged, never COMPLETED.
 */
const THREE_D_SECURE_CARD = "4000000000003220";

for (const backend of BACKENDS) {
  describe(`a payment waiting for its customer: the end of its wait against what the gateway already did [${backend}]`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
    });
    afterAll(async () => {
      await database.drop();
    });

    async function waitingPayment(p: ReturnType<typeof buildPipeline>, body: Record<string, unknown> = paymentBody(THREE_D_SECURE_CARD, { returnUrl: "https://shop.example.com/done" })) {
      const created = await p.intake.createPayment({
        merchantId: "m1",
        body,
        idempotencyKey: undefined,
        requestId: "req_test",
      });
      if (created.kind !== "created") throw new Error(`not created: ${JSON.stringify(created)}`);
      await p.processPayment(p.message(created.payment.id));
      const row = await p.row(created.payment.id);
      expect(row.status).toBe("REQUIRES_ACTION");
      return row;
    }

    /** The deadline passes before any look-up: the payment is due, its wait over. */
    const runOut = (id: string) =>
      database.db.update(payments).set({ actionExpiresAt: sql`now() - interval '1 second'`, nextCheckAt: sql`now()` }).where(eq(payments.id, id));

    /** Reconciler rounds, each followed by the worker's turn when it handed the payment over; the final row. */
    async function settle(p: ReturnType<typeof buildPipeline>, id: string) {
      for (let round = 0; round < 8; round++) {
        await p.reconciler.checkDue();
        let row = await p.row(id);
        if (row.status === "PROCESSING") {
          await p.processPayment(p.message(id));
          row = await p.row(id);
        }
        if (row.status !== "REQUIRES_ACTION" && row.status !== "PROCESSING") return row;
        await database.db.update(payments).set({ nextCheckAt: sql`now()` }).where(eq(payments.id, id));
      }
      return p.row(id);
    }

    /** The merchant cancels the waiting payment, and the worker runs the cancel at the gateway. */
    async function merchantCancels(p: ReturnType<typeof buildPipeline>, id: string) {
      const moved = await requestActionCancel(database.db, { id, merchantId: "m1", reason: "abandoned" }, (ids) =>
        paymentMessagesInsert([{ paymentId: id, requestId: "req_test", delayMs: 0 }], ids),
      );
      expect(moved?.operation).toBe("cancel_action");
      await p.processPayment(p.message(id));
    }

    const ledgerOf = (id: string) => database.db.select().from(simulatorCharges).where(eq(simulatorCharges.paymentId, id));

    it("ends COMPLETED, charged once, when the customer completed 3-D Secure just before the deadline and nobody had looked it up yet", async () => {
      const p = buildPipeline(database);
      const waiting = await waitingPayment(p);
      expect(await completeAction(database.db, waiting.gatewayReference as string, "approve")).toBeDefined();
      await runOut(waiting.id);

      const row = await settle(p, waiting.id);
      expect(row).toMatchObject({ status: "COMPLETED", amountCaptured: 1999, failureCode: null });
      expect((await ledgerOf(waiting.id)).map((r) => r.outcome)).toEqual(["approved"]);
    });

    it("ends FAILED authentication_failed when the customer failed authentication before the deadline", async () => {
      const p = buildPipeline(database);
      const waiting = await waitingPayment(p);
      await completeAction(database.db, waiting.gatewayReference as string, "fail");
      await runOut(waiting.id);

      expect(await settle(p, waiting.id)).toMatchObject({ status: "FAILED", failureCode: "authentication_failed" });
    });

    it("still ends FAILED authentication_expired, canceled at the gateway first, when the customer never acted", async () => {
      const p = buildPipeline(database);
      const waiting = await waitingPayment(p);
      await runOut(waiting.id);

      expect(await settle(p, waiting.id)).toMatchObject({ status: "FAILED", failureCode: "authentication_expired" });
      expect((await ledgerOf(waiting.id)).map((r) => r.outcome)).toEqual(["canceled"]);
      // The customer comes back too late: nothing waits under the reference any more.
      expect(await completeAction(database.db, waiting.gatewayReference as string, "approve")).toBeUndefined();
    });
  
    it("ends COMPLETED when the merchant's cancel came after the customer completed 3-D Secure: the gateway refuses the cancel, the payment waits again and its look-up settles it", async () => {
      const p = buildPipeline(database);
      const waiting = await waitingPayment(p);
      await completeAction(database.db, waiting.gatewayReference as string, "approve");
      await merchantCancels(p, waiting.id);
      expect(await p.row(waiting.id)).toMatchObject({ status: "REQUIRES_ACTION", operation: "charge", cancellationReason: null });

      const row = await settle(p, waiting.id);
      expect(row).toMatchObject({ status: "COMPLETED", amountCaptured: 1999 });
      expect((await ledgerOf(waiting.id)).map((r) => r.outcome)).toEqual(["approved"]);
    });

    it("ends AUTHORIZED (capture: false) when the refused cancel's wait has run out by the time it is looked up", async () => {
      const p = buildPipeline(database);
      const waiting = await waitingPayment(p, paymentBody(THREE_D_SECURE_CARD, { returnUrl: "https://shop.example.com/done", capture: false }));
      await completeAction(database.db, waiting.gatewayReference as string, "approve");
      await merchantCancels(p, waiting.id);
      await runOut(waiting.id);

      expect(await settle(p, waiting.id)).toMatchObject({ status: "AUTHORIZED", amountCaptured: 0 });
    });

    it("charges the PayPal order its buyer approved after a merchant's cancel the gateway could not do (the payment waited again)", async () => {
      const simulator = createSimulatorGateway(database.db, { latencyMs: 0, transientFailureRate: 0 });
      let cancels = 0;
      const gateway: Gateway = {
        ...simulator,
        cancelAction: async (request) => (cancels++ === 0 ? { kind: "transient", reason: "simulated 503 service unavailable" } : simulator.cancelAction(request)),
      };
      // One attempt: the cancel that could not be done is not retried, the payment waits again.
      const p = buildPipeline(database, { gateway, maxAttempts: 1 });
      const waiting = await waitingPayment(p, paymentMethodBody("paypal", { returnUrl: "https://shop.example.com/done" }));
      await merchantCancels(p, waiting.id);
      expect(await p.row(waiting.id)).toMatchObject({ status: "REQUIRES_ACTION", operation: "charge" });
      await completeAction(database.db, waiting.gatewayReference as string, "approve");

      expect(await settle(p, waiting.id)).toMatchObject({ status: "COMPLETED", amountCaptured: 1999, operation: "charge" });
      expect((await ledgerOf(waiting.id)).map((r) => r.outcome)).toEqual(["approved"]);
      expect(cancels).toBe(1);
    });
  });
}
