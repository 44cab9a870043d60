ALTER TABLE "payments" DROP CONSTRAINT "payments_status_check";--> statement-breakpoint
ALTER TABLE "payments" DROP CONSTRAINT "payments_operation_check";--> statement-breakpoint
ALTER TABLE "webhook_events" DROP CONSTRAINT "webhook_events_type_check";--> statement-breakpoint
DROP INDEX "payments_unfinished_idx";--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "return_url" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "cancel_url" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "next_action_url" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "action_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "payer_id" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "payer_email" text;--> statement-breakpoint
ALTER TABLE "simulator_charges" ADD COLUMN "return_url" text;--> statement-breakpoint
ALTER TABLE "simulator_charges" ADD COLUMN "cancel_url" text;--> statement-breakpoint
ALTER TABLE "simulator_charges" ADD COLUMN "payer_id" text;--> statement-breakpoint
ALTER TABLE "simulator_charges" ADD COLUMN "payer_email" text;--> statement-breakpoint
CREATE INDEX "payments_action_due_idx" ON "payments" USING btree ("next_check_at") WHERE status = 'REQUIRES_ACTION';--> statement-breakpoint
CREATE INDEX "payments_unfinished_idx" ON "payments" USING btree ("updated_at") WHERE status in ('PENDING', 'PROCESSING', 'REQUIRES_ACTION', 'AUTHORIZED') and updated_at is not null;--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_status_check" CHECK ("payments"."status" in ('PENDING', 'PROCESSING', 'REQUIRES_ACTION', 'AUTHORIZED', 'COMPLETED', 'FAILED', 'CANCELED'));--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_operation_check" CHECK ("payments"."operation" in ('charge', 'authorize', 'capture', 'void', 'cancel_action'));--> statement-breakpoint
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_type_check" CHECK ("webhook_events"."type" in ('payment.completed', 'payment.failed', 'payment.authorized', 'payment.canceled', 'payment.requires_action', 'refund.succeeded', 'refund.failed'));