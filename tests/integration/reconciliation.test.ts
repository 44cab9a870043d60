import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { outbox } from "../../modules/broker";
import { type ChargeRequest, createSimulatorGateway, type Gateway, type LookupOutcome } from "../../modules/gateways";
import { countUnresolved, findPaymentById, payments, toPayment } from "../../modules/payments";
import { createSweeper, nextCheckDelayMs, type ReconcileSchedule } from "../../modules/processing";
import { cardSecrets } from "../../modules/vault";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { buildPipeline, silentLogger } from "../support/harness";
import { CARDS } from "../support/payments";
import { simulatorChargeCounts } from "../support/simulator";

/** Runs every attempt a payment gets (retries come back through the outbox; here by hand). */
async function runAttempts(p: ReturnType<typeof buildPipeline>, paymentId: string, max = 10): Promise<string> {
  let result = "";
  for (let i = 0; i < max; i++) {
    result = await p.processPayment(p.message(paymentId));
    if (result !== "retry_scheduled") break;
  }
  return result;
}

/** A simulator whose health the test switches: the options object is read on every call. */
function switchableSimulator(database: TestDatabase, random?: () => number) {
  const options = { latencyMs: 0, transientFailureRate: 1, ...(random ? { random } : {}) };
  return { gateway: createSimulatorGateway(database.db, options), heal: () => (options.transientFailureRate = 0), options };
}

/** A look-up as a gateway asked only by replaying the charge (PayPal) makes it: each replay is kept in `replayed`. */
function replayingLookup(gateway: Gateway, replayed: ChargeRequest[]): Gateway["lookup"] {
  return async (request) => {
    const replay = request.replay();
    if (replay === null) return { kind: "unknown", reason: "nothing to replay" };
    replayed.push(replay);
    const outcome = await gateway.charge(replay);
    return outcome.kind === "approved" || outcome.kind === "declined" || outcome.kind === "requires_action" ? outcome : { kind: "unknown", reason: outcome.reason };
  };
}

for (const backend of BACKENDS) {
  describe(`unknown outcomes and reconciliation [${backend}]`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
    });
    afterAll(async () => {
      await database.drop();
    });

    it("never fails a payment that may have been charged: it stays PROCESSING with outcome unknown until the gateway answers", async () => {
      // Every call fails: the first after taking the charge (unknown), the rest before (transient).
      let calls = 0;
      const sim = switchableSimulator(database, () => (calls++ % 2 === 0 ? 0 : 0.9));
      const p = buildPipeline(database, { gateway: sim.gateway, maxAttempts: 3, reconcileFirstCheckMs: 60_000 });
      const payment = await p.create(CARDS.visa);
      expect(await runAttempts(p, payment.id)).toBe("reconciling");

      const row = await findPaymentById(database.db, payment.id);
      expect(row?.status).toBe("PROCESSING");
      expect(row?.reconciling).toBe(true);
      expect(row?.outcomeUnknownSince).toBeInstanceOf(Date);
      const shown = toPayment(row!);
      expect(shown.outcome).toBe("unknown");
      expect(new Date(shown.nextCheckAt!).getTime()).toBeGreaterThan(Date.now() + 50_000);
      // The gateway's ledger holds the charge: the payment is not final, and not FAILED.
      expect((await simulatorChargeCounts(database.db)).get(payment.id)).toBe(1);
      // Dead-lettered with the reason that an attempt's outcome was unknown.
      const dead = await database.db.select().from(outbox).where(eq(outbox.paymentId, payment.id));
      expect(dead.find((r) => r.topic === "dlq")?.payload).toMatchObject({ reason: "outcome_unknown" });
      // Its card is gone: the simulator's look-up reads its ledger and never replays the charge.
      expect(await database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, payment.id))).toHaveLength(0);
      // No further charge attempt may claim it, whatever redelivers its message.
      expect(await p.processPayment(p.message(payment.id))).toBe("skipped");
      expect(await countUnresolved(database.db)).toBeGreaterThanOrEqual(1);
    });

    /** Settles what is due until `id` leaves PROCESSING (or the rounds run out); returns its row. */
    async function reconcileUntilSettled(p: ReturnType<typeof buildPipeline>, id: string) {
      for (let i = 0; i < 40; i++) {
        await Bun.sleep(30);
        await p.reconciler.checkDue();
        const row = await findPaymentById(database.db, id);
        if (row?.status !== "PROCESSING") return row;
      }
      return findPaymentById(database.db, id);
    }
    const storedCard = (id: string) => database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, id));

    it("a card payment handed to a reconciler whose look-up never replays the charge (simulator, Stripe) keeps no card data, and still settles COMPLETED", async () => {
      // The first call takes the charge and loses its answer; the next ones fail before reaching it.
      let calls = 0;
      const sim = switchableSimulator(database, () => (calls++ % 2 === 0 ? 0 : 0.9));
      const p = buildPipeline(database, { gateway: sim.gateway, maxAttempts: 3, reconcileFirstCheckMs: 10 });
      const payment = await p.create(CARDS.visa);
      // While the worker may still retry, the whole card (CVC included) stays for the identical request.
      expect(await p.processPayment(p.message(payment.id))).toBe("retry_scheduled");
      expect(p.vault.open((await storedCard(payment.id))[0]!).cvc).toBe("123");
      expect(await runAttempts(p, payment.id)).toBe("reconciling");
      // Handed over: deleted in the same transaction, nothing of the card is left.
      expect(await findPaymentById(database.db, payment.id)).toMatchObject({ status: "PROCESSING", reconciling: true });
      expect(await storedCard(payment.id)).toHaveLength(0);

      sim.heal();
      expect(await reconcileUntilSettled(p, payment.id)).toMatchObject({ status: "COMPLETED" });
      expect((await simulatorChargeCounts(database.db)).get(payment.id)).toBe(1);
    });

    it("for a gateway whose look-up replays the charge (PayPal), the card is re-sealed without its CVC at the hand-over; the replay goes without it under the same key and settles COMPLETED", async () => {
      let calls = 0;
      const sim = switchableSimulator(database, () => (calls++ % 2 === 0 ? 0 : 0.9));
      const charges: ChargeRequest[] = [];
      const replayed: ChargeRequest[] = [];
      const gateway: Gateway = {
        ...sim.gateway,
        // GATEWAY_LIMITS.paypal.lookupReplaysCharge: the store keeps what such a look-up needs.
        name: "paypal",
        charge: (request) => {
          charges.push(request);
          return sim.gateway.charge(request);
        },
        lookup: replayingLookup(sim.gateway, replayed),
      };
      const p = buildPipeline(database, { gateway, maxAttempts: 3, reconcileFirstCheckMs: 10 });
      const payment = await p.create(CARDS.visa);
      const [before] = await storedCard(payment.id);
      expect(await runAttempts(p, payment.id)).toBe("reconciling");

      // Every attempt sent the identical request: same key, same card, CVC included.
      expect(charges.length).toBe(3);
      for (const charge of charges) expect({ key: charge.idempotencyKey, card: charge.card }).toEqual({ key: charges[0]!.idempotencyKey, card: { number: CARDS.visa, expMonth: 12, expYear: 2030, cvc: "123", holderName: "Jane Doe" } });

      // Handed over: the card is still there, sealed anew, without the CVC.
      const after = await storedCard(payment.id);
      expect(after).toHaveLength(1);
      expect(after[0]!.sealed).not.toBe(before!.sealed);
      expect(p.vault.open(after[0]!)).toEqual({ number: CARDS.visa, cvc: null, holderName: "Jane Doe" });

      sim.heal();
      expect(await reconcileUntilSettled(p, payment.id)).toMatchObject({ status: "COMPLETED" });
      // The look-up replayed the charge under the same key, without the CVC, and charged nothing more.
      expect(replayed.length).toBeGreaterThanOrEqual(1);
      for (const replay of replayed) expect({ key: replay.idempotencyKey, card: replay.card }).toEqual({ key: charges[0]!.idempotencyKey, card: { ...charges[0]!.card!, cvc: null } });
      expect((await simulatorChargeCounts(database.db)).get(payment.id)).toBe(1);
      expect(await storedCard(payment.id)).toHaveLength(0);
    });

    it("a payment paid with a payment method is replayed with it (no card needed), and settles COMPLETED with the gateway's card view", async () => {
      let calls = 0;
      const sim = switchableSimulator(database, () => (calls++ % 2 === 0 ? 0 : 0.9));
      const replayed: ChargeRequest[] = [];
      const gateway: Gateway = {
        ...sim.gateway,
        // As a gateway asked only by replaying the charge (PayPal) does.
        lookup: replayingLookup(sim.gateway, replayed),
      };
      const p = buildPipeline(database, { gateway, maxAttempts: 2, reconcileFirstCheckMs: 10 });
      const payment = await p.createPaidWith("pm_card_visa");
      expect(await database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, payment.id))).toHaveLength(0);
      expect(await runAttempts(p, payment.id)).toBe("reconciling");

      sim.heal();
      await Bun.sleep(30);
      await p.reconciler.checkDue();
      expect(replayed.map((r) => ({ paymentMethod: r.paymentMethod, card: r.card }))).toEqual([{ paymentMethod: "pm_card_visa", card: undefined }]);
      expect(toPayment(await p.row(payment.id))).toMatchObject({ status: "COMPLETED", paymentMethod: "pm_card_visa", card: { brand: "visa", last4: "4242" } });
      expect((await simulatorChargeCounts(database.db)).get(payment.id)).toBe(1);
    });

    it("the reconciler settles charged payments COMPLETED and uncharged ones FAILED once the gateway answers", async () => {
      const sim = switchableSimulator(database);
      const p = buildPipeline(database, { gateway: sim.gateway, maxAttempts: 2, reconcileFirstCheckMs: 10 });
      const created = [];
      for (let i = 0; i < 30; i++) created.push(await p.create(CARDS.visa));
      for (const payment of created) await runAttempts(p, payment.id);

      // While the gateway stays down, lookups tell nothing: nothing is finalized.
      await Bun.sleep(30);
      await p.reconciler.checkDue();
      for (const payment of created) {
        const row = await findPaymentById(database.db, payment.id);
        const charged = (await simulatorChargeCounts(database.db)).get(payment.id) ?? 0;
        if (charged > 0) expect(row?.status).toBe("PROCESSING");
        if (row?.status === "FAILED") expect(charged).toBe(0);
      }

      sim.heal();
      for (let i = 0; i < 20; i++) {
        await Bun.sleep(60);
        await p.reconciler.checkDue();
        const open = await database.db.select().from(payments).where(sql`${payments.status} = 'PROCESSING'`);
        if (open.length === 0) break;
      }
      const charges = await simulatorChargeCounts(database.db);
      let completed = 0;
      for (const payment of created) {
        const row = await findPaymentById(database.db, payment.id);
        const charged = charges.get(payment.id) ?? 0;
        expect(charged).toBeLessThanOrEqual(1);
        // COMPLETED ⇔ charged, and nothing left unresolved.
        expect({ id: payment.id, status: row?.status }).toEqual({ id: payment.id, status: charged === 1 ? "COMPLETED" : "FAILED" });
        if (row?.status === "FAILED") expect(row.failureCode).toBe("gateway_unavailable");
        if (row?.status === "COMPLETED") completed++;
      }
      // With half of the faults after the charge, most payments were charged.
      expect(completed).toBeGreaterThan(10);
    });

    it("a payment whose every attempt failed before reaching the gateway fails at once, dead-lettered as attempts_exhausted", async () => {
      const sim = switchableSimulator(database, () => 0.1);
      // random() < 0.5 → every fault is "before the charge".
      const p = buildPipeline(database, { gateway: sim.gateway, maxAttempts: 3 });
      const payment = await p.create(CARDS.visa);
      expect(await runAttempts(p, payment.id)).toBe("failed");
      const row = await findPaymentById(database.db, payment.id);
      expect(row).toMatchObject({ status: "FAILED", failureCode: "gateway_unavailable", outcomeUnknownSince: null });
      expect(toPayment(row!).outcome).toBeNull();
      const dead = await database.db.select().from(outbox).where(eq(outbox.paymentId, payment.id));
      expect(dead.find((r) => r.topic === "dlq")?.payload).toMatchObject({ reason: "attempts_exhausted" });
    });

    it("an unknown attempt followed by transient ones is still unknown: the dead-letter reason names the unknown, not the last error", async () => {
      let calls = 0;
      // First call: fault after charge (unknown); later calls: fault before charge (transient).
      const sim = switchableSimulator(database, () => (calls++ === 1 ? 0.9 : 0.1));
      const p = buildPipeline(database, { gateway: sim.gateway, maxAttempts: 4, reconcileFirstCheckMs: 60_000 });
      const payment = await p.create(CARDS.visa);
      expect(await runAttempts(p, payment.id)).toBe("reconciling");
      const dead = await database.db.select().from(outbox).where(eq(outbox.paymentId, payment.id));
      expect(dead.find((r) => r.topic === "dlq")?.payload).toMatchObject({ reason: "outcome_unknown" });
    });

    it("only a definite lookup answer finalizes; 'unknown' reschedules with a growing back-off and an error log each time", async () => {
      const answers: LookupOutcome[] = [
        { kind: "unknown", reason: "gateway down" },
        { kind: "unknown", reason: "gateway down" },
        { kind: "approved", gatewayReference: "ref_found" },
      ];
      const simulator = createSimulatorGateway(database.db, { latencyMs: 0, transientFailureRate: 0 });
      const gateway: Gateway = {
        ...simulator,
        charge: async () => ({ kind: "unknown", reason: "lost answer" }),
        lookup: async () => answers.shift() ?? { kind: "unknown", reason: "no more answers" },
      };
      const p = buildPipeline(database, { gateway, maxAttempts: 1, reconcileFirstCheckMs: 10 });
      const payment = await p.create(CARDS.visa);
      expect(await runAttempts(p, payment.id)).toBe("reconciling");
      let opened = 0;
      const open = p.vault.open.bind(p.vault);
      p.vault.open = (sealed) => {
        opened++;
        return open(sealed);
      };
      const delays: number[] = [];
      for (let i = 0; i < 3; i++) {
        await database.db.update(payments).set({ nextCheckAt: sql`now() - interval '1 second'` }).where(eq(payments.id, payment.id));
        expect(await p.reconciler.checkDue()).toBe(1);
        const row = await findPaymentById(database.db, payment.id);
        if (row?.status === "PROCESSING") delays.push(row.reconcileChecks);
      }
      expect(delays).toEqual([1, 2]);
      // This gateway never asked for the charge to replay, so the card was never decrypted for it.
      expect(opened).toBe(0);
      const row = await findPaymentById(database.db, payment.id);
      expect(row).toMatchObject({ status: "COMPLETED", gatewayReference: "ref_found" });
      // Its card secret is purged once final.
      expect(await database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, payment.id))).toHaveLength(0);
    });

    it("the sweeper never re-queues a payment the reconciler owns", async () => {
      const simulator = createSimulatorGateway(database.db, { latencyMs: 0, transientFailureRate: 0 });
      const gateway: Gateway = {
        ...simulator,
        charge: async () => ({ kind: "unknown", reason: "lost answer" }),
        lookup: async () => ({ kind: "unknown", reason: "still down" }),
      };
      const p = buildPipeline(database, { gateway, maxAttempts: 1, reconcileFirstCheckMs: 3_600_000 });
      const payment = await p.create(CARDS.visa);
      expect(await runAttempts(p, payment.id)).toBe("reconciling");
      await database.db.update(payments).set({ updatedAt: sql`now() - interval '1 hour'` }).where(eq(payments.id, payment.id));
      // Its creation's message was handled (this harness calls the processor directly).
      await database.db.delete(outbox).where(eq(outbox.paymentId, payment.id));
      const sweeper = createSweeper(database.db, silentLogger, { intervalMs: 1_000, stuckAfterMs: 1_000, batchSize: 100 });
      await sweeper.sweepOnce();
      const queued = await database.db.select().from(outbox).where(eq(outbox.paymentId, payment.id));
      expect(queued.filter((r) => r.topic === "requested")).toHaveLength(0);
    });

    it("an attempt whose worker died (lease ran out, nothing recorded) counts as unknown: the last attempt's transient error cannot fail the payment", async () => {
      // The first call takes the charge and the worker "dies" before recording; the retake's call fails before the gateway.
      const sim = switchableSimulator(database, () => 0.1);
      sim.options.transientFailureRate = 0;
      const p = buildPipeline(database, { gateway: sim.gateway, maxAttempts: 2, reconcileFirstCheckMs: 60_000, leaseMs: 30_000 });
      const payment = await p.create(CARDS.visa);
      const { claimPayment } = await import("../../modules/payments");
      const claimed = await claimPayment(database.db, payment.id, 30_000);
      expect(claimed?.attempts).toBe(1);
      // The dead worker's charge reached the gateway.
      await sim.gateway.charge({
        paymentId: payment.id,
        idempotencyKey: `paystream-${payment.id}`,
        amount: payment.amount,
        currency: payment.currency,
        card: { number: CARDS.visa, expMonth: 12, expYear: 2034, cvc: "123", holderName: null },
        customer: { email: "a@example.com", name: "A", reference: null },
        description: null,
        attempt: 1,
        capture: true,
        returnUrl: null,
        cancelUrl: null,
      });
      expect((await simulatorChargeCounts(database.db)).get(payment.id)).toBe(1);
      // Its lease runs out.
      await database.db.update(payments).set({ leaseExpiresAt: sql`now() - interval '1 second'` }).where(eq(payments.id, payment.id));
      // The retake, attempt 2 of 2, fails before reaching the gateway.
      sim.options.transientFailureRate = 1;
      expect(await p.processPayment(p.message(payment.id))).toBe("reconciling");
      const row = await findPaymentById(database.db, payment.id);
      expect(row).toMatchObject({ status: "PROCESSING", reconciling: true });
      expect(row?.outcomeUnknownSince).toBeInstanceOf(Date);
      // And the reconciler, once the gateway answers, completes it: charged ⇔ COMPLETED.
      sim.heal();
      await database.db.update(payments).set({ nextCheckAt: sql`now() - interval '1 second'` }).where(eq(payments.id, payment.id));
      await p.reconciler.checkDue();
      expect(await findPaymentById(database.db, payment.id)).toMatchObject({ status: "COMPLETED" });
    });

    it("a first claim from PENDING does not count as unknown", async () => {
      const sim = switchableSimulator(database, () => 0.1);
      const p = buildPipeline(database, { gateway: sim.gateway, maxAttempts: 1 });
      const payment = await p.create(CARDS.visa);
      expect(await p.processPayment(p.message(payment.id))).toBe("failed");
      expect(await findPaymentById(database.db, payment.id)).toMatchObject({ status: "FAILED", failureCode: "gateway_unavailable", outcomeUnknownSince: null });
    });

    it("a sealed card that cannot be opened fails the payment card_data_unavailable instead of re-queuing it forever", async () => {
      const p = buildPipeline(database, { maxAttempts: 3 });
      const corrupt = await p.create(CARDS.visa);
      await database.db.update(cardSecrets).set({ sealed: "not-a-sealed-card" }).where(eq(cardSecrets.paymentId, corrupt.id));
      const unknownKey = await p.create(CARDS.visa);
      await database.db.update(cardSecrets).set({ keyId: "k_not_in_the_ring" }).where(eq(cardSecrets.paymentId, unknownKey.id));
      for (const id of [corrupt.id, unknownKey.id]) {
        expect(await p.processPayment(p.message(id))).toBe("failed");
        expect(await findPaymentById(database.db, id)).toMatchObject({ status: "FAILED", failureCode: "card_data_unavailable" });
      }
    });

    it("a payment that may have been charged and whose card cannot be opened goes to the reconciler, not to FAILED", async () => {
      let calls = 0;
      const sim = switchableSimulator(database, () => (calls++ % 2 === 0 ? 0 : 0.9));
      const p = buildPipeline(database, { gateway: sim.gateway, maxAttempts: 3, reconcileFirstCheckMs: 60_000 });
      const payment = await p.create(CARDS.visa);
      expect(await p.processPayment(p.message(payment.id))).toBe("retry_scheduled");
      await database.db.update(cardSecrets).set({ sealed: "not-a-sealed-card" }).where(eq(cardSecrets.paymentId, payment.id));
      expect(await p.processPayment(p.message(payment.id))).toBe("reconciling");
      expect(await findPaymentById(database.db, payment.id)).toMatchObject({ status: "PROCESSING", reconciling: true });
    });
  });
}

/** How many lookups the schedule makes in `windowMs`. */
function lookupsWithin(schedule: ReconcileSchedule, windowMs: number): number {
  let elapsed = schedule.firstCheckMs;
  let lookups = 0;
  while (elapsed <= windowMs) {
    lookups++;
    elapsed += nextCheckDelayMs(schedule, lookups);
  }
  return lookups;
}

describe("the reconciler's back-off", () => {
  it("looks first after the first delay, doubles, and settles at the cap (about daily) without ever giving up", () => {
    const schedule = { firstCheckMs: 30_000, maxIntervalMs: 86_400_000 };
    expect(nextCheckDelayMs(schedule, 0)).toBe(30_000);
    expect(nextCheckDelayMs(schedule, 1)).toBe(60_000);
    expect(nextCheckDelayMs(schedule, 5)).toBe(960_000);
    expect(nextCheckDelayMs(schedule, 20)).toBe(86_400_000);
    expect(nextCheckDelayMs(schedule, 10_000)).toBe(86_400_000);
    // Over 7 days the defaults make a dozen fast looks and then one a day.
    const week = lookupsWithin(schedule, 7 * 86_400_000);
    expect(week).toBeGreaterThanOrEqual(17);
    expect(week).toBeLessThanOrEqual(25);
  });
});
