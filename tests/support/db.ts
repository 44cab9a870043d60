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

function urlFor(database: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** An empty PostgreSQL database, created for one test file and dropped afterwards. */
export async function createPostgresDatabase(): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `paystream_test_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const admin = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  return {
    url: urlFor(name),
    name,
    async drop() {
      const adminDrop = postgres(ADMIN_DATABASE_URL, { max: 1, onnotice: () => {} });
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
