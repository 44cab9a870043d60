import { pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** The only place a card number lives: sealed with AES-256-GCM, deleted when the payment is final. */
export const cardSecrets = pgTable("card_secrets", {
  paymentId: text("payment_id").primaryKey(),
  keyId: text("key_id").notNull(),
  /** `v2.` base64(iv) . base64(ciphertext) . base64(tag), bound to payment_id (see KeyRing.seal); older rows lack `v2.` */
  sealed: text("sealed").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Keys the vault derives once and keeps across CARD_ENCRYPTION_KEY rotations (today: the card
 * fingerprint key), each sealed under the card key ring and re-sealed under the active key at start.
 */
export const vaultKeys = pgTable("vault_keys", {
  name: text("name").primaryKey(),
  keyId: text("key_id").notNull(),
  sealed: text("sealed").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});
