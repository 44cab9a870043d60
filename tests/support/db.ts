import { randomBytes } from "node:crypto";
import postgres from "postgres";
import type { Database } from "../../modules/database";
import { type DatabaseHandle, openDatabase } from "../../src/db";

/** The real PostgreSQL server the suite runs against (trust auth on this machine). */
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export type Backend = "pglite" | "postgres";
export const BACKENDS: Backend[] = ["pglite", "postgres"];

export interface TestDatabase {
  backend: Backend;
  url: string;
  db: Database;
  handle: DatabaseHandle;
  /** Closes the pool and drops the database (PostgreSQL) or the in-memory instance (PGlite). */
  drop(): Promise<void>;
}

/** A one-connection client on the admin database, to create, drop or cut off test databases. */
export function openAdmin(): postgres.Sql {
  return postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
}

/** Ends every session on database `name` but the caller's own; resolves to how many it ended. */
export async function terminateSessions(admin: postgres.Sql, name: string): Promise<number> {
  const rows = await admin.unsafe(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name}' and pid <> pg_backend_pid()`);
  return rows.length;
}

/**
 * A database outage as the tests cause it: new connections to `name` are refused, open ones
 * terminated. A connection that was starting up when connections were disallowed can still
 * complete and serve (seen: a request answered 409 "mid-outage"), so sessions are ended until
 * two looks in a row find none.
 */
export async function cutDatabase(admin: postgres.Sql, name: string): Promise<void> {
  await admin.unsafe(`alter database ${name} with allow_connections false`);
  for (let quiet = 0; quiet < 2; ) {
    quiet = (await terminateSessions(admin, name)) === 0 ? quiet + 1 : 0;
    if (quiet < 2) await Bun.sleep(20);
  }
}

/** Ends cutDatabase's outage: `name` accepts connections again. */
export async function restoreDatabase(admin: postgres.Sql, name: string): Promise<void> {
  await admin.unsafe(`alter database ${name} with allow_connections true`);
}

function urlFor(database: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** An empty PostgreSQL database, created for one test file and dropped afterwards. */
export async function createPostgresDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `paystream_test_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const admin = openAdmin();
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  return {
    url: urlFor(name),
    name,
    async drop() {
      const adminDrop = openAdmin();
      await adminDrop.unsafe(`drop database if exists ${name} with (force)`);
      await adminDrop.end();
    },
  };
}

/** A migrated database of the given backend. */
export async function createTestDatabase(backend: Backend, poolSize = 10): Promise<TestDatabase> {
  if (backend === "pglite") {
    const handle = openDatabase("pglite://memory", 1);
    await handle.migrate();
    return { backend, url: "pglite://memory", db: handle.db, handle, drop: () => handle.close() };
  }
  const created = await createPostgresDatabase();
  const handle = openDatabase(created.url, poolSize);
  await handle.migrate();
  return {
    backend,
    url: created.url,
    db: handle.db,
    handle,
    async drop() {
      await handle.close();
      await created.drop();
    },
  };
}
