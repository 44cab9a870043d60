import { and, eq, sql } from "drizzle-orm";
import type { Database, Executor } from "../../modules/database";
import { createSimulatorGateway, type SimulatedFault, simulatorCharges } from "../../modules/gateways";
import type { PaymentRow, RefundRow } from "../../modules/payments";
import type { Gateway } from "../../modules/gateways";
import type { TestDatabase } from "./db";
import { buildPipeline } from "./harness";
import { enqueuePaymentEvents, enqueueRefundEvents, webhookEndpoints, webhookEvents } from "../../modules/webhooks";

/** A simulator whose every call (operations and lookups alike) takes the fault the test sets, or none. */
export function faultySimulator(db: Database) {
  const state = { fault: null as SimulatedFault | null };
  return { gateway: createSimulatorGateway(db, { latencyMs: 0, transientFailureRate: 0, fault: () => state.fault }), state };
}

/**
 * The event hooks the worker wires (the real event writers), recording each payment and refund
 * they are handed, and the merchant subscribed so that events are written.
 */
export async function recordedEvents(db: Database, merchantId = "m1") {
  await db
    .insert(webhookEndpoints)
    .values({ merchantId, url: "https://merchant.example/hooks", secretKeyId: "test", sealedSecret: "test" })
    .onConflictDoNothing();
  const handed: string[] = [];
  return {
    /** `id:STATUS` of every row handed to an event writer, in order. */
    handed,
    onFinalInTransaction: async (tx: Executor, rows: PaymentRow[]) => {
      handed.push(...rows.map((r) => `${r.id}:${r.status}`));
      await enqueuePaymentEvents(tx, rows);
    },
    onRefundFinalInTransaction: async (tx: Executor, rows: RefundRow[]) => {
      handed.push(...rows.map((r) => `${r.id}:${r.status}`));
      await enqueueRefundEvents(tx, rows);
    },
    /** The event types written about a payment or refund, sorted. */
    async typesOf(subjectId: string): Promise<string[]> {
      const rows = await db.select({ type: webhookEvents.type }).from(webhookEvents).where(eq(webhookEvents.subjectId, subjectId));
      return rows.map((r) => r.type).sort();
    },
  };
}

/** The simulator's ledger rows of one payment and operation (every key the operation was sent under). */
export async function ledgerRows(db: Database, paymentId: string, operation: "charge" | "authorize" | "capture" | "void" | "refund") {
  return db
    .select()
    .from(simulatorCharges)
    .where(and(eq(simulatorCharges.paymentId, paymentId), eq(simulatorCharges.operation, operation)));
}

/** The harness over the faulty simulator, with the real event writers recording what they are handed. */
export async function operationsPipeline(database: TestDatabase, options: Parameters<typeof buildPipeline>[1] = {}) {
  const sim = faultySimulator(database.db);
  const events = await recordedEvents(database.db);
  const p = buildPipeline(database, {
    gateway: sim.gateway,
    onFinalInTransaction: events.onFinalInTransaction,
    onRefundFinalInTransaction: events.onRefundFinalInTransaction,
    ...options,
  });
  return { p, sim, events };
}

/**
 * A simulator whose `operation` fails the way an adapter that throws before its request is
 * written does: the worker cannot tell (unknown), yet the gateway never got it.
 */
export function failingBeforeSending(db: Database, operation: "capture" | "refund"): Gateway {
  return {
    ...faultySimulator(db).gateway,
    [operation]: async () => {
      throw new Error("socket hang up before the request was written");
    },
  };
}

/** Makes a reconciling row's next check due now. */
export const dueNow = sql`now() - interval '1 second'`;
