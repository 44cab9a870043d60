/**
 * The database handle every module receives from the composition root.
 *
 * drizzle over postgres-js (a PostgreSQL server) and over PGlite (embedded) share the
 * PgDatabase surface; modules depend only on that surface, so the same repository code
 * and the same migrations serve both.
 */
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { SQL } from "drizzle-orm";

// biome-ignore lint: the schema generic is erased on purpose; modules import their own tables.
export type Database = PgDatabase<PgQueryResultHKT, Record<string, unknown>>;

/**
 * Subscribes to a PostgreSQL NOTIFY channel (PGlite has them too). `onNotify` also runs whenever
 * the subscription (re)connects: what was sent while it was down is lost, so listeners look again.
 * Resolves to the unsubscribe.
 */
export type ListenToChannel = (channel: string, onNotify: () => void) => Promise<() => Promise<void>>;

/** A database or an open transaction: repository functions accept either. */
export type Executor = Database;

/** Runs raw SQL and returns its rows, whichever driver sits below. */
export async function queryRows<T extends Record<string, unknown>>(db: Executor, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
