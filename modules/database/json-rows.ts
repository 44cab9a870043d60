import { type Column, getTableColumns, is, Placeholder, type SQL, type SQLChunk, sql } from "drizzle-orm";
import { type PgColumn, PgDialect, type PgTable } from "drizzle-orm/pg-core";

/**
 * A query of ids (`select id from …`): which rows of a batch a statement part may write. Parts of
 * one statement use it to write only the rows of the payments another part did create.
 */
export type IdFilter = SQL;

export interface JsonRowsOptions {
  onConflictDoNothing?: boolean;
  /** `on conflict (<target>) do update set <set>`: the statement's text stays fixed (the set is SQL, not values). */
  onConflictDoUpdate?: { target: PgColumn; set: SQL };
  /** Columns to return; map them back with `mapRows`. */
  returning?: PgColumn[];
  /** Write only the rows whose `column` is among the ids `filter` returns. */
  only?: { column: PgColumn; filter: IdFilter };
}

/**
 * `insert into <table> (…) select … from jsonb_to_recordset($1)`: many rows as ONE parameter,
 * a JSON array read back under the table's own column names and types. Multi-row VALUES takes a
 * parameter per value and a statement that grows with the batch (measured: intake's batch write
 * took twice the client CPU that way); this costs one JSON.stringify. Every row gives the same
 * columns; the others take their defaults. Returns the statement, to run alone or as a part of
 * a larger one.
 */
export function jsonRowsInsert<T extends PgTable>(table: T, rows: Partial<T["$inferInsert"]>[], options: JsonRowsOptions = {}): SQL {
  const shape = shapeOf(table, Object.keys(rows[0] ?? {}));
  const only = options.only ? sql` where x.${sql.identifier(shape.fieldOf(options.only.column))} in (${options.only.filter})` : sql``;
  const update = options.onConflictDoUpdate;
  const conflict = update
    ? sql` on conflict (${sql.identifier(update.target.name)}) do update set ${update.set}`
    : options.onConflictDoNothing
      ? sql` on conflict do nothing`
      : sql``;
  const returning = options.returning
    ? sql` returning ${sql.join(
        options.returning.map((c) => sql.identifier(c.name)),
        sql`, `,
      )}`
    : sql``;
  return sql`${shape.head}${JSON.stringify(rows)}${shape.tail}${only}${conflict}${returning}`;
}

interface Shape {
  /** `insert into <table> (<columns>) select x.<field>, … from jsonb_to_recordset(` */
  head: SQL;
  /** `::jsonb) as x(<field> <type>, …)` */
  tail: SQL;
  fieldOf(column: Column): string;
}

/** What is derived from a table and a set of its fields, built once per pair: batches are many and small. */
function oncePerTableAndKeys<T>(cache: WeakMap<PgTable, Map<string, T>>, table: PgTable, keys: readonly string[], build: () => T): T {
  let byKeys = cache.get(table);
  if (!byKeys) cache.set(table, (byKeys = new Map()));
  const key = keys.join(",");
  let value = byKeys.get(key);
  if (value === undefined) byKeys.set(key, (value = build()));
  return value;
}

/** The statement text around the parameter, per table and set of given columns. */
const shapes = new WeakMap<PgTable, Map<string, Shape>>();

function shapeOf(table: PgTable, keys: string[]): Shape {
  return oncePerTableAndKeys(shapes, table, keys, () => buildShape(table, keys));
}

function buildShape(table: PgTable, keys: string[]): Shape {
  const dialect = new PgDialect();
  const given = Object.entries(getTableColumns(table) as Record<string, Column>).filter(([key]) => keys.includes(key));
  const list = (parts: SQLChunk[]) => dialect.sqlToQuery(sql.join(parts, sql`, `)).sql;
  // jsonb_to_recordset matches the JSON's keys to the record's fields, so the rows go as they are.
  const columns = list(given.map(([, c]) => sql.identifier(c.name)));
  const fields = list(given.map(([key]) => sql`x.${sql.identifier(key)}`));
  const record = list(given.map(([key, c]) => sql`${sql.identifier(key)} ${sql.raw(c.getSQLType())}`));
  const table_ = dialect.sqlToQuery(sql`${table}`).sql;
  const keyOf = new Map(given.map(([key, c]) => [c.name, key]));
  return {
    head: sql.raw(`insert into ${table_} (${columns}) select ${fields} from jsonb_to_recordset(`),
    tail: sql.raw(`::jsonb) as x(${record})`),
    fieldOf: (column) => keyOf.get(column.name) ?? column.name,
  };
}

export interface InsertDefaults {
  /** By field name: the constant each column not given starts with (NULL for a nullable column with no default). */
  constants: Record<string, unknown>;
  /** The columns not given whose default the database computes (such as `now()`): only these need reading back. */
  computed: PgColumn[];
}

/**
 * What a row inserted with only the `given` fields holds in every other column, as the table's
 * schema declares it (the migrations are generated from the same declaration). The constants are
 * known without asking: a RETURNING of every filled column cost the database a formatted value, and
 * the caller a parsed one, per column and row — most of them a constant 0, false or NULL.
 */
export function insertDefaults(table: PgTable, given: readonly string[]): InsertDefaults {
  return oncePerTableAndKeys(defaultsCache, table, given, () => buildInsertDefaults(table, given));
}

const defaultsCache = new WeakMap<PgTable, Map<string, InsertDefaults>>();

function buildInsertDefaults(table: PgTable, given: readonly string[]): InsertDefaults {
  const constants: Record<string, unknown> = {};
  const computed: PgColumn[] = [];
  for (const [key, column] of Object.entries(getTableColumns(table) as Record<string, PgColumn>)) {
    if (given.includes(key)) continue;
    if (!column.hasDefault) {
      // A NOT NULL column without a default cannot be left out: the insert itself would fail.
      if (column.notNull) throw new Error(`${column.name} has no default and must be given`);
      constants[key] = null;
    } else if (column.default === undefined || typeof column.default === "object") {
      // Computed by the database (an SQL default such as now()), or not a plain constant: read it back.
      computed.push(column);
    } else {
      constants[key] = column.default;
    }
  }
  return { constants: Object.freeze(constants), computed };
}

/** Raw rows of `table` (a `returning` or `select` of some of its columns), mapped as drizzle maps them. */
export function mapRows<T extends PgTable>(table: T, raw: Record<string, unknown>[]): Partial<T["$inferSelect"]>[] {
  const columns = Object.entries(getTableColumns(table) as Record<string, Column>);
  return raw.map((row) => {
    const mapped: Record<string, unknown> = {};
    for (const [key, c] of columns) {
      if (!(c.name in row)) continue;
      const value = row[c.name];
      mapped[key] = value === null || value === undefined ? null : c.mapFromDriverValue(value);
    }
    return mapped as Partial<T["$inferSelect"]>;
  });
}

/**
 * `column = any(…values)` with the values as ONE jsonb parameter. drizzle's inArray takes a
 * parameter per value, so its text changes with the count: every batch size was a statement of its
 * own to parse and prepare, and drizzle built a chunk per value. This text is the same for any
 * count. The values are cast to the column's type.
 */
export function inJsonList(column: PgColumn, values: readonly (string | number)[] | Placeholder): SQL {
  // serial and bigserial name a column's default, not a type one can cast to.
  const type = column.getSQLType().replace(/^(big|small)?serial$/, (_, size: string | undefined) => (size === "big" ? "bigint" : size === "small" ? "smallint" : "integer"));
  // `= any(array(…))`, not `in (select …)`: the planner reads the subquery as a semi-join and, not
  // knowing how many values come, hashed them against a scan of the whole table (measured: every
  // claim read all unfinished payments). An array is looked up value by value in the column's index.
  const list = is(values, Placeholder) ? values : jsonList(values as readonly (string | number)[]);
  return sql`${column} = any(array(select v::${sql.raw(type)} from jsonb_array_elements_text(${list}::jsonb) as v))`;
}

/** The parameter inJsonList (or batchAttemptRows) takes for a placeholder in a fixedStatement: the values as a JSON array. */
export const jsonList = (values: readonly (string | number)[]): string => JSON.stringify(values);

