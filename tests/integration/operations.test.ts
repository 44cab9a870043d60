import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { and, eq } from "drizzle-orm";
import { outbox } from "../../modules/broker";
import { payments, toPayment } from "../../modules/payments";
import type { Gateway } from "../../modules/gateways";
import { createSweeper } from "../../modules/processing";
import { cardSecrets } from "../../modules/vault";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { TEST_CARDS } from "../support/gateway-conformance";
import { buildPipeline, silentLogger } from "../support/harness";
import { dueNow, failingBeforeSending, faultySimulator, ledgerRows, operationsPipeline } from "../support/operations";
import { CARDS } from "../support/payments";
import { simulatorChargeCounts } from "../support/simulator";

/** The simulator's card whose authorizations succeed and whose captures the issuer refuses. */
const CAPTURE_REFUSED = TEST_CARDS.captureRefused;

for (const backend of BACKENDS) {
  describe(`authorizations, captures and voids [${backend}]`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
    });
    afterAll(async () => {
      await database.drop();
    });

    const pipeline = (options: Parameters<typeof buildPipeline>[1] = {}) => operationsPipeline(database, options);

    it("authorizes a manual payment: AUTHORIZED with the authorization's reference and expiry, nothing taken, card deleted, payment.authorized", async () => {
      const { p, events } = await pipeline({ authorizationTtlMs: 3_600_000 });
      const before = Date.now();
      const row = await p.authorize(CARDS.visa);
      expect(row).toMatchObject({ status: "AUTHORIZED", operation: "authorize", amountCaptured: 0, failureCode: null, completedAt: null });
      expect(row.gatewayReference).toMatch(/^sim_/);
      // One hour from the authorization, by the database's clock (a minute either way for clock skew).
      const expiresAt = row.authorizationExpiresAt?.getTime() ?? 0;
      expect(expiresAt).toBeGreaterThan(before + 3_600_000 - 60_000);
      expect(expiresAt).toBeLessThan(Date.now() + 3_600_000 + 60_000);
      expect(p.stats.requests.map((r) => r.capture)).toEqual([false]);
      expect(await ledgerRows(database.db, row.id, "authorize")).toHaveLength(1);
      expect((await simulatorChargeCounts(database.db)).get(row.id)).toBeUndefined();
      expect(await database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, row.id))).toHaveLength(0);
      expect(await events.typesOf(row.id)).toEqual(["payment.authorized"]);
    });

    it("captures all of an authorization: COMPLETED with amountCaptured and the capture's reference, one capture at the gateway", async () => {
      const { p, events } = await pipeline();
      const authorized = await p.authorize(CARDS.visa);
      expect((await p.requestCapture(authorized.id))?.status).toBe("PROCESSING");
      expect(await p.processPayment(p.message(authorized.id))).toBe("completed");
      const row = await p.row(authorized.id);
      expect(row).toMatchObject({ status: "COMPLETED", operation: "capture", amountCaptured: 1999, authorizationExpiresAt: null, failureCode: null });
      expect(row.completedAt).toBeInstanceOf(Date);
      const [capture, ...more] = await ledgerRows(database.db, row.id, "capture");
      expect(more).toHaveLength(0);
      expect(capture).toMatchObject({ outcome: "approved", amount: 1999, targetReference: authorized.gatewayReference, reference: row.gatewayReference });
      expect(row.gatewayReference).not.toBe(authorized.gatewayReference);
      expect(await events.typesOf(row.id)).toEqual(["payment.authorized", "payment.completed"]);
    });

    it("captures part of an authorization: only that amount is captured", async () => {
      const { p } = await pipeline();
      const authorized = await p.authorize(CARDS.mastercard);
      await p.requestCapture(authorized.id, 500);
      expect(await p.processPayment(p.message(authorized.id))).toBe("completed");
      expect(await p.row(authorized.id)).toMatchObject({ status: "COMPLETED", amountCaptured: 500, amount: 1999 });
      expect((await ledgerRows(database.db, authorized.id, "capture")).map((r) => r.amount)).toEqual([500]);
      expect(p.stats.operations.capture.map((r) => ({ amount: r.amount, authorizedAmount: r.authorizedAmount }))).toEqual([
        { amount: 500, authorizedAmount: 1999 },
      ]);
    });

    it("a capture the gateway refuses puts the payment back to AUTHORIZED with the code, its reference and expiry kept, and no event", async () => {
      const { p, events } = await pipeline();
      const authorized = await p.authorize(CAPTURE_REFUSED);
      await p.requestCapture(authorized.id);
      expect(await p.processPayment(p.message(authorized.id))).toBe("refused");
      const row = await p.row(authorized.id);
      expect(row).toMatchObject({
        status: "AUTHORIZED",
        failureCode: "capture_declined",
        gatewayReference: authorized.gatewayReference,
        authorizationExpiresAt: authorized.authorizationExpiresAt,
        amountCaptured: 0,
        captureAmount: null,
        completedAt: null,
      });
      expect(events.handed.filter((h) => h === `${row.id}:AUTHORIZED`)).toHaveLength(1);
      expect(await events.typesOf(row.id)).toEqual(["payment.authorized"]);
      // The authorization still stands: it can be voided.
      await p.requestVoid(row.id);
      expect(await p.processPayment(p.message(row.id))).toBe("canceled");
    });

    it("voids an authorization: CANCELED with canceledAt and the reason, payment.canceled, and it can no longer be captured", async () => {
      const { p, events } = await pipeline();
      const authorized = await p.authorize(CARDS.visa);
      expect((await p.requestVoid(authorized.id, "requested_by_customer"))?.status).toBe("PROCESSING");
      expect(await p.processPayment(p.message(authorized.id))).toBe("canceled");
      const row = await p.row(authorized.id);
      expect(row).toMatchObject({ status: "CANCELED", operation: "void", cancellationReason: "requested_by_customer", amountCaptured: 0, authorizationExpiresAt: null });
      expect(row.canceledAt).toBeInstanceOf(Date);
      expect(row.completedAt).toBeInstanceOf(Date);
      expect(await ledgerRows(database.db, row.id, "void")).toHaveLength(1);
      expect(await events.typesOf(row.id)).toEqual(["payment.authorized", "payment.canceled"]);
      expect(await p.requestCapture(row.id)).toBeUndefined();
    });

    it("an authorization past its expiry is voided with reason expired", async () => {
      const { p, events } = await pipeline();
      const authorized = await p.authorize(CARDS.visa);
      const fresh = await p.authorize(CARDS.visa);
      await database.db.update(payments).set({ authorizationExpiresAt: dueNow }).where(eq(payments.id, authorized.id));
      const sweeper = createSweeper(database.db, silentLogger, { intervalMs: 1000, stuckAfterMs: 60_000 });
      expect(await sweeper.expireOnce()).toBeGreaterThanOrEqual(1);
      expect(await p.row(authorized.id)).toMatchObject({ status: "PROCESSING", operation: "void", cancellationReason: "expired" });
      expect(await p.row(fresh.id)).toMatchObject({ status: "AUTHORIZED" });
      const queued = await database.db.select().from(outbox).where(and(eq(outbox.paymentId, authorized.id), eq(outbox.topic, "requested")));
      // Beside its creation's message (this harness calls the processor directly): the void's.
      expect(queued.map((m) => m.payload)).toContainEqual({ paymentId: authorized.id, requestId: null });
      expect(await p.processPayment(p.message(authorized.id))).toBe("canceled");
      expect(await p.row(authorized.id)).toMatchObject({ status: "CANCELED", cancellationReason: "expired" });
      expect(await events.typesOf(authorized.id)).toEqual(["payment.authorized", "payment.canceled"]);
      // Expired once: nothing left to expire for it.
      await sweeper.expireOnce();
      expect((await p.row(authorized.id)).status).toBe("CANCELED");
    });

    it("an expired authorization the gateway refuses to void stays AUTHORIZED with the code, and is not voided again at every round", async () => {
      const sim = faultySimulator(database.db);
      const gateway: Gateway = {
        ...sim.gateway,
        voidAuthorization: async () => ({ kind: "declined", code: "authorization_expired", message: "The authorization has expired", gatewayReference: null }),
      };
      const p = buildPipeline(database, { gateway });
      const authorized = await p.authorize(CARDS.visa);
      await database.db.update(payments).set({ authorizationExpiresAt: dueNow }).where(eq(payments.id, authorized.id));
      const sweeper = createSweeper(database.db, silentLogger, { intervalMs: 1000, stuckAfterMs: 60_000 });
      await sweeper.expireOnce();
      expect(await p.processPayment(p.message(authorized.id))).toBe("refused");
      expect(await p.row(authorized.id)).toMatchObject({
        status: "AUTHORIZED",
        failureCode: "authorization_expired",
        authorizationExpiresAt: null,
        gatewayReference: authorized.gatewayReference,
      });
      await sweeper.expireOnce();
      expect((await p.row(authorized.id)).status).toBe("AUTHORIZED");
      expect(p.stats.operations.voidAuthorization).toHaveLength(1);
    });

    it("a capture whose answers are lost goes to the reconciler, which settles it from the gateway's record: one capture", async () => {
      const { p, sim } = await pipeline({ maxAttempts: 2 });
      const authorized = await p.authorize(CARDS.visa);
      await p.requestCapture(authorized.id, 700);
      sim.state.fault = "lost";
      expect(await p.processPayment(p.message(authorized.id))).toBe("retry_scheduled");
      expect(await p.processPayment(p.message(authorized.id))).toBe("reconciling");
      const held = await p.row(authorized.id);
      expect(held).toMatchObject({ status: "PROCESSING", reconciling: true, gatewayReference: authorized.gatewayReference });
      expect(toPayment(held).outcome).toBe("unknown");
      // A redelivered message cannot start the capture again.
      expect(await p.processPayment(p.message(authorized.id))).toBe("skipped");
      sim.state.fault = null;
      await database.db.update(payments).set({ nextCheckAt: dueNow }).where(eq(payments.id, authorized.id));
      expect(await p.reconciler.checkDue()).toBeGreaterThanOrEqual(1);
      expect(await p.row(authorized.id)).toMatchObject({ status: "COMPLETED", amountCaptured: 700 });
      expect(p.stats.lookups.map((l) => l.operation)).toContain("capture");
      expect(await ledgerRows(database.db, authorized.id, "capture")).toHaveLength(1);
      expect(new Set(p.stats.operations.capture.map((r) => r.idempotencyKey)).size).toBe(1);
    });

    it("a void whose answers are lost is settled CANCELED by the reconciler", async () => {
      const { p, sim, events } = await pipeline({ maxAttempts: 1 });
      const authorized = await p.authorize(CARDS.visa);
      await p.requestVoid(authorized.id, "duplicate");
      sim.state.fault = "lost";
      expect(await p.processPayment(p.message(authorized.id))).toBe("reconciling");
      sim.state.fault = null;
      await database.db.update(payments).set({ nextCheckAt: dueNow }).where(eq(payments.id, authorized.id));
      await p.reconciler.checkDue();
      expect(await p.row(authorized.id)).toMatchObject({ status: "CANCELED", cancellationReason: "duplicate" });
      expect(await ledgerRows(database.db, authorized.id, "void")).toHaveLength(1);
      expect(await events.typesOf(authorized.id)).toEqual(["payment.authorized", "payment.canceled"]);
    });

    it("a capture the gateway confirms it never got is refused back to AUTHORIZED, never COMPLETED on a guess", async () => {
      const p = buildPipeline(database, { gateway: failingBeforeSending(database.db, "capture"), maxAttempts: 1 });
      const authorized = await p.authorize(CARDS.visa);
      await p.requestCapture(authorized.id);
      expect(await p.processPayment(p.message(authorized.id))).toBe("reconciling");
      await database.db.update(payments).set({ nextCheckAt: dueNow }).where(eq(payments.id, authorized.id));
      await p.reconciler.checkDue();
      expect(await p.row(authorized.id)).toMatchObject({ status: "AUTHORIZED", failureCode: "gateway_unavailable", reconciling: false, amountCaptured: 0 });
    });

    it("a capture the gateway never took within its attempts is refused with gateway_unavailable; asked again, it runs under a new key", async () => {
      const { p, sim } = await pipeline({ maxAttempts: 2 });
      const authorized = await p.authorize(CARDS.visa);
      await p.requestCapture(authorized.id);
      sim.state.fault = "transient";
      expect(await p.processPayment(p.message(authorized.id))).toBe("retry_scheduled");
      expect(await p.processPayment(p.message(authorized.id))).toBe("refused");
      expect(await p.row(authorized.id)).toMatchObject({ status: "AUTHORIZED", failureCode: "gateway_unavailable" });
      const letters = await database.db.select().from(outbox).where(and(eq(outbox.paymentId, authorized.id), eq(outbox.topic, "dlq")));
      expect(letters.map((l) => l.payload)).toMatchObject([{ reason: "attempts_exhausted" }]);
      sim.state.fault = null;
      await p.requestCapture(authorized.id);
      expect(await p.processPayment(p.message(authorized.id))).toBe("completed");
      expect(new Set(p.stats.operations.capture.map((r) => r.idempotencyKey)).size).toBe(2);
      expect(await ledgerRows(database.db, authorized.id, "capture")).toHaveLength(1);
    });

    it("each operation has its own retry budget: an authorization that needed retries leaves the capture all of its attempts", async () => {
      const { p, sim } = await pipeline({ maxAttempts: 2 });
      const created = await p.create(CARDS.visa);
      await database.db.update(payments).set({ captureMethod: "manual", operation: "authorize" }).where(eq(payments.id, created.id));
      sim.state.fault = "transient";
      expect(await p.processPayment(p.message(created.id))).toBe("retry_scheduled");
      sim.state.fault = null;
      expect(await p.processPayment(p.message(created.id))).toBe("authorized");
      await p.requestCapture(created.id);
      sim.state.fault = "transient";
      expect(await p.processPayment(p.message(created.id))).toBe("retry_scheduled");
      sim.state.fault = null;
      expect(await p.processPayment(p.message(created.id))).toBe("completed");
      expect(p.stats.operations.capture.map((r) => r.attempt)).toEqual([1, 2]);
      expect((await p.row(created.id)).attempts).toBe(4);
    });

    it("a capture message delivered many times at once reaches the gateway once", async () => {
      const { p } = await pipeline();
      const authorized = await p.authorize(CARDS.visa);
      await p.requestCapture(authorized.id);
      const results = await Promise.all(Array.from({ length: 4 }, () => p.processPayment(p.message(authorized.id))));
      expect(results.filter((r) => r === "completed")).toHaveLength(1);
      expect(results.filter((r) => r === "skipped")).toHaveLength(3);
      expect(await p.processPayment(p.message(authorized.id))).toBe("skipped");
      expect(p.stats.operations.capture).toHaveLength(1);
      expect(await ledgerRows(database.db, authorized.id, "capture")).toHaveLength(1);
    });
  });
}
