import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import type { Database } from "../modules/database";

export interface DatabaseHandle {
  db: Database;
  kind: "postgres" | "pglite";
  /** Applies the committed drizzle migrations; safe when several processes start at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export const MIGRATIONS_FOLDER = resolve(import.meta.dir, "../drizzle");

/** Arbitrary constant: the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK = 7_345_001;

export function openDatabase(url: string, poolSize: number): DatabaseHandle {
  if (url.startsWith("pglite://")) {
    const location = url.slice("pglite://".length);
    let client: PGlite;
    if (location === "memory" || location === "") client = new PGlite();
    else {
      mkdirSync(location, { recursive: true });
      client = new PGlite(location);
    }
    const db = drizzlePglite(client) as unknown as Database;
    return {
      db,
      kind: "pglite",
      // PGlite is one in-process connection: nothing else can migrate concurrently.
      migrate: () => migratePglite(drizzlePglite(client), { migrationsFolder: MIGRATIONS_FOLDER }),
      close: () => client.close(),
    };
  }

  const client = postgres(url, {
    max: poolSize,
    onnotice: () => {},
    // Fail fast while the server is away instead of queueing requests behind a dead socket.
    connect_timeout: 5,
    idle_timeout: 60,
    connection: { application_name: "paystream", TimeZone: "UTC" },
  });
  const db = drizzlePostgres(client) as unknown as Database;
  return {
    db,
    kind: "postgres",
    async migrate() {
      // One dedicated connection: the advisory lock is held by a session.
      const single = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
      try {
        const lockedDb = drizzlePostgres(single);
        await lockedDb.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK})`);
        await migratePostgres(lockedDb, { migrationsFolder: MIGRATIONS_FOLDER });
      } finally {
        await single.end({ timeout: 5 });
      }
    },
    close: () => client.end({ timeout: 3 }),
  };
}
