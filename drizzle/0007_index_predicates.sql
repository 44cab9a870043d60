-- Index predicates and the outbox's in-place updates.
-- * The sweepers' partial indexes gain an always-true `updated_at is not null`, so that a batch claim
--   or outcome statement, whose guard implies an unfinished status, can no longer be planned through
--   them (with stale statistics it read every unfinished payment per batch instead of its ids).
-- * outbox_leased_idx goes (no query used it), so taking a lease changes no indexed column, and the
--   outbox keeps 30 % of each page free: the claim's update can then stay on the row's page (HOT),
--   with no index writes.
-- Rebuilding the indexes locks writes to payments and refunds while they are built.
DROP INDEX "outbox_leased_idx";--> statement-breakpoint
DROP INDEX "payments_unfinished_idx";--> statement-breakpoint
DROP INDEX "refunds_pending_idx";--> statement-breakpoint
CREATE INDEX "payments_unfinished_idx" ON "payments" USING btree ("updated_at") WHERE status in ('PENDING', 'PROCESSING', 'AUTHORIZED') and updated_at is not null;--> statement-breakpoint
CREATE INDEX "refunds_pending_idx" ON "refunds" USING btree ("updated_at") WHERE status = 'PENDING' and updated_at is not null;--> statement-breakpoint
ALTER TABLE "outbox" SET (fillfactor = 70);
