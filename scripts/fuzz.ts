#!/usr/bin/env bun
/**
 * Fuzzes POST /v1/payments of the real program on a fresh PostgreSQL database.
 *
 *   bun scripts/fuzz.ts [--runs 10000] [--seed N]
 *
 * Exits 0 only when no answer was 5xx, every error was problem+json, every verdict matched the
 * intake validator, the payments table grew by exactly the number of payments created, and no
 * card number appeared in an answer or in the program's logs. The seed is printed so a failing
 * run can be repeated exactly.
 */
import { cardNumbersInLogs, formatFuzzReport, runFuzz, startFuzzTarget, totalViolations } from "./fuzz-core";

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
  const leaked = cardNumbersInLogs(report, target.logs());
  process.stdout.write(`${formatFuzzReport(report)}\n`);
  process.stdout.write(
    `  logs:       ${report.cardNumbersSent.length} Luhn-valid card numbers sent, ${leaked.length} found in the program's logs\n`,
  );
  exitCode = totalViolations(report) === 0 && leaked.length === 0 ? 0 : 1;
  process.stdout.write(exitCode === 0 ? "fuzz: PASS\n" : "fuzz: FAIL\n");
} finally {
  await target.stop();
}
process.exit(exitCode);
