import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { outbox } from "../../modules/broker";
import { queryRows } from "../../modules/database";
import { claimPayment, findPaymentById, payments, recordFinalOutcome } from "../../modules/payments";
import { createSweeper } from "../../modules/processing";
import { cardSecrets } from "../../modules/vault";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { buildPipeline, silentLogger } from "../support/harness";
import { CARDS, EXPECTED } from "../support/payments";
import { simulatorChargeCounts } from "../support/simulator";

for (const backend of BACKENDS) {
  describe(`processing [${backend}]`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
    });
    afterAll(async () => {
      await database.drop();
    });

    it("writes the payment, the sealed card, the outbox row in one go and answers PENDING", async () => {
      const p = buildPipeline(database);
      const payment = await p.create(CARDS.visa);
      expect(payment.status).toBe("PENDING");
      const [secret] = await database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, payment.id));
      expect(secret?.sealed).toBeDefined();
      expect(secret?.sealed).not.toContain(CARDS.visa);
      expect(p.vault.open(secret!).number).toBe(CARDS.visa);
      const rows = await database.db.select().from(outbox).where(eq(outbox.paymentId, payment.id));
      expect(rows.map((r) => r.topic)).toEqual(["requested"]);
    });

    it("takes each simulator test card to its expected final state and purges the card secret", async () => {
      const p = buildPipeline(database, { maxAttempts: 2 });
      for (const [card, expected] of Object.entries(EXPECTED)) {
        const payment = await p.create(card);
        // Drive the attempts by hand: retries come back through the outbox.
        for (let attempt = 0; attempt < 3; attempt++) {
          const result = await p.processPayment(p.message(payment.id));
          if (result !== "retry_scheduled") break;
        }
        const row = await findPaymentById(database.db, payment.id);
        expect({ card, status: row?.status, failureCode: row?.failureCode }).toEqual({ card, ...expected });
        expect(row?.completedAt).toBeInstanceOf(Date);
        const secrets = await database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, payment.id));
        expect(secrets).toHaveLength(0);
      }
    });

    it("dead-letters a payment whose attempts ran out, with the reason", async () => {
      const p = buildPipeline(database, { maxAttempts: 2 });
      const payment = await p.create(CARDS.processingError);
      expect(await p.processPayment(p.message(payment.id))).toBe("retry_scheduled");
      const retryRows = await database.db.select().from(outbox).where(eq(outbox.paymentId, payment.id));
      // The original row plus the rescheduled one, which is due only after the backoff.
      expect(retryRows.filter((r) => r.topic === "requested")).toHaveLength(2);
      expect(await p.processPayment(p.message(payment.id))).toBe("failed");
      const dead = await database.db.select().from(outbox).where(eq(outbox.paymentId, payment.id));
      const letter = dead.find((r) => r.topic === "dlq");
      expect(letter?.payload).toMatchObject({ reason: "attempts_exhausted", attempts: 2 });
      expect((await findPaymentById(database.db, payment.id))?.attempts).toBe(2);
    });

    it("refuses transitions the state machine forbids, in the SQL update itself", async () => {
      const p = buildPipeline(database);
      const payment = await p.create(CARDS.visa);
      // PENDING → COMPLETED directly is not allowed (no claim, attempt 0).
      expect(await recordFinalOutcome(database.db, payment.id, 0, { status: "COMPLETED", gatewayReference: "x" })).toBeUndefined();
      expect(await p.processPayment(p.message(payment.id))).toBe("completed");
      // COMPLETED → anything: neither a new claim nor a new outcome.
      expect(await claimPayment(database.db, payment.id, 1000)).toBeUndefined();
      expect(
        await recordFinalOutcome(database.db, payment.id, 1, { status: "FAILED", failureCode: "x", failureMessage: "x", gatewayReference: null }),
      ).toBeUndefined();
      expect((await findPaymentById(database.db, payment.id))?.status).toBe("COMPLETED");
      // The database's own check rejects statuses outside the machine.
      const forbidden = async () => database.db.execute(sql`update payments set status = 'REFUNDED' where id = ${payment.id}`);
      await expect(forbidden()).rejects.toThrow();
    });

    it("a redelivered message for a final payment is dropped without calling the gateway", async () => {
      const p = buildPipeline(database);
      const payment = await p.create(CARDS.visa);
      expect(await p.processPayment(p.message(payment.id))).toBe("completed");
      const calls = p.stats.calls;
      expect(await p.processPayment(p.message(payment.id))).toBe("skipped");
      expect(p.stats.calls).toBe(calls);
    });

    it("after a worker dies mid-charge, the lease runs out and the next attempt replays the same idempotency key: one charge", async () => {
      const p = buildPipeline(database, { leaseMs: 1000 });
      const payment = await p.create(CARDS.visa);
      // A worker claims and charges, then "dies" before recording the outcome.
      const claimed = await claimPayment(database.db, payment.id, 1000);
      expect(claimed?.attempts).toBe(1);
      const secret = p.vault.open((await database.db.select().from(cardSecrets).where(eq(cardSecrets.paymentId, payment.id)))[0]!);
      const { createSimulatorGateway } = await import("../../modules/gateways");
      await createSimulatorGateway(database.db, { latencyMs: 0, transientFailureRate: 0 }).charge({
        paymentId: payment.id,
        idempotencyKey: `paystream-${payment.id}`,
        amount: 1999,
        currency: "USD",
        card: { number: secret.number, expMonth: 12, expYear: 2030, cvc: secret.cvc, holderName: null },
        customer: { email: "a@b.co", name: "A", reference: null },
        description: null,
        attempt: 1,
        capture: true,
        returnUrl: null,
        cancelUrl: null,
      });
      // While the lease is live nobody else may take it.
      expect(await p.processPayment(p.message(payment.id))).toBe("skipped");
      await database.db.update(payments).set({ leaseExpiresAt: sql`now() - interval '1 second'` }).where(eq(payments.id, payment.id));
      expect(await p.processPayment(p.message(payment.id))).toBe("completed");
      const row = await findPaymentById(database.db, payment.id);
      expect(row?.attempts).toBe(2);
      expect((await simulatorChargeCounts(database.db)).get(payment.id)).toBe(1);
      // The stale worker coming back cannot overwrite the outcome: its attempt number is fenced off.
      expect(
        await recordFinalOutcome(database.db, payment.id, 1, { status: "FAILED", failureCode: "x", failureMessage: "x", gatewayReference: null }),
      ).toBeUndefined();
    });

    it("retries unknown outcomes with the same key until resolved, never charging twice", async () => {
      const p = buildPipeline(database, { transientFailureRate: 0.6, maxAttempts: 30 });
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await p.create(CARDS.visa)).id);
      for (const id of ids) {
        for (let attempt = 0; attempt < 30; attempt++) {
          if ((await p.processPayment(p.message(id))) !== "retry_scheduled") break;
        }
      }
      const counts = await simulatorChargeCounts(database.db);
      for (const id of ids) {
        expect((await findPaymentById(database.db, id))?.status).toBe("COMPLETED");
        expect(counts.get(id)).toBe(1);
      }
      // Every attempt of a payment carried the same idempotency key.
      const keys = new Map<string, Set<string>>();
      for (const r of p.stats.requests) keys.set(r.paymentId, (keys.get(r.paymentId) ?? new Set()).add(r.idempotencyKey));
      for (const id of ids) expect(keys.get(id)?.size).toBe(1);
    });

    it("the queue consumer works many payments at once and settles every one", async () => {
      const p = buildPipeline(database, { latencyMs: 30 });
      const ids: string[] = [];
      for (let i = 0; i < 120; i++) ids.push((await p.create(i % 4 === 0 ? CARDS.declined : CARDS.visa)).id);
      const consumer = p.queue.createConsumer({ concurrency: 32 });
      await consumer.start(async (m) => {
        await p.processPayment(m);
      });
      const deadline = Date.now() + 30_000;
      let open = ids.length;
      while (open > 0 && Date.now() < deadline) {
        await Bun.sleep(50);
        const rows = await queryRows<{ n: number }>(
          database.db,
          sql`select count(*)::int as n from payments where id in ${ids} and status not in ('COMPLETED','FAILED')`,
        );
        open = Number(rows[0]?.n ?? 0);
      }
      await consumer.stop();
      expect(open).toBe(0);
      // PGlite is a single connection, so its concurrency comes from overlapping gateway waits only.
      expect(p.stats.maxInFlight).toBeGreaterThan(1);
      const left = await database.db.select().from(outbox).where(sql`${outbox.paymentId} in ${ids} and ${outbox.topic} = 'requested'`);
      expect(left).toHaveLength(0);
    });

    it("holds a gateway slot only from the claim to the gateway's answer: never more calls at once than slots, and every payment settles", async () => {
      const p = buildPipeline(database, { latencyMs: 30, gatewaySlots: { size: 3, maxWaitMs: 60_000 } });
      const ids: string[] = [];
      for (let i = 0; i < 24; i++) ids.push((await p.create(i % 4 === 0 ? CARDS.declined : CARDS.visa)).id);
      // Twice as many messages in flight as slots, as src/worker.ts runs them.
      const results = await Promise.all(ids.map((id) => p.processPayment(p.message(id))));
      expect(results.filter((r) => r === "completed")).toHaveLength(18);
      expect(results.filter((r) => r === "failed")).toHaveLength(6);
      expect(p.stats.maxInFlight).toBe(3);
      // A redelivery of a settled payment takes no gateway call.
      const calls = p.stats.calls;
      expect(await p.processPayment(p.message(ids[1]!))).toBe("skipped");
      expect(p.stats.calls).toBe(calls);
    });

    it("gives an attempt back untried when its wait for a gateway slot ate into the lease the call needs", async () => {
      // The limit leaves a cold claim statement (tens of ms on a slow machine) well inside it.
      const p = buildPipeline(database, { latencyMs: 400, gatewaySlots: { size: 1, maxWaitMs: 150 } });
      const ids = [(await p.create(CARDS.visa)).id, (await p.create(CARDS.visa)).id, (await p.create(CARDS.visa)).id];
      const results = await Promise.all(ids.map((id) => p.processPayment(p.message(id))));
      // One slot: the first claim is called at once; the two behind it waited 400 ms, past the 150 ms allowed.
      expect(results.filter((r) => r === "completed")).toHaveLength(1);
      expect(results.filter((r) => r === "retry_scheduled")).toHaveLength(2);
      expect(p.stats.calls).toBe(1);
      const waiting = ids.filter((_, i) => results[i] === "retry_scheduled");
      for (const id of waiting) {
        // Released as a retried attempt is (unleased, nothing unknown about it), with its message queued
        // again, and uncounted: no gateway call was made, so none of MAX_ATTEMPTS is spent.
        const row = await findPaymentById(database.db, id);
        expect(row).toMatchObject({ status: "PROCESSING", attempts: 0, outcomeUnknownSince: null, leaseExpiresAt: null, gatewayReference: null });
        const queued = await database.db.select().from(outbox).where(sql`${outbox.paymentId} = ${id} and ${outbox.topic} = 'requested'`);
        expect(queued.length).toBeGreaterThan(0);
      }
      // Taken one at a time, each is charged once, on its first counted attempt.
      for (const id of waiting) expect(await p.processPayment(p.message(id))).toBe("completed");
      expect(p.stats.calls).toBe(3);
      for (const id of waiting) expect((await findPaymentById(database.db, id))?.attempts).toBe(1);
    });

    it("a stopping worker gives back at once what it has not sent to the gateway, and hands a call still in flight to the reconciler, never to a retry", async () => {
      const stopCalls = new AbortController();
      const handBack = new AbortController();
      const p = buildPipeline(database, { latencyMs: 600, gatewaySlots: { size: 1, maxWaitMs: 60_000 }, shutdown: { stopCalls: stopCalls.signal, handBack: handBack.signal } });
      const ids = [(await p.create(CARDS.visa)).id, (await p.create(CARDS.visa)).id, (await p.create(CARDS.visa)).id];
      const running = ids.map((id) => p.processPayment(p.message(id)));
      // One slot: one call is at the gateway, two claimed attempts wait for the slot.
      while (p.stats.calls < 1) await Bun.sleep(5);
      stopCalls.abort();
      const [first, ...waiting] = running;
      // SIGTERM: the waiting two come back now, not after the 600 ms call, and never reach the gateway.
      expect(await Promise.all(waiting)).toEqual(["retry_scheduled", "retry_scheduled"]);
      for (const id of ids.slice(1)) {
        const row = await p.row(id);
        expect(row).toMatchObject({ status: "PROCESSING", attempts: 0, outcomeUnknownSince: null, leaseExpiresAt: null, reconciling: false });
        const queued = await database.db.select().from(outbox).where(sql`${outbox.paymentId} = ${id} and ${outbox.topic} = 'requested' and ${outbox.availableAt} <= now()`);
        expect(queued.length).toBeGreaterThan(0);
      }
      // The grace runs out while the call is in flight: its outcome is unknown, and the reconciler has it.
      handBack.abort();
      expect(await first).toBe("reconciling");
      const handed = await p.row(ids[0]!);
      expect(handed).toMatchObject({ status: "PROCESSING", reconciling: true, leaseExpiresAt: null });
      expect(handed.outcomeUnknownSince).not.toBeNull();
      expect(p.stats.calls).toBe(1);
      // The call had reached the gateway: the look-up finds the charge, and it ends COMPLETED, charged once.
      // (Looked up once the call has had its time, as RECONCILE_FIRST_CHECK_MS gives it in a deployment.)
      await Bun.sleep(700);
      for (const deadline = Date.now() + 10_000; (await p.row(ids[0]!)).status === "PROCESSING" && Date.now() < deadline; ) {
        await p.reconciler.checkDue();
        await Bun.sleep(20);
      }
      expect((await p.row(ids[0]!)).status).toBe("COMPLETED");
      expect((await simulatorChargeCounts(database.db)).get(ids[0]!)).toBe(1);
      // A worker that is not stopping takes the two given back, each charged once, on its first counted attempt.
      const other = buildPipeline(database, { latencyMs: 10 });
      for (const id of ids.slice(1)) expect(await other.processPayment(other.message(id))).toBe("completed");
      for (const id of ids.slice(1)) expect((await p.row(id)).attempts).toBe(1);
    });

    it("a claimed outbox row whose claimer died is delivered again after its lease", async () => {
      const p = buildPipeline(database, { leaseMs: 1000 });
      const payment = await p.create(CARDS.visa);
      await database.db
        .update(outbox)
        .set({ leaseUntil: sql`now() + interval '1 second'`, deliveries: 1 })
        .where(eq(outbox.paymentId, payment.id));
      const consumer = p.queue.createConsumer({ concurrency: 4 });
      const seen: string[] = [];
      await consumer.start(async (m) => {
        if (m.paymentId === payment.id) seen.push(m.paymentId);
        await p.processPayment(m);
      });
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && (await findPaymentById(database.db, payment.id))?.status !== "COMPLETED") await Bun.sleep(50);
      await consumer.stop();
      expect(seen.length).toBeGreaterThanOrEqual(1);
      expect((await findPaymentById(database.db, payment.id))?.status).toBe("COMPLETED");
      const [row] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from outbox where payment_id = ${payment.id}`);
      expect(Number(row?.n)).toBe(0);
    });

    it("the sweeper re-queues payments that nothing will move any more", async () => {
      const p = buildPipeline(database);
      const pending = await p.create(CARDS.visa);
      const processing = await p.create(CARDS.mastercard);
      await claimPayment(database.db, processing.id, 1000);
      // Lose every message and age both payments past the threshold.
      await database.db.delete(outbox).where(sql`${outbox.paymentId} in ${[pending.id, processing.id]}`);
      await database.db
        .update(payments)
        .set({ updatedAt: sql`now() - interval '10 minutes'`, leaseExpiresAt: sql`case when lease_expires_at is null then null else now() - interval '1 minute' end` })
        .where(sql`${payments.id} in ${[pending.id, processing.id]}`);
      const sweeper = createSweeper(database.db, silentLogger, { intervalMs: 1000, stuckAfterMs: 60_000, batchSize: 100 });
      expect(await sweeper.sweepOnce()).toBeGreaterThanOrEqual(2);
      const queued = await database.db.select().from(outbox).where(sql`${outbox.paymentId} in ${[pending.id, processing.id]}`);
      expect(queued.map((r) => r.paymentId).sort()).toEqual([pending.id, processing.id].sort());
      expect(await sweeper.sweepOnce()).toBe(0);
      for (const id of [pending.id, processing.id]) expect(await p.processPayment(p.message(id))).toBe("completed");
    });

    it("Idempotency-Key: same key and body → same payment; other body → reused; other merchant → independent", async () => {
      const p = buildPipeline(database);
      const first = await p.intake.createPayment({ merchantId: "m1", body: { ...(await import("../support/payments")).paymentBody() }, idempotencyKey: "key-1", requestId: "r" });
      const again = await p.intake.createPayment({ merchantId: "m1", body: (await import("../support/payments")).paymentBody(), idempotencyKey: "key-1", requestId: "r" });
      expect(first.kind).toBe("created");
      expect(again.kind).toBe("replayed");
      if (first.kind !== "created" || again.kind !== "replayed") return;
      expect(again.payment.id).toBe(first.payment.id);
      expect(again.statusCode).toBe(202);
      const other = await p.intake.createPayment({
        merchantId: "m1",
        body: (await import("../support/payments")).paymentBody(CARDS.visa, { amount: 5 }),
        idempotencyKey: "key-1",
        requestId: "r",
      });
      expect(other.kind).toBe("idempotency_key_reused");
      const otherMerchant = await p.intake.createPayment({ merchantId: "m2", body: (await import("../support/payments")).paymentBody(), idempotencyKey: "key-1", requestId: "r" });
      expect(otherMerchant.kind).toBe("created");
      const [{ n } = { n: 0 }] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from payments where request_id = 'r'`);
      expect(Number(n)).toBe(2);
    });

    it("concurrent requests with one Idempotency-Key create exactly one payment", async () => {
      const p = buildPipeline(database);
      const { paymentBody } = await import("../support/payments");
      const results = await Promise.all(
        Array.from({ length: 8 }, () => p.intake.createPayment({ merchantId: "m9", body: paymentBody(), idempotencyKey: "same", requestId: "rc" })),
      );
      const ids = new Set(results.map((r) => (r.kind === "created" || r.kind === "replayed" ? r.payment.id : r.kind)));
      expect(ids.size).toBe(1);
      expect(results.filter((r) => r.kind === "created")).toHaveLength(1);
    });
  });
}
