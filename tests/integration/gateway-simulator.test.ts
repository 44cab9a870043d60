import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq, inArray } from "drizzle-orm";
import { completeAction, createSimulatorGateway, type SimulatedFault, simulatorCharges } from "../../modules/gateways";
import { createTestDatabase, type TestDatabase } from "../support/db";
import {
  type ConformanceHarness,
  FaultQueue,
  type GatewayFault,
  captureRequest,
  chargeRequest,
  lookupRequest,
  refundRequest,
  runGatewayConformance,
  STRIPE_TEST_PAYMENT_METHOD_CASES,
} from "../support/gateway-conformance";
import { simulatorChargeCounts } from "../support/simulator";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase("pglite");
});
afterAll(async () => {
  await database.drop();
});

/**
 * The simulator has no HTTP to break: a fault that fails a request before the gateway acts
 * (429, a dropped connection) is its "transient" fault; one after it acted (5xx, an unreadable
 * answer, a timeout) is its "lost" answer.
 */
const SIMULATED: Record<GatewayFault, SimulatedFault> = {
  http429: "transient",
  "connection-reset": "transient",
  http500: "lost",
  malformed: "lost",
  "timeout-after-commit": "lost",
};

// The simulator's ledger table is its "gateway side". The suite reads charge counts
// synchronously, so they are refreshed from the ledger after every charge and operation.
async function simulatorHarness(): Promise<ConformanceHarness> {
  const faults = new FaultQueue<"api">();
  const simulator = createSimulatorGateway(database.db, {
    latencyMs: 0,
    transientFailureRate: 0,
    fault: () => {
      const fault = faults.take("api");
      return fault === null ? null : SIMULATED[fault];
    },
  });
  let charges = new Map<string, number>();
  const refreshed = async <T>(outcome: Promise<T>): Promise<T> => {
    const result = await outcome;
    charges = await simulatorChargeCounts(database.db);
    return result;
  };
  return {
    gateway: {
      ...simulator,
      charge: (request) => refreshed(simulator.charge(request)),
      capture: (request) => refreshed(simulator.capture(request)),
      checkAction: (request) => refreshed(simulator.checkAction(request)),
      cancelAction: (request) => refreshed(simulator.cancelAction(request)),
    },
    chargesFor: (paymentId) => charges.get(paymentId) ?? 0,
    // The simulator holds Stripe's test PaymentMethods, with the outcomes of their card numbers.
    paymentMethods: STRIPE_TEST_PAYMENT_METHOD_CASES,
    failNext: (n, fault) => faults.set(n, fault),
    async ledgerFor(paymentId) {
      const rows = await database.db
        .select({ operation: simulatorCharges.operation, amount: simulatorCharges.amount })
        .from(simulatorCharges)
        .where(
          and(
            eq(simulatorCharges.paymentId, paymentId),
            eq(simulatorCharges.outcome, "approved"),
            inArray(simulatorCharges.operation, ["capture", "void", "refund"]),
          ),
        )
        .orderBy(simulatorCharges.createdAt);
      const amounts = (operation: string) => rows.filter((r) => r.operation === operation).map((r) => r.amount);
      return { captures: amounts("capture"), voids: amounts("void").length, refunds: amounts("refund") };
    },
  };
}

// The customer acts on the simulator's own page (src/simulator-pages.ts): its ledger moves as that page moves it.
runGatewayConformance("simulator", simulatorHarness, {
  authenticate: async (_harness, action, result) => {
    if (!(await completeAction(database.db, action.gatewayReference, result === "complete" ? "approve" : "fail")))
      throw new Error(`no waiting charge under ${action.gatewayReference}`);
  },
});

describe("simulator: its ledger", () => {
  test("an authorization, its capture and a refund are one row each, under their own keys; a replay counts a request", async () => {
    const simulator = createSimulatorGateway(database.db, { latencyMs: 0, transientFailureRate: 0 });
    const charge = chargeRequest(undefined, { capture: false });
    const authorized = await simulator.charge(charge);
    if (authorized.kind !== "approved") throw new Error("not authorized");
    const capture = captureRequest(charge, authorized.gatewayReference, { amount: 1500 });
    const captured = await simulator.capture(capture);
    if (captured.kind !== "approved") throw new Error("not captured");
    expect(await simulator.capture({ ...capture, attempt: 2 })).toEqual(captured);
    const refund = refundRequest(charge, captured.gatewayReference, 500, 1500);
    expect((await simulator.refund(refund)).kind).toBe("approved");
    const rows = await database.db
      .select()
      .from(simulatorCharges)
      .where(eq(simulatorCharges.paymentId, charge.paymentId))
      .orderBy(simulatorCharges.createdAt);
    expect(rows.map((r) => [r.operation, r.idempotencyKey, r.targetReference, r.amount, r.requests, r.refundId])).toEqual([
      ["authorize", charge.idempotencyKey, null, 1999, 1, null],
      ["capture", capture.idempotencyKey, authorized.gatewayReference, 1500, 2, null],
      ["refund", refund.idempotencyKey, captured.gatewayReference, 500, 1, refund.refundId],
    ]);
    // The authorization is approved by a lookup of the payment that asked for it, and only by that one.
    expect(await simulator.lookup(lookupRequest(charge))).toEqual(authorized);
    expect((await simulator.lookup(lookupRequest(charge, { capture: true }))).kind).toBe("unknown");
  });
});

describe("simulator: concurrent operations on one charge", () => {
  let postgres: TestDatabase;
  beforeAll(async () => {
    postgres = await createTestDatabase("postgres");
  });
  afterAll(async () => {
    await postgres.drop();
  });

  test("refunds sent at once from many connections never add up to more than was charged", async () => {
    const simulator = createSimulatorGateway(postgres.db, { latencyMs: 0, transientFailureRate: 0 });
    const charge = chargeRequest();
    const charged = await simulator.charge(charge);
    if (charged.kind !== "approved") throw new Error("charge not approved");
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => simulator.refund(refundRequest(charge, charged.gatewayReference, 700))));
    // 1999 holds two refunds of 700; the others see them (the charge row is locked) and are refused.
    expect(outcomes.filter((o) => o.kind === "approved")).toHaveLength(2);
    expect(outcomes.filter((o) => o.kind === "declined").map((o) => o.kind === "declined" && o.code)).toEqual(Array(6).fill("amount_too_large"));
  });
});
