import { and, eq, gte, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import type { Database, Executor } from "../database";
import type { Gateway } from "../gateways";
import {
  type DisputeRow,
  expediteGatewayCheck,
  expediteRefundCheck,
  failRefundAfterSuccess,
  findDispute,
  findPayment,
  findPaymentByGatewayReference,
  findPaymentById,
  findRefundByGatewayReference,
  listDisputes,
  recordDispute,
  toDispute,
  type Dispute,
} from "../payments";
import { enqueueDisputeEvents, enqueueRefundEvents } from "../webhooks";
import type { GatewayEvent } from "./events";
import { type GatewayEventResult, gatewayEvents } from "./schema";

/** What handling an event came to: its result, or that this gateway event was handled before. */
export type EventHandling = { result: GatewayEventResult; paymentId: string | null } | { result: "duplicate"; paymentId: null };

/** The gateway could not be asked about the event's object: nothing was recorded, and the gateway should deliver it again. */
export class GatewayRecordUnavailable extends Error {
  override readonly name = "GatewayRecordUnavailable";
}

export interface GatewayEventServiceDeps {
  db: Database;
  /** The configured gateway: the one whose records events are checked against. */
  gateway: Gateway;
  /** A payment's or refund's gateway look-up was made due now: the reconciler should look at once (when it runs in this process). */
  checkDue?: () => void;
  /** Every event handled, by result (the paystream_gateway_events_total counter). */
  handled?: (event: GatewayEvent, result: EventHandling["result"]) => void;
}

export interface GatewayEventService {
  /** Handles a verified event once (docs/CONTRACT.md §10). Throws GatewayRecordUnavailable when the gateway cannot be asked. */
  handle(event: GatewayEvent): Promise<EventHandling>;
  getDispute(merchantId: string, id: string): Promise<Dispute | undefined>;
  /** Undefined when the payment is not the merchant's. */
  listDisputes(merchantId: string, paymentId: string, query: { limit: number; startingAfter?: string | undefined }): Promise<{ data: Dispute[]; hasMore: boolean } | undefined>;
}

/**
 * The handling of gateway events. An event is a hint, never the truth: the object it names is
 * fetched from the gateway (or its look-up made due now, for work whose outcome is unknown, so the
 * reconciler settles it by the gateway's answer), and only what the gateway's record says changes
 * anything, through the payments aggregate's guarded updates. An event is recorded in
 * gateway_events in the transaction of its effect, so a redelivery changes nothing.
 */
export function createGatewayEventService(deps: GatewayEventServiceDeps): GatewayEventService {
  const { db, gateway } = deps;

  /**
   * Records an event and runs its effect (if any) in ONE transaction. The event's row is claimed
   * first: a concurrent delivery of the same event waits on it, then finds it taken and changes
   * nothing; the row takes the effect's result before the commit.
   */
  function record(event: GatewayEvent, paymentId: string | null, effect: (tx: Executor) => Promise<GatewayEventResult>): Promise<EventHandling> {
    return db.transaction(async (tx) => {
      const claimed = await tx
        .insert(gatewayEvents)
        .values({ gateway: event.gateway, eventId: event.id, type: event.type, result: "unchanged", paymentId })
        .onConflictDoNothing()
        .returning({ eventId: gatewayEvents.eventId });
      if (claimed.length === 0) return { result: "duplicate", paymentId: null };
      const result = await effect(tx);
      if (result !== "unchanged")
        await tx
          .update(gatewayEvents)
          .set({ result })
          .where(and(eq(gatewayEvents.gateway, event.gateway), eq(gatewayEvents.eventId, event.id)));
      return { result, paymentId };
    });
  }

  async function seen(event: GatewayEvent): Promise<boolean> {
    const [row] = await db
      .select({ eventId: gatewayEvents.eventId })
      .from(gatewayEvents)
      .where(and(eq(gatewayEvents.gateway, event.gateway), eq(gatewayEvents.eventId, event.id)));
    return row !== undefined;
  }

  async function handlePayment(event: GatewayEvent, reference: string, claimedId: string | undefined): Promise<EventHandling> {
    const byId = claimedId === undefined ? undefined : await findPaymentById(db, claimedId);
    const payment = (await findPaymentByGatewayReference(db, gateway.name, reference)) ?? (byId?.gateway === gateway.name ? byId : undefined);
    if (!payment) return record(event, null, async () => "ignored");
    const handled = await record(event, payment.id, async (tx) => ((await expediteGatewayCheck(tx, payment.id)) ? "applied" : "unchanged"));
    if (handled.result === "applied") deps.checkDue?.();
    return handled;
  }

  async function handleRefund(event: GatewayEvent, reference: string): Promise<EventHandling> {
    const refund = await findRefundByGatewayReference(db, reference);
    if (!refund) return record(event, null, async () => "ignored");
    if (refund.status === "FAILED") return record(event, refund.paymentId, async () => "unchanged");
    if (refund.status === "PENDING" && refund.reconciling) {
      // Its outcome is unknown: the reconciler's look-up, made due now, settles it by the gateway's record.
      const handled = await record(event, refund.paymentId, async (tx) => ((await expediteRefundCheck(tx, refund.id)) ? "applied" : "unchanged"));
      if (handled.result === "applied") deps.checkDue?.();
      return handled;
    }
    // SUCCEEDED (or PENDING in a worker's hands): only the gateway's record can say it failed since.
    const found = await gateway.retrieveRefund(reference);
    if (found.kind === "unknown") throw new GatewayRecordUnavailable(`the gateway could not be asked about refund ${reference}: ${found.reason}`);
    const failed = found.kind === "found" && found.status === "failed";
    if (failed && refund.status === "PENDING")
      // A worker has yet to record the refund's answer: the failure can apply only after it, so the
      // event is not recorded as handled and the gateway is asked to deliver it again later.
      throw new GatewayRecordUnavailable(`refund ${refund.id} is still being recorded; deliver the event again later`);
    if (!failed) return record(event, refund.paymentId, async () => "unchanged");
    return record(event, refund.paymentId, async (tx) => {
      const failedLate = await failRefundAfterSuccess(tx, refund.id, {
        code: "refund_failed",
        message: `The gateway failed the refund after it had succeeded${found.failureReason ? `: ${found.failureReason}` : ""}`,
      });
      if (!failedLate) return "unchanged";
      await enqueueRefundEvents(tx, [failedLate]);
      return "applied";
    });
  }

  async function handleDispute(event: GatewayEvent, reference: string): Promise<EventHandling> {
    const found = await gateway.retrieveDispute(reference);
    if (found.kind === "unknown") throw new GatewayRecordUnavailable(`the gateway could not be asked about dispute ${reference}: ${found.reason}`);
    const state = found.kind === "found" ? found.dispute : null;
    const payment = state?.paymentReference ? await findPaymentByGatewayReference(db, gateway.name, state.paymentReference) : undefined;
    if (!state || !payment) return record(event, null, async () => "ignored");
    return record(event, payment.id, async (tx) => {
      const change = await recordDispute(tx, payment, state);
      if (change.kind === "unchanged") return "unchanged";
      await enqueueDisputeEvents(tx, change);
      return "applied";
    });
  }

  return {
    async handle(event) {
      let handled: EventHandling;
      if (await seen(event)) handled = { result: "duplicate", paymentId: null };
      else {
        const { subject } = event;
        switch (subject.kind) {
          case "payment":
            handled = await handlePayment(event, subject.reference, subject.paymentId);
            break;
          case "refund":
            handled = await handleRefund(event, subject.reference);
            break;
          case "dispute":
            handled = await handleDispute(event, subject.reference);
            break;
          case "none":
            handled = await record(event, null, async () => "ignored");
            break;
        }
      }
      deps.handled?.(event, handled.result);
      return handled;
    },
    async getDispute(merchantId, id) {
      const row = await findDispute(db, merchantId, id);
      return row ? toDispute(row) : undefined;
    },
    async listDisputes(merchantId, paymentId, query) {
      if (!(await findPayment(db, merchantId, paymentId))) return undefined;
      const page = await listDisputes(db, merchantId, paymentId, query);
      return { data: page.rows.map((row: DisputeRow) => toDispute(row)), hasMore: page.hasMore };
    },
  };
}

/** The gateway events recorded since `since` (the whole service's), by gateway and result: what the dashboard shows. */
export async function countGatewayEvents(
  db: Executor,
  since: Date,
  /** Only the events about these payments (a merchant's dashboard shows its own: docs/CONTRACT.md §11); all when absent. */
  about?: (paymentId: SQLWrapper) => SQL,
): Promise<{ gateway: string; result: string; count: number }[]> {
  const rows = await db
    .select({ gateway: gatewayEvents.gateway, result: gatewayEvents.result, n: sql<number>`count(*)::int` })
    .from(gatewayEvents)
    .where(and(gte(gatewayEvents.receivedAt, since), about ? about(gatewayEvents.paymentId) : undefined))
    .groupBy(gatewayEvents.gateway, gatewayEvents.result)
    .orderBy(gatewayEvents.gateway, gatewayEvents.result);
  return rows.map((r) => ({ gateway: r.gateway, result: r.result, count: Number(r.n) }));
}
