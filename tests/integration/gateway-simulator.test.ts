import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq, inArray } from "drizzle-orm";
import { createSimulatorGateway, type SimulatedFault, simulatorCharges } from "../../modules/gateways";
import { createTestDatabase, type TestDatabase } from "../support/db";
import {
  type ConformanceHarness,
  FaultQueue,
  type GatewayFault,
  type OperationHarness,
  chargeRequest,
  refundRequest,
  runGatewayConformance,
  runOperationConformance,
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
async function simulatorHarness(): Promise<ConformanceHarness & OperationHarness> {
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
    },
    chargesFor: (paymentId) => charges.get(paymentId) ?? 0,
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

// The contract's card list has no 3-D Secure card.
runGatewayConformance("simulator", simulatorHarness, { authentication: false });
runOperationConformance("simulator", simulatorHarness);

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
