#!/usr/bin/env bun
/**
 * Fuzzes the real program on a fresh PostgreSQL database: first the bodies of POST /v1/payments
 * (fuzz-core.ts), then the path ids, query strings, headers and framing of every route
 * (fuzz-surface.ts).
 *
 *   bun scripts/fuzz.ts [--runs 10000] [--surface-runs 10000] [--seed N]
 *
 * Exits 0 only when no answer was 5xx, every error was problem+json, every verdict matched the
 * contract (and, for bodies, the intake validator), the payments table grew by exactly the
 * number of payments created, no card number appeared in an answer or in the program's logs,
 * and the program logged nothing at error level. The seed is printed so a failing run can be
 * repeated exactly.
 */
import { paymentBody } from "../tests/support/payments";
import { cardNumbersInLogs, formatFuzzReport, runFuzz, startFuzzTarget, totalViolations } from "./fuzz-core";
import { errorLogLines, formatSurfaceReport, runSurfaceFuzz, totalSurfaceViolations } from "./fuzz-surface";

const args = process.argv.slice(2);
function flag(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(args[i + 1]);
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`fuzz: --${name} needs a whole number (got ${JSON.stringify(args[i + 1] ?? "")})\n`);
    process.exit(2);
  }
  return value;
}
const runs = flag("runs", 10_000);
const surfaceRuns = flag("surface-runs", 10_000);
const seed = flag("seed", Math.floor(Math.random() * 2 ** 31));
const progress = (line: string) => process.stderr.write(`[fuzz] ${line}\n`);

progress(`starting the program (--role=all) on a fresh PostgreSQL database…`);
const target = await startFuzzTarget();
let exitCode = 1;
try {
  progress(`sending ${runs} generated requests to ${target.baseUrl} (seed ${seed})`);
  const report = await runFuzz({
    baseUrl: target.baseUrl,
    runs,
    seed,
    countPaymentRows: target.countPaymentRows,
    onProgress: (done, total) => progress(`${done}/${total}`),
  });
  process.stdout.write(`${formatFuzzReport(report)}\n`);

  progress(`sending ${surfaceRuns} generated path, query and header attacks to every route (seed ${seed})`);
  const surface = await runSurfaceFuzz({
    baseUrl: target.baseUrl,
    runs: surfaceRuns,
    seed,
    paymentBody: JSON.stringify(paymentBody()),
    onProgress: (done, total) => progress(`surface ${done}/${total}`),
  });
  process.stdout.write(`${formatSurfaceReport(surface)}\n`);

  const logs = target.logs();
  const leaked = cardNumbersInLogs(report, logs);
  const errorLines = errorLogLines(logs);
  process.stdout.write(
    `  logs:       ${report.cardNumbersSent.length} Luhn-valid card numbers sent, ${leaked.length} found in the program's logs; ${errorLines.length} error-level lines\n`,
  );
  for (const line of errorLines.slice(0, 5)) process.stdout.write(`  - ${line.slice(0, 400)}\n`);
  const clean = totalViolations(report) === 0 && totalSurfaceViolations(surface) === 0 && leaked.length === 0 && errorLines.length === 0;
  exitCode = clean ? 0 : 1;
  process.stdout.write(exitCode === 0 ? "fuzz: PASS\n" : "fuzz: FAIL\n");
} finally {
  await target.stop();
}
process.exit(exitCode);
