#!/usr/bin/env bun
/**
 * paystream benchmarks: real processes, real PostgreSQL, real Kafka.
 *
 *   bun run bench -- intake [--clients 64] [--seconds 10]
 *   bun run bench -- e2e [--broker kafka|postgres|both] [--latency 50] [--payments 3000] [--concurrency 64] [--workers 1]
 *                        [--partitions 6] [--min-speedup X]   (exit 1 when a run is under X times its serial baseline)
 *   bun run bench -- all          (intake, then e2e for both brokers at 50 ms and 0 ms, each with its serial baseline)
 *
 * Prints progress while it runs and a table at the end. Figures are whole-pipeline numbers: the
 * API and workers are separate child processes, exactly as deployed.
 */
import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { createPostgresDatabase } from "../tests/support/db";
import { paymentBody } from "../tests/support/payments";
import { type ServiceProcess, startService } from "../tests/support/service-process";

const ROOT = join(import.meta.dir, "..");
const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? (args[i + 1] as string) : fallback;
};
const mode = args.find((a) => !a.startsWith("--") && !/^\d/.test(a) && !["kafka", "postgres", "both"].includes(a)) ?? "all";
const progress = (line: string) => process.stderr.write(`[bench] ${line}\n`);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function rssMb(pid: number): number {
  try {
    const status = require("node:fs").readFileSync(`/proc/${pid}/status`, "utf8") as string;
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

function startKafkaBroker(partitionsNote: string): { brokers: string; stop(): void } {
  const dir = `${ROOT}/.cache/kafka/bench-${process.pid}`;
  progress(`starting Kafka (${partitionsNote})…`);
  const started = spawnSync("bash", [join(ROOT, "scripts/kafka/kafka.sh"), "start", "--dir", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (started.status !== 0) throw new Error("could not start Kafka");
  const brokers = started.stdout.trim().split("\n").pop() as string;
  return { brokers, stop: () => spawnSync("bash", [join(ROOT, "scripts/kafka/kafka.sh"), "stop", "--dir", dir, "--clean"], { stdio: "ignore" }) };
}

interface IntakeResult {
  clients: number;
  seconds: number;
  accepted: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  errors: Record<string, number>;
  rssMb: number;
}

async function benchIntake(clients: number, seconds: number): Promise<IntakeResult> {
  const db = await createPostgresDatabase();
  const api = await startService({
    role: "api",
    env: { DATABASE_URL: db.url, RATE_LIMIT_RPS: "0", LOG_LEVEL: "warn", DB_POOL_SIZE: flag("pool", "20") },
  });
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let peakRss = 0;
  const body = JSON.stringify(paymentBody());
  const headers = { authorization: "Bearer sk_test_local", "content-type": "application/json" };
  // Warm-up: JIT, connection pool, prepared plans.
  await Promise.all(Array.from({ length: 200 }, () => fetch(`${api.url}/v1/payments`, { method: "POST", headers, body })));
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  const ticker = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb(api.proc.pid));
    progress(`intake: ${latencies.length} accepted so far`);
  }, 2000);
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const res = await fetch(`${api.url}/v1/payments`, { method: "POST", headers, body }).catch(() => undefined);
        const ms = performance.now() - t0;
        if (res?.status === 202) latencies.push(ms);
        else errors[String(res?.status ?? "network")] = (errors[String(res?.status ?? "network")] ?? 0) + 1;
        await res?.arrayBuffer();
      }
    }),
  );
  clearInterval(ticker);
  const elapsed = (performance.now() - started) / 1000;
  await api.stop();
  await db.drop();
  latencies.sort((a, b) => a - b);
  return {
    clients,
    seconds: elapsed,
    accepted: latencies.length,
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? Number.NaN,
    errors,
    rssMb: peakRss,
  };
}

interface E2eResult {
  label: string;
  broker: string;
  latencyMs: number;
  workers: number;
  concurrency: number;
  partitions: number;
  payments: number;
  perSecond: number;
  p50: number;
  p99: number;
  bound: number;
  ratioToBound: number;
  rssMb: number;
}

async function benchEndToEnd(options: {
  label: string;
  broker: "kafka" | "postgres";
  latencyMs: number;
  payments: number;
  concurrency: number;
  workers: number;
  partitions: number;
  kafkaBrokers?: string;
}): Promise<E2eResult> {
  const db = await createPostgresDatabase();
  const env: Record<string, string> = {
    DATABASE_URL: db.url,
    BROKER: options.broker,
    KAFKA_BROKERS: options.kafkaBrokers ?? "127.0.0.1:9092",
    KAFKA_TOPIC_PREFIX: `bench${Date.now().toString(36)}`,
    KAFKA_PARTITIONS: String(options.partitions),
    SIMULATOR_LATENCY_MS: String(options.latencyMs),
    WORKER_CONCURRENCY: String(options.concurrency),
    RATE_LIMIT_RPS: "0",
    LOG_LEVEL: "warn",
    STUCK_AFTER_MS: "600000",
  };
  const processes: ServiceProcess[] = [];
  // One --role=all process carries the first worker (that is the process whose RSS is reported).
  const main = await startService({ role: "all", env });
  processes.push(main);
  for (let i = 1; i < options.workers; i++) processes.push(await startService({ role: "worker", env }));
  await Bun.sleep(options.broker === "kafka" ? 3000 : 200);

  const headers = { authorization: "Bearer sk_test_local", "content-type": "application/json" };
  const body = JSON.stringify(paymentBody());
  let peakRss = 0;
  let next = 0;
  const sendStarted = performance.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < options.payments) {
        next++;
        const res = await fetch(`${main.url}/v1/payments`, { method: "POST", headers, body });
        if (res.status !== 202) throw new Error(`POST answered ${res.status}`);
        await res.arrayBuffer();
      }
    }),
  );
  progress(`${options.label}: ${options.payments} accepted in ${((performance.now() - sendStarted) / 1000).toFixed(1)} s; waiting for final states…`);
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  const deadline = Date.now() + 600_000;
  for (;;) {
    peakRss = Math.max(peakRss, rssMb(main.proc.pid));
    const [row] = await sql`select count(*) filter (where status in ('COMPLETED','FAILED'))::int as done from payments`;
    const done = Number(row?.done ?? 0);
    if (done >= options.payments || Date.now() > deadline) break;
    progress(`${options.label}: ${done}/${options.payments} final`);
    await Bun.sleep(1000);
  }
  const rows = await sql`
    select extract(epoch from (completed_at - created_at)) * 1000 as ms,
           extract(epoch from created_at) as created, extract(epoch from completed_at) as completed
    from payments where completed_at is not null`;
  await sql.end();
  for (const p of processes) await p.stop();
  await db.drop();

  const ms = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
  const first = Math.min(...rows.map((r) => Number(r.created)));
  const last = Math.max(...rows.map((r) => Number(r.completed)));
  const perSecond = rows.length / (last - first);
  const bound = options.latencyMs > 0 ? (options.workers * options.concurrency) / (options.latencyMs / 1000) : Number.POSITIVE_INFINITY;
  return {
    label: options.label,
    broker: options.broker,
    latencyMs: options.latencyMs,
    workers: options.workers,
    concurrency: options.concurrency,
    partitions: options.partitions,
    payments: rows.length,
    perSecond,
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    bound,
    ratioToBound: perSecond / bound,
    rssMb: peakRss,
  };
}

function machine(): string {
  const bunVersion = Bun.version;
  const pg = spawnSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version"], { encoding: "utf8" }).stdout.trim();
  return `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Bun ${bunVersion}, PostgreSQL ${pg}, Kafka 4.3.1 (single-node KRaft)`;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "∞");

async function main(): Promise<void> {
  const intakeResults: IntakeResult[] = [];
  const e2eResults: E2eResult[] = [];
  const brokerFlag = flag("broker", "both");
  const brokers: ("kafka" | "postgres")[] = brokerFlag === "both" ? ["postgres", "kafka"] : [brokerFlag as "kafka" | "postgres"];
  const latencies = mode === "all" ? [50, 0] : [Number(flag("latency", "50"))];
  const payments = Number(flag("payments", "3000"));
  const concurrency = Number(flag("concurrency", "64"));
  const workers = Number(flag("workers", "1"));
  const partitions = Number(flag("partitions", "6"));
  const minSpeedup = Number(flag("min-speedup", "0"));

  if (mode === "intake" || mode === "all") {
    intakeResults.push(await benchIntake(Number(flag("clients", "64")), Number(flag("seconds", "10"))));
  }
  if (mode === "e2e" || mode === "all") {
    const kafka = brokers.includes("kafka") ? startKafkaBroker("for the kafka runs") : undefined;
    try {
      for (const broker of brokers) {
        for (const latencyMs of latencies) {
          e2eResults.push(
            await benchEndToEnd({ label: `${broker} ${latencyMs}ms`, broker, latencyMs, payments, concurrency, workers, partitions, kafkaBrokers: kafka?.brokers }),
          );
          if (latencyMs > 0) {
            // The serial baseline: one message at a time, one partition (a per-partition listener).
            e2eResults.push(
              await benchEndToEnd({
                label: `${broker} ${latencyMs}ms serial`,
                broker,
                latencyMs,
                payments: Math.max(100, Math.floor(payments / 20)),
                concurrency: 1,
                workers: 1,
                partitions: 1,
                kafkaBrokers: kafka?.brokers,
              }),
            );
          }
        }
      }
    } finally {
      kafka?.stop();
    }
  }

  console.log(`\nmachine: ${machine()}\ndate: ${new Date().toISOString()}\n`);
  if (intakeResults.length > 0) {
    console.log("| intake | clients | seconds | accepted | accepted/s | p50 ms | p95 ms | p99 ms | max ms | errors | api RSS MB |");
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |");
    for (const r of intakeResults)
      console.log(
        `| POST /v1/payments | ${r.clients} | ${fmt(r.seconds)} | ${r.accepted} | ${fmt(r.perSecond, 0)} | ${fmt(r.p50, 2)} | ${fmt(r.p95, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.max, 1)} | ${JSON.stringify(r.errors)} | ${fmt(r.rssMb, 0)} |`,
      );
  }
  if (e2eResults.length > 0) {
    console.log("\n| end to end | payments | workers × concurrency | partitions | payments/s | p50 POST→final ms | p99 ms | bound/s | ratio to bound | speedup vs serial | RSS MB (all) |");
    console.log("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const r of e2eResults) {
      const serial = e2eResults.find((s) => s.label === `${r.broker} ${r.latencyMs}ms serial`);
      const speedup = serial && serial !== r ? `${fmt(r.perSecond / serial.perSecond, 1)}×` : "";
      console.log(
        `| ${r.label} | ${r.payments} | ${r.workers} × ${r.concurrency} | ${r.partitions} | ${fmt(r.perSecond, 0)} | ${fmt(r.p50, 0)} | ${fmt(r.p99, 0)} | ${fmt(r.bound, 0)} | ${Number.isFinite(r.bound) ? fmt(r.ratioToBound, 2) : "—"} | ${speedup} | ${fmt(r.rssMb, 0)} |`,
      );
    }
    if (minSpeedup > 0) {
      const short = e2eResults.filter((r) => {
        const serial = e2eResults.find((s) => s.label === `${r.broker} ${r.latencyMs}ms serial`);
        return serial && serial !== r && r.perSecond / serial.perSecond < minSpeedup;
      });
      for (const r of short) console.log(`\nFAIL: ${r.label} is under ${minSpeedup}× its serial baseline`);
      if (short.length > 0) process.exit(1);
      console.log(`\nOK: every concurrent run is at least ${minSpeedup}× its serial baseline`);
    }
  }
}

await main();
