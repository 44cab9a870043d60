import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { cardNumbersInLogs, type FuzzReport, type FuzzTarget, formatFuzzReport, runFuzz, startFuzzTarget } from "../../scripts/fuzz-core";

/** A short run of scripts/fuzz.ts's generator and oracle; `bun run fuzz` does the full 10,000. */
describe("POST /v1/payments under 1,500 generated hostile requests (the real program on PostgreSQL)", () => {
  let target: FuzzTarget;
  let report: FuzzReport;

  beforeAll(async () => {
    target = await startFuzzTarget();
    // A fixed seed keeps the suite deterministic; the script picks a fresh one each run.
    report = await runFuzz({ baseUrl: target.baseUrl, runs: 1_500, seed: 20261124, countPaymentRows: target.countPaymentRows });
    if (Object.keys(report.violationCounts).length > 0) process.stderr.write(`${formatFuzzReport(report)}\n`);
  }, 60_000);
  afterAll(async () => {
    await target?.stop();
  }, 30_000);

  it("covers valid payments, invalid ones, idempotent replays and every HTTP-level rejection", () => {
    expect(report.created).toBeGreaterThan(100);
    expect(report.replayed).toBeGreaterThan(10);
    for (const status of ["202", "400", "401", "409", "413", "422"]) expect(report.statusHistogram[status] ?? 0).toBeGreaterThan(0);
  });

  it("never answers 5xx, whatever the body, headers or content type", () => {
    expect(report.violations.filter((v) => v.kind === "server_error" || v.kind === "no_answer")).toEqual([]);
  });

  it("answers every error as problem+json carrying its own status", () => {
    expect(report.violations.filter((v) => v.kind === "not_problem_json")).toEqual([]);
  });

  it("gives every request the verdict of the intake validator, with the same error fields and codes", () => {
    expect(report.violations.filter((v) => v.kind === "verdict_mismatch")).toEqual([]);
  });

  it("writes exactly one payment row per 202 that created a payment, and none for rejected or replayed requests", () => {
    expect(report.violations.filter((v) => v.kind === "row_count")).toEqual([]);
    expect(report.rowsAfter - report.rowsBefore).toBe(report.created);
  });

  it("never puts a submitted card number in an answer or in the program's logs", () => {
    expect(report.violations.filter((v) => v.kind === "card_number_exposed")).toEqual([]);
    expect(report.cardNumbersSent.length).toBeGreaterThan(100);
    expect(cardNumbersInLogs(report, target.logs())).toEqual([]);
  });
});
