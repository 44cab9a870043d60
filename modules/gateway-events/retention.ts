import { sql } from "drizzle-orm";
import { type Executor, queryRows } from "../database";
import { type Logger, type PollLoop, startPolling } from "../runtime";
import { gatewayEvents } from "./schema";

/** Rows deleted per statement: short transactions, and a large first prune after an upgrade goes in steps. */
export const PRUNE_BATCH = 1_000;
/** How often a worker looks for records past their retention (a day's records leave within this of their time). */
export const PRUNE_INTERVAL_MS = 3_600_000;

/**
 * Deletes up to `limit` records of gateway events received before `before`, oldest first, and answers
 * how many it deleted. Rows another worker's prune holds are skipped, not waited for. A record only
 * keeps a redelivery from being handled twice; handling one again after its record is gone changes
 * nothing either (docs/CONTRACT.md §10: the event is a hint, its effects are guarded updates), so
 * retention bounds the table, never correctness.
 */
export async function pruneGatewayEvents(db: Executor, before: Date, limit = PRUNE_BATCH): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    db,
    sql`
    with old as (
      select ${gatewayEvents.gateway} as gateway, ${gatewayEvents.eventId} as event_id from ${gatewayEvents}
      where ${gatewayEvents.receivedAt} < ${before.toISOString()}::timestamptz
      order by ${gatewayEvents.receivedAt}
      limit ${limit}
      for update skip locked
    ), gone as (
      delete from ${gatewayEvents} e using old
      where e.gateway = old.gateway and e.event_id = old.event_id
      returning 1
    )
    select count(*)::int as n from gone`,
  );
  return Number(row?.n ?? 0);
}

export interface GatewayEventPruner {
  start(): void;
  stop(): Promise<void>;
}

/**
 * Keeps gateway_events to GATEWAY_EVENT_RETENTION_MS: at start, then every PRUNE_INTERVAL_MS, deletes
 * what is older, a batch at a time until none is left.
 */
export function createGatewayEventPruner(deps: { db: Executor; retentionMs: number; logger: Logger; now?: () => number }): GatewayEventPruner {
  const now = deps.now ?? Date.now;
  let loop: PollLoop | undefined;
  return {
    start() {
      loop = startPolling(
        async () => {
          const deleted = await pruneGatewayEvents(deps.db, new Date(now() - deps.retentionMs));
          if (deleted > 0) deps.logger.info({ deleted, retentionMs: deps.retentionMs }, "pruned gateway event records past GATEWAY_EVENT_RETENTION_MS");
          return deleted >= PRUNE_BATCH ? "more" : "idle";
        },
        {
          idleMs: PRUNE_INTERVAL_MS,
          failureBackoff: { baseMs: 60_000, maxMs: PRUNE_INTERVAL_MS },
          onFailure: (error, retryInMs) => deps.logger.warn({ err: error, retryInMs }, "pruning gateway event records failed; will try again"),
        },
      );
    },
    async stop() {
      await loop?.stop();
    },
  };
}
