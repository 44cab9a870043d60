import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { sql } from "drizzle-orm";
import { createPostgresQueue, enqueuePayment, type PaymentMessage, paymentMessagesFor } from "../../modules/broker";
import { OUTBOX_CHANNEL } from "../../modules/broker/outbox-watch";
import { BACKENDS, createTestDatabase, type TestDatabase } from "../support/db";
import { silentLogger } from "../support/harness";

/** Far longer than any test may run: a consumer that polled on this clock would never deliver in time. */
const NEVER_MS = 3_600_000;

for (const backend of BACKENDS) {
  describe(`outbox wake-ups [${backend}]`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(backend);
    });
    afterAll(async () => {
      await database.drop();
    });

    function consumerThatOnlyWaits() {
      const delivered: PaymentMessage[] = [];
      let onDelivery = () => {};
      const queue = createPostgresQueue(database.db, silentLogger, {
        leaseMs: 30_000,
        pollIntervalMs: NEVER_MS,
        idleBackstopMs: NEVER_MS,
        listen: database.handle.listen,
      });
      const consumer = queue.createConsumer({ concurrency: 4 });
      return {
        consumer,
        delivered,
        start: () =>
          consumer.start(async (message) => {
            delivered.push(message);
            onDelivery();
          }),
        nextDelivery: () => new Promise<void>((resolve) => (onDelivery = resolve)),
      };
    }

    it("an idle queue consumer takes a row written after it went idle at once, woken by the outbox's notification", async () => {
      const worker = consumerThatOnlyWaits();
      await worker.start();
      // The first round finds nothing and the consumer waits (here: for an hour, unless notified).
      await Bun.sleep(50);
      const arrived = worker.nextDelivery();
      await enqueuePayment(database.db, { paymentId: `pay_woken_${backend}`, requestId: "req_woken" });
      await arrived;
      await worker.consumer.stop();
      expect(worker.delivered).toEqual([{ paymentId: `pay_woken_${backend}`, requestId: "req_woken" }]);
    });

    it("an idle consumer wakes for a row scheduled for later when it falls due, with no notification then", async () => {
      const worker = consumerThatOnlyWaits();
      // Written (and announced) before the consumer starts; due only later, like a retry.
      await enqueuePayment(database.db, { paymentId: `pay_later_${backend}`, requestId: null }, 300);
      const arrived = worker.nextDelivery();
      await worker.start();
      await arrived;
      await worker.consumer.stop();
      expect(worker.delivered.map((m) => m.paymentId)).toEqual([`pay_later_${backend}`]);
    });

    it("a statement that writes no outbox row announces nothing (an idle consumer is not woken by the sweeper's empty expiry)", async () => {
      const heard: number[] = [];
      let onHeard = () => {};
      const unsubscribe = await database.handle.listen(OUTBOX_CHANNEL, () => {
        heard.push(Date.now());
        onHeard();
      });
      try {
        // Subscribing calls back once (whatever was written before it was announced to nobody).
        await Bun.sleep(100);
        const atSubscribe = heard.length;
        // The shape the authorization-expiry sweep runs every few seconds: INSERT … SELECT over no payment.
        await database.db.execute(paymentMessagesFor(sql`select id from payments where false`));
        await database.db.execute(paymentMessagesFor(sql`select id from payments where false`));
        // Then a statement that writes a row. Notifications arrive in commit order: once this one is
        // heard, any announcement of the empty statements has been heard before it.
        const first = new Promise<void>((resolve) => (onHeard = resolve));
        await enqueuePayment(database.db, { paymentId: `pay_announced_${backend}`, requestId: null }, 3_600_000);
        await first;
        await Bun.sleep(200);
        expect(heard).toHaveLength(atSubscribe + 1);
      } finally {
        await unsubscribe();
      }
    });
  });
}
