-- The sweepers' partial indexes gain an always-true `updated_at is not null`, so that a batch claim or
-- outcome statement, whose guard implies an unfinished status, can no longer be planned through them
-- (with stale statistics it read every unfinished payment per batch instead of looking up its ids).
-- Rebuilding the two indexes locks writes to payments and refunds while they are built.
DROP INDEX "payments_unfinished_idx";--> statement-breakpoint
DROP INDEX "refunds_pending_idx";--> statement-breakpoint
CREATE INDEX "payments_unfinished_idx" ON "payments" USING btree ("updated_at") WHERE status in ('PENDING', 'PROCESSING', 'AUTHORIZED') and updated_at is not null;--> statement-breakpoint
CREATE INDEX "refunds_pending_idx" ON "refunds" USING btree ("updated_at") WHERE status = 'PENDING' and updated_at is not null;