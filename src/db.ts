import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { type PgDatabase, PgDialect, type PgQueryResultHKT, type PgSession } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { Database, ListenToChannel } from "../modules/database";
import { MIGRATIONS, pgliteOptions } from "./embedded-assets";

export interface DatabaseHandle {
  db: Database;
  kind: "postgres" | "pglite";
  /** NOTIFY subscriptions, so pollers wait for work instead of polling tightly for it. */
  listen: ListenToChannel;
  /** Applies the committed drizzle migrations; safe when several processes start at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How long a statement may wait, whatever the database does, so that every API request answers
 * within 10 s while PostgreSQL is away (docs/CONTRACT.md): refused, cut, or silent with its
 * connections left open. The longest wait is a statement that queues for a connection
 * (`queue_timeout`), is then handed to one that reconnects after a back-off and times out
 * connecting: about 3 + 0.5 + 3 s. A statement sent on a connection that stops answering fails
 * after `silence_timeout` (the options are ours, from patches/postgres+3.4.9.patch). Our
 * statements answer in milliseconds; none legitimately waits seconds for its first byte.
 */
const ANSWER_BOUNDS = {
  connect_timeout: 3,
  silence_timeout: 3,
  queue_timeout: 3,
  // postgres-js's default grows to 20 s after a few failed connects; a statement handed to a
  // reconnecting connection waits this out before it even tries.
  backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
};

/** Arbitrary constant: the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK = 7_345_001;

/**
 * What drizzle's `migrate(db, { migrationsFolder })` does after reading the folder, fed with the
 * migrations embedded at build time instead (same table, same bookkeeping). Of the config, only
 * the table and schema names are read, and the defaults are kept.
 */
function applyMigrations(db: PgDatabase<PgQueryResultHKT>): Promise<void> {
  // The declared session type differs from a schema-less database's only in its empty relations
  // map, which migrations never touch; drizzle's own migrators hand over the same object.
  const session = db._.session as unknown as PgSession;
  return new PgDialect().migrate(MIGRATIONS, session, { migrationsFolder: "drizzle" });
}

export function openDatabase(url: string, poolSize: number): DatabaseHandle {
  if (url.startsWith("pglite://")) {
    const location = url.slice("pglite://".length);
    const inMemory = location === "memory" || location === "";
    if (!inMemory) mkdirSync(location, { recursive: true });
    const client = new PGlite({ ...(inMemory ? {} : { dataDir: location }), ...pgliteOptions() });
    const db = drizzlePglite(client);
    return {
      db: db as unknown as Database,
      kind: "pglite",
      // In-process: a notification arrives after the statement whose transaction sent it.
      async listen(channel, onNotify) {
        const unsubscribe = await client.listen(channel, onNotify);
        onNotify();
        return () => unsubscribe();
      },
      // PGlite is one in-process connection: nothing else can migrate concurrently.
      migrate: () => applyMigrations(db),
      close: () => client.close(),
    };
  }

  const client = postgres(url, {
    max: poolSize,
    onnotice: () => {},
    ...ANSWER_BOUNDS,
    idle_timeout: 60,
    connection: { application_name: "paystream", TimeZone: "UTC" },
  });
  const db = drizzlePostgres(preparingStatements(client)) as unknown as Database;
  return {
    db,
    kind: "postgres",
    async listen(channel, onNotify) {
      // postgres-js keeps one connection for LISTEN and re-listens after it reconnects (calling onlisten again).
      const request = await client.listen(channel, onNotify, onNotify);
      return () => request.unlisten();
    },
    async migrate() {
      // One dedicated connection: the advisory lock is held by a session.
      const single = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
      try {
        const lockedDb = drizzlePostgres(single);
        await lockedDb.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK})`);
        await applyMigrations(lockedDb);
      } finally {
        await single.end({ timeout: 5 });
      }
    },
    close: () => client.end({ timeout: 3 }),
  };
}

/**
 * The client as drizzle should see it: every statement with parameters is a named prepared
 * statement, cached per connection. drizzle asks postgres-js for unnamed statements (it prepares
 * only queries given a name), and postgres-js then sends Parse + Describe and waits for the
 * parameter types before it can send Bind + Execute: two round trips and a server-side parse for
 * every statement. Prepared, a statement seen before on a connection is one Bind + Execute.
 * (Measured on intake: every batch insert missed; profile in BENCHMARKS.md.) Our statements keep
 * their text fixed and pass batches as one jsonb parameter, so a connection holds few of them;
 * postgres-js re-prepares one that a schema change invalidated. Transactions and savepoints
 * get the same client.
 */
function preparingStatements(client: postgres.Sql): postgres.Sql {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === "unsafe")
        return (query: string, args?: unknown[], options?: Record<string, unknown>) =>
          target.unsafe(query, args as postgres.ParameterOrJSON<never>[], { ...options, prepare: true });
      if (property === "begin" || property === "savepoint")
        return (...args: unknown[]) => {
          const run = args.pop() as (sql: postgres.Sql) => unknown;
          return (Reflect.get(target, property, receiver) as (...a: unknown[]) => unknown).call(target, ...args, (sql: postgres.Sql) =>
            run(preparingStatements(sql)),
          );
        };
      return Reflect.get(target, property, receiver);
    },
  });
}

