import { pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** The only place a card number lives: sealed with AES-256-GCM, deleted when the payment is final. */
export const cardSecrets = pgTable("card_secrets", {
  paymentId: text("payment_id").primaryKey(),
  keyId: text("key_id").notNull(),
  /** base64(iv) . base64(ciphertext) . base64(tag) */
  sealed: text("sealed").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});
