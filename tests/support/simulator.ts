import { eq, sql } from "drizzle-orm";
import type { Database } from "../../modules/database";
import { simulatorCharges } from "../../modules/gateways";

/** Charges taken per payment (approved ledger rows): more than one would be a double charge. */
export async function simulatorChargeCounts(db: Database): Promise<Map<string, number>> {
  const rows = await db
    .select({ paymentId: simulatorCharges.paymentId, charges: sql<number>`count(*)::int` })
    .from(simulatorCharges)
    .where(eq(simulatorCharges.outcome, "approved"))
    .groupBy(simulatorCharges.paymentId);
  return new Map(rows.map((r) => [r.paymentId, Number(r.charges)]));
}
