import { sql } from "drizzle-orm";
import { check, index, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/** What became of a gateway event (docs/CONTRACT.md §10); also the `result` label of paystream_gateway_events_total. */
export const GATEWAY_EVENT_RESULTS = ["applied", "unchanged", "ignored"] as const;
export type GatewayEventResult = (typeof GATEWAY_EVENT_RESULTS)[number];

/**
 * Every gateway event handled, by gateway and the gateway's event id: the second delivery of an
 * event (gateways deliver at least once, and retry) finds its row and changes nothing. Written in
 * the transaction that applies the event's effect, so an event is recorded if and only if its
 * effect is.
 */
export const gatewayEvents = pgTable(
  "gateway_events",
  {
    gateway: text("gateway").notNull(),
    eventId: text("event_id").notNull(),
    type: text("type").notNull(),
    result: text("result").$type<GatewayEventResult>().notNull(),
    /** The payment the event turned out to be about, when it was one of ours. */
    paymentId: text("payment_id"),
    receivedAt: timestamp("received_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.gateway, t.eventId] }),
    index("gateway_events_received_at_idx").on(t.receivedAt),
    check("gateway_events_result_check", sql`${t.result} in (${sql.raw(GATEWAY_EVENT_RESULTS.map((r) => `'${r}'`).join(", "))})`),
  ],
);
