import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import { inArray, sql } from "drizzle-orm";
import { kafkaRelayed, outbox } from "../../modules/broker";
import { createKafkaBroker } from "../../modules/broker/kafka";
import { recordRelayed } from "../../modules/broker/kafka/relayed";
import { queryRows } from "../../modules/database";
import { payments } from "../../modules/payments";
import { createSweeper } from "../../modules/processing";
import { createTestDatabase, type TestDatabase } from "../support/db";
import { buildPipeline, silentLogger } from "../support/harness";
import { sharedKafka } from "../support/kafka";
import { CARDS } from "../support/payments";

/**
 * The sweeper with BROKER=kafka under a backlog (README "Kafka"): a message that left the outbox
 * waits in the topic until the group consumes it, and its payment is not stuck meanwhile however
 * old; a message consumed (or gone from the log) whose payment is still not final is lost, and
 * that payment is re-queued. And sweepers running at once never re-queue the same payment twice.
 */
describe("the sweeper and a Kafka backlog (real broker, real PostgreSQL)", () => {
  let brokers: string;
  let database: TestDatabase;

  beforeAll(async () => {
    brokers = await sharedKafka();
    database = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await database.drop();
  });

  const brokerFor = (topicPrefix: string) =>
    createKafkaBroker(database.db, silentLogger, {
      brokers: [brokers],
      topicPrefix,
      partitions: 2,
      clientId: `test-${topicPrefix}`,
      leaseMs: 5_000,
      relayIdleMs: 10,
      commitIntervalMs: 20,
    });

  const waitUntil = async (done: () => Promise<boolean>, ms: number) => {
    const deadline = Date.now() + ms;
    while (!(await done()) && Date.now() < deadline) await Bun.sleep(50);
    return done();
  };

  /** Makes payments look untouched for ten minutes (past any STUCK_AFTER_MS of the tests). */
  const age = (ids: string[]) => database.db.update(payments).set({ updatedAt: sql`now() - interval '10 minutes'` }).where(inArray(payments.id, ids));

  const requestedRows = async (ids: string[]) =>
    (await database.db.select().from(outbox).where(inArray(outbox.paymentId, ids))).filter((r) => r.topic === "requested").map((r) => r.paymentId);

  it("a payment whose message waits in the topic is not stuck however old; once consumed and still not final, it is re-queued", async () => {
    const topicPrefix = `t${randomBytes(4).toString("hex")}`;
    const broker = brokerFor(topicPrefix);
    const p = buildPipeline(database);
    const created = await Promise.all([p.create(CARDS.visa), p.create(CARDS.visa), p.create(CARDS.mastercard)]);
    const ids = created.map((c) => c.id);
    const relay = broker.createRelay()!;
    await relay.start();
    // Relayed: the outbox holds nothing for them; the topic holds their messages, not consumed by anyone.
    expect(await waitUntil(async () => (await requestedRows(ids)).length === 0, 20_000)).toBe(true);
    await relay.stop();
    const relayed = await database.db.select().from(kafkaRelayed).where(inArray(kafkaRelayed.paymentId, ids));
    expect(relayed.map((r) => r.paymentId).sort()).toEqual([...ids].sort());
    expect(relayed.every((r) => r.topic === `${topicPrefix}.requested` && r.offset >= 0 && r.refundId === null)).toBe(true);
    await age(ids);

    const sweeper = createSweeper(database.db, silentLogger, { intervalMs: 1_000, stuckAfterMs: 60_000, queuedWork: () => broker.queuedWork() });
    // The backlog the operator sees: three messages waiting, the oldest since it fell due.
    const waitingBacklog = await broker.backlog();
    expect(waitingBacklog.messages).toBe(3);
    expect(waitingBacklog.oldestAgeSeconds).toBeGreaterThan(0);
    // One payment's share (a merchant's, on the dashboard): its own message only.
    const one = await broker.backlog((paymentId) => sql`${paymentId} = ${ids[0]}`);
    expect(one.messages).toBe(1);
    expect(one.oldestAgeSeconds).toBeGreaterThan(0);
    // Judged from the outbox alone, all three would be re-queued here.
    expect(await sweeper.sweepOnce()).toBe(0);
    expect(await requestedRows(ids)).toEqual([]);

    // A worker consumes and commits the messages but its work is lost (killed after committing):
    // the payments stay PENDING, unleased and old.
    const consumer = broker.createConsumer({ concurrency: 4 });
    await consumer.start(async () => {});
    expect(await waitUntil(async () => (await broker.lag()) === 0, 30_000)).toBe(true);
    await consumer.stop();
    await Bun.sleep(1_100);
    const drained = await broker.backlog();
    expect(drained.messages).toBe(0);
    expect(drained.oldestAgeSeconds).toBe(0);
    expect(drained.drainPerSecond).toBeGreaterThan(0);
    expect(await sweeper.sweepOnce()).toBe(3);
    expect((await requestedRows(ids)).sort()).toEqual([...ids].sort());
    // The records of consumed messages are gone: the table holds the backlog, no more.
    expect(await database.db.select().from(kafkaRelayed).where(inArray(kafkaRelayed.paymentId, ids))).toEqual([]);
    await broker.close();
  }, 60_000);

  it("a recorded message the log no longer holds (a lost partition) queues nothing: its payment is re-queued", async () => {
    const topicPrefix = `t${randomBytes(4).toString("hex")}`;
    const broker = brokerFor(topicPrefix);
    const p = buildPipeline(database);
    const [lost, waiting] = [await p.create(CARDS.visa), await p.create(CARDS.visa)];
    await database.db.delete(outbox).where(inArray(outbox.paymentId, [lost.id, waiting.id]));
    // The topic is empty; an offset beyond its end was lost with an unreplicated partition.
    await broker.queuedWork();
    await recordRelayed(database.db, [
      { topic: `${topicPrefix}.requested`, partition: 0, offset: 41, paymentId: lost.id, refundId: null, dueAt: new Date() },
    ]);
    await age([lost.id, waiting.id]);
    // `waiting` has neither outbox row nor record: re-queued as before; `lost`'s record is outside the log.
    const sweeper = createSweeper(database.db, silentLogger, { intervalMs: 1_000, stuckAfterMs: 60_000, queuedWork: () => broker.queuedWork() });
    expect(await sweeper.sweepOnce()).toBeGreaterThanOrEqual(2);
    expect((await requestedRows([lost.id, waiting.id])).sort()).toEqual([lost.id, waiting.id].sort());
    await broker.close();
  }, 60_000);

  it("sweepers racing over the same stranded payments and refunds re-queue each payment exactly once", async () => {
    const p = buildPipeline(database);
    // Earlier tests' payments are not idle any more.
    await database.db.execute(sql`update ${payments} set updated_at = now()`);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await p.create(CARDS.visa)).id);
    await database.db.delete(outbox).where(inArray(outbox.paymentId, ids));
    await age(ids);
    const requeued: number[] = [];
    const sweepers = Array.from({ length: 4 }, () =>
      createSweeper(database.db, silentLogger, { intervalMs: 1_000, stuckAfterMs: 60_000, batchSize: 25, requeued: (_, n) => requeued.push(n) }),
    );
    // Two rounds of four at once: the batch (25) is smaller than the stranded rows, so they overlap.
    const counts = [...(await Promise.all(sweepers.map((s) => s.sweepOnce()))), ...(await Promise.all(sweepers.map((s) => s.sweepOnce())))];
    expect(counts.reduce((a, b) => a + b, 0)).toBe(ids.length);
    expect(requeued.reduce((a, b) => a + b, 0)).toBe(ids.length);
    const rows = await queryRows<{ payment_id: string; n: number }>(
      database.db,
      sql`select payment_id, count(*)::int as n from outbox where topic = 'requested' and payment_id in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)) group by payment_id`,
    );
    expect(rows.length).toBe(ids.length);
    expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
  }, 60_000);
});
