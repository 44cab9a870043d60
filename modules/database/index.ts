/**
 * The database handle every module receives from the composition root.
 *
 * drizzle over postgres-js (a PostgreSQL server) and over PGlite (embedded) share the
 * PgDatabase surface; modules depend only on that surface, so the same repository code
 * and the same migrations serve both.
 */
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { sql, type SQL } from "drizzle-orm";

// biome-ignore lint: the schema generic is erased on purpose; modules import their own tables.
export type Database = PgDatabase<PgQueryResultHKT, Record<string, unknown>>;

/** A database or an open transaction: repository functions accept either. */
export type Executor = Database;

/** Runs raw SQL and returns its rows, whichever driver sits below. */
export async function queryRows<T extends Record<string, unknown>>(db: Executor, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

/** `now()` of the database: every lease and schedule is judged by one clock. */
export const dbNow = sql`now()`;

/** Thrown by the composition root's health checks and by repositories when the database cannot be reached. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|CONNECTION_|57P0[1-3]|08\d{3}|53300)/.test(code))
    return true;
  const message = error instanceof Error ? error.message : String(error);
  return /connect|connection|terminat|ECONNRE/i.test(message);
}
