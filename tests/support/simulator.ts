import { and, eq, inArray, sql } from "drizzle-orm";
import type { Database } from "../../modules/database";
import { simulatorCharges } from "../../modules/gateways";

/**
 * Charges taken per payment (approved charges and captures; an authorization takes nothing until
 * captured): more than one would be a double charge.
 */
export async function simulatorChargeCounts(db: Database): Promise<Map<string, number>> {
  const rows = await db
    .select({ paymentId: simulatorCharges.paymentId, charges: sql<number>`count(*)::int` })
    .from(simulatorCharges)
    .where(and(eq(simulatorCharges.outcome, "approved"), inArray(simulatorCharges.operation, ["charge", "capture"])))
    .groupBy(simulatorCharges.paymentId);
  return new Map(rows.map((r) => [r.paymentId, Number(r.charges)]));
}
