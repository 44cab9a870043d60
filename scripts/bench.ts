#!/usr/bin/env bun
/**
 * paystream benchmarks: real processes, real PostgreSQL, real Kafka, every figure next to its
 * reference from the same run.
 *
 *   bun run bench                 everything below, then the tables and docs/bench-chart.svg
 *   bun run bench -- idle         idle CPU, wake-ups and RSS of --role=all (PGlite, PostgreSQL); the first payment after idle
 *   bun run bench -- intake       POST /v1/payments vs GET /health/live on one --role=api process [--clients 64] [--seconds 10],
 *                                 then POST at 0.1, 0.15 and 0.2 × live's rate in an open loop: p99 against issue #32's 25 ms
 *   bun run bench -- e2e          end to end [--broker postgres|kafka|both] [--topology all|split|both] [--latency 50]
 *                                 [--payments 3000] [--concurrency 64] [--partitions 6] [--warmup 1000]
 *                                 (the warm-up payments are sent and settled first, outside every figure)
 *   bun run bench -- chart        throughput and p99 against the payments in flight (postgres queue, --role=all)
 *   bun run bench -- backlog      a deep Kafka backlog drained by three workers: [--backlog 20000] [--partitions 6]
 *                                 (the api relays --backlog payments to the topic with no worker up; then three workers,
 *                                 simulator at 200 ms, WORKER_CONCURRENCY 16, STUCK_AFTER_MS 15000, SWEEP_INTERVAL_MS 1000,
 *                                 drain it: the drain rate against the bound, and the sweeper's re-queues, which should be none)
 *   bun run bench -- scale        scale-out on Kafka (issue #32): 1, 2 and 3 worker processes each drain a topic holding
 *                                 --per-worker payments (default 4000) each, simulator at 200 ms, WORKER_CONCURRENCY 32
 *                                 (one worker's bound 160/s): each run's rate against N × the one-worker bound, and docs/bench-scale.svg
 *   bun run bench -- rebalance    two workers drain --payments (12000) from the topic; a third joins, then one leaves
 *                                 (SIGTERM): the longest gap between completions after each (KafkaJS rebalances eagerly)
 *   bun run bench -- e2e … --min-speedup X   also runs each broker's serial baseline (1 in flight, 1 partition)
 *                                 and exits 1 when a concurrent run is under X times it
 *
 * Idle: --settle 60 (seconds after start before measuring: JSC's JIT and GC threads keep waking for about a
 * minute after start) and --idle-seconds 30.
 *
 * Options for every mode: --kafka HOST:PORT (use a running broker instead of starting one),
 * --bun-flags "…" (runtime flags for the services, e.g. --smol), --service-env K=V,… (extra environment),
 * --port-base N (the services listen on N, N+1, …; default 19110), --cpu-prof DIR (profile the
 * api of the intake run with `bun --cpu-prof`), --service-root DIR (run another checkout's
 * src/main.ts, e.g. a `git worktree` of an older commit, for before/after figures from one harness),
 * --binary PATH (run a compiled binary, e.g. dist/paystream from `npm run build`, as the image does),
 * --timeline (print how many payments became final in each 100 ms of every end-to-end run),
 * --pg-stats (print, per end-to-end run, PostgreSQL's executor time per payment of each statement, from
 * pg_stat_statements: the server must load it (shared_preload_libraries); point TEST_DATABASE_URL at one that does).
 *
 * CPU is read from /proc: user + system seconds of the paystream processes and of the PostgreSQL
 * backends serving the benchmark's database (not the server's shared background processes, nor
 * Kafka's JVM, nor the load generator, which is this process).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createPostgresDatabase } from "../tests/support/db";
import { paymentBody } from "../tests/support/payments";
import { BUN, type ServiceProcess, startService } from "../tests/support/service-process";
import { type ChartPoint, renderChart, renderScaleChart } from "./bench-chart";
import { cpuBetween, rssMb, type ProcSample, sampleProcess, snapshot, wakeupsBetween, watchPeakRss } from "./bench-proc";

const ROOT = join(import.meta.dir, "..");
const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? (args[i + 1] as string) : fallback;
};
const mode = args[0] && !args[0].startsWith("--") ? args[0] : "all";
const progress = (line: string) => process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${line}\n`);
const HEADERS = { authorization: "Bearer sk_test_local", "content-type": "application/json" };
const BODY = JSON.stringify(paymentBody());

let nextPort = Number(flag("port-base", "19110"));
// startService adds the runtime settings `npm start` and the image run with (scripts/runtime-env.mjs).
const COMMON_ENV = { RATE_LIMIT_RPS: "0", LOG_LEVEL: "warn", STUCK_AFTER_MS: "600000" };

/** --bun-flags "…": the runtime flags the services start with; --service-env K=V,…: environment they get on top. */
const RUNTIME_FLAGS = flag("bun-flags", "").split(" ").filter(Boolean);
const SERVICE_MAIN = join(flag("service-root", ROOT), "src/main.ts");
/** --timeline: also print, per end-to-end run, how many payments became final in each 100 ms. */
const TIMELINE = args.includes("--timeline");
/** --pg-stats: also print PostgreSQL's executor time per payment of each statement. */
const PG_STATS = args.includes("--pg-stats");
/** --binary PATH: run a compiled binary (`npm run build`, what the image ships) instead of the source. */
const SERVICE_BINARY = flag("binary", "");
const SERVICE_ENV = Object.fromEntries(
  flag("service-env", "")
    .split(",")
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);

function start(role: "api" | "worker" | "all", env: Record<string, string>, command?: string[]): Promise<ServiceProcess> {
  // A worker has no API port: it is ready when its ops listener says so (it logs nothing at warn).
  const ports: Record<string, string> = role === "worker" ? { PORT: String(nextPort++), OPS_PORT: String(nextPort++) } : { PORT: String(nextPort++) };
  const run = command ?? (SERVICE_BINARY ? [SERVICE_BINARY] : [BUN, ...RUNTIME_FLAGS, SERVICE_MAIN]);
  return startService({ role, env: { ...COMMON_ENV, ...ports, ...env, ...SERVICE_ENV }, command: run, timeoutMs: 60_000, waitFor: role === "worker" ? "ops" : "ready" });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "—");

/** The PostgreSQL backends serving `database` (the benchmark's own monitoring connection excluded). */
async function backendPids(monitor: postgres.Sql, database: string): Promise<number[]> {
  const rows = await monitor`select pid from pg_stat_activity where datname = ${database} and pid <> pg_backend_pid()`;
  return rows.map((r) => Number(r.pid));
}

/**
 * --pg-stats: clears pg_stat_statements' figures for the benchmark's database and answers what
 * prints, after the measured window, the executor time per payment of the statements that cost
 * the most; undefined (the reason printed) when the server does not load the module.
 */
async function startStatementStats(monitor: postgres.Sql, label: string): Promise<{ report(payments: number): Promise<void> } | undefined> {
  const thisDatabase = "(select oid from pg_database where datname = current_database())";
  try {
    await monitor`create extension if not exists pg_stat_statements`;
    await monitor.unsafe(`select pg_stat_statements_reset(0, ${thisDatabase}, 0)`);
  } catch (error) {
    progress(`${label}: --pg-stats: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  return {
    async report(payments) {
      const rows = await monitor.unsafe(
        `select calls::int as calls, total_exec_time::float8 as ms, regexp_replace(query, '\\s+', ' ', 'g') as query
         from pg_stat_statements where dbid = ${thisDatabase} order by total_exec_time desc`,
      );
      const perPayment = (ms: number) => `${fmt((ms * 1000) / payments, 1).padStart(6)} µs`;
      const total = rows.reduce((sum, r) => sum + Number(r.ms), 0);
      progress(`${label}: PostgreSQL executor time per payment, ${perPayment(total)} in all (pg_stat_statements, the measured window):`);
      for (const r of rows.slice(0, 10)) progress(`  ${perPayment(Number(r.ms))}  ${String(r.calls).padStart(6)} calls  ${String(r.query).slice(0, 100)}`);
    },
  };
}

/** CPU of a set of processes over a window: start() now, then stop() after the load. */
async function cpuWindow(pids: () => Promise<number[]>) {
  const before = snapshot(await pids());
  const started = performance.now();
  return {
    async stop(): Promise<{ cpuSeconds: number; seconds: number }> {
      const after = snapshot(await pids());
      return { cpuSeconds: cpuBetween(before, after), seconds: (performance.now() - started) / 1000 };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Idle

interface IdleResult {
  database: "pglite" | "postgres";
  seconds: number;
  cpuPercent: number;
  wakeupsPerSecond: number;
  backendCpuPercent: number;
  rssMb: number;
  firstPaymentMs: number;
  warmPaymentMs: number;
}

/** POST one payment and poll it until final: milliseconds from the POST to the final state seen. */
async function paymentRoundTrip(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/payments`, { method: "POST", headers: HEADERS, body: BODY });
  const { id } = (await res.json()) as { id: string };
  for (;;) {
    const view = (await (await fetch(`${url}/v1/payments/${id}`, { headers: HEADERS })).json()) as { status: string };
    if (view.status === "COMPLETED" || view.status === "FAILED") return performance.now() - t0;
    await Bun.sleep(2);
  }
}

async function benchIdle(database: "pglite" | "postgres", settleSeconds: number, seconds: number): Promise<IdleResult> {
  const dir = mkdtempSync(join(tmpdir(), "paystream-bench-"));
  const pg = database === "postgres" ? await createPostgresDatabase() : undefined;
  const monitor = pg ? postgres(pg.url, { max: 1, onnotice: () => {} }) : undefined;
  const service = await start("all", {
    DATABASE_URL: pg ? pg.url : `pglite://${join(dir, "pglite")}`,
    SIMULATOR_LATENCY_MS: "0",
  });
  try {
    progress(`idle ${database}: settling ${settleSeconds} s, then measuring ${seconds} s`);
    await Bun.sleep(settleSeconds * 1000);
    const backends = async () => (monitor && pg ? backendPids(monitor, pg.name) : []);
    const before = sampleProcess(service.proc.pid) as ProcSample;
    const backendWindow = await cpuWindow(backends);
    await Bun.sleep(seconds * 1000);
    const after = sampleProcess(service.proc.pid) as ProcSample;
    const backend = await backendWindow.stop();
    const rss = rssMb(service.proc.pid);
    // Still idle: the first payment shows whether waiting instead of polling costs latency.
    const firstPaymentMs = await paymentRoundTrip(service.url);
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) warm.push(await paymentRoundTrip(service.url));
    warm.sort((a, b) => a - b);
    return {
      database,
      seconds,
      cpuPercent: ((after.cpuSeconds - before.cpuSeconds) / seconds) * 100,
      wakeupsPerSecond: wakeupsBetween(before, after) / seconds,
      backendCpuPercent: (backend.cpuSeconds / seconds) * 100,
      rssMb: rss,
      firstPaymentMs,
      warmPaymentMs: percentile(warm, 50),
    };
  } finally {
    await service.stop();
    await monitor?.end();
    await pg?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Intake

interface LoadResult {
  label: string;
  clients: number;
  seconds: number;
  count: number;
  perSecond: number;
  p50: number;
  p99: number;
  errors: Record<string, number>;
}

/**
 * Times requests for one load run: `send` sends one and records its answer, its latency counted from
 * `since` (when it was sent, or when it was due); `result` gives the run's figures.
 */
function loadRecorder(request: () => Promise<Response>, expected: number) {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const started = performance.now();
  return {
    async send(since: number): Promise<void> {
      const res = await request().catch(() => undefined);
      await res?.arrayBuffer();
      const ms = performance.now() - since;
      if (res?.status === expected) latencies.push(ms);
      else errors[String(res?.status ?? "network")] = (errors[String(res?.status ?? "network")] ?? 0) + 1;
    },
    result(label: string, clients: number): LoadResult {
      const elapsed = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      return { label, clients, seconds: elapsed, count: latencies.length, perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
    },
  };
}

/** `clients` connections sending `request` back to back for `seconds`. */
async function closedLoop(label: string, clients: number, seconds: number, request: () => Promise<Response>, expected: number): Promise<LoadResult> {
  const recorder = loadRecorder(request, expected);
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) await recorder.send(performance.now());
    }),
  );
  return recorder.result(label, clients);
}

/**
 * `rate` requests per second for `seconds`, each sent on its schedule whether or not the earlier ones
 * have been answered (an open loop, as merchants' traffic arrives). A request's latency counts from
 * its scheduled time, so a stall of the service or of this generator shows in the tail instead of
 * delaying the next requests (no coordinated omission). `clients` is the number in flight at most.
 */
async function openLoop(label: string, rate: number, seconds: number, request: () => Promise<Response>, expected: number): Promise<LoadResult> {
  const recorder = loadRecorder(request, expected);
  const total = Math.max(1, Math.round(rate * seconds));
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  let peak = 0;
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    // Send everything due, then yield for a millisecond so answers are read between ticks.
    while (performance.now() < due) await Bun.sleep(1);
    const sent: Promise<void> = recorder.send(due).finally(() => inFlight.delete(sent));
    inFlight.add(sent);
    peak = Math.max(peak, inFlight.size);
  }
  await Promise.all(inFlight);
  return recorder.result(label, peak);
}

/**
 * Issue #32's intake tail: POST /v1/payments at these shares of /health/live's rate, open loop; the
 * target is for the last (0.2), the lower ones show where the tail bends on the machine at hand.
 */
const INTAKE_TAIL_SHARES = [0.1, 0.15, 0.2];
const INTAKE_TAIL_TARGET_MS = 25;

/** The api's own histogram of accepted POST /v1/payments: how many in all, and how many within INTAKE_TAIL_TARGET_MS. */
async function intakeHistogram(apiUrl: string): Promise<{ count: number; within: number }> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const series = (suffix: string, extra = "") =>
    [...text.matchAll(new RegExp(`^paystream_http_request_duration_seconds_${suffix}\\{([^}]*)\\} ([0-9.e+-]+)$`, "gm"))]
      .filter((m) => (m[1] as string).includes('method="POST"') && (m[1] as string).includes('route="/v1/payments"') && (m[1] as string).includes('status="202"') && (m[1] as string).includes(extra))
      .reduce((sum, m) => sum + Number(m[2]), 0);
  return { count: series("count"), within: series("bucket", `le="${INTAKE_TAIL_TARGET_MS / 1000}"`) };
}

interface TailResult {
  share: number;
  load: LoadResult;
  /** Of the run's 202s, the share the api itself timed at ≤ INTAKE_TAIL_TARGET_MS (its own histogram, no client in it). */
  serverWithinTarget: number;
}

interface IntakeResult {
  payments: LoadResult;
  live: LoadResult;
  /** POST /v1/payments at each of INTAKE_TAIL_SHARES × live's rate, open loop, after the two closed loops. */
  tails: TailResult[];
  rssMb: number;
  /** CPU-seconds of the api and its PostgreSQL backends per 1,000 accepted payments. */
  cpuPer1000: number;
  apiCpuPer1000: number;
}

async function benchIntake(clients: number, seconds: number): Promise<IntakeResult> {
  const db = await createPostgresDatabase();
  const monitor = postgres(db.url, { max: 1, onnotice: () => {} });
  const profileDir = flag("cpu-prof", "");
  const api = await start(
    "api",
    { DATABASE_URL: db.url, DB_POOL_SIZE: flag("pool", "20") },
    profileDir ? [BUN, "--cpu-prof", `--cpu-prof-dir=${profileDir}`, SERVICE_MAIN] : undefined,
  );
  try {
    const post = () => fetch(`${api.url}/v1/payments`, { method: "POST", headers: HEADERS, body: BODY });
    // Warm-up: JIT, connection pool, prepared plans.
    await closedLoop("warm-up", clients, 2, post, 202);
    const rss = watchPeakRss(api.proc.pid);
    const apiBefore = sampleProcess(api.proc.pid) as ProcSample;
    const window = await cpuWindow(async () => [api.proc.pid, ...(await backendPids(monitor, db.name))]);
    progress(`intake: POST /v1/payments, ${clients} clients, ${seconds} s`);
    const payments = await closedLoop("POST /v1/payments", clients, seconds, post, 202);
    const cpu = await window.stop();
    const apiAfter = sampleProcess(api.proc.pid) as ProcSample;
    progress(`intake: GET /health/live, ${clients} clients, ${seconds} s (the reference)`);
    const live = await closedLoop("GET /health/live", clients, seconds, () => fetch(`${api.url}/health/live`), 200);
    const tails: TailResult[] = [];
    for (const share of INTAKE_TAIL_SHARES) {
      const rate = share * live.perSecond;
      progress(`intake: POST /v1/payments at ${share} × live = ${Math.round(rate)}/s, open loop, ${seconds} s`);
      const before = await intakeHistogram(api.url);
      const load = await openLoop(`POST /v1/payments at ${share} × live, open loop`, rate, seconds, post, 202);
      const after = await intakeHistogram(api.url);
      const answered = after.count - before.count;
      tails.push({ share, load, serverWithinTarget: answered > 0 ? (after.within - before.within) / answered : Number.NaN });
    }
    return {
      tails,
      payments,
      live,
      rssMb: rss.stop(),
      cpuPer1000: (cpu.cpuSeconds / payments.count) * 1000,
      apiCpuPer1000: ((apiAfter.cpuSeconds - apiBefore.cpuSeconds) / payments.count) * 1000,
    };
  } finally {
    await api.stop();
    await monitor.end();
    await db.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// End to end

type Topology = "all" | "split";

interface E2eResult {
  label: string;
  broker: "postgres" | "kafka";
  topology: Topology;
  latencyMs: number;
  concurrency: number;
  partitions: number;
  payments: number;
  perSecond: number;
  p50: number;
  p99: number;
  bound: number;
  ratioToBound: number;
  /** CPU-seconds of api + worker + PostgreSQL backends per 1,000 payments, and the paystream processes' share. */
  cpuPer1000: number;
  serviceCpuPer1000: number;
  /** Peak RSS of each paystream process, by role. */
  rssMb: Record<string, number>;
}

async function benchEndToEnd(options: {
  broker: "postgres" | "kafka";
  topology: Topology;
  latencyMs: number;
  payments: number;
  concurrency: number;
  partitions: number;
  kafkaBrokers?: string;
  /** Payments sent and settled before the measured window opens. */
  warmup: number;
}): Promise<E2eResult> {
  const label = `${options.broker} ${options.topology === "all" ? "--role=all" : "api + worker"} ${options.latencyMs} ms × ${options.concurrency}`;
  const db = await createPostgresDatabase();
  const monitor = postgres(db.url, { max: 1, onnotice: () => {} });
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    BROKER: options.broker,
    KAFKA_BROKERS: options.kafkaBrokers ?? "127.0.0.1:9092",
    KAFKA_TOPIC_PREFIX: `bench${Date.now().toString(36)}`,
    KAFKA_PARTITIONS: String(options.partitions),
    SIMULATOR_LATENCY_MS: String(options.latencyMs),
    WORKER_CONCURRENCY: String(options.concurrency),
  };
  const processes: { role: string; service: ServiceProcess }[] = [];
  try {
    if (options.topology === "all") processes.push({ role: "all", service: await start("all", env) });
    else {
      processes.push({ role: "api", service: await start("api", env) });
      processes.push({ role: "worker", service: await start("worker", env) });
    }
    const api = processes[0]?.service as ServiceProcess;
    // Kafka: let the consumer join its group before the clock starts.
    await Bun.sleep(options.broker === "kafka" ? 3000 : 300);
    const sendPayments = async (count: number) => {
      let sent = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (sent < count) {
            sent++;
            const res = await fetch(`${api.url}/v1/payments`, { method: "POST", headers: HEADERS, body: BODY });
            if (res.status !== 202) throw new Error(`POST answered ${res.status}`);
            await res.arrayBuffer();
          }
        }),
      );
    };
    const waitUntilFinal = async (total: number) => {
      const deadline = Date.now() + 600_000;
      for (;;) {
        const [row] = await monitor`select count(*) filter (where status in ('COMPLETED','FAILED'))::int as done from payments`;
        if (Number(row?.done ?? 0) >= total || Date.now() > deadline) return;
        await Bun.sleep(100);
      }
    };
    // Warm-up, not measured: JIT compilation, connection pools, prepared statements and the JSC
    // heap settle over the first payments; the figures below are the steady state after them.
    if (options.warmup > 0) {
      await sendPayments(options.warmup);
      await waitUntilFinal(options.warmup);
    }
    const [{ windowStart }] = (await monitor`select extract(epoch from clock_timestamp())::float8 as "windowStart"`) as unknown as [{ windowStart: number }];

    const peaks = processes.map((p) => ({ role: p.role, rss: watchPeakRss(p.service.proc.pid) }));
    const servicePids = processes.map((p) => p.service.proc.pid);
    const serviceBefore = snapshot(servicePids);
    const stats = PG_STATS ? await startStatementStats(monitor, label) : undefined;
    const window = await cpuWindow(async () => [...servicePids, ...(await backendPids(monitor, db.name))]);
    const sendStarted = performance.now();
    await sendPayments(options.payments);
    progress(`${label}: ${options.payments} accepted in ${((performance.now() - sendStarted) / 1000).toFixed(1)} s; waiting for final states…`);
    await waitUntilFinal(options.warmup + options.payments);
    const cpu = await window.stop();
    const serviceAfter = snapshot(servicePids);
    await stats?.report(options.payments);
    const serviceCpu = cpuBetween(serviceBefore, serviceAfter);
    // Each process's own share, and the PostgreSQL backends' (the rest of the window's CPU).
    const cpuByRole = processes.map((p) => {
      const only = (m: Map<number, ProcSample>) => new Map([...m].filter(([pid]) => pid === p.service.proc.pid));
      return { role: p.role, seconds: cpuBetween(only(serviceBefore), only(serviceAfter)) };
    });
    const rssMbByRole = Object.fromEntries(peaks.map((p) => [p.role, p.rss.stop()]));
    const rows = await monitor`
      select extract(epoch from (completed_at - created_at)) * 1000 as ms,
             extract(epoch from created_at) as created, extract(epoch from completed_at) as completed
      from payments where completed_at is not null and created_at >= to_timestamp(${windowStart})`;
    const ms = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
    const first = Math.min(...rows.map((r) => Number(r.created)));
    const last = Math.max(...rows.map((r) => Number(r.completed)));
    const perSecond = rows.length / (last - first);
    if (TIMELINE) {
      // Payments made final in each 100 ms from the first one sent: a stall shows as a short bucket.
      const buckets: number[] = [];
      for (const r of rows) {
        const at = Math.floor((Number(r.completed) - first) * 10);
        buckets[at] = (buckets[at] ?? 0) + 1;
      }
      progress(`${label}: final per 100 ms: ${Array.from(buckets, (n) => n ?? 0).join(" ")}`);
    }
    const bound = options.latencyMs > 0 ? options.concurrency / (options.latencyMs / 1000) : Number.POSITIVE_INFINITY;
    const result: E2eResult = {
      label,
      broker: options.broker,
      topology: options.topology,
      latencyMs: options.latencyMs,
      concurrency: options.concurrency,
      partitions: options.partitions,
      payments: rows.length,
      perSecond,
      p50: percentile(ms, 50),
      p99: percentile(ms, 99),
      bound,
      ratioToBound: perSecond / bound,
      cpuPer1000: (cpu.cpuSeconds / rows.length) * 1000,
      serviceCpuPer1000: (serviceCpu / rows.length) * 1000,
      rssMb: rssMbByRole,
    };
    const per1000 = (seconds: number) => fmt((seconds / rows.length) * 1000, 2);
    const split = [...cpuByRole.map((r) => `${r.role} ${per1000(r.seconds)}`), `PostgreSQL backends ${per1000(cpu.cpuSeconds - serviceCpu)}`].join(", ");
    progress(`${label}: ${fmt(perSecond, 0)}/s, ${Number.isFinite(bound) ? `${fmt(result.ratioToBound, 2)} of the bound, ` : ""}${fmt(result.cpuPer1000, 2)} CPU-s per 1,000 (${split})`);
    return result;
  } finally {
    for (const p of processes) await p.service.stop();
    await monitor.end();
    await db.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// Backlog (issue #34): a deep Kafka backlog, drained by three workers while their sweepers run

interface BacklogResult {
  payments: number;
  partitions: number;
  /** Seconds the api took to accept the backlog, and until the relay had moved all of it to the topic. */
  acceptSeconds: number;
  relaySeconds: number;
  /** From the workers' start to the last payment final, and payments final per second over that span. */
  drainSeconds: number;
  perSecond: number;
  /** Payments final per second between the 10th and the 90th percentile of their completion times. */
  steadyPerSecond: number;
  bound: number;
  /** Re-queues by the sweepers in all (log lines "re-queued a stuck payment"; the workers' paystream_sweeper_requeued_total agrees). */
  requeues: number;
  requeuesByMetric: number;
  /** Re-queues of a payment whose message was still in the topic: every one, as no message is lost in this run (no crash, no broker loss). */
  requeuesOfQueued: number;
  /** Payments re-queued by two different workers within STUCK_AFTER_MS of each other. */
  requeuedByTwoWorkers: number;
  /** The largest age of the oldest waiting message, and the largest lag, the workers' gauges showed while it drained. */
  peakOldestAgeSeconds: number;
  peakLag: number;
  /** The payments the simulator charged more than once (must be 0). */
  chargedTwice: number;
}

const BACKLOG_WORKERS = 3;
const BACKLOG_LATENCY_MS = 200;
const BACKLOG_CONCURRENCY = 16;
const BACKLOG_STUCK_AFTER_MS = 15_000;

/**
 * Sends `payments` payments to the api (32 at a time) while no worker runs, and waits until its
 * relay has moved all of them from the outbox to the topic.
 */
async function fillTopic(api: ServiceProcess, payments: number, monitor: postgres.Sql, label: string): Promise<{ acceptSeconds: number; relaySeconds: number }> {
  const started = performance.now();
  let sent = 0;
  let accepted = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (sent < payments) {
        sent++;
        const res = await fetch(`${api.url}/v1/payments`, { method: "POST", headers: HEADERS, body: BODY });
        if (res.status !== 202) throw new Error(`POST answered ${res.status}`);
        await res.arrayBuffer();
        if (++accepted % 5000 === 0) progress(`${label}: ${accepted} accepted`);
      }
    }),
  );
  const acceptSeconds = (performance.now() - started) / 1000;
  while (Number((await monitor`select count(*)::int as n from outbox where topic = 'requested'`)[0]?.n ?? 0) > 0) await Bun.sleep(200);
  return { acceptSeconds, relaySeconds: (performance.now() - started) / 1000 };
}

/** Scale-out (issue #32): one worker's bound is SCALE_CONCURRENCY / 200 ms = 160/s. */
const SCALE_CONCURRENCY = 32;
const ONE_WORKER_BOUND = SCALE_CONCURRENCY / (BACKLOG_LATENCY_MS / 1000);

async function benchBacklog(options: {
  payments: number;
  partitions: number;
  kafkaBrokers: string;
  /** Worker processes draining the topic (default 3) and their WORKER_CONCURRENCY (default 16). */
  workers?: number;
  concurrency?: number;
}): Promise<BacklogResult> {
  const workerCount = options.workers ?? BACKLOG_WORKERS;
  const concurrency = options.concurrency ?? BACKLOG_CONCURRENCY;
  const label = `kafka backlog ${options.payments}, ${workerCount} worker${workerCount === 1 ? "" : "s"} × ${concurrency}`;
  const db = await createPostgresDatabase();
  const monitor = postgres(db.url, { max: 1, onnotice: () => {} });
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    BROKER: "kafka",
    KAFKA_BROKERS: options.kafkaBrokers,
    KAFKA_TOPIC_PREFIX: `backlog${Date.now().toString(36)}`,
    KAFKA_PARTITIONS: String(options.partitions),
    SIMULATOR_LATENCY_MS: String(BACKLOG_LATENCY_MS),
    WORKER_CONCURRENCY: String(concurrency),
    STUCK_AFTER_MS: String(BACKLOG_STUCK_AFTER_MS),
    SWEEP_INTERVAL_MS: "1000",
  };
  const processes: ServiceProcess[] = [];
  const count = async (query: string) => Number((await monitor.unsafe(query))[0]?.n ?? 0);
  try {
    const api = await start("api", env);
    processes.push(api);
    // The backlog: accepted and relayed to the topic while no worker runs.
    const { acceptSeconds, relaySeconds } = await fillTopic(api, options.payments, monitor, label);
    progress(`${label}: accepted in ${fmt(acceptSeconds)} s, all in the topic after ${fmt(relaySeconds)} s; starting ${workerCount} workers`);

    const [{ startedAt }] = (await monitor`select extract(epoch from clock_timestamp())::float8 as "startedAt"`) as unknown as [{ startedAt: number }];
    const workerPorts: number[] = [];
    // All at once, as a scale-out starts them. start() hands a worker PORT then OPS_PORT (its /metrics).
    const starting: Promise<ServiceProcess>[] = [];
    for (let i = 0; i < workerCount; i++) {
      workerPorts.push(nextPort + 1);
      starting.push(start("worker", env));
    }
    processes.push(...(await Promise.all(starting)));
    const workers = processes.slice(1);
    const gauge = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    const scrape = () => Promise.all(workerPorts.map((port) => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => "")));
    let peakOldestAgeSeconds = 0;
    let peakLag = 0;
    const deadline = Date.now() + 3_600_000;
    for (let lastReport = 0; ; ) {
      const done = await count("select count(*) filter (where status in ('COMPLETED','FAILED'))::int as n from payments");
      for (const text of await scrape()) {
        const age = gauge(text, "paystream_consumer_oldest_message_age_seconds");
        const lag = gauge(text, "paystream_consumer_lag_messages");
        if (Number.isFinite(age)) peakOldestAgeSeconds = Math.max(peakOldestAgeSeconds, age);
        if (Number.isFinite(lag)) peakLag = Math.max(peakLag, lag);
      }
      if (done >= options.payments || Date.now() > deadline) break;
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        progress(`${label}: ${done} final`);
      }
      await Bun.sleep(500);
    }
    const [{ last }] = (await monitor`select extract(epoch from max(completed_at))::float8 as last from payments`) as unknown as [{ last: number }];
    const drainSeconds = last - startedAt;
    // The steady rate: the middle 80 % of the completions, past the workers' start-up and the last stragglers.
    const [{ t10, t90 }] = (await monitor`
      select extract(epoch from percentile_disc(0.1) within group (order by completed_at))::float8 as t10,
             extract(epoch from percentile_disc(0.9) within group (order by completed_at))::float8 as t90
      from payments`) as unknown as [{ t10: number; t90: number }];
    const steadyPerSecond = (0.8 * options.payments) / Math.max(1e-3, t90 - t10);
    const requeuesByMetric = (await scrape()).reduce((sum, text) => sum + (gauge(text, "paystream_sweeper_requeued_total") || 0), 0);
    // One more sweep interval, so a late re-queue is seen too.
    await Bun.sleep(1_500);
    const requeued: { worker: number; paymentId: string; at: number }[] = [];
    workers.forEach((worker, index) => {
      for (const line of worker.output().split("\n")) {
        if (!line.includes("re-queued a stuck payment")) continue;
        try {
          const entry = JSON.parse(line) as { paymentId?: string; time?: number | string };
          if (entry.paymentId) requeued.push({ worker: index, paymentId: entry.paymentId, at: new Date(entry.time ?? 0).getTime() });
        } catch {}
      }
    });
    const byPayment = new Map<string, { worker: number; at: number }[]>();
    for (const r of requeued) byPayment.set(r.paymentId, [...(byPayment.get(r.paymentId) ?? []), r]);
    const requeuedByTwoWorkers = [...byPayment.values()].filter((list) =>
      list.some((a) => list.some((b) => a.worker !== b.worker && Math.abs(a.at - b.at) < BACKLOG_STUCK_AFTER_MS)),
    ).length;
    const chargedTwice = await count("select count(*)::int as n from (select payment_id from simulator_charges where operation = 'charge' group by payment_id having count(*) > 1) t");
    const bound = (workerCount * concurrency) / (BACKLOG_LATENCY_MS / 1000);
    const result: BacklogResult = {
      payments: options.payments,
      partitions: options.partitions,
      acceptSeconds,
      relaySeconds,
      drainSeconds,
      perSecond: options.payments / drainSeconds,
      steadyPerSecond,
      bound,
      requeues: requeued.length,
      requeuesByMetric,
      requeuesOfQueued: requeued.length,
      requeuedByTwoWorkers,
      peakOldestAgeSeconds,
      peakLag,
      chargedTwice,
    };
    progress(`${label}: drained in ${fmt(drainSeconds)} s, ${fmt(result.perSecond, 0)}/s of ${fmt(bound, 0)}/s; ${requeued.length} re-queues, ${requeuedByTwoWorkers} by two workers`);
    return result;
  } finally {
    for (const p of processes) await p.stop();
    await monitor.end();
    await db.drop();
  }
}

interface RebalanceResult {
  payments: number;
  /** The longest pause between two payments becoming final in the 15 s after a worker joined, and after one left (SIGTERM). */
  joinGapMs: number;
  leaveGapMs: number;
  /** The same over the 8 s before the join (two workers, steady), for comparison. */
  steadyGapMs: number;
  /** The fewest payments final in any whole second of those windows. */
  joinLowestPerSecond: number;
  leaveLowestPerSecond: number;
  steadyLowestPerSecond: number;
  chargedTwice: number;
}

/**
 * Rebalances under load (issue #32): two workers drain a topic, a third joins, then one leaves with
 * SIGTERM; KafkaJS rebalances eagerly, so every member stops at each. The figure is the longest gap
 * between consecutive completions (completed_at, the database's clock) after each event.
 */
async function benchRebalance(options: { payments: number; partitions: number; kafkaBrokers: string }): Promise<RebalanceResult> {
  const label = `kafka rebalance ${options.payments}`;
  const db = await createPostgresDatabase();
  const monitor = postgres(db.url, { max: 1, onnotice: () => {} });
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    BROKER: "kafka",
    KAFKA_BROKERS: options.kafkaBrokers,
    KAFKA_TOPIC_PREFIX: `rebalance${Date.now().toString(36)}`,
    KAFKA_PARTITIONS: String(options.partitions),
    SIMULATOR_LATENCY_MS: String(BACKLOG_LATENCY_MS),
    WORKER_CONCURRENCY: String(SCALE_CONCURRENCY),
  };
  const processes: ServiceProcess[] = [];
  const now = async () => Number(((await monitor`select extract(epoch from clock_timestamp())::float8 as t`) as unknown as [{ t: number }])[0].t);
  const final = async () => Number(((await monitor`select count(*)::int as n from payments where completed_at is not null`) as unknown as [{ n: number }])[0].n);
  try {
    const api = await start("api", env);
    processes.push(api);
    await fillTopic(api, options.payments, monitor, label);
    const first = await start("worker", env);
    const second = await start("worker", env);
    processes.push(first, second);
    while ((await final()) < options.payments * 0.3) await Bun.sleep(200);
    const joinedAt = await now();
    processes.push(await start("worker", env));
    progress(`${label}: a third worker joined`);
    while ((await final()) < options.payments * 0.6) await Bun.sleep(200);
    const leftAt = await now();
    await first.stop("SIGTERM");
    progress(`${label}: a worker left (SIGTERM)`);
    const deadline = Date.now() + 600_000;
    while ((await final()) < options.payments && Date.now() < deadline) await Bun.sleep(500);
    const gapAfter = async (from: number, to: number) =>
      Number(
        (
          (await monitor`
            select coalesce(max(gap), 0)::float8 * 1000 as ms from (
              select extract(epoch from completed_at) - lag(extract(epoch from completed_at)) over (order by completed_at) as gap
              from payments where extract(epoch from completed_at) between ${from} and ${to}) g`) as unknown as [{ ms: number }]
        )[0].ms,
      );
    const [joinGapMs, leaveGapMs, steadyGapMs] = await Promise.all([gapAfter(joinedAt, joinedAt + 15), gapAfter(leftAt, leftAt + 15), gapAfter(joinedAt - 8, joinedAt)]);
    // Whole seconds from the event on: a rebalance that stops every member shows as a second with few completions.
    const lowestPerSecond = async (from: number, to: number) =>
      Number(
        (
          (await monitor`
            select coalesce(min(n), 0)::int as n from (
              select s, (select count(*) from payments where extract(epoch from completed_at) >= s and extract(epoch from completed_at) < s + 1) as n
              from generate_series(${from}::numeric, ${to}::numeric - 1, 1::numeric) as s) g`) as unknown as [{ n: number }]
        )[0].n,
      );
    const [joinLowestPerSecond, leaveLowestPerSecond, steadyLowestPerSecond] = await Promise.all([
      lowestPerSecond(joinedAt, joinedAt + 15),
      lowestPerSecond(leftAt, leftAt + 15),
      lowestPerSecond(joinedAt - 8, joinedAt),
    ]);
    const chargedTwice = Number(
      ((await monitor`select count(*)::int as n from (select payment_id from simulator_charges where operation = 'charge' group by payment_id having count(*) > 1) t`) as unknown as [{ n: number }])[0].n,
    );
    progress(`${label}: longest gap ${fmt(joinGapMs, 0)} ms after the join, ${fmt(leaveGapMs, 0)} ms after the leave`);
    return { payments: options.payments, joinGapMs, leaveGapMs, steadyGapMs, joinLowestPerSecond, leaveLowestPerSecond, steadyLowestPerSecond, chargedTwice };
  } finally {
    for (const p of processes) await p.stop();
    await monitor.end();
    await db.drop();
  }
}

/** The scale-out runs: each one's rate against N × one worker's bound (issue #32: want ≥ 0.9). */
function printScale(runs: { workers: number; result: BacklogResult }[]): void {
  console.log(`\n| kafka scale-out, workers × ${SCALE_CONCURRENCY}, 200 ms gateway (one worker's bound ${fmt(ONE_WORKER_BOUND, 0)}/s) | payments | partitions | drained in s | payments/s | N × one worker's bound | ratio | steady payments/s (middle 80 %) | steady ratio | charged twice | re-queues |`);
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const { workers, result: r } of runs)
    console.log(
      `| ${workers} worker${workers === 1 ? "" : "s"} | ${r.payments} | ${r.partitions} | ${fmt(r.drainSeconds)} | ${fmt(r.perSecond, 0)} | ${fmt(workers * ONE_WORKER_BOUND, 0)} | ${fmt(r.perSecond / (workers * ONE_WORKER_BOUND), 2)} | ${fmt(r.steadyPerSecond, 0)} | ${fmt(r.steadyPerSecond / (workers * ONE_WORKER_BOUND), 2)} | ${r.chargedTwice} | ${r.requeues} |`,
    );
}

function printRebalance(r: RebalanceResult): void {
  console.log(`\n| kafka rebalance (eager, KafkaJS), workers × ${SCALE_CONCURRENCY}, 200 ms gateway | payments | longest gap after a join ms | after a leave (SIGTERM) ms | steady, for comparison ms | fewest final in a second after the join | after the leave | steady | charged twice |`);
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  console.log(
    `| 2 workers, a third joins, then one leaves | ${r.payments} | ${fmt(r.joinGapMs, 0)} | ${fmt(r.leaveGapMs, 0)} | ${fmt(r.steadyGapMs, 0)} | ${r.joinLowestPerSecond} | ${r.leaveLowestPerSecond} | ${r.steadyLowestPerSecond} | ${r.chargedTwice} |`,
  );
}

function printBacklog(r: BacklogResult): void {
  console.log(
    "\n| kafka backlog, 3 workers × 16, 200 ms gateway | payments | partitions | accepted in s | in the topic after s | drained in s | payments/s | bound/s | ratio | peak lag | peak oldest age s | re-queues (log / metric) | of still-queued payments | by two workers | charged twice |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  console.log(
    `| STUCK_AFTER_MS 15000, SWEEP_INTERVAL_MS 1000 | ${r.payments} | ${r.partitions} | ${fmt(r.acceptSeconds)} | ${fmt(r.relaySeconds)} | ${fmt(r.drainSeconds)} | ${fmt(r.perSecond, 0)} | ${fmt(r.bound, 0)} | ${fmt(r.perSecond / r.bound, 2)} | ${r.peakLag} | ${fmt(r.peakOldestAgeSeconds, 0)} | ${r.requeues} / ${r.requeuesByMetric} | ${r.requeuesOfQueued} | ${r.requeuedByTwoWorkers} | ${r.chargedTwice} |`,
  );
}

// ---------------------------------------------------------------------------------------------

/** Runs `work` against a broker (--kafka's, or one started for it and stopped after). */
async function withKafkaBroker<T>(work: (brokers: string) => Promise<T>): Promise<T> {
  const kafka = startKafkaBroker();
  try {
    return await work(kafka.brokers);
  } finally {
    kafka.stop();
  }
}

function startKafkaBroker(): { brokers: string; stop(): void } {
  const given = flag("kafka", "");
  if (given) return { brokers: given, stop: () => {} };
  const dir = `${ROOT}/.cache/kafka/bench-${process.pid}`;
  progress("starting Kafka…");
  const started = spawnSync("bash", [join(ROOT, "scripts/kafka/kafka.sh"), "start", "--dir", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (started.status !== 0) throw new Error("could not start Kafka");
  const brokers = started.stdout.trim().split("\n").pop() as string;
  return { brokers, stop: () => spawnSync("bash", [join(ROOT, "scripts/kafka/kafka.sh"), "stop", "--dir", dir, "--clean"], { stdio: "ignore" }) };
}

function machine(): string {
  const pg = spawnSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"], { encoding: "utf8" }).stdout.trim();
  return `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Bun ${Bun.version}, PostgreSQL ${pg}, Kafka 4.3.1 (single-node KRaft)`;
}

function printIdle(results: IdleResult[]): void {
  console.log("\n| idle --role=all | seconds | CPU % of a core | wake-ups/s | PostgreSQL backends CPU % | RSS MB | first payment after idle, POST→final ms | warm payment (median of 5) ms |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of results)
    console.log(
      `| ${r.database} | ${r.seconds} | ${fmt(r.cpuPercent, 2)} | ${fmt(r.wakeupsPerSecond, 1)} | ${r.database === "postgres" ? fmt(r.backendCpuPercent, 2) : "—"} | ${fmt(r.rssMb, 0)} | ${fmt(r.firstPaymentMs, 1)} | ${fmt(r.warmPaymentMs, 1)} |`,
    );
}

function printIntake(r: IntakeResult): void {
  console.log("\n| intake, one --role=api process | clients | seconds | answered | per second | p50 ms | p99 ms | errors |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const l of [r.payments, r.live]) console.log(`| ${l.label} | ${l.clients} | ${fmt(l.seconds)} | ${l.count} | ${fmt(l.perSecond, 0)} | ${fmt(l.p50, 2)} | ${fmt(l.p99, 2)} | ${JSON.stringify(l.errors)} |`);
  console.log(`\n| intake, open loop (latency from each request's schedule) | per second | in flight at most | p50 ms | p99 ms | under ${INTAKE_TAIL_TARGET_MS} ms at p99 | the api's own share within ${INTAKE_TAIL_TARGET_MS} ms | errors |`);
  console.log("| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |");
  for (const { share, load: l, serverWithinTarget } of r.tails)
    console.log(`| ${share} × live | ${fmt(l.perSecond, 0)} | ${l.clients} | ${fmt(l.p50, 2)} | ${fmt(l.p99, 2)} | ${l.p99 < INTAKE_TAIL_TARGET_MS ? "yes" : "no"} | ${fmt(100 * serverWithinTarget, 2)} % | ${JSON.stringify(l.errors)} |`);
  console.log(
    `\nintake / live = ${fmt(r.payments.perSecond / r.live.perSecond, 3)}; api RSS peak ${fmt(r.rssMb, 0)} MB; CPU per 1,000 accepted: ${fmt(r.cpuPer1000, 2)} s (api ${fmt(r.apiCpuPer1000, 2)} s, rest its PostgreSQL backends)`,
  );
}

function printEndToEnd(results: E2eResult[]): void {
  console.log(
    "\n| end to end | payments | partitions | payments/s | bound/s | ratio to bound | p50 POST→final ms | p99 ms | CPU-s per 1,000 (api + worker + PG backends) | of which paystream | peak RSS MB |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const r of results)
    console.log(
      `| ${r.label} | ${r.payments} | ${r.broker === "kafka" ? r.partitions : "—"} | ${fmt(r.perSecond, 0)} | ${Number.isFinite(r.bound) ? fmt(r.bound, 0) : "∞"} | ${Number.isFinite(r.bound) ? fmt(r.ratioToBound, 2) : "—"} | ${fmt(r.p50, 0)} | ${fmt(r.p99, 0)} | ${fmt(r.cpuPer1000, 2)} | ${fmt(r.serviceCpuPer1000, 2)} | ${Object.entries(r.rssMb)
        .map(([role, mb]) => `${role} ${fmt(mb, 0)}`)
        .join(", ")} |`,
    );
}

async function main(): Promise<void> {
  const payments = Number(flag("payments", "3000"));
  const partitions = Number(flag("partitions", "6"));
  const concurrency = Number(flag("concurrency", "64"));
  const warmup = Number(flag("warmup", "1000"));
  const seconds = Number(flag("seconds", "10"));
  const brokerFlag = flag("broker", "both");
  const brokers = (brokerFlag === "both" ? ["postgres", "kafka"] : [brokerFlag]) as ("postgres" | "kafka")[];
  const topologyFlag = flag("topology", "both");
  const topologies = (topologyFlag === "both" ? ["split", "all"] : [topologyFlag]) as Topology[];
  const minSpeedup = Number(flag("min-speedup", "0"));
  const tooSlow: string[] = [];
  const load = loadavg().map((l) => l.toFixed(2)).join(" ");

  const idle: IdleResult[] = [];
  let intake: IntakeResult | undefined;
  const e2e: E2eResult[] = [];
  const chart: E2eResult[] = [];

  if (mode === "idle" || mode === "all") {
    for (const database of ["pglite", "postgres"] as const) idle.push(await benchIdle(database, Number(flag("settle", "60")), Number(flag("idle-seconds", "30"))));
  }
  if (mode === "intake" || mode === "all") intake = await benchIntake(Number(flag("clients", "64")), seconds);
  if (mode === "e2e" || mode === "all") {
    const kafka = brokers.includes("kafka") ? startKafkaBroker() : undefined;
    try {
      const latencies = mode === "all" ? [50, 0] : [Number(flag("latency", "50"))];
      for (const broker of brokers)
        for (const latencyMs of latencies) {
          const runs: E2eResult[] = [];
          for (const topology of topologies)
            runs.push(await benchEndToEnd({ broker, topology, latencyMs, payments, concurrency, partitions, kafkaBrokers: kafka?.brokers, warmup }));
          e2e.push(...runs);
          if (minSpeedup > 0) {
            const serial = await benchEndToEnd({
              broker,
              topology: "all",
              latencyMs,
              payments: Math.max(100, Math.floor(payments / 20)),
              concurrency: 1,
              partitions: 1,
              kafkaBrokers: kafka?.brokers,
              warmup: Math.min(warmup, 100),
            });
            e2e.push(serial);
            for (const run of runs) {
              const speedup = run.perSecond / serial.perSecond;
              progress(`${run.label}: ${fmt(speedup, 1)}× the serial baseline`);
              if (speedup < minSpeedup) tooSlow.push(`${run.label} is ${fmt(speedup, 1)}× its serial baseline, under ${minSpeedup}×`);
            }
          }
        }
    } finally {
      kafka?.stop();
    }
  }
  const scale: { workers: number; result: BacklogResult }[] = [];
  if (mode === "scale") {
    const perWorker = Number(flag("per-worker", "4000"));
    await withKafkaBroker(async (kafkaBrokers) => {
      for (const workers of [1, 2, 3])
        scale.push({ workers, result: await benchBacklog({ payments: perWorker * workers, partitions, kafkaBrokers, workers, concurrency: SCALE_CONCURRENCY }) });
    });
      const file = join(ROOT, "docs/bench-scale.svg");
    writeFileSync(
      file,
      renderScaleChart(
        // Throughput is the steady rate; the table beside it also gives the whole drain, start-up and group join included.
        scale.map(({ workers, result }) => ({ workers, perSecond: result.steadyPerSecond, bound: workers * ONE_WORKER_BOUND })),
        `Kafka scale-out, steady drain: workers × ${SCALE_CONCURRENCY} in flight, ${BACKLOG_LATENCY_MS} ms gateway`,
      ),
    );
    progress(`wrote ${file}`);
  }
  const rebalance =
    mode === "rebalance" ? await withKafkaBroker((kafkaBrokers) => benchRebalance({ payments: Number(flag("payments", "12000")), partitions, kafkaBrokers })) : undefined;
  const backlog =
    mode === "backlog" ? await withKafkaBroker((kafkaBrokers) => benchBacklog({ payments: Number(flag("backlog", "20000")), partitions, kafkaBrokers })) : undefined;
  if (mode === "chart" || mode === "all") {
    for (const inFlight of [8, 16, 32, 64, 128])
      chart.push(
        await benchEndToEnd({ broker: "postgres", topology: "all", latencyMs: 50, payments: Math.max(1000, inFlight * 40), concurrency: inFlight, partitions, kafkaBrokers: undefined, warmup }),
      );
    const points: ChartPoint[] = chart.map((r) => ({ inFlight: r.concurrency, perSecond: r.perSecond, bound: r.bound, p99Ms: r.p99 }));
    const file = join(ROOT, "docs/bench-chart.svg");
    mkdirSync(join(ROOT, "docs"), { recursive: true });
    writeFileSync(file, renderChart(points, "End to end, PostgreSQL queue, one --role=all process, 50 ms gateway"));
    progress(`wrote ${file}`);
  }

  console.log(`\nmachine: ${machine()}\ndate: ${new Date().toISOString()}; load average at the start: ${load}; at the end: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  if (idle.length > 0) printIdle(idle);
  if (intake) printIntake(intake);
  if (e2e.length > 0 || chart.length > 0) console.log(`\nend to end: ${warmup} warm-up payments sent and settled before each measured window (not counted)`);
  if (e2e.length > 0) printEndToEnd(e2e);
  if (chart.length > 0) printEndToEnd(chart);
  if (backlog) printBacklog(backlog);
  if (scale.length > 0) printScale(scale);
  if (rebalance) printRebalance(rebalance);
  for (const line of tooSlow) console.log(`\nFAIL: ${line}`);
  if (tooSlow.length > 0) process.exit(1);
  if (minSpeedup > 0) console.log(`\nOK: every concurrent run is at least ${minSpeedup}× its serial baseline`);
}

await main();
