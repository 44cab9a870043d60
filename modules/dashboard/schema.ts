import { index, pgTable, text, timestamp } from "drizzle-orm/pg-core";

const utc = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/**
 * Signed-in dashboard pages. A row lives in the database, not in one process's memory, so a
 * session opened through one api process is honoured by every other and a sign-out through any
 * of them ends it everywhere.
 */
export const dashboardSessions = pgTable(
  "dashboard_sessions",
  {
    /**
     * The keyed digest of the cookie's token: HMAC-SHA-256 under the vault's digest key, which is
     * stored only sealed under CARD_ENCRYPTION_KEY (README "Dashboard"). The token itself is never
     * stored, and a copy of this table without that key can neither be replayed as a cookie nor
     * checked against a guessed or stolen token. It used to be an unkeyed SHA-256: the migration
     * `dashboard_sessions_keyed` deletes the sessions stored that way (their users sign in again).
     */
    tokenHash: text("token_hash").primaryKey(),
    merchantId: text("merchant_id").notNull(),
    /**
     * A short tag of the API key the session was opened with: once that key is taken out of
     * API_KEYS, its sessions stop working too (64 bits of a hash tell nothing about a key).
     */
    keyTag: text("key_tag").notNull(),
    createdAt: utc("created_at").notNull().defaultNow(),
    /** Judged by the database's clock, the one every api process shares. */
    expiresAt: utc("expires_at").notNull(),
  },
  (t) => [index("dashboard_sessions_expires_at_idx").on(t.expiresAt)],
);
