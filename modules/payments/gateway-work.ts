import { and, eq, isNull, lt, not, or, type Placeholder, type SQL, sql } from "drizzle-orm";
import { boolean, integer, type PgColumn, type PgTable, timestamp } from "drizzle-orm/pg-core";
import { type Executor, inJsonList, queryRows } from "../database";

const utc = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/**
 * The columns of a row that a worker sends to a gateway (a payment's operation, a refund): who
 * holds it, how many attempts, and whether the gateway may have acted without our knowing. One
 * definition, so payments and refunds follow the same unknown-outcome rules (docs/CONTRACT.md §6, §8).
 */
export const gatewayWorkColumns = () => ({
  /** Gateway attempts so far; also the fencing token of the current claim. */
  attempts: integer("attempts").notNull().default(0),
  /** Until when the claiming worker holds the row. NULL = nobody holds it (new, or waiting for a retry). */
  leaseExpiresAt: utc("lease_expires_at"),
  /**
   * Set when the first gateway attempt whose outcome is unknown happened (no answer, an answer
   * that could not be read, an adapter that threw): from then on the gateway may have acted, and
   * only its definite answer may fail the work (docs/CONTRACT.md §6).
   */
  outcomeUnknownSince: utc("outcome_unknown_since"),
  /** Attempts are used up and the outcome is unknown: the reconciler holds the row now. */
  reconciling: boolean("reconciling").notNull().default(false),
  /** While reconciling: when the reconciler looks the work up at the gateway next. */
  nextCheckAt: utc("next_check_at"),
  /** Gateway look-ups made so far while reconciling (drives the back-off). */
  reconcileChecks: integer("reconcile_checks").notNull().default(0),
});

/** The columns of a gateway-work table that the shared statements (here and in ./work-lifecycle.ts) read and write. */
export interface GatewayWorkTable {
  table: PgTable;
  id: PgColumn;
  merchantId: PgColumn;
  outcomeUnknownSince: PgColumn;
  status: PgColumn;
  attempts: PgColumn;
  leaseExpiresAt: PgColumn;
  reconciling: PgColumn;
  nextCheckAt: PgColumn;
  reconcileChecks: PgColumn;
  /** Not one of gatewayWorkColumns, but every kind has it: the gateway's object id, kept across attempts. */
  gatewayReference: PgColumn;
}

/** A state a transition of gateway work may start from; a flag left out matches either way. */
export interface WorkSourceState<Status extends string = string> {
  status: Status;
  reconciling?: boolean;
  leased?: boolean;
}

/**
 * The WHERE clause admitting exactly `sources`: what each owner's status machine (payments',
 * refunds') turns its transitions into. Literals, not parameters: a generic plan can then still
 * match the partial indexes on status.
 */
export function guardOfSources(work: GatewayWorkTable, sources: readonly WorkSourceState[]): SQL {
  const leaseFree = or(isNull(work.leaseExpiresAt), lt(work.leaseExpiresAt, sql`now()`)) as SQL;
  const admitted = sources.map((source) =>
    and(
      eq(work.status, source.status),
      source.reconciling === undefined ? undefined : eq(work.reconciling, source.reconciling),
      source.leased === undefined ? undefined : source.leased ? not(leaseFree) : leaseFree,
    ),
  );
  return (or(...admitted) as SQL).inlineParams();
}

/**
 * Takes up to `limit` rows whose gateway check is due (`checkable`: the owner's guard of the
 * check), for one reconciler: their next check is pushed `holdMs` ahead at once, so another
 * reconciler does not look them up at the same time and one that dies mid-check leaves them due
 * again later. Returns their ids.
 */
export async function claimDueCheckIds(db: Executor, work: GatewayWorkTable, checkable: SQL, limit: number, holdMs: number): Promise<string[]> {
  const rows = await queryRows<{ id: string }>(db, sql`
    update ${work.table} set ${sql.identifier(work.nextCheckAt.name)} = now() + make_interval(secs => ${holdMs / 1000})
    where ${work.id} in (
      select ${work.id} from ${work.table}
      where ${checkable} and ${work.nextCheckAt} <= now()
      order by ${work.nextCheckAt}
      limit ${limit}
      for update skip locked)
    returning ${work.id} as id`);
  return rows.map((r) => r.id);
}

/** After a check that told nothing: the next one in `delayMs`, counted for the back-off. False when the claim was lost. */
export async function scheduleNextCheckOf(
  db: Executor,
  work: GatewayWorkTable,
  row: { id: string; attempt: number; checkable: SQL },
  delayMs: number,
): Promise<boolean> {
  const rows = await queryRows(db, sql`
    update ${work.table}
    set ${sql.identifier(work.nextCheckAt.name)} = now() + make_interval(secs => ${delayMs / 1000}),
        ${sql.identifier(work.reconcileChecks.name)} = ${work.reconcileChecks} + 1
    where ${work.id} = ${row.id} and ${work.attempts} = ${row.attempt} and ${row.checkable}
    returning ${work.id}`);
  return rows.length > 0;
}

/** How many rows of `work` match `where` (e.g. those the reconciler holds). */
export async function countWork(db: Executor, work: GatewayWorkTable, where: SQL): Promise<number> {
  const [row] = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from ${work.table} where ${where}`);
  return Number(row?.n ?? 0);
}

/** A merchant's rows of `work` that match `held` (those the reconciler holds), oldest unknown outcome first (capped), and how many in all. */
export async function listHeldWork<Row>(db: Executor, work: GatewayWorkTable, merchantId: string, held: SQL, limit: number): Promise<{ rows: Row[]; total: number }> {
  const where = and(eq(work.merchantId, merchantId), held);
  const [rows, [count]] = await Promise.all([
    db.select().from(work.table).where(where).orderBy(work.outcomeUnknownSince).limit(limit),
    db.select({ n: sql<number>`count(*)::int` }).from(work.table).where(where),
  ]);
  return { rows: rows as Row[], total: Number(count?.n ?? 0) };
}

/**
 * What the API shows of a row's unknown outcome (docs/CONTRACT.md §6): `outcome: "unknown"` while the work
 * is in progress and an attempt's outcome is unknown, and `nextCheckAt` while the reconciler holds
 * it. Once the work is final, neither.
 */
export function unknownOutcomeView(
  row: { outcomeUnknownSince: Date | null; reconciling: boolean; nextCheckAt: Date | null },
  inProgress: boolean,
): { outcome: "unknown" | null; nextCheckAt: string | null } {
  return {
    outcome: inProgress && row.outcomeUnknownSince !== null ? "unknown" : null,
    nextCheckAt: inProgress && row.reconciling && row.nextCheckAt ? row.nextCheckAt.toISOString() : null,
  };
}

/** The SQL type a field of a batch's input is read as. */
export type BatchFieldType = "text" | "integer" | "boolean" | "float8";

/**
 * The per-row input of a batch write to gateway work (outcomes, releases): ONE jsonb object keyed
 * by row id, `{ "<id>": { "attempt": 1, … } }`, from which each row of the table reads its own
 * fields. The batch's rows are looked up by id in the primary key, and a row takes part only if
 * its attempt number is the input's (the claim's fence).
 *
 * Not a recordset joined to the table (`from jsonb_to_recordset(…) as o where t.id = o.id`): that
 * was planned as a nested loop rescanning the whole recordset for every row, quadratic in the
 * batch (measured: three quarters of the time of a 64-payment outcome statement). A key lookup in
 * a jsonb object is a binary search, and there is no join left to plan.
 */
export function batchInput<F extends Record<string, BatchFieldType>>(work: GatewayWorkTable, alias: string, fields: F & { attempt: "integer" }) {
  const row = sql`(${sql.identifier(alias)}.rows -> ${work.id})`;
  const field = Object.fromEntries(
    Object.entries(fields).map(([name, type]) => {
      if (!/^[a-z_]+$/.test(name)) throw new Error(`batch field names are plain identifiers: ${name}`);
      return [name, sql`(${row} ->> '${sql.raw(name)}')::${sql.raw(type)}`];
    }),
  ) as { [K in keyof F]: SQL };
  return {
    /** Each field of this row's input, cast to its type (NULL where the input has null). */
    field,
    /** The FROM item that holds the input: `(select $input::jsonb as rows) as <alias>`. */
    from: (input: string | Placeholder) => sql`(select ${input}::jsonb as rows) as ${sql.identifier(alias)}`,
    /** The batch's rows: looked up by `ids` (the input's keys), and each one only at the input's attempt. */
    rows: (ids: string[] | Placeholder) => and(inJsonList(work.id, ids), sql`${work.attempts} = ${field.attempt}`) as SQL,
    /** The input parameter: the rows' fields keyed by their ids. */
    encode: (rows: readonly ({ id: string } & { [K in keyof F]: unknown })[]) => JSON.stringify(Object.fromEntries(rows.map(({ id, ...values }) => [id, values]))),
  };
}
