import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { enqueueDeadLetter, enqueuePayment, type PaymentMessage } from "../../modules/broker";
import { createKafkaBroker, type KafkaBrokerOptions } from "../../modules/broker/kafka";
import type { Logger } from "../../modules/runtime";
import { queryRows } from "../../modules/database";
import { sql } from "drizzle-orm";
import { createTestDatabase, type TestDatabase } from "../support/db";
import { silentLogger } from "../support/harness";
import { sharedKafka, startKafka } from "../support/kafka";

describe("Kafka broker adapter against a real broker and a real PostgreSQL", () => {
  let brokers: string;
  let database: TestDatabase;
  const prefix = () => `t${randomBytes(4).toString("hex")}`;

  beforeAll(async () => {
    brokers = await sharedKafka();
    database = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await database.drop();
  });

  const brokerFor = (topicPrefix: string, partitions: number, extra: Partial<KafkaBrokerOptions> = {}, logger: Logger = silentLogger) =>
    createKafkaBroker(database.db, logger, {
      brokers: [brokers],
      topicPrefix,
      partitions,
      clientId: `test-${topicPrefix}`,
      leaseMs: 5_000,
      relayIdleMs: 10,
      ...extra,
    });

  /** Polls `done` until it holds or `ms` pass; answers whether it held. */
  const waitUntil = async (done: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    while (!done() && Date.now() < deadline) await Bun.sleep(50);
    return done();
  };

  /** Reads `<prefix>.dlq` from the start until `count` dead letters are in (or 20 s pass). */
  async function readDeadLetters(topicPrefix: string, count: number) {
    const kafka = new Kafka({ clientId: "dlq-reader", brokers: [brokers], logLevel: logLevel.NOTHING });
    const reader = kafka.consumer({ groupId: `dlq-reader-${topicPrefix}` });
    await reader.connect();
    await reader.subscribe({ topic: `${topicPrefix}.dlq`, fromBeginning: true });
    const seen: { key: string; headers: Record<string, string>; value: string }[] = [];
    await reader.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        seen.push({ key: message.key?.toString() ?? "", headers, value: message.value?.toString() ?? "" });
      },
    });
    await waitUntil(() => seen.length >= count, 20_000);
    await reader.disconnect();
    return seen;
  }

  async function outboxCount(): Promise<number> {
    const [row] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from outbox`);
    return Number(row?.n ?? 0);
  }

  it("relays outbox rows keyed by payment id, deletes them after the ack, and a consumer gets every one", async () => {
    const topicPrefix = prefix();
    const broker = brokerFor(topicPrefix, 3);
    const ids = Array.from({ length: 200 }, (_, i) => `pay_relay_${topicPrefix}_${i}`);
    for (const id of ids) await enqueuePayment(database.db, { paymentId: id, requestId: `req_${id}` });
    const relay = broker.createRelay()!;
    await relay.start();
    const received = new Map<string, PaymentMessage>();
    const consumer = broker.createConsumer({ concurrency: 16 });
    await consumer.start(async (m) => {
      received.set(m.paymentId, m);
    });
    const deadline = Date.now() + 30_000;
    while (received.size < ids.length && Date.now() < deadline) await Bun.sleep(100);
    await consumer.stop();
    await relay.stop();
    await broker.close();
    expect(received.size).toBe(ids.length);
    expect(received.get(ids[7]!)?.requestId).toBe(`req_${ids[7]}`);
    expect(await outboxCount()).toBe(0);
  });

  it("works many messages of ONE partition at once and commits only the finished prefix", async () => {
    const topicPrefix = prefix();
    const broker = brokerFor(topicPrefix, 1);
    const ids = Array.from({ length: 300 }, (_, i) => `pay_conc_${topicPrefix}_${String(i).padStart(4, "0")}`);
    for (const id of ids) await enqueuePayment(database.db, { paymentId: id, requestId: null });
    const relay = broker.createRelay()!;
    await relay.start();
    let inFlight = 0;
    let peak = 0;
    const handled = new Set<string>();
    const consumer = broker.createConsumer({ concurrency: 64 });
    await consumer.start(async (m) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await Bun.sleep(50);
      inFlight--;
      handled.add(m.paymentId);
    });
    const deadline = Date.now() + 30_000;
    while (handled.size < ids.length && Date.now() < deadline) await Bun.sleep(50);
    await consumer.stop();
    await relay.stop();
    await broker.close();
    expect(handled.size).toBe(ids.length);
    expect(peak).toBeGreaterThanOrEqual(32);
    expect(peak).toBeLessThanOrEqual(64);

    const kafka = new Kafka({ clientId: "inspect", brokers: [brokers], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: "paystream-workers", topics: [`${topicPrefix}.requested`] });
    const [end] = await admin.fetchTopicOffsets(`${topicPrefix}.requested`);
    await admin.disconnect();
    expect(committed?.partitions[0]?.offset).toBe(end?.offset);
  });

  it("fetches and runs later messages while an earlier batch's message is still running, and commits only up to it", async () => {
    const topicPrefix = prefix();
    const broker = brokerFor(topicPrefix, 1);
    const first = Array.from({ length: 10 }, (_, i) => `pay_pipe_${topicPrefix}_a${i}`);
    const later = Array.from({ length: 10 }, (_, i) => `pay_pipe_${topicPrefix}_b${i}`);
    for (const id of first) await enqueuePayment(database.db, { paymentId: id, requestId: null });
    const relay = broker.createRelay()!;
    await relay.start();
    const handled = new Set<string>();
    let release: () => void = () => {};
    const blocked = new Promise<void>((r) => (release = r));
    const consumer = broker.createConsumer({ concurrency: 16 });
    await consumer.start(async (m) => {
      if (m.paymentId === first[0]) await blocked;
      handled.add(m.paymentId);
    });
    const inspect = new Kafka({ clientId: "inspect", brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
    await inspect.connect();
    const committed = async () => Number((await inspect.fetchOffsets({ groupId: "paystream-workers", topics: [`${topicPrefix}.requested`] }))[0]?.partitions[0]?.offset ?? -1);
    try {
      let deadline = Date.now() + 20_000;
      while (handled.size < first.length - 1 && Date.now() < deadline) await Bun.sleep(20);
      expect(handled.size).toBe(first.length - 1);
      // Written after the first batch was fetched: they come in a later fetch, while first[0] still runs.
      for (const id of later) await enqueuePayment(database.db, { paymentId: id, requestId: null });
      deadline = Date.now() + 20_000;
      while (!later.every((id) => handled.has(id)) && Date.now() < deadline) await Bun.sleep(20);
      expect(later.every((id) => handled.has(id))).toBe(true);
      expect(handled.has(first[0]!)).toBe(false);
      // Nothing is committed past the message still running (offset 0).
      await Bun.sleep(300);
      expect(await committed()).toBeLessThanOrEqual(0);
      release();
      deadline = Date.now() + 20_000;
      while ((await committed()) < first.length + later.length && Date.now() < deadline) await Bun.sleep(50);
      expect(await committed()).toBe(first.length + later.length);
    } finally {
      release();
      await inspect.disconnect();
      await consumer.stop();
      await relay.stop();
      await broker.close();
    }
  });

  it("lets the group rebalance while every slot is held by a slow gateway call", async () => {
    // A long session (so a rebalance timeout of 60 s): a member that does not rejoin until its
    // slots free up holds the whole group back that long; one that leaves its batch rejoins at once.
    const topicPrefix = prefix();
    const broker = brokerFor(topicPrefix, 2, { sessionTimeoutMs: 30_000 });
    const ids = Array.from({ length: 40 }, (_, i) => `pay_rebal_${topicPrefix}_${i}`);
    for (const id of ids) await enqueuePayment(database.db, { paymentId: id, requestId: null });
    const relay = broker.createRelay()!;
    await relay.start();
    let release: () => void = () => {};
    const gateway = new Promise<void>((r) => (release = r));
    const startedOnFirst = new Set<string>();
    const first = broker.createConsumer({ concurrency: 2 });
    await first.start(async (m) => {
      startedOnFirst.add(m.paymentId);
      await gateway;
    });
    const second = broker.createConsumer({ concurrency: 8 });
    const handledOnSecond = new Set<string>();
    let secondStarted: Promise<void> | undefined;
    try {
      // Both slots taken by calls that do not return: the first member's batch waits for a slot.
      expect(await waitUntil(() => startedOnFirst.size === 2, 30_000)).toBe(true);
      await Bun.sleep(1_500);
      const joinedAt = Date.now();
      secondStarted = second.start(async (m) => {
        handledOnSecond.add(m.paymentId);
      });
      // The second member gets a partition and runs its messages while the first one's calls still hang.
      expect(await waitUntil(() => handledOnSecond.size > 0, 20_000)).toBe(true);
      expect(Date.now() - joinedAt).toBeLessThan(20_000);
      expect(startedOnFirst.size).toBe(2);
    } finally {
      release();
      await secondStarted;
      await Promise.all([first.stop(), second.stop()]);
      await relay.stop();
      await broker.close();
    }
  }, 120_000);

  it("re-delivers the uncommitted tail to the next consumer after a stop mid-batch", async () => {
    const topicPrefix = prefix();
    const broker = brokerFor(topicPrefix, 1);
    const ids = Array.from({ length: 40 }, (_, i) => `pay_tail_${topicPrefix}_${i}`);
    for (const id of ids) await enqueuePayment(database.db, { paymentId: id, requestId: null });
    const relay = broker.createRelay()!;
    await relay.start();
    const firstRun = new Set<string>();
    const slow = ids[5]!;
    const first = broker.createConsumer({ concurrency: 8 });
    let release: () => void = () => {};
    const blocked = new Promise<void>((r) => (release = r));
    await first.start(async (m) => {
      if (m.paymentId === slow) {
        await blocked;
        throw new Error("worker shutting down before finishing");
      }
      firstRun.add(m.paymentId);
    });
    const deadline = Date.now() + 20_000;
    while (firstRun.size < 8 && Date.now() < deadline) await Bun.sleep(50);
    const stopping = first.stop();
    release();
    await stopping;

    const secondRun = new Set<string>();
    const second = broker.createConsumer({ concurrency: 8 });
    await second.start(async (m) => {
      secondRun.add(m.paymentId);
    });
    const deadline2 = Date.now() + 30_000;
    while (!secondRun.has(slow) && Date.now() < deadline2) await Bun.sleep(50);
    await second.stop();
    await relay.stop();
    await broker.close();
    // The unfinished message comes back; nothing before it is re-delivered.
    expect(secondRun.has(slow)).toBe(true);
    for (const id of ids.slice(0, 5)) expect(secondRun.has(id)).toBe(false);
    // Everything is handled by one consumer or the other.
    for (const id of ids) expect(firstRun.has(id) || secondRun.has(id)).toBe(true);
  });

  it("commits a partition as soon as its last running message is handled, not when the commit timer fires", async () => {
    // With nothing left running there is nothing to wait for; and a batch that waited for its commit
    // timer before returning held up the next fetch, which KafkaJS starts only after every batch
    // of the last fetch has returned.
    const topicPrefix = prefix();
    const broker = brokerFor(topicPrefix, 1, { commitIntervalMs: 120_000 });
    const relay = broker.createRelay()!;
    await relay.start();
    const handled = new Set<string>();
    const consumer = broker.createConsumer({ concurrency: 8 });
    await consumer.start(async (m) => {
      handled.add(m.paymentId);
    });
    const waitFor = (ids: string[]) => waitUntil(() => ids.every((id) => handled.has(id)), 30_000);
    const firstWave = Array.from({ length: 20 }, (_, i) => `pay_cmt1_${topicPrefix}_${i}`);
    for (const id of firstWave) await enqueuePayment(database.db, { paymentId: id, requestId: null });
    await waitFor(firstWave);
    // Published after the first wave was handled: only a fetch after the first batch returned can bring it.
    const secondWave = Array.from({ length: 20 }, (_, i) => `pay_cmt2_${topicPrefix}_${i}`);
    for (const id of secondWave) await enqueuePayment(database.db, { paymentId: id, requestId: null });
    await waitFor(secondWave);
    const deadline = Date.now() + 30_000;
    let lag = await broker.lag();
    while (lag > 0 && Date.now() < deadline) {
      await Bun.sleep(100);
      lag = await broker.lag();
    }
    const secondHandled = secondWave.filter((id) => handled.has(id)).length;
    await consumer.stop();
    await relay.stop();
    await broker.close();
    expect(firstWave.every((id) => handled.has(id))).toBe(true);
    expect(secondHandled).toBe(secondWave.length);
    // Everything handled is committed, long before the 120 s timer could have fired.
    expect(lag).toBe(0);
  });

  it("joins the group again after its consumer crashed because the only broker went away", async () => {
    // KafkaJS restarts a crashed consumer only after a retriable error; "Failed to find group
    // coordinator", met when the only broker is down, is not one (kafkajs#1445, #1630). The
    // consumer restarts itself after every crash instead: this outage takes that path.
    const kafka = await startKafka();
    const lines: string[] = [];
    const record = (level: string) => (_fields: unknown, message?: string) => void lines.push(`${level} ${message ?? ""}`);
    const logger = { info: record("info"), warn: record("warn"), error: record("error"), debug: record("debug"), child: () => logger };
    const topicPrefix = prefix();
    const broker = brokerFor(topicPrefix, 2, { brokers: [kafka.brokers] }, logger);
    const relay = broker.createRelay()!;
    const consumer = broker.createConsumer({ concurrency: 8 });
    const handled = new Set<string>();
    try {
      await relay.start();
      await consumer.start(async (m) => {
        handled.add(m.paymentId);
      });
      const before = Array.from({ length: 10 }, (_, i) => `pay_crash1_${topicPrefix}_${i}`);
      for (const id of before) await enqueuePayment(database.db, { paymentId: id, requestId: null });
      expect(await waitUntil(() => before.every((id) => handled.has(id)), 30_000)).toBe(true);

      expect(consumer.unavailable?.()).toBeUndefined();
      await kafka.stopBroker();
      // Readiness names the crash while the consumer is out of its group.
      const crashed = await waitUntil(() => consumer.unavailable?.() !== undefined, 60_000);
      await kafka.startBroker();
      expect(crashed).toBe(true);
      expect(lines.some((line) => line.includes("kafka: Crash:"))).toBe(true);
      expect(consumer.unavailable?.()).toMatch(/^kafka consumer joining its group again after a crash at \d{4}-/);

      const after = Array.from({ length: 10 }, (_, i) => `pay_crash2_${topicPrefix}_${i}`);
      for (const id of after) await enqueuePayment(database.db, { paymentId: id, requestId: null });
      expect(await waitUntil(() => after.every((id) => handled.has(id)), 60_000)).toBe(true);
      expect(lines).toContain("warn the kafka consumer stopped on an error; joining the group again");
      expect(consumer.unavailable?.()).toBeUndefined();
    } finally {
      await consumer.stop();
      await relay.stop();
      await broker.close();
      await kafka.stop();
    }
  }, 180_000);

  it("publishes dead letters to <prefix>.dlq with headers saying why", async () => {
    const topicPrefix = prefix();
    const broker = brokerFor(topicPrefix, 1);
    await enqueueDeadLetter(database.db, {
      paymentId: `pay_dead_${topicPrefix}`,
      requestId: "req_dead",
      reason: "attempts_exhausted",
      attempts: 5,
      lastError: "processing_error",
    });
    const relay = broker.createRelay()!;
    await relay.start();
    const deadlineTopic = Date.now() + 10_000;
    while (Date.now() < deadlineTopic && (await outboxCount()) > 0) await Bun.sleep(50);
    const seen = await readDeadLetters(topicPrefix, 1);
    await relay.stop();
    await broker.close();
    expect(seen[0]?.key).toBe(`pay_dead_${topicPrefix}`);
    expect(seen[0]?.headers).toMatchObject({ "dlq-reason": "attempts_exhausted", "dlq-attempts": "5", "request-id": "req_dead" });
  });

  it("dead-letters a message whose claim throws (NUL in the id) after 3 attempts and an unreadable one at once, and the partition moves past both", async () => {
    const topicPrefix = prefix();
    const broker = brokerFor(topicPrefix, 1, { sessionTimeoutMs: 6_000 });
    const nulId = `pay_nul_${topicPrefix}\u0000x`;
    const goodId = `pay_after_${topicPrefix}`;
    const attempts = new Map<string, number>();
    const handled: string[] = [];
    const deadLettered: string[] = [];
    const consumer = broker.createConsumer({ concurrency: 4, messageDeadLettered: (reason) => deadLettered.push(reason) });
    // The handler asks the real PostgreSQL about the payment, as the claim does: a NUL byte makes it throw.
    await consumer.start(async (m) => {
      attempts.set(m.paymentId, (attempts.get(m.paymentId) ?? 0) + 1);
      await queryRows(database.db, sql`select ${m.paymentId}::text as id`);
      handled.push(m.paymentId);
    });
    const kafka = new Kafka({ clientId: "raw-producer", brokers: [brokers], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: `${topicPrefix}.requested`,
      messages: [
        { key: nulId, value: JSON.stringify({ paymentId: nulId, requestId: "req_nul" }) },
        { key: "pay_garbled", value: "not json {" },
        { key: goodId, value: JSON.stringify({ paymentId: goodId, requestId: null }) },
      ],
    });
    await producer.disconnect();
    const inspect = kafka.admin();
    await inspect.connect();
    const committed = async () => Number((await inspect.fetchOffsets({ groupId: "paystream-workers", topics: [`${topicPrefix}.requested`] }))[0]?.partitions[0]?.offset ?? -1);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await committed()) < 3) await Bun.sleep(100);
    const committedOffset = await committed();
    await inspect.disconnect();
    await consumer.stop();
    const letters = await readDeadLetters(topicPrefix, 2);
    await broker.close();

    expect(handled).toEqual([goodId]);
    expect(committedOffset).toBe(3);
    expect(attempts.get(nulId)).toBe(3);
    expect(deadLettered.sort()).toEqual(["processing_failed", "unreadable_message"]);
    const byReason = new Map(letters.map((l) => [l.headers["dlq-reason"], l]));
    expect(byReason.get("processing_failed")?.key).toBe(nulId);
    expect(byReason.get("processing_failed")?.headers).toMatchObject({ "dlq-attempts": "3", "request-id": "req_nul", "dlq-source": `${topicPrefix}.requested/0/0` });
    expect(byReason.get("processing_failed")?.headers["dlq-last-error"]).toContain("select");
    expect(byReason.get("unreadable_message")?.key).toBe("pay_garbled");
    expect(byReason.get("unreadable_message")?.headers).toMatchObject({ "dlq-attempts": "1", "dlq-source": `${topicPrefix}.requested/0/1` });
    expect(byReason.get("unreadable_message")?.value).not.toContain("not json");
  });

  it("keeps retrying a message while the database cannot be reached, never dead-lettering it", async () => {
    const topicPrefix = prefix();
    const broker = brokerFor(topicPrefix, 1);
    const id = `pay_outage_${topicPrefix}`;
    let calls = 0;
    const deadLettered: string[] = [];
    const consumer = broker.createConsumer({ concurrency: 2, messageDeadLettered: (reason) => deadLettered.push(reason) });
    // Five connection failures (more than the attempts a failing message gets), then the database is back.
    await consumer.start(async () => {
      calls++;
      if (calls <= 5) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
    });
    await enqueuePayment(database.db, { paymentId: id, requestId: null });
    const relay = broker.createRelay()!;
    await relay.start();
    expect(await waitUntil(() => calls >= 6, 30_000)).toBe(true);
    await consumer.stop();
    await relay.stop();
    await broker.close();
    expect(deadLettered).toEqual([]);
  });
});
