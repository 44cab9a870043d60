import { beforeAll, describe, expect, it } from "bun:test";
import { type ChaosReport, formatChaosReport, runChaos } from "../../scripts/chaos-core";

/**
 * A small chaos run (scripts/chaos.ts does 5,000 payments): api + 2 workers with BROKER=kafka,
 * its own Kafka broker and PostgreSQL database, a steady stream of payments of every test card
 * (some authorized only, then captured in full or in part or canceled; some refunded in full, in
 * part, several at once; every tenth waits for its customer: 3-D Secure or PayPal approval, see
 * scripts/chaos-actions.ts), and on the way a worker SIGKILL, an api SIGKILL, a broker restart and
 * a cut of every database connection.
 */
describe("chaos: 350 payments through process kills, a Kafka restart and a database cut", () => {
  let report: ChaosReport;

  beforeAll(async () => {
    report = await runChaos({
      payments: 350,
      ratePerSecond: 20,
      workers: 2,
      faults: { workerKills: 1, apiKills: 1, brokerRestarts: 1, dbCuts: 1 },
      settleTimeoutMs: 45_000,
      // The abandoned payments of the customer-action cohort end when their wait runs out.
      actionTtlMs: 12_000,
    });
    if (report.violations.length > 0) process.stderr.write(`${formatChaosReport(report)}\n`);
  }, 140_000);

  it("runs every planned fault while payments are being sent", () => {
    expect(report.timeline.map((t) => t.what.split(" ")[0])).toEqual(["SIGKILL", "pg_terminate_backend:", "SIGKILL", "Kafka"]);
    expect(report.timeline.every((t) => t.atMs < report.lastSentMs)).toBe(true);
  });

  it("accepts every payment, retrying with the same Idempotency-Key while the api is down, and creates one payment per key", () => {
    expect(report.accepted).toBe(350);
    expect(report.neverAccepted).toBe(0);
    expect(report.unknownRows).toBe(0);
  });

  it("still replays every payment from its Idempotency-Key after the chaos", () => {
    expect(report.replayMismatches).toBe(0);
  });

  it("loses no accepted payment", () => {
    expect(report.lost).toEqual([]);
  });

  it("takes every payment to COMPLETED, FAILED or CANCELED", () => {
    expect(report.nonTerminal).toEqual({});
  });

  it("gives every payment the outcome its test card calls for, charged exactly when COMPLETED", () => {
    expect(report.wrong).toEqual([]);
  });

  it("charges no card twice", () => {
    expect(report.doubleCharged).toEqual([]);
  });

  it("holds charged ⇔ COMPLETED against the gateway's own ledger: none charged but not COMPLETED, none COMPLETED but not charged", () => {
    expect(report.chargedNotCompleted).toEqual([]);
    expect(report.completedNotCharged).toEqual([]);
  });

  it("deletes every card secret once its payment is final", () => {
    expect(report.cardSecretsLeft).toBe(0);
  });

  it("captures or cancels every authorization as the merchant asked, each captured amount the one asked for and taken", () => {
    const { operations } = report;
    expect(operations.authorizedOnly).toBeGreaterThan(0);
    expect(operations.captured + operations.canceled).toBe(operations.authorizedOnly);
    expect(operations.capturedMismatch).toEqual([]);
  });

  it("loses no refund: every accepted refund exists, none is left with nothing to move it, none was made behind a lost answer", () => {
    const { operations } = report;
    expect(operations.refundsAccepted).toBeGreaterThan(0);
    expect(operations.lostRefunds).toEqual([]);
    expect(operations.strandedRefunds).toEqual([]);
    expect(operations.unknownRefundRows).toEqual([]);
  });

  it("executes no refund twice at the gateway, and a refund is SUCCEEDED exactly when the gateway's ledger holds it", () => {
    expect(report.operations.refundedTwice).toEqual([]);
    expect(report.operations.refundLedgerMismatch).toEqual([]);
  });

  it("never refunds more than was captured, at the gateway or in our totals, even for refunds sent at once", () => {
    expect(report.operations.overRefunded).toEqual([]);
  });

  it("takes every payment that waits for its customer (3-D Secure, PayPal) to a final state its customer and merchant allow, through the faults", () => {
    const { actions } = report;
    expect(actions.payments).toBe(35);
    expect(Object.keys(actions.byMethod).sort()).toEqual(["3ds_card", "3ds_payment_method", "paypal"]);
    expect(actions.authorizeOnly).toBeGreaterThan(0);
    expect(actions.wrong).toEqual([]);
    // Each customer behaviour was played and ended as it should: charged, failed, expired, canceled by the merchant.
    expect(actions.endings.COMPLETED).toBeGreaterThan(0);
    expect(actions.endings["FAILED authentication_failed"]).toBeGreaterThan(0);
    expect(actions.endings["FAILED authentication_expired"]).toBeGreaterThan(0);
    expect(actions.endings.CANCELED).toBeGreaterThan(0);
    expect(actions.capturedAfterAuthorization).toBeGreaterThan(0);
  });

  it("charges no waiting payment without its customer's approval, none before it, and closes every ended wait at the gateway", () => {
    const { actions } = report;
    expect(actions.chargedWithoutApproval).toEqual([]);
    expect(actions.completedBeforeApproval).toEqual([]);
    expect(actions.leftOpenAtGateway).toEqual([]);
  });

  it("has customers act while faults are under way and approve right before a process is SIGKILLed, and the payments still end as allowed", () => {
    expect(Object.values(report.actions.actsDuringFaults).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(report.actions.approvalsJustBeforeKill).toBeGreaterThan(0);
  });
});
