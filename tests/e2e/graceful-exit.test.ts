import { afterAll, afterEach, beforeAll, describe, expect, it } from "bun:test";
import postgres from "postgres";
import { createPostgresDatabase } from "../support/db";
import { type KafkaBroker, startKafka } from "../support/kafka";
import { CARDS, EXPECTED, client, paymentBody, waitForFinal } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

/**
 * Issue #32, "Graceful exit" (README, "Stopping a worker"): SIGTERM to one of two workers under
 * load. The stopping worker takes no more work, gives back at once what it claimed and has not sent
 * to the gateway, waits for its calls at the gateway until shortly before SHUTDOWN_GRACE_MS and
 * then hands those still in flight to the reconciler, commits and leaves. LEASE_MS and
 * STUCK_AFTER_MS are two minutes: a payment the stopping worker left holding a lease, or with no
 * message, would wait that long, far beyond the bound checked below (SHUTDOWN_GRACE_MS plus the
 * time the remaining worker needs to run what it was given, at most a few gateway latencies).
 */

const MIX = [CARDS.visa, CARDS.mastercard, CARDS.declined, CARDS.visa, CARDS.insufficientFunds, CARDS.amex, CARDS.expiredCard, CARDS.visa];
const LEASE_MS = 120_000;

interface Scenario {
  name: string;
  latencyMs: number;
  concurrency: number;
  graceMs: number;
  /** Payments sent `perTick` at a time, every `tickMs`; SIGTERM once `killAfter` of them are accepted. */
  payments: number;
  perTick: number;
  tickMs: number;
  killAfter: number;
  /** What the remaining worker may need, beyond the grace, to run what it was given: a few gateway latencies, far below LEASE_MS. */
  allowanceMs: number;
  /** Whether the grace ends with calls still at the gateway (the latency is longer than the grace). */
  handsBackCalls: boolean;
}

const SCENARIOS: Scenario[] = [
  {
    name: "finishes its calls within the grace and gives back what it had not started",
    // Bursts of 40 a second against 2 × 8 slots of 200 ms: each worker holds about 16 at a burst,
    // 8 at the gateway and 8 claimed, waiting for a slot; the one left keeps up on average.
    latencyMs: 200,
    concurrency: 8,
    graceMs: 4_000,
    payments: 320,
    perTick: 40,
    tickMs: 1_000,
    killAfter: 120,
    allowanceMs: 10_000,
    handsBackCalls: false,
  },
  {
    name: "a grace shorter than its calls: those still at the gateway go to the reconciler, nothing is charged twice or FAILED on a guess",
    latencyMs: 4_000,
    concurrency: 8,
    graceMs: 2_000,
    payments: 24,
    perTick: 8,
    tickMs: 200,
    killAfter: 24,
    allowanceMs: 20_000,
    handsBackCalls: true,
  },
];

const lines = (service: ServiceProcess) =>
  service
    .output()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

for (const broker of ["kafka", "postgres"] as const) {
  describe(`SIGTERM to one of two workers under load [BROKER=${broker}]`, () => {
    let kafka: KafkaBroker | undefined;
    let processes: ServiceProcess[] = [];
    let cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      if (broker === "kafka") kafka = await startKafka();
    }, 120_000);
    afterEach(async () => {
      for (const p of processes) await p.stop();
      processes = [];
      for (const cleanup of cleanups) await cleanup();
      cleanups = [];
    }, 60_000);
    afterAll(async () => {
      await kafka?.stop();
    }, 60_000);

    for (const scenario of SCENARIOS) {
      it(scenario.name, async () => {
        const database = await createPostgresDatabase();
        const sql = postgres(database.url, { max: 1, onnotice: () => {} });
        cleanups.push(async () => {
          await sql.end();
          await database.drop();
        });
        const env: Record<string, string> = {
          DATABASE_URL: database.url,
          BROKER: broker,
          ...(kafka ? { KAFKA_BROKERS: kafka.brokers, KAFKA_PARTITIONS: "4", KAFKA_TOPIC_PREFIX: `graceful${Date.now().toString(36)}` } : {}),
          SIMULATOR_LATENCY_MS: String(scenario.latencyMs),
          WORKER_CONCURRENCY: String(scenario.concurrency),
          SHUTDOWN_GRACE_MS: String(scenario.graceMs),
          LEASE_MS: String(LEASE_MS),
          STUCK_AFTER_MS: String(LEASE_MS),
          SWEEP_INTERVAL_MS: "1000",
          RECONCILE_FIRST_CHECK_MS: "1000",
          RECONCILE_INTERVAL_MS: "250",
          RATE_LIMIT_RPS: "0",
        };
        const api = await startService({ role: "api", env });
        processes.push(api);
        const stopping = await startService({ role: "worker", env });
        processes.push(stopping);
        const staying = await startService({ role: "worker", env });
        processes.push(staying);
        const http = client(api.url);
        const sent = new Map<string, string>();
        const post = async (card: string) => {
          const res = await http.post(paymentBody(card));
          expect(res.status).toBe(202);
          sent.set(((await res.json()) as { id: string }).id, card);
        };

        // Both workers take work before the load starts (with Kafka: each owns partitions).
        const completedBy = (w: ServiceProcess) => lines(w).some((l) => l.msg === "payment completed");
        for (const deadline = Date.now() + 45_000; !(completedBy(stopping) && completedBy(staying)); ) {
          if (Date.now() > deadline) throw new Error(`a worker took no payment:\n${stopping.output().slice(-2000)}\n${staying.output().slice(-2000)}`);
          await Promise.all([CARDS.visa, CARDS.visa, CARDS.visa, CARDS.visa].map(post));
          await Bun.sleep(Math.max(500, scenario.latencyMs));
        }
        await waitForFinal(api.url, [...sent.keys()], { timeoutMs: 60_000 });

        let sigtermAt = Number.NaN;
        let exitMs = Number.NaN;
        let exitCode: number | undefined;
        const dbNow = async () => Number(((await sql`select extract(epoch from clock_timestamp())::float8 as t`) as unknown as [{ t: number }])[0].t);
        const load = (async () => {
          for (let n = 0; n < scenario.payments; n += scenario.perTick) {
            const ticked = Bun.sleep(scenario.tickMs);
            await Promise.all(Array.from({ length: Math.min(scenario.perTick, scenario.payments - n) }, (_, k) => post(MIX[(n + k) % MIX.length]!)));
            await ticked;
          }
        })();
        const accepted = sent.size;
        while (sent.size < accepted + scenario.killAfter) await Bun.sleep(20);
        // Long enough for the stopping worker to hold work: calls at the gateway, claims waiting for a slot.
        await Bun.sleep(Math.min(1_000, scenario.latencyMs / 2));
        sigtermAt = await dbNow();
        const began = performance.now();
        exitCode = await stopping.stop("SIGTERM");
        exitMs = performance.now() - began;
        await load;

        const final = await waitForFinal(api.url, [...sent.keys()], { timeoutMs: scenario.graceMs + scenario.allowanceMs + 30_000 });
        const stoppingLog = lines(stopping);
        const givenBack = stoppingLog.filter((l) => l.msg === "worker stopping: the attempt was given back without calling the gateway").length;
        const handedToReconciler = stoppingLog.filter((l) => typeof l.msg === "string" && l.msg.endsWith("handed to the reconciler")).length;
        const [waits] = (await sql`
          select max(extract(epoch from completed_at) - greatest(extract(epoch from created_at), ${sigtermAt}::float8))::float8 * 1000 as longest,
                 max(extract(epoch from completed_at) - ${sigtermAt}::float8) filter (where extract(epoch from created_at) < ${sigtermAt}::float8)::float8 * 1000 as "longestHeld",
                 count(*)::int as n
          from payments`) as unknown as [{ longest: number; longestHeld: number | null; n: number }];
        console.log(
          `[BROKER=${broker}] ${scenario.name.split(":")[0]}: ${sent.size} payments, gateway ${scenario.latencyMs} ms, SHUTDOWN_GRACE_MS ${scenario.graceMs}; ` +
            `the worker exited ${exitCode} ${Math.round(exitMs)} ms after SIGTERM; ${givenBack} given back untried, ${handedToReconciler} handed to the reconciler; ` +
            `longest wait from max(acceptance, SIGTERM) to final ${Math.round(waits.longest)} ms (of payments accepted before SIGTERM: ${Math.round(waits.longestHeld ?? 0)} ms)`,
        );

        // It left cleanly, within the grace: a grace overrun exits 1.
        expect(exitCode).toBe(0);
        expect(stoppingLog.some((l) => l.msg === "worker stopped: took no more work, finished or handed back what it held, committed and left")).toBe(true);
        expect(stoppingLog.some((l) => l.msg === "shutdown took longer than SHUTDOWN_GRACE_MS; exiting")).toBe(false);

        // Every payment ends as its card says, after one counted attempt (given-back attempts are uncounted; a look-up is no attempt).
        const wrong = [...sent].filter(([id, card]) => final.get(id)?.status !== EXPECTED[card]!.status || final.get(id)?.failureCode !== EXPECTED[card]!.failureCode);
        expect(wrong.map(([id, card]) => ({ id, card, got: final.get(id) }))).toEqual([]);
        expect([...final.values()].filter((view) => view.attempts !== 1)).toEqual([]);

        // No card charged twice, and no charge sent to the gateway twice (a look-up is not a request).
        const doubles = await sql`select payment_id from simulator_charges where operation = 'charge' group by payment_id having count(*) > 1`;
        expect(doubles).toHaveLength(0);
        const replayed = await sql`select payment_id, requests from simulator_charges where requests > 1`;
        expect(replayed).toHaveLength(0);
        const [charged] = await sql`select count(*)::int as n from simulator_charges where outcome = 'approved'`;
        expect(charged?.n).toBe([...sent.values()].filter((card) => EXPECTED[card]!.status === "COMPLETED").length);

        // Nothing was left for a lease or the sweeper: nothing re-queued, and no payment waited
        // anywhere near LEASE_MS (the bound is the grace plus a few gateway latencies).
        for (const worker of [stopping, staying]) expect(lines(worker).filter((l) => typeof l.msg === "string" && l.msg.startsWith("re-queued a stuck"))).toEqual([]);
        expect(waits.n).toBe(sent.size);
        // (grace + allowance is at most 14 s and 22 s here, against a LEASE_MS of 120 s.)
        expect(waits.longest).toBeLessThan(scenario.graceMs + scenario.allowanceMs);

        // The path under test was taken.
        if (scenario.handsBackCalls) expect(handedToReconciler).toBeGreaterThan(0);
        else expect(handedToReconciler).toBe(0);
      }, 120_000);
    }
  });
}
