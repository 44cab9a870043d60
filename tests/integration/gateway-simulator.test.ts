import { afterAll, beforeAll } from "bun:test";
import { sql } from "drizzle-orm";
import { queryRows } from "../../modules/database";
import { createSimulatorGateway, type Gateway } from "../../modules/gateways";
import { createTestDatabase, type TestDatabase } from "../support/db";
import { runGatewayConformance } from "../support/gateway-conformance";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase("pglite");
});
afterAll(async () => {
  await database.drop();
});

// The simulator's ledger table is its "gateway side". The suite reads charge counts
// synchronously, so they are refreshed from the ledger after every charge.
runGatewayConformance(
  "simulator",
  async () => {
    const simulator = createSimulatorGateway(database.db, { latencyMs: 0, transientFailureRate: 0 });
    const charges = new Map<string, number>();
    const gateway: Gateway = {
      name: simulator.name,
      toGatewayAmount: simulator.toGatewayAmount,
      async charge(request) {
        const outcome = await simulator.charge(request);
        const rows = await queryRows<{ payment_id: string; n: number }>(
          database.db,
          sql`select payment_id, count(*)::int as n from simulator_charges where outcome = 'approved' group by payment_id`,
        );
        charges.clear();
        for (const r of rows) charges.set(r.payment_id, Number(r.n));
        return outcome;
      },
      lookup: (request) => simulator.lookup(request),
    };
    return { gateway, chargesFor: (paymentId) => charges.get(paymentId) ?? 0 };
  },
  // Its faults are random (SIMULATOR_TRANSIENT_FAILURE_RATE), exercised in the processing tests;
  // the contract's card list has no 3-D Secure card.
  { faults: false, authentication: false },
);
