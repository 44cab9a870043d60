import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { Batcher, type Database } from "../../database";
import type { ChargeOutcome, ChargeRequest, Gateway, LookupOutcome, LookupRequest } from "../port";
import { isoCurrencyRule, toGatewayMinorUnits } from "../units";
import { simulatorCharges } from "./schema";

/** Stripe's test card numbers and the outcomes they stand for (contract §5). */
const DECLINES: Record<string, { code: string; message: string }> = {
  "4000000000000002": { code: "card_declined", message: "Your card was declined." },
  "4000000000009995": { code: "insufficient_funds", message: "Your card has insufficient funds." },
  "4000000000009987": { code: "lost_card", message: "Your card was declined (lost card)." },
  "4000000000009979": { code: "stolen_card", message: "Your card was declined (stolen card)." },
  "4000000000000069": { code: "expired_card", message: "Your card has expired." },
  "4000000000000127": { code: "incorrect_cvc", message: "Your card's security code is incorrect." },
};
const ALWAYS_PROCESSING_ERROR = "4000000000000119";

export interface SimulatorOptions {
  latencyMs: number;
  /** Share of calls that fail transiently: half before anything is charged, half after (unknown outcome). */
  transientFailureRate: number;
  random?: () => number;
}

/**
 * A gateway that behaves like a real one where it matters for correctness: it keeps a ledger
 * keyed by idempotency key (shared by every process through the database, as a real gateway's
 * is shared by every client), replays the first result for a repeated key, and can lose answers
 * after charging so the unknown-outcome path is exercised.
 */
export function createSimulatorGateway(db: Database, options: SimulatorOptions): Gateway {
  const random = options.random ?? Math.random;

  // The ledger write of concurrent charges goes in one statement (see Batcher): the simulator
  // runs inside our process and database, and must not cost a round trip per charge.
  const ledger = new Batcher<{ request: ChargeRequest; decided: ChargeOutcome }, ChargeOutcome>(
    async (items) => {
      // One row per key: a statement may not upsert the same row twice.
      const unique = [...new Map(items.map((item) => [item.request.idempotencyKey, item])).values()];
      const rows = await db
        .insert(simulatorCharges)
        .values(
          unique.map(({ request, decided }) => ({
            idempotencyKey: request.idempotencyKey,
            paymentId: request.paymentId,
            outcome: decided.kind,
            declineCode: decided.kind === "declined" ? decided.code : null,
            reference: `sim_${randomBytes(12).toString("hex")}`,
            amount: request.amount,
            currency: request.currency,
          })),
        )
        .onConflictDoUpdate({
          target: simulatorCharges.idempotencyKey,
          set: { requests: sql`${simulatorCharges.requests} + 1` },
        })
        .returning();
      const byKey = new Map(rows.map((r) => [r.idempotencyKey, r]));
      return items.map(({ request }) => {
        const row = byKey.get(request.idempotencyKey);
        if (!row) throw new Error("simulator ledger returned no row");
        return ledgerOutcome(row);
      });
    },
    { maxBatch: 256, maxConcurrent: 2 },
  );
  const recordOrReplay = (request: ChargeRequest, decided: ChargeOutcome) => ledger.submit({ request, decided });

  return {
    name: "simulator",
    // Like the contract's API, the simulator takes every ISO 4217 currency in its ISO minor units.
    toGatewayAmount: (amount, currency) => toGatewayMinorUnits("simulator", amount, currency, isoCurrencyRule(currency)),
    async charge(request: ChargeRequest): Promise<ChargeOutcome> {
      // The latency is the whole round trip as the caller sees it; the ledger write happens
      // inside it, as a real gateway's own bookkeeping does.
      const roundTrip = options.latencyMs > 0 ? Bun.sleep(options.latencyMs) : Promise.resolve();
      const fault = random() < options.transientFailureRate;
      let outcome: ChargeOutcome;
      if (fault && random() < 0.5) outcome = { kind: "transient", reason: "simulated 503 service unavailable" };
      else if (request.card.number === ALWAYS_PROCESSING_ERROR)
        outcome = { kind: "transient", reason: "processing_error: An error occurred while processing your card." };
      else {
        const decline = DECLINES[request.card.number];
        const decided: ChargeOutcome = decline
          ? { kind: "declined", ...decline, gatewayReference: null }
          : { kind: "approved", gatewayReference: "" };
        const recorded = await recordOrReplay(request, decided);
        // The charge is recorded but the answer is "lost": the caller must replay with the same key.
        outcome = fault ? { kind: "unknown", reason: "simulated timeout after the request was sent" } : recorded;
      }
      await roundTrip;
      return outcome;
    },

    async lookup(request: LookupRequest): Promise<LookupOutcome> {
      const roundTrip = options.latencyMs > 0 ? Bun.sleep(options.latencyMs) : Promise.resolve();
      // An unhealthy gateway is as unreachable for lookups as for charges.
      if (random() < options.transientFailureRate) {
        await roundTrip;
        return { kind: "unknown", reason: "simulated 503 service unavailable" };
      }
      const [row] = await db.select().from(simulatorCharges).where(eq(simulatorCharges.idempotencyKey, request.idempotencyKey));
      await roundTrip;
      // The ledger is written before any answer leaves, so no row means no charge was taken.
      if (!row) return { kind: "not_charged", reason: "no charge under this payment's idempotency key" };
      if (row.paymentId !== request.paymentId || row.amount !== request.amount || row.currency !== request.currency)
        return { kind: "unknown", reason: "the ledger row under this key belongs to another payment or amount" };
      return ledgerOutcome(row);
    },
  };
}

function ledgerOutcome(row: typeof simulatorCharges.$inferSelect): ChargeOutcome & { kind: "approved" | "declined" } {
  if (row.outcome === "approved") return { kind: "approved", gatewayReference: row.reference };
  const code = row.declineCode ?? "card_declined";
  const message = Object.values(DECLINES).find((d) => d.code === code)?.message ?? "Your card was declined.";
  return { kind: "declined", code, message, gatewayReference: row.reference };
}
