import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { Database } from "../../database";
import type { ChargeOutcome, ChargeRequest, Gateway } from "../port";
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

  async function recordOrReplay(request: ChargeRequest, decided: ChargeOutcome): Promise<ChargeOutcome> {
    const declined = decided.kind === "declined" ? decided : undefined;
    const reference = `sim_${randomBytes(12).toString("hex")}`;
    const [row] = await db
      .insert(simulatorCharges)
      .values({
        idempotencyKey: request.idempotencyKey,
        paymentId: request.paymentId,
        outcome: decided.kind,
        declineCode: declined?.code ?? null,
        reference,
        amount: request.amount,
        currency: request.currency,
      })
      .onConflictDoUpdate({
        target: simulatorCharges.idempotencyKey,
        set: { requests: sql`${simulatorCharges.requests} + 1` },
      })
      .returning();
    if (!row) throw new Error("simulator ledger returned no row");
    if (row.outcome === "approved") return { kind: "approved", gatewayReference: row.reference };
    const code = row.declineCode ?? "card_declined";
    const message = Object.values(DECLINES).find((d) => d.code === code)?.message ?? "Your card was declined.";
    return { kind: "declined", code, message, gatewayReference: row.reference };
  }

  return {
    name: "simulator",
    async charge(request: ChargeRequest): Promise<ChargeOutcome> {
      if (options.latencyMs > 0) await Bun.sleep(options.latencyMs);
      const fault = random() < options.transientFailureRate;
      if (fault && random() < 0.5) return { kind: "transient", reason: "simulated 503 service unavailable" };
      if (request.card.number === ALWAYS_PROCESSING_ERROR)
        return { kind: "transient", reason: "processing_error: An error occurred while processing your card." };
      const decline = DECLINES[request.card.number];
      const decided: ChargeOutcome = decline
        ? { kind: "declined", ...decline, gatewayReference: null }
        : { kind: "approved", gatewayReference: "" };
      const outcome = await recordOrReplay(request, decided);
      // The charge is recorded but the answer is "lost": the caller must replay with the same key.
      if (fault) return { kind: "unknown", reason: "simulated timeout after the request was sent" };
      return outcome;
    },
  };
}

/** Charges taken per payment (approved ledger rows): more than one would be a double charge. */
export async function simulatorChargeCounts(db: Database): Promise<Map<string, number>> {
  const rows = await db
    .select({ paymentId: simulatorCharges.paymentId, charges: sql<number>`count(*)::int` })
    .from(simulatorCharges)
    .where(eq(simulatorCharges.outcome, "approved"))
    .groupBy(simulatorCharges.paymentId);
  return new Map(rows.map((r) => [r.paymentId, Number(r.charges)]));
}
