#!/usr/bin/env bun
/**
 * Chaos run against the real program: api + workers as separate processes, BROKER=kafka, a real
 * broker and a fresh PostgreSQL database, while processes are SIGKILLed, Kafka is restarted and
 * every database connection is cut. See scripts/chaos-core.ts for what is checked.
 *
 *   bun scripts/chaos.ts [--payments 5000] [--rate 100] [--workers 2]
 *                        [--worker-kills 3×workers] [--api-kills 2] [--settle-timeout 180]
 *                        [--gateway-failure-rate 0.05] [--max-attempts 12]
 *
 * A share of the payments is authorized only, then captured (in full or in part) or canceled, and
 * a share is refunded (in full, in part, several refunds at once): see scripts/chaos-operations.ts.
 * Every tenth payment waits for its customer (3-D Secure, PayPal approval; ACTION_TTL_MS=20 s),
 * who approves, fails or abandons it over HTTP through the same faults, and the merchant cancels
 * some of them: see scripts/chaos-actions.ts.
 *
 * Exits 0 only when no accepted payment is lost, none is charged twice, charged ⇔ COMPLETED in
 * the gateway's ledger, all are final, each is in the state its test card (or its plan) calls
 * for, every payment sent was eventually accepted, and no refund is lost or executed twice at the
 * gateway, SUCCEEDED ⇔ refunded in the gateway's ledger, and no payment is refunded beyond what
 * was captured (at the gateway or in our totals), and no payment that waited for its customer is
 * charged without (or before) the customer's approval, left open at the gateway once it ended, or
 * ends in a state its customer and merchant do not allow. Every process's output is kept under
 * .cache/chaos/ for diagnosis.
 */
import { join } from "node:path";
import { formatChaosReport, runChaos } from "./chaos-core";

const args = process.argv.slice(2);
function flag(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(args[i + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`chaos: --${name} needs a positive number (got ${JSON.stringify(args[i + 1] ?? "")})\n`);
    process.exit(2);
  }
  return value;
}
const payments = flag("payments", 5_000);
const rate = flag("rate", 100);
const workers = flag("workers", 2);
const faults = { workerKills: flag("worker-kills", 3 * workers), apiKills: flag("api-kills", 2), brokerRestarts: 1, dbCuts: 1 };
const settleTimeoutMs = flag("settle-timeout", 180) * 1000;
// --gateway-failure-rate 0.5 --max-attempts 3 drives many payments into unknown outcomes and the reconciler.
const gatewayFailureRate = Math.min(1, flag("gateway-failure-rate", 0.05));
const maxAttempts = flag("max-attempts", 12);
const started = Date.now();
const log = (line: string) => process.stderr.write(`[chaos +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);

// First Ctrl-C: stop sending and clean up (processes, broker, database). Second: leave at once.
const interrupt = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupt.signal.aborted) process.exit(130);
    log(`${signal}: stopping and cleaning up (again to quit at once)`);
    interrupt.abort();
  });
}

const logDir = join(import.meta.dir, "..", ".cache", "chaos", new Date(started).toISOString().replace(/[:.]/g, "-"));
try {
  const report = await runChaos({
    payments,
    ratePerSecond: rate,
    workers,
    faults,
    settleTimeoutMs,
    gatewayFailureRate,
    maxAttempts,
    log,
    logDir,
    signal: interrupt.signal,
  });
  process.stdout.write(`${formatChaosReport(report)}\n`);
  process.exit(report.violations.length === 0 ? 0 : 1);
} catch (error) {
  if (interrupt.signal.aborted) {
    process.stderr.write("chaos: interrupted; everything it started has been removed\n");
    process.exit(130);
  }
  process.stderr.write(`chaos: the run could not complete: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
