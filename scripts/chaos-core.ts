/**
 * Chaos run: the real program as separate processes (one api, N workers, BROKER=kafka) on a
 * fresh PostgreSQL database and a real Kafka broker, fed a steady stream of payments while
 * its processes are SIGKILLed and restarted, the broker is restarted and every database
 * connection is cut. The client behaves like a real one: a request that is not accepted
 * (connection refused, timeout, 503) is sent again with the same Idempotency-Key until it is.
 *
 * Then it checks, from the database itself, what the contract promises: every accepted
 * payment exists, is COMPLETED or FAILED, has the outcome its test card calls for, and was
 * charged at most once (the simulator's ledger, `simulator_charges`, has one row per charge);
 * and, over HTTP, that every key still replays its own payment. Captures, cancels and refunds are
 * judged by scripts/chaos-operations.ts, the payments that wait for their customer (3-D Secure,
 * PayPal approval) by scripts/chaos-actions.ts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { createPostgresDatabase, openAdmin, terminateSessions } from "../tests/support/db";
import { type KafkaBroker, startKafka } from "../tests/support/kafka";
import { CARDS, EXPECTED, paymentBody } from "../tests/support/payments";
import { type ServiceProcess, startService } from "../tests/support/service-process";
import {
  type ActionPlan,
  type ActionsVerdict,
  actionBody,
  actionLabel,
  type CustomerHttp,
  createActionCohort,
  formatActions,
  isActionSlot,
  judgeActions,
  planAction,
} from "./chaos-actions";
import {
  expectedOfPlan,
  type FollowUp,
  formatOperations,
  judgeOperations,
  type MerchantHttp,
  type OperationPlan,
  type OperationsVerdict,
  planOperations,
  runFollowUp,
} from "./chaos-operations";

export interface FaultCounts {
  /** SIGKILL + restart of a worker, taking the workers in turn. */
  workerKills: number;
  /** SIGKILL + restart of the api (which also runs the outbox relay). */
  apiKills: number;
  /** Broker stopped, left down for `brokerDownMs`, started again. */
  brokerRestarts: number;
  /** `pg_terminate_backend` on every connection to the run's database. */
  dbCuts: number;
}

export interface ChaosOptions {
  payments: number;
  ratePerSecond: number;
  workers: number;
  faults: FaultCounts;
  /** How long to wait, after the last payment was accepted and the last fault is over, for every payment to be final. */
  settleTimeoutMs: number;
  brokerDownMs?: number;
  /**
   * Share of simulator calls that fail (half of them after the charge was taken: outcome unknown),
   * default 0.05. With a high rate, payments run out of attempts: an approvable card may then end
   * FAILED gateway_unavailable if (and only if) it was never charged, whatever its card.
   */
  gatewayFailureRate?: number;
  maxAttempts?: number;
  /**
   * How long a payment may wait for its customer (ACTION_TTL_MS), default 20 s: the abandoned ones
   * of the customer-action cohort (scripts/chaos-actions.ts) end when it runs out.
   */
  actionTtlMs?: number;
  /** Progress lines; silent when absent. */
  log?: (line: string) => void;
  /** Where to write every process's output (also of killed ones) at the end; kept nowhere when absent. */
  logDir?: string;
  signal?: AbortSignal;
}

export interface TimelineEntry {
  /** Since the first payment was sent. */
  atMs: number;
  tookMs: number;
  what: string;
}

export interface WrongOutcome {
  id: string;
  card: string;
  expected: string;
  got: string;
}

export interface ChaosReport {
  settings: Record<string, string | number>;
  planned: number;
  sent: number;
  accepted: number;
  neverAccepted: number;
  requests: number;
  /** Requests that did not get a 202, by reason ("connection refused", "503", …). */
  notAccepted: Record<string, number>;
  /** Payments the client had to send more than once before one was accepted. */
  acceptedAfterRetry: number;
  /** Why the payments that were never accepted were refused (status and body, first few). */
  refusals: string[];
  /** Accepted payments whose key, sent again with the same body once everything was final, did not replay the same payment. */
  replayMismatches: number;
  /** Payment rows the client never got an id for (a duplicate made behind a lost answer). */
  unknownRows: number;
  completed: number;
  canceled: number;
  failedByCode: Record<string, number>;
  nonTerminal: Record<string, number>;
  lost: string[];
  wrong: WrongOutcome[];
  doubleCharged: { paymentId: string; approvedCharges: number }[];
  /** Charged in the gateway's ledger, yet not COMPLETED (FAILED, or never final): must be empty. */
  chargedNotCompleted: string[];
  /** COMPLETED, yet no charge in the gateway's ledger: must be empty. */
  completedNotCharged: string[];
  /** Card secrets still stored although every payment is final (they are deleted on the final write). */
  cardSecretsLeft: number;
  /** Captures, cancels and refunds (see scripts/chaos-operations.ts). */
  operations: OperationsVerdict;
  /** Payments that waited for their customer: 3-D Secure, PayPal approval (see scripts/chaos-actions.ts). */
  actions: ActionsVerdict;
  /** The longest time, since the first payment, in which no payment became final although some were waiting. */
  longestStall: { fromMs: number; ms: number };
  timeline: TimelineEntry[];
  /** When the last payment was first sent, since the first. */
  lastSentMs: number;
  /** When sending (with its retries) and every fault were over, since the first payment. */
  inputOverMs: number;
  /** Since the first payment was sent; undefined when the run never got there. */
  lastFaultEndMs: number | undefined;
  allFinalMs: number | undefined;
  totalMs: number;
  violations: string[];
}

/** The contract's cards, visa thrice as often (most real payments succeed). */
const CARD_MIX = [
  CARDS.visa,
  CARDS.visa,
  CARDS.visa,
  CARDS.mastercard,
  CARDS.amex,
  CARDS.declined,
  CARDS.insufficientFunds,
  CARDS.lostCard,
  CARDS.stolenCard,
  CARDS.expiredCard,
  CARDS.incorrectCvc,
  CARDS.processingError,
];

const FINAL = new Set(["COMPLETED", "FAILED", "CANCELED"]);
const REQUEST_TIMEOUT_MS = 15_000;
const PROGRESS_EVERY_MS = 5_000;
const RESTART_ATTEMPTS = 3;
/** A restarted process works at least this long before its next kill, so kills cannot run back to back. */
const MIN_UPTIME_MS = 5_000;
const REPLAY_BATCH = 50;

type FaultKind = "kill-worker" | "kill-api" | "restart-broker" | "cut-db";
interface PlannedFault {
  atMs: number;
  kind: FaultKind;
  worker: number;
}

/**
 * Spreads the faults over the middle 80% of the sending window, each kind evenly and the kinds
 * offset from each other, so faults land while payments are in every stage of processing.
 * A fault on a target that is still recovering from the previous one waits for it.
 */
export function planFaults(sendMs: number, workers: number, counts: FaultCounts): PlannedFault[] {
  // The database cut comes before the api kill and the broker restart, so it finds every process up.
  const kinds: [FaultKind, number, number][] = [
    ["kill-worker", counts.workerKills, 0.1],
    ["cut-db", counts.dbCuts, 0.3],
    ["kill-api", counts.apiKills, 0.5],
    ["restart-broker", counts.brokerRestarts, 0.65],
  ];
  const plan: PlannedFault[] = [];
  for (const [kind, count, offset] of kinds) {
    for (let j = 0; j < count; j++) {
      const fraction = (j + offset) / count;
      plan.push({ atMs: Math.round(sendMs * (0.1 + 0.8 * fraction)), kind, worker: j % Math.max(1, workers) });
    }
  }
  return plan.sort((a, b) => a.atMs - b.atMs);
}

interface PaymentAttempt {
  key: string;
  card: string;
  plan: OperationPlan | undefined;
  /** A payment that waits for its customer (judged by scripts/chaos-actions.ts, not by its card). */
  action: ActionPlan | undefined;
  body: string;
  id?: string;
  requests: number;
  /** A definitive refusal (4xx other than 429): retrying would not help. */
  refused?: string;
}

/** A pause that ends early when the run is interrupted, so cleanup starts at once. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}

function reasonOf(error: unknown): string {
  const text = String((error as { code?: string })?.code ?? (error as Error)?.name ?? error);
  if (/ConnectionRefused|ECONNREFUSED/i.test(text)) return "connection refused";
  if (/Timeout|Abort/i.test(text)) return "timeout";
  if (/ECONNRESET|ConnectionClosed|socket/i.test(text)) return "connection reset";
  return text.slice(0, 60);
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const runStarted = performance.now();
  const brokerDownMs = options.brokerDownMs ?? 4_000;
  const actionTtlMs = options.actionTtlMs ?? 20_000;
  const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const aborted = () => options.signal?.aborted === true;
  /** Set when settling is over (or the run ends): the merchant's follow-up requests stop. */
  let followUpsStopped = false;

  let database: Awaited<ReturnType<typeof createPostgresDatabase>> | undefined;
  let kafka: KafkaBroker | undefined;
  const everyProcess: { name: string; process: ServiceProcess }[] = [];
  let api: ServiceProcess | undefined;
  const workers: (ServiceProcess | undefined)[] = [];

  try {
    log("creating a PostgreSQL database and starting a Kafka broker…");
    const [createdDb, startedKafka] = await Promise.allSettled([createPostgresDatabase(), startKafka()]);
    if (createdDb.status === "fulfilled") database = createdDb.value;
    if (startedKafka.status === "fulfilled") kafka = startedKafka.value;
    if (createdDb.status === "rejected") throw createdDb.reason;
    if (startedKafka.status === "rejected") throw startedKafka.reason;
    const db = database as NonNullable<typeof database>;
    const broker = kafka as KafkaBroker;

    const settings = {
      DATABASE_URL: db.url,
      BROKER: "kafka",
      KAFKA_BROKERS: broker.brokers,
      KAFKA_PARTITIONS: "4",
      SIMULATOR_LATENCY_MS: "20",
      SIMULATOR_TRANSIENT_FAILURE_RATE: String(options.gatewayFailureRate ?? 0.05),
      MAX_ATTEMPTS: String(options.maxAttempts ?? 12),
      RETRY_BASE_MS: "50",
      RETRY_MAX_MS: "1000",
      WORKER_CONCURRENCY: "32",
      LEASE_MS: "3000",
      STUCK_AFTER_MS: "8000",
      SWEEP_INTERVAL_MS: "2000",
      // Payments whose outcome stays unknown through the outages are settled by the reconciler.
      RECONCILE_FIRST_CHECK_MS: "1000",
      RECONCILE_MAX_INTERVAL_MS: "5000",
      RECONCILE_INTERVAL_MS: "500",
      // Payments waiting for their customer: a short wait, looked up soon and often.
      ACTION_TTL_MS: String(actionTtlMs),
      ACTION_CHECK_FIRST_MS: "300",
      ACTION_CHECK_MAX_MS: "2000",
      RATE_LIMIT_RPS: "0",
      LOG_LEVEL: "info",
    };
    const names = new Map<string, number>();
    const start = async (role: "api" | "worker", name: string): Promise<ServiceProcess> => {
      let lastError: unknown;
      for (let attempt = 1; attempt <= RESTART_ATTEMPTS; attempt++) {
        try {
          const child = await startService({ role, env: settings, timeoutMs: 60_000 });
          const generation = (names.get(name) ?? 0) + 1;
          names.set(name, generation);
          everyProcess.push({ name: `${name}.${generation}`, process: child });
          return child;
        } catch (error) {
          lastError = error;
          log(`${name} did not start (attempt ${attempt}/${RESTART_ATTEMPTS}): ${String(error).split("\n")[0]}`);
        }
      }
      throw lastError;
    };

    log(`starting the api and ${options.workers} workers (BROKER=kafka on ${broker.brokers})…`);
    api = await start("api", "api");
    workers.push(...(await Promise.all(Array.from({ length: options.workers }, (_, i) => start("worker", `worker-${i}`)))));
    /**
     * A fresh connection for every look at the database: postgres-js leaves a connection hanging
     * for good once a write on it failed with ECONNRESET (which the database cut provokes), and
     * the observer must not be what hangs.
     */
    const inspect = async <T>(run: (sql: postgres.Sql) => Promise<T>): Promise<T> => {
      const sql = postgres(db.url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
      try {
        return await run(sql);
      } finally {
        await sql.end({ timeout: 1 }).catch(() => {});
      }
    };

    // ---- the client: a steady stream, each payment retried with its key until accepted
    const intervalMs = 1000 / options.ratePerSecond;
    const sendWindowMs = Math.round(options.payments * intervalMs);
    const attempts: PaymentAttempt[] = [];
    const notAccepted: Record<string, number> = {};
    let requests = 0;
    let apiUrl = api.url;
    const sendStarted = performance.now();
    const sendStartedAt = Date.now();
    const since = () => Math.round(performance.now() - sendStarted);

    async function submit(payment: PaymentAttempt): Promise<void> {
      for (let retry = 0; !aborted(); retry++) {
        payment.requests++;
        requests++;
        let reason: string;
        try {
          const response = await fetch(`${apiUrl}/v1/payments`, {
            method: "POST",
            headers: { authorization: "Bearer sk_test_local", "content-type": "application/json", "idempotency-key": payment.key },
            body: payment.body,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          const text = await response.text();
          if (response.status === 202) {
            payment.id = (JSON.parse(text) as { id: string }).id;
            return;
          }
          reason = String(response.status);
          if (response.status < 500 && response.status !== 429) {
            payment.refused = `${response.status} ${text.slice(0, 200)}`;
            notAccepted[reason] = (notAccepted[reason] ?? 0) + 1;
            return;
          }
        } catch (error) {
          reason = reasonOf(error);
        }
        notAccepted[reason] = (notAccepted[reason] ?? 0) + 1;
        await sleep(Math.min(2_000, 200 * 1.5 ** retry), options.signal);
      }
    }

    // ---- the merchant's captures, cancels and refunds of accepted payments, through the same faults
    const http: MerchantHttp = {
      async request(method, path, body, idempotencyKey) {
        followUpRequests++;
        try {
          const response = await fetch(`${apiUrl}${path}`, {
            method,
            headers: {
              authorization: "Bearer sk_test_local",
              ...(body === undefined ? {} : { "content-type": "application/json" }),
              ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
            },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          const text = await response.text();
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          return { status: response.status, json };
        } catch {
          return undefined;
        }
      },
      stopped: () => aborted() || followUpsStopped,
      sleep: (ms) => sleep(ms, options.signal),
    };
    const followUps: FollowUp[] = [];
    let followUpRequests = 0;
    const followUpRuns: Promise<void>[] = [];

    // ---- the customers of payments that wait for them, with their browser (no key, no redirects followed)
    const customerHttp: CustomerHttp = {
      async browse(method, path) {
        try {
          const response = await fetch(`${apiUrl}${path}`, { method, redirect: "manual", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
          return { status: response.status, location: response.headers.get("location"), body: await response.text() };
        } catch {
          return undefined;
        }
      },
    };
    const actions = createActionCohort({ http, customerHttp, since });

    const submissions: Promise<void>[] = [];
    let lastSentMs = 0;
    const sending = (async () => {
      for (let i = 0; i < options.payments && !aborted(); i++) {
        await sleep(sendStarted + i * intervalMs - performance.now(), options.signal);
        const action = isActionSlot(i) ? planAction(i, actionTtlMs) : undefined;
        const card = action ? actionLabel(action) : (CARD_MIX[i % CARD_MIX.length] as string);
        const plan = action ? undefined : planOperations(i, card);
        const body = JSON.stringify(action ? actionBody(action) : paymentBody(card, plan?.manual ? { capture: false } : {}));
        const payment: PaymentAttempt = { key: `chaos-${runId}-${i}`, card, plan, action, body, requests: 0 };
        attempts.push(payment);
        submissions.push(
          submit(payment).then(() => {
            if (payment.id && action) actions.follow(payment.id, action);
            if (!payment.id || !plan) return;
            const followUp: FollowUp = {
              paymentId: payment.id,
              plan,
              refunds: plan.refunds.map((amount, j) => ({ key: `${payment.key}-refund-${j}`, amount, requests: 0 })),
              requests: 0,
              done: false,
            };
            followUps.push(followUp);
            followUpRuns.push(runFollowUp(followUp, http));
          }),
        );
        lastSentMs = since();
      }
      await Promise.all(submissions);
    })();

    // ---- the faults: each starts on time; only faults on the same target wait for each other
    const timeline: TimelineEntry[] = [];
    let lastFaultEndMs: number | undefined;
    const restart = async (role: "api" | "worker", name: string, old: ServiceProcess): Promise<ServiceProcess> => {
      await old.kill9();
      return await start(role, name);
    };
    const execute = async (fault: PlannedFault): Promise<void> => {
      if (aborted()) return;
      // Customers waiting to approve at a fault do so now: it strikes right after their approval.
      await actions.beforeFault();
      const began = since();
      let what: string;
      switch (fault.kind) {
        case "kill-worker": {
          const old = workers[fault.worker] as ServiceProcess;
          const pid = old.proc.pid;
          workers[fault.worker] = await restart("worker", `worker-${fault.worker}`, old);
          what = `SIGKILL worker-${fault.worker} (pid ${pid}); restarted as pid ${workers[fault.worker]?.proc.pid}, consuming again`;
          break;
        }
        case "kill-api": {
          const old = api as ServiceProcess;
          const pid = old.proc.pid;
          const before = requests;
          api = await restart("api", "api", old);
          apiUrl = api.url;
          what = `SIGKILL api (pid ${pid}); restarted as pid ${api.proc.pid}, ready again (${requests - before} requests sent meanwhile)`;
          break;
        }
        case "restart-broker": {
          await broker.stopBroker();
          const stopped = since();
          await sleep(brokerDownMs, options.signal);
          await broker.startBroker();
          what = `Kafka broker stopped (${stopped - began} ms), down ${brokerDownMs} ms, started again (${since() - stopped - brokerDownMs} ms)`;
          break;
        }
        case "cut-db": {
          const admin = openAdmin();
          try {
            const cut = await terminateSessions(admin, db.name);
            what = `pg_terminate_backend: ${cut} connections to ${db.name} cut`;
          } finally {
            await admin.end();
          }
          break;
        }
      }
      const ended = since();
      lastFaultEndMs = Math.max(lastFaultEndMs ?? 0, ended);
      timeline.push({ atMs: began, tookMs: ended - began, what });
      log(`fault at ${(began / 1000).toFixed(1)} s: ${what} (${ended - began} ms)`);
    };
    const faults = (async () => {
      const byTarget = new Map<string, Promise<void>>();
      for (const fault of planFaults(sendWindowMs, options.workers, options.faults)) {
        await sleep(sendStarted + fault.atMs - performance.now(), options.signal);
        const target = fault.kind === "kill-worker" ? `worker-${fault.worker}` : fault.kind;
        const previous = byTarget.get(target);
        byTarget.set(target, previous ? previous.then(() => sleep(MIN_UPTIME_MS, options.signal)).then(() => execute(fault)) : execute(fault));
      }
      await Promise.all(byTarget.values());
      timeline.sort((a, b) => a.atMs - b.atMs);
    })();

    // ---- progress, then settling
    const statusCounts = async (): Promise<Map<string, { status: string; failureCode: string | null }> | undefined> => {
      try {
        const rows = await inspect((sql) => sql<{ id: string; status: string; failure_code: string | null }[]>`select id, status, failure_code from payments`);
        return new Map(rows.map((r) => [r.id, { status: r.status, failureCode: r.failure_code }]));
      } catch (error) {
        // The database cut also ends this connection; the next query reconnects.
        log(`monitor query failed (${String(error).slice(0, 80)}); retrying`);
        return undefined;
      }
    };
    const finalCount = (rows: Map<string, { status: string }> | undefined) =>
      rows ? [...rows.values()].filter((r) => FINAL.has(r.status)).length : Number.NaN;

    let inputDone = false;
    const input = Promise.all([sending, faults]);
    const inputSettled = input.then(
      () => (inputDone = true),
      () => (inputDone = true),
    );
    while (!inputDone && !aborted()) {
      await Promise.race([sleep(PROGRESS_EVERY_MS, options.signal), inputSettled]);
      const accepted = attempts.filter((p) => p.id).length;
      log(
        `${(since() / 1000).toFixed(1)} s: sent ${attempts.length}/${options.payments}, accepted ${accepted}, ` +
          `requests ${requests} (${requests - accepted} not accepted), final ${finalCount(await statusCounts())}`,
      );
    }
    await input;
    if (aborted()) throw new Error("chaos run interrupted");
    const inputEndMs = since();
    log(`all payments sent and all faults done at ${(inputEndMs / 1000).toFixed(1)} s; waiting for every payment to be final…`);

    const acceptedIds = new Set(attempts.flatMap((p) => (p.id ? [p.id] : [])));
    let allFinalMs: number | undefined;
    let rows: Map<string, { status: string; failureCode: string | null }> | undefined;
    let lastProgress = 0;
    const settleDeadline = performance.now() + options.settleTimeoutMs;
    const pendingRefunds = async () => {
      try {
        return Number((await inspect((sql) => sql<{ n: number }[]>`select count(*)::int as n from refunds where status = 'PENDING'`))[0]?.n ?? 0);
      } catch {
        return Number.NaN;
      }
    };
    while (!aborted()) {
      rows = (await statusCounts()) ?? rows;
      const unsettled = [...acceptedIds].filter((id) => !FINAL.has(rows?.get(id)?.status ?? "")).length;
      const openFollowUps = followUps.filter((f) => !f.done).length + actions.open();
      if (rows && unsettled === 0 && openFollowUps === 0 && (await pendingRefunds()) === 0) {
        allFinalMs = since();
        break;
      }
      if (performance.now() > settleDeadline) break;
      if (performance.now() - lastProgress > PROGRESS_EVERY_MS) {
        lastProgress = performance.now();
        log(`${(since() / 1000).toFixed(1)} s: ${unsettled} of ${acceptedIds.size} accepted payments not final yet; ${openFollowUps} payments' captures, cancels or refunds still being asked for`);
      }
      await sleep(500, options.signal);
    }
    followUpsStopped = true;
    await Promise.allSettled([...followUpRuns, actions.settled()]);
    if (aborted()) throw new Error("chaos run interrupted");

    // The idempotency records must have come through the chaos too: every key replays its payment.
    const accepted = attempts.filter((p) => p.id);
    let replayMismatches = 0;
    for (let i = 0; i < accepted.length; i += REPLAY_BATCH) {
      await Promise.all(
        accepted.slice(i, i + REPLAY_BATCH).map(async (payment) => {
          const response = await fetch(`${apiUrl}/v1/payments`, {
            method: "POST",
            headers: { authorization: "Bearer sk_test_local", "content-type": "application/json", "idempotency-key": payment.key },
            body: payment.body,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }).catch(() => undefined);
          const id = response?.status === 202 ? ((await response.json()) as { id: string }).id : undefined;
          if (id !== payment.id || response?.headers.get("idempotent-replayed") !== "true") replayMismatches++;
        }),
      );
    }

    // ---- the verdict, from the database
    rows = (await statusCounts()) ?? rows ?? new Map();
    const [doubleCharged, charged, secrets, finals] = await inspect(async (sql) => [
      (
        await sql<{ payment_id: string; n: number }[]>`
          select payment_id, count(*)::int as n from simulator_charges
          where outcome = 'approved' and operation in ('charge', 'capture') group by payment_id having count(*) > 1`
      ).map((r) => ({ paymentId: r.payment_id, approvedCharges: r.n })),
      new Set(
        (
          await sql<{ payment_id: string }[]>`
            select distinct payment_id from simulator_charges where outcome = 'approved' and operation in ('charge', 'capture')`
        ).map((r) => r.payment_id),
      ),
      (await sql<{ n: number }[]>`select count(*)::int as n from card_secrets`)[0],
      (await sql<{ at: Date }[]>`select completed_at as at from payments where completed_at is not null order by completed_at`).map(
        (r) => r.at.getTime() - sendStartedAt,
      ),
    ] as const);
    // While payments were waiting, the longest time in which none of them became final.
    let longestStall = { fromMs: 0, ms: 0 };
    for (let i = 1; i < finals.length; i++) {
      const gap = (finals[i] as number) - (finals[i - 1] as number);
      if (gap > longestStall.ms) longestStall = { fromMs: finals[i - 1] as number, ms: gap };
    }

    // The money invariant, from the gateway's own ledger: charged ⇔ COMPLETED, whatever the card.
    const chargedNotCompleted: string[] = [];
    const completedNotCharged: string[] = [];
    for (const payment of attempts) {
      if (!payment.id) continue;
      const status = rows.get(payment.id)?.status;
      if (charged.has(payment.id) && status !== "COMPLETED") chargedNotCompleted.push(payment.id);
      if (!charged.has(payment.id) && status === "COMPLETED") completedNotCharged.push(payment.id);
    }

    const lost: string[] = [];
    const wrong: WrongOutcome[] = [];
    const failedByCode: Record<string, number> = {};
    const nonTerminal: Record<string, number> = {};
    let completed = 0;
    let canceled = 0;
    for (const payment of attempts) {
      if (!payment.id) continue;
      const row = rows.get(payment.id);
      if (!row) {
        lost.push(payment.id);
        continue;
      }
      if (!FINAL.has(row.status)) {
        nonTerminal[row.status] = (nonTerminal[row.status] ?? 0) + 1;
        continue;
      }
      if (row.status === "COMPLETED") completed++;
      else if (row.status === "CANCELED") canceled++;
      else failedByCode[row.failureCode ?? "none"] = (failedByCode[row.failureCode ?? "none"] ?? 0) + 1;
      // What a waiting payment may end as depends on its customer: judged by judgeActions.
      if (payment.action) continue;
      const ledger = charged.has(payment.id) ? "charged" : "not charged";
      const planned = expectedOfPlan(payment.plan);
      const cardExpectation = planned ? { status: planned.status, failureCode: null } : (EXPECTED[payment.card] as { status: string; failureCode: string | null });
      // A gateway that never took any attempt may leave any card undecided and uncharged: then, and
      // only then, FAILED gateway_unavailable.
      const ranOut = row.status === "FAILED" && row.failureCode === "gateway_unavailable" && ledger === "not charged";
      const expected = ranOut ? { status: "FAILED", failureCode: "gateway_unavailable" } : cardExpectation;
      const expectedLedger = expected.status === "COMPLETED" ? "charged" : "not charged";
      if (row.status !== expected.status || row.failureCode !== expected.failureCode || ledger !== expectedLedger) {
        wrong.push({
          id: payment.id,
          card: payment.card,
          expected: `${expected.status} ${expected.failureCode ?? ""}, ${expectedLedger}`.replace(" ,", ","),
          got: `${row.status} ${row.failureCode ?? ""}, ${ledger}`.replace(" ,", ","),
        });
      }
    }
    const neverAccepted = attempts.filter((p) => !p.id).length;
    const unknownRows = [...rows.keys()].filter((id) => !acceptedIds.has(id)).length;
    const cardSecretsLeft = Object.keys(nonTerminal).length === 0 ? (secrets?.n ?? 0) : 0;
    const plannedOf = new Map(attempts.flatMap((p) => (p.id && p.plan ? [[p.id, p.plan] as const] : [])));
    const operations = await inspect((sql) => judgeOperations(sql, followUps, plannedOf, followUpRequests));
    const actionsVerdict = await inspect((sql) => judgeActions(sql, actions.customers, timeline));

    const violations: string[] = [];
    if (lost.length) violations.push(`${lost.length} accepted payments are missing from the database`);
    if (doubleCharged.length) violations.push(`${doubleCharged.length} payments were charged more than once`);
    if (chargedNotCompleted.length) violations.push(`${chargedNotCompleted.length} payments were charged but are not COMPLETED`);
    if (completedNotCharged.length) violations.push(`${completedNotCharged.length} payments are COMPLETED but were not charged`);
    const stuck = Object.values(nonTerminal).reduce((a, b) => a + b, 0);
    if (stuck) violations.push(`${stuck} payments are not final`);
    if (wrong.length) violations.push(`${wrong.length} payments ended in the wrong state`);
    if (neverAccepted) violations.push(`${neverAccepted} payments were never accepted`);
    if (replayMismatches) violations.push(`${replayMismatches} idempotency keys did not replay their payment after the run`);
    if (unknownRows) violations.push(`${unknownRows} payment rows were created that no client answer names`);
    if (cardSecretsLeft) violations.push(`${cardSecretsLeft} card secrets remain although every payment is final`);
    const unfinishedFollowUps = followUps.filter((f) => !f.done).length;
    if (unfinishedFollowUps) violations.push(`${unfinishedFollowUps} payments' captures, cancels or refunds were never answered`);
    violations.push(...operations.violations);
    violations.push(...actionsVerdict.violations);

    return {
      settings: { payments: options.payments, ratePerSecond: options.ratePerSecond, workers: options.workers, ...settings, DATABASE_URL: db.name },
      planned: options.payments,
      sent: attempts.length,
      accepted: acceptedIds.size,
      neverAccepted,
      requests,
      notAccepted,
      acceptedAfterRetry: attempts.filter((p) => p.id && p.requests > 1).length,
      refusals: attempts.flatMap((p) => (p.refused ? [p.refused] : [])).slice(0, 5),
      replayMismatches,
      unknownRows,
      completed,
      canceled,
      failedByCode,
      nonTerminal,
      lost,
      wrong,
      doubleCharged,
      chargedNotCompleted,
      completedNotCharged,
      cardSecretsLeft,
      operations,
      actions: actionsVerdict,
      longestStall,
      timeline,
      lastSentMs,
      inputOverMs: inputEndMs,
      lastFaultEndMs,
      allFinalMs,
      totalMs: Math.round(performance.now() - runStarted),
      violations,
    };
  } finally {
    log("cleaning up: processes, broker, database…");
    followUpsStopped = true;
    await Promise.allSettled(everyProcess.map(({ process }) => process.kill9()));
    if (options.logDir) {
      mkdirSync(options.logDir, { recursive: true });
      for (const { name, process } of everyProcess) writeFileSync(join(options.logDir, `${name}.log`), process.output());
      log(`process logs written to ${options.logDir}`);
    }
    await kafka?.stop().catch((error) => log(`could not stop the Kafka broker: ${error}`));
    await database?.drop().catch((error) => log(`could not drop the database: ${error}`));
  }
}

const seconds = (ms: number | undefined) => (ms === undefined ? "—" : `${(ms / 1000).toFixed(1)} s`);

/** The human-readable report: the counts, the verdict, and the fault timeline. */
export function formatChaosReport(report: ChaosReport): string {
  const notAccepted = Object.entries(report.notAccepted).map(([reason, n]) => `${reason}×${n}`).join(", ") || "none";
  const failed = Object.entries(report.failedByCode).sort(([a], [b]) => a.localeCompare(b)).map(([code, n]) => `${code} ${n}`).join(", ");
  const nonTerminal = Object.entries(report.nonTerminal).map(([status, n]) => `${status} ${n}`).join(", ");
  const settle =
    report.allFinalMs === undefined || report.lastFaultEndMs === undefined ? "—" : seconds(report.allFinalMs - report.lastFaultEndMs);
  const lines = [
    "chaos report",
    `  sent:             ${report.sent} payments (${report.planned} planned) in ${report.requests} requests`,
    `  not accepted:     ${report.requests - report.accepted} requests (${notAccepted}), retried with the same Idempotency-Key`,
    `  accepted:         ${report.accepted} (${report.acceptedAfterRetry} only after a retry; ${report.neverAccepted} never)`,
    `  COMPLETED:        ${report.completed}`,
    `  CANCELED:         ${report.canceled}`,
    `  FAILED:           ${Object.values(report.failedByCode).reduce((a, b) => a + b, 0)} (${failed})`,
    `  non-terminal:     ${Object.values(report.nonTerminal).reduce((a, b) => a + b, 0)}${nonTerminal ? ` (${nonTerminal})` : ""}`,
    `  lost:             ${report.lost.length}${report.lost.length ? ` (${report.lost.slice(0, 5).join(", ")}…)` : ""}`,
    `  wrong state:      ${report.wrong.length}`,
    ...report.wrong.slice(0, 10).map((w) => `      ${w.id} card ${w.card.slice(-4)}: expected ${w.expected}, got ${w.got}`),
    `  double-charged:   ${report.doubleCharged.length}`,
    ...report.doubleCharged.slice(0, 10).map((d) => `      ${d.paymentId}: ${d.approvedCharges} approved charges`),
    `  charged but not COMPLETED: ${report.chargedNotCompleted.length}${report.chargedNotCompleted.length ? ` (${report.chargedNotCompleted.slice(0, 5).join(", ")}…)` : ""}`,
    `  COMPLETED but not charged: ${report.completedNotCharged.length}${report.completedNotCharged.length ? ` (${report.completedNotCharged.slice(0, 5).join(", ")}…)` : ""}`,
    ...report.refusals.map((r) => `      refused: ${r}`),
    ...formatOperations(report.operations),
    ...formatActions(report.actions),
    `  replays:          ${report.replayMismatches} keys did not replay their payment after the run; rows nobody was told about: ${report.unknownRows}; card secrets left: ${report.cardSecretsLeft}`,
    `  timing:           last payment sent at ${seconds(report.lastSentMs)}; sending, retries and faults over at ${seconds(report.inputOverMs)}; last fault over at ${seconds(report.lastFaultEndMs)}; all final at ${seconds(report.allFinalMs)}`,
    `                    → all final ${settle} after the last fault; whole run ${seconds(report.totalMs)}`,
    `                    longest time with no payment becoming final: ${seconds(report.longestStall.ms)} (from ${seconds(report.longestStall.fromMs)})`,
    "  fault timeline (since the first payment):",
    ...report.timeline.map((t) => `    ${seconds(t.atMs).padStart(7)}  ${t.what} (${t.tookMs} ms)`),
    `  settings:         ${Object.entries(report.settings).map(([k, v]) => `${k}=${v}`).join(" ")}`,
    report.violations.length === 0 ? "chaos: PASS" : `chaos: FAIL — ${report.violations.join("; ")}`,
  ];
  return lines.join("\n");
}
