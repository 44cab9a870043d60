import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { sql } from "drizzle-orm";
import { enqueuePayment, hasQueuedPaymentMessage } from "../../modules/broker";
import {
  allows,
  allowsAmountChange,
  canTransition,
  claimDueChecks,
  claimPayments,
  countUnresolved,
  insertPayments,
  isFinal,
  claimStrandedPayments,
  newPaymentId,
  PAYMENT_STATUSES,
  type PaymentState,
  type PaymentStatus,
  payments,
  recordFinalOutcomes,
  releaseForRetries,
  scheduleNextCheck,
  startReconciling,
  TRANSITIONS,
  type TransitionName,
} from "../../modules/payments";
import { createTestDatabase, type TestDatabase } from "../support/db";

/** Every combination the guards can tell apart, reachable or not: a guard must be right on all of them. */
const STATES: PaymentState[] = PAYMENT_STATUSES.flatMap((status) =>
  [false, true].flatMap((reconciling) => [false, true].map((leased) => ({ status, reconciling, leased }))),
);
const label = (s: PaymentState) => `${s.status}${s.reconciling ? "/reconciling" : ""}${s.leased ? "/leased" : ""}`;
const admitted = (transition: TransitionName) => STATES.filter((s) => allows(transition, s)).map(label);

describe("payment status machine", () => {
  it("lets a worker claim a new payment, or a PROCESSING one that is neither leased nor held by the reconciler", () => {
    expect(admitted("claim")).toEqual(["PENDING", "PENDING/leased", "PENDING/reconciling", "PENDING/reconciling/leased", "PROCESSING"]);
  });

  it("ends attempts (final, retry, hand-over to the reconciler) only from PROCESSING", () => {
    const processing = ["PROCESSING", "PROCESSING/leased", "PROCESSING/reconciling", "PROCESSING/reconciling/leased"];
    expect(admitted("finalize")).toEqual(processing);
    expect(admitted("releaseForRetry")).toEqual(processing);
    expect(admitted("startReconciling")).toEqual(processing);
    expect(TRANSITIONS.finalize.to).toEqual(["COMPLETED", "FAILED", "AUTHORIZED", "CANCELED", "REQUIRES_ACTION"]);
  });

  it("checks at the gateway only the PROCESSING payments the reconciler holds", () => {
    expect(admitted("checkAtGateway")).toEqual(["PROCESSING/reconciling", "PROCESSING/reconciling/leased"]);
  });

  it("cancels at once only a PENDING payment, and captures or voids only an AUTHORIZED one", () => {
    expect(admitted("cancelPending")).toEqual(["PENDING", "PENDING/leased", "PENDING/reconciling", "PENDING/reconciling/leased"]);
    const authorized = ["AUTHORIZED", "AUTHORIZED/leased", "AUTHORIZED/reconciling", "AUTHORIZED/reconciling/leased"];
    expect(admitted("requestCapture")).toEqual(authorized);
    expect(admitted("requestVoid")).toEqual(authorized);
  });

  it("moves PENDING → PROCESSING → COMPLETED | FAILED | AUTHORIZED | CANCELED | REQUIRES_ACTION, AUTHORIZED → PROCESSING, REQUIRES_ACTION → COMPLETED | AUTHORIZED | FAILED | PROCESSING, PENDING → CANCELED and nowhere else", () => {
    const moves: string[] = [];
    for (const from of PAYMENT_STATUSES) for (const to of PAYMENT_STATUSES) if (canTransition(from, to)) moves.push(`${from}→${to}`);
    expect(moves.sort()).toEqual([
      "AUTHORIZED→PROCESSING",
      "PENDING→CANCELED",
      "PENDING→PROCESSING",
      "PROCESSING→AUTHORIZED",
      "PROCESSING→CANCELED",
      "PROCESSING→COMPLETED",
      "PROCESSING→FAILED",
      "PROCESSING→PROCESSING",
      "PROCESSING→REQUIRES_ACTION",
      "REQUIRES_ACTION→AUTHORIZED",
      "REQUIRES_ACTION→COMPLETED",
      "REQUIRES_ACTION→FAILED",
      "REQUIRES_ACTION→PROCESSING",
      "REQUIRES_ACTION→REQUIRES_ACTION",
    ]);
  });

  it("never lets a payment waiting for its customer become CANCELED without the worker's cancel at the gateway", () => {
    expect(canTransition("REQUIRES_ACTION", "CANCELED")).toBe(false);
    expect(TRANSITIONS.requestActionCancel.to).toEqual(["PROCESSING"]);
  });

  it("treats COMPLETED, FAILED and CANCELED as final and nothing else (an authorization waits for its capture or void)", () => {
    expect(PAYMENT_STATUSES.filter(isFinal)).toEqual(["COMPLETED", "FAILED", "CANCELED"]);
  });

  it("reserves a refund only from a COMPLETED payment, which stays final", () => {
    expect(PAYMENT_STATUSES.filter((status) => allowsAmountChange("reserveRefund", status))).toEqual(["COMPLETED"]);
    expect(isFinal("COMPLETED")).toBe(true);
  });
});

/**
 * The guarded updates decide in the database what `allows` decides here: each repository function
 * runs against one payment in every state (a live lease, an expired one, none) and must touch
 * exactly the ones its transition admits.
 */
describe("the guarded SQL of the payments repository", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase("pglite");
  });
  afterAll(async () => {
    await database?.drop();
  });

  const LEASES = ["none", "expired", "live"] as const;

  /** One payment per state and lease variant, at attempt 1, last touched an hour ago; returns id → expected label. */
  async function seed(): Promise<Map<string, PaymentState>> {
    const seeded = new Map<string, PaymentState>();
    for (const status of PAYMENT_STATUSES)
      for (const reconciling of [false, true])
        for (const lease of LEASES) {
          const id = newPaymentId();
          await insertPayments(database.db, [
            {
              id,
              merchantId: "m_state",
              amount: 100,
              currency: "USD",
              description: null,
              metadata: {},
              cardBrand: "visa",
              cardLast4: "4242",
              cardExpMonth: 12,
              cardExpYear: 2030,
              cardFingerprint: "fp",
              paymentMethod: null,
              returnUrl: null,
              cancelUrl: null,
              customerEmail: "a@example.com",
              customerName: "A",
              customerReference: null,
              gateway: "simulator",
              requestId: null,
              captureMethod: "automatic",
              operation: "charge",
            },
          ]);
          await database.db.execute(sql`
            update ${payments} set status = ${status}, reconciling = ${reconciling}, attempts = 1,
              lease_expires_at = ${lease === "none" ? null : sql`now() + ${lease === "live" ? sql`interval '1 hour'` : sql`interval '-1 hour'`}`},
              completed_at = ${isFinal(status) ? sql`now()` : null},
              next_check_at = now() - interval '1 minute', updated_at = now() - interval '1 hour'
            where id = ${id}`);
          seeded.set(id, { status: status as PaymentStatus, reconciling, leased: lease === "live" });
        }
    return seeded;
  }

  const expectedFor = (seeded: Map<string, PaymentState>, transition: TransitionName) =>
    [...seeded].filter(([, state]) => allows(transition, state)).map(([id]) => id).sort();
  const releases = (ids: string[]) => ids.map((id) => ({ id, attempt: 1, unknown: false, gatewayReference: null }));

  it("claimPayments takes exactly the payments the claim transition admits", async () => {
    const seeded = await seed();
    const claimed = await claimPayments(database.db, [...seeded.keys()], 60_000);
    expect(claimed.map((p) => p.id).sort()).toEqual(expectedFor(seeded, "claim"));
    expect(new Set(claimed.map((p) => p.status))).toEqual(new Set(TRANSITIONS.claim.to));
  });

  it("recordFinalOutcomes finalizes exactly what the finalize transition admits", async () => {
    const seeded = await seed();
    const writes = [...seeded.keys()].map((id) => ({ id, attempt: 1, outcome: { status: "COMPLETED" as const, gatewayReference: "ch_1" } }));
    const finalized = await recordFinalOutcomes(database.db, writes);
    expect(finalized.map((p) => p.id).sort()).toEqual(expectedFor(seeded, "finalize"));
  });

  it("releaseForRetries and startReconciling end exactly the attempts their transitions admit", async () => {
    const forRetry = await seed();
    expect((await releaseForRetries(database.db, releases([...forRetry.keys()]))).sort()).toEqual(expectedFor(forRetry, "releaseForRetry"));
    const forReconciler = await seed();
    const handedOver = await startReconciling(database.db, releases([...forReconciler.keys()]), 60_000);
    expect(handedOver.map((p) => p.id).sort()).toEqual(expectedFor(forReconciler, "startReconciling"));
  });

  it("claimDueChecks, scheduleNextCheck and countUnresolved see exactly what checkAtGateway admits", async () => {
    const before = await countUnresolved(database.db);
    const seeded = await seed();
    const expected = expectedFor(seeded, "checkAtGateway");
    expect((await countUnresolved(database.db)) - before).toBe(expected.length);
    const scheduled: string[] = [];
    for (const id of seeded.keys()) if (await scheduleNextCheck(database.db, id, 1, -60_000)) scheduled.push(id);
    expect(scheduled.sort()).toEqual(expected);
    const due = (await claimDueChecks(database.db, 1000, 60_000)).map((p) => p.id).filter((id) => seeded.has(id));
    expect(due.sort()).toEqual(expected);
  });

  it("claimStrandedPayments takes exactly the claimable payments that nothing is queued for, and touches them", async () => {
    // Earlier tests' payments are not idle any more.
    await database.db.execute(sql`update ${payments} set updated_at = now()`);
    const seeded = await seed();
    const [queued, ...claimable] = expectedFor(seeded, "claim");
    await enqueuePayment(database.db, { paymentId: queued as string, requestId: null });
    const stranded = await claimStrandedPayments(database.db, { idleMs: 60_000, limit: 1000, queued: hasQueuedPaymentMessage });
    expect(stranded.map((p) => p.id).sort()).toEqual(claimable);
    // Touched by the claim: not idle any more, so a second claim finds none of them.
    expect(await claimStrandedPayments(database.db, { idleMs: 60_000, limit: 1000, queued: hasQueuedPaymentMessage })).toEqual([]);
  });
});
