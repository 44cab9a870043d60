import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { completeAction, createSimulatorGateway, type SimulatedFault } from "../../modules/gateways";
import { payments, requestActionCancel } from "../../modules/payments";
import { paymentMessagesInsert } from "../../modules/broker";
import { enqueuePaymentEvents, webhookEvents } from "../../modules/webhooks";
import { createTestDatabase, type TestDatabase } from "../support/db";
import { buildPipeline } from "../support/harness";
import { paymentBody } from "../support/payments";
import { simulatorChargeCounts } from "../support/simulator";
import { cardSecrets } from "../../modules/vault";

const THREE_D_SECURE_CARD = "4000000000003220";
const RETURN_URL = "https://shop.example.com/done";

/**
 * A payment waiting for its customer (REQUIRES_ACTION, docs/CONTRACT.md §9) through the worker and
 * the reconciler over real PostgreSQL, with the answers and the races a test of the real program
 * cannot time: a lost answer, a customer who completes while the merchant cancels.
 */
describe("payments waiting for their customer (processor + reconciler, PostgreSQL)", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await database.drop();
  });

  function pipeline(faults: (SimulatedFault | null)[] = [], actionTtlMs?: number) {
    const gateway = createSimulatorGateway(database.db, { latencyMs: 0, transientFailureRate: 0, fault: () => faults.shift() ?? null });
    return buildPipeline(database, { gateway, maxAttempts: 2, reconcileFirstCheckMs: 10, onFinalInTransaction: enqueuePaymentEvents, ...(actionTtlMs ? { actionTtlMs } : {}) });
  }

  async function createWaiting(p: ReturnType<typeof pipeline>, merchantId: string) {
    const result = await p.intake.createPayment({ merchantId, body: paymentBody(THREE_D_SECURE_CARD, { returnUrl: RETURN_URL }), idempotencyKey: undefined, requestId: "req_test" });
    if (result.kind !== "created") throw new Error(JSON.stringify(result));
    return result.payment.id;
  }

  /** Runs the reconciler until the payment leaves `status`, or fails after a few seconds. */
  async function settleFrom(p: ReturnType<typeof pipeline>, id: string, status: string) {
    for (let i = 0; i < 100; i++) {
      const row = await p.row(id);
      if (row.status !== status) return row;
      await p.reconciler.checkDue();
      await database.db.update(payments).set({ nextCheckAt: sql`now()` }).where(eq(payments.id, id));
    }
    throw new Error(`payment ${id} stayed ${status}`);
  }

  /** Runs the worker for every message the outbox holds for `id`. */
  async function drain(p: ReturnType<typeof pipeline>, id: string) {
    await p.processPayment(p.message(id));
  }

  it("waits with the gateway's page and object, records payment.requires_action, and purges the card (a continuation never sends it)", async () => {
    const p = pipeline();
    const id = await createWaiting(p, "m_wait");
    await drain(p, id);
    const row = await p.row(id);
    expect(row.status).toBe("REQUIRES_ACTION");
    expect(row.nextActionUrl).toContain(`/simulator/actions/${row.gatewayReference}`);
    expect(row.actionExpiresAt!.getTime()).toBeGreaterThan(Date.now());
    expect(await database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, id))).toEqual([]);
    await database.db.execute(sql`insert into webhook_endpoints (merchant_id, url, secret_key_id, sealed_secret) values ('m_events', 'https://hooks.example.com/x', 'k', 's') on conflict do nothing`);
    const other = await createWaiting(p, "m_events");
    await drain(p, other);
    const events = await database.db.select({ type: webhookEvents.type }).from(webhookEvents).where(eq(webhookEvents.paymentId, other));
    expect(events.map((e) => e.type)).toEqual(["payment.requires_action"]);
  });

  it("takes a charge whose answer was lost to the reconciler, which finds it waiting for the customer: REQUIRES_ACTION, not FAILED", async () => {
    // Both attempts' answers are lost after the simulator recorded the waiting charge.
    const p = pipeline(["lost", "lost"]);
    const id = await createWaiting(p, "m_lost");
    await drain(p, id);
    await database.db.update(payments).set({ leaseExpiresAt: null, nextCheckAt: sql`now()` }).where(eq(payments.id, id));
    await drain(p, id);
    expect((await p.row(id)).reconciling).toBe(true);
    const settled = await settleFrom(p, id, "PROCESSING");
    expect(settled.status).toBe("REQUIRES_ACTION");
    expect(settled.nextActionUrl).not.toBeNull();
    expect(settled.reconciling).toBe(false);
  });

  it("completes a payment whose customer authenticated just before the merchant's cancel: the gateway refuses the cancel, and the payment is COMPLETED, charged once", async () => {
    const p = pipeline();
    const id = await createWaiting(p, "m_race");
    await drain(p, id);
    const waiting = await p.row(id);
    // The customer completes on the page; before any look-up, the merchant cancels.
    expect(await completeAction(database.db, waiting.gatewayReference!, "approve")).toBeDefined();
    const queue = (moved: Parameters<typeof paymentMessagesInsert>[1]) => paymentMessagesInsert([{ paymentId: id, requestId: "req_test", delayMs: 0 }], moved);
    expect(await requestActionCancel(database.db, { id, merchantId: "m_race", reason: "requested_by_customer" }, queue)).toBeDefined();
    await drain(p, id);
    const back = await p.row(id);
    expect(back.status).toBe("REQUIRES_ACTION");
    expect(back.cancellationReason).toBeNull();
    const settled = await settleFrom(p, id, "REQUIRES_ACTION");
    expect(settled.status).toBe("COMPLETED");
    expect(settled.amountCaptured).toBe(settled.amount);
    expect((await simulatorChargeCounts(database.db)).get(id)).toBe(1);
  });

  it("expires a payment nobody acted on: canceled at the gateway, then FAILED authentication_expired; a late approval charges nothing", async () => {
    const p = pipeline([], 1_000);
    const id = await createWaiting(p, "m_expire");
    await drain(p, id);
    const reference = (await p.row(id)).gatewayReference!;
    await Bun.sleep(1_100);
    await p.reconciler.checkDue();
    expect((await p.row(id)).operation).toBe("cancel_action");
    await drain(p, id);
    const ended = await p.row(id);
    expect({ status: ended.status, failureCode: ended.failureCode }).toEqual({ status: "FAILED", failureCode: "authentication_expired" });
    expect(await completeAction(database.db, reference, "approve")).toBeUndefined();
    expect((await simulatorChargeCounts(database.db)).get(id)).toBeUndefined();
  });

  it("never lets two look-ups of one waiting payment both settle it", async () => {
    const p = pipeline();
    const id = await createWaiting(p, "m_twice");
    await drain(p, id);
    await completeAction(database.db, (await p.row(id)).gatewayReference!, "approve");
    await database.db.update(payments).set({ nextCheckAt: sql`now()` }).where(eq(payments.id, id));
    // Two reconcilers at once: the claim lets one take the check; the guarded settle lets one win.
    await Promise.all([p.reconciler.checkDue(), p.reconciler.checkDue()]);
    const row = await p.row(id);
    expect(row.status).toBe("COMPLETED");
    const events = await database.db.select().from(webhookEvents).where(eq(webhookEvents.paymentId, id));
    expect(events.filter((e) => e.type === "payment.completed").length).toBeLessThanOrEqual(1);
  });
});
