import { boolean, integer, timestamp } from "drizzle-orm/pg-core";

const utc = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/**
 * The columns of a row that a worker sends to a gateway (a payment's operation, a refund): who
 * holds it, how many attempts, and whether the gateway may have acted without our knowing. One
 * definition, so payments and refunds follow the same unknown-outcome rules (contract §6, §8).
 */
export const gatewayWorkColumns = () => ({
  /** Gateway attempts so far; also the fencing token of the current claim. */
  attempts: integer("attempts").notNull().default(0),
  /** Until when the claiming worker holds the row. NULL = nobody holds it (new, or waiting for a retry). */
  leaseExpiresAt: utc("lease_expires_at"),
  /**
   * Set when the first gateway attempt whose outcome is unknown happened (no answer, an answer
   * that could not be read, an adapter that threw): from then on the gateway may have acted, and
   * only its definite answer may fail the work (contract §6).
   */
  outcomeUnknownSince: utc("outcome_unknown_since"),
  /** Attempts are used up and the outcome is unknown: the reconciler holds the row now. */
  reconciling: boolean("reconciling").notNull().default(false),
  /** While reconciling: when the reconciler looks the work up at the gateway next. */
  nextCheckAt: utc("next_check_at"),
  /** Gateway look-ups made so far while reconciling (drives the back-off). */
  reconcileChecks: integer("reconcile_checks").notNull().default(0),
});
