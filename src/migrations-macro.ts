/**
 * A Bun macro: `committedMigrations()` runs while Bun bundles or transpiles the importing file, and
 * its result is inlined there as a literal. `bun build --compile` therefore carries every committed
 * migration inside the binary (which has no drizzle/ folder next to it), and `bun src/main.ts`
 * re-reads drizzle/ at every start. A migration generated with drizzle-kit needs no code change.
 *
 * It uses drizzle's own reader, so statements, breakpoints, timestamps and hashes are exactly what
 * drizzle's file-based migrators would apply and record.
 */
import { resolve } from "node:path";
import { type MigrationMeta, readMigrationFiles } from "drizzle-orm/migrator";

export function committedMigrations(): MigrationMeta[] {
  return readMigrationFiles({ migrationsFolder: resolve(import.meta.dir, "../drizzle") });
}
