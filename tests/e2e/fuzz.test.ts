import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { cardNumbersInLogs, type FuzzReport, type FuzzTarget, formatFuzzReport, runFuzz, startFuzzTarget } from "../../scripts/fuzz-core";
import { errorLogLines, formatSurfaceReport, runSurfaceFuzz, type SurfaceFuzzReport, totalSurfaceViolations } from "../../scripts/fuzz-surface";
import { paymentBody } from "../support/payments";

/** A short run of scripts/fuzz.ts's generators and oracles; `bun run fuzz` does the full 10,000 of each. */
describe("the real program on PostgreSQL under 1,500 generated POST /v1/payments bodies, then 1,200 attacks on paths, queries and headers", () => {
  let target: FuzzTarget;
  let report: FuzzReport;
  let surface: SurfaceFuzzReport;

  beforeAll(async () => {
    target = await startFuzzTarget();
    // A fixed seed keeps the suite deterministic; the script picks a fresh one each run.
    report = await runFuzz({ baseUrl: target.baseUrl, runs: 1_500, seed: 20261124, countPaymentRows: target.countPaymentRows });
    if (Object.keys(report.violationCounts).length > 0) process.stderr.write(`${formatFuzzReport(report)}\n`);
    surface = await runSurfaceFuzz({ baseUrl: target.baseUrl, runs: 1_200, seed: 20261126, paymentBody: JSON.stringify(paymentBody()) });
    if (totalSurfaceViolations(surface) > 0) process.stderr.write(`${formatSurfaceReport(surface)}\n`);
  }, 90_000);
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

  describe("then 1,200 generated attacks on the path ids, query strings, headers and framing of every route", () => {
    it("reaches every route, over fetch and over a raw socket, with every kind of hostile part", () => {
      for (const route of ["GET /v1/payments/{id}", "GET /v1/webhook-events/{id}/deliveries", "GET /v1/payments", "POST /v1/payments", "GET /dashboard"])
        expect(surface.routes).toContain(route);
      for (const part of ["path:bytes", "path:long", "path:near-miss", "path:raw-bytes", "query:known=number", "authorization:hostile-key", "idempotency-key:hostile", "content-type:odd", "x-request-id:hostile", "cookie:hostile"])
        expect(surface.aspects[part] ?? 0).toBeGreaterThan(0);
      expect(Object.keys(surface.aspects).some((a) => a.startsWith("framing:"))).toBe(true);
      expect(surface.byTransport.raw).toBeGreaterThan(100);
      for (const status of ["200", "401", "404", "422"]) expect(surface.statusHistogram[status] ?? 0).toBeGreaterThan(0);
    });

    it("never answers 5xx and always answers (unless the request promised a body it never sent)", () => {
      expect(surface.violations.filter((v) => v.kind === "server_error" || v.kind === "no_answer")).toEqual([]);
    });

    it("answers every error from the application as problem+json, with a request id that is a safe token", () => {
      expect(surface.violations.filter((v) => v.kind === "not_problem_json" || v.kind === "unsafe_request_id")).toEqual([]);
    });

    it("gives the contract's verdict: 401 for a wrong key, 404 for an impossible id, 422 for a bad query or Idempotency-Key, 400 for a wrong content type", () => {
      expect(surface.violations.filter((v) => v.kind === "verdict_mismatch")).toEqual([]);
    });

    it("logs nothing at error level for any of the bodies or attacks", () => {
      expect(errorLogLines(target.logs())).toEqual([]);
    });
  });
});
