import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import postgres from "postgres";
import { createPostgresDatabase } from "../support/db";
import { type KafkaBroker, startKafka } from "../support/kafka";
import { CARDS, EXPECTED, client, paymentBody, waitForFinal } from "../support/payments";
import { freePort, type ServiceProcess, startService } from "../support/service-process";

const MIX = [
  CARDS.visa,
  CARDS.mastercard,
  CARDS.amex,
  CARDS.visa,
  CARDS.declined,
  CARDS.insufficientFunds,
  CARDS.lostCard,
  CARDS.stolenCard,
  CARDS.expiredCard,
  CARDS.incorrectCvc,
];

/** api and two workers as separate processes, BROKER=kafka, a real broker and a real PostgreSQL. */
describe("BROKER=kafka end to end: separate api and worker processes", () => {
  let kafka: KafkaBroker;
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let api: ServiceProcess;
  const workers: ServiceProcess[] = [];
  const sent = new Map<string, string>();
  const env = () => ({
    DATABASE_URL: database.url,
    BROKER: "kafka",
    KAFKA_BROKERS: kafka.brokers,
    KAFKA_PARTITIONS: "4",
    SIMULATOR_LATENCY_MS: "20",
    SIMULATOR_TRANSIENT_FAILURE_RATE: "0.05",
    MAX_ATTEMPTS: "12",
    WORKER_CONCURRENCY: "32",
    LEASE_MS: "3000",
    STUCK_AFTER_MS: "10000",
    SWEEP_INTERVAL_MS: "2000",
    RATE_LIMIT_RPS: "0",
  });

  async function send(count: number, offset = 0): Promise<void> {
    const http = client(api.url);
    for (let i = 0; i < count; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, count - i) }, async (_, k) => {
          const card = MIX[(offset + i + k) % MIX.length]!;
          const res = await http.post(paymentBody(card));
          expect(res.status).toBe(202);
          sent.set(((await res.json()) as { id: string }).id, card);
        }),
      );
    }
  }

  async function expectAllSettledOnce(): Promise<void> {
    const final = await waitForFinal(api.url, [...sent.keys()], { timeoutMs: 90_000 });
    const wrong = [...sent].filter(([id, card]) => {
      const view = final.get(id);
      const expected = EXPECTED[card]!;
      return view?.status !== expected.status || view?.failureCode !== expected.failureCode;
    });
    expect(wrong.map(([id, card]) => ({ id, card, got: final.get(id) }))).toEqual([]);
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    try {
      const doubles = await sql`select payment_id from simulator_charges where outcome = 'approved' group by payment_id having count(*) > 1`;
      expect(doubles).toHaveLength(0);
      const [charged] = await sql`select count(*)::int as n from simulator_charges where outcome = 'approved'`;
      const completed = [...sent.values()].filter((card) => EXPECTED[card]!.status === "COMPLETED").length;
      expect(charged?.n).toBe(completed);
    } finally {
      await sql.end();
    }
  }

  beforeAll(async () => {
    [kafka, database] = await Promise.all([startKafka(), createPostgresDatabase()]);
    api = await startService({ role: "api", env: env() });
    for (let i = 0; i < 2; i++) workers.push(await startService({ role: "worker", env: env() }));
  }, 120_000);
  afterAll(async () => {
    for (const p of [api, ...workers]) await p?.stop();
    await kafka?.stop();
    await database?.drop();
  }, 120_000);

  it("takes 1,000 payments of mixed cards to their expected states, each charged at most once, through a worker kill -9", async () => {
    await send(500);
    await workers[0]!.kill9();
    await send(500, 500);
    workers[0] = await startService({ role: "worker", env: env() });
    await expectAllSettledOnce();
  }, 180_000);

  it("keeps answering 202 while Kafka is down (readiness says 503), and settles everything after it returns", async () => {
    await kafka.stopBroker();
    const ready = await fetch(`${api.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { detail: string }).detail).toContain("broker");
    const before = sent.size;
    await send(100, 3);
    expect(sent.size).toBe(before + 100);
    await kafka.startBroker();
    await expectAllSettledOnce();
    const deadline = Date.now() + 30_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      status = (await fetch(`${api.url}/health/ready`)).status;
      if (status !== 200) await Bun.sleep(250);
    }
    expect(status).toBe(200);
  }, 180_000);

  it("dead-letters a payment whose gateway never answers, to the dlq topic, as FAILED gateway_unavailable", async () => {
    const res = await client(api.url).post(paymentBody(CARDS.processingError));
    const { id } = (await res.json()) as { id: string };
    const final = await waitForFinal(api.url, [id], { timeoutMs: 60_000 });
    expect(final.get(id)).toMatchObject({ status: "FAILED", failureCode: "gateway_unavailable", attempts: 12 });
  }, 90_000);

  it("carries the request id from the HTTP request through Kafka to the worker's log lines", async () => {
    // Not Date.now() in decimal: one in ten such 13-digit runs passes Luhn, and the logger masks it like a card number.
    const traceId = `trace-${Date.now().toString(36)}`;
    const res = await client(api.url).post(paymentBody(CARDS.visa), { "x-request-id": traceId });
    expect(res.headers.get("x-request-id")).toBe(traceId);
    const { id } = (await res.json()) as { id: string };
    await waitForFinal(api.url, [id]);
    // Log lines cross a pipe from each child process: wait for them rather than race the reader.
    const apiLine = () => api.output().split("\n").find((line) => line.includes(traceId) && line.includes("payment accepted"));
    const workerLine = () =>
      workers.flatMap((w) => w.output().split("\n")).find((line) => line.includes(traceId) && line.includes(id) && line.includes("payment completed"));
    const deadline = Date.now() + 10_000;
    while ((!apiLine() || !workerLine()) && Date.now() < deadline) await Bun.sleep(100);
    expect(apiLine()).toContain(id);
    expect(workerLine()).toBeDefined();
  }, 60_000);

  it("a worker serves health and Prometheus metrics on OPS_PORT, including a consumer lag of 0 once settled", async () => {
    const port = await freePort();
    const observed = await startService({ role: "worker", env: { ...env(), OPS_PORT: String(port) } });
    try {
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/health/ready`)).status).toBe(200);
      const deadline = Date.now() + 30_000;
      let lag = Number.NaN;
      let text = "";
      while (Date.now() < deadline && lag !== 0) {
        text = await (await fetch(`${base}/metrics`)).text();
        lag = Number(/^paystream_consumer_lag_messages (\d+)/m.exec(text)?.[1]);
        if (lag !== 0) await Bun.sleep(500);
      }
      expect(lag).toBe(0);
      expect(text).toContain("paystream_gateway_call_duration_seconds");
      expect((await fetch(`${base}/v1/payments`)).status).toBe(404);
    } finally {
      await observed.stop();
    }
  }, 90_000);
});
