import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createPostgresQueue, enqueuePayment, type PaymentMessage } from "../../modules/broker";
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
  });
}
