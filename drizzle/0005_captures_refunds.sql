CREATE TABLE "refunds" (
	"id" text PRIMARY KEY NOT NULL,
	"payment_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"amount" integer NOT NULL,
	"currency" text NOT NULL,
	"status" text DEFAULT 'PENDING' NOT NULL,
	"reason" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"failure_code" text,
	"failure_message" text,
	"gateway_reference" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"lease_expires_at" timestamp with time zone,
	"outcome_unknown_since" timestamp with time zone,
	"reconciling" boolean DEFAULT false NOT NULL,
	"next_check_at" timestamp with time zone,
	"reconcile_checks" integer DEFAULT 0 NOT NULL,
	"request_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	CONSTRAINT "refunds_status_check" CHECK ("refunds"."status" in ('PENDING', 'SUCCEEDED', 'FAILED')),
	CONSTRAINT "refunds_reason_check" CHECK ("refunds"."reason" is null or "refunds"."reason" in ('duplicate', 'fraudulent', 'requested_by_customer')),
	CONSTRAINT "refunds_amount_check" CHECK ("refunds"."amount" >= 1),
	CONSTRAINT "refunds_final_has_completed_at" CHECK (("refunds"."status" <> 'PENDING') = ("refunds"."completed_at" is not null))
);
--> statement-breakpoint
ALTER TABLE "payments" DROP CONSTRAINT "payments_status_check";--> statement-breakpoint
ALTER TABLE "payments" DROP CONSTRAINT "payments_final_has_completed_at";--> statement-breakpoint
ALTER TABLE "webhook_events" DROP CONSTRAINT "webhook_events_type_check";--> statement-breakpoint
DROP INDEX "webhook_events_payment_type_key";--> statement-breakpoint
DROP INDEX "payments_unfinished_idx";--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "capture_method" text DEFAULT 'automatic' NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "operation" text DEFAULT 'charge' NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "operation_attempts_base" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "capture_amount" integer;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "amount_captured" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "amount_refunded" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "authorization_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "cancellation_reason" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "canceled_at" timestamp with time zone;--> statement-breakpoint
-- Payments completed before captures existed were charged in full: that is what they can refund.
UPDATE "payments" SET "amount_captured" = "amount" WHERE "status" = 'COMPLETED';--> statement-breakpoint
ALTER TABLE "simulator_charges" ADD COLUMN "operation" text DEFAULT 'charge' NOT NULL;--> statement-breakpoint
ALTER TABLE "simulator_charges" ADD COLUMN "refund_id" text;--> statement-breakpoint
ALTER TABLE "simulator_charges" ADD COLUMN "target_reference" text;--> statement-breakpoint
ALTER TABLE "webhook_events" ADD COLUMN "subject_id" text;--> statement-breakpoint
-- Every event so far was about its payment.
UPDATE "webhook_events" SET "subject_id" = "payment_id";--> statement-breakpoint
ALTER TABLE "webhook_events" ALTER COLUMN "subject_id" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "refunds_payment_id_idx" ON "refunds" USING btree ("payment_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "refunds_merchant_id_idx" ON "refunds" USING btree ("merchant_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "refunds_pending_idx" ON "refunds" USING btree ("updated_at") WHERE status = 'PENDING';--> statement-breakpoint
CREATE INDEX "refunds_reconcile_due_idx" ON "refunds" USING btree ("next_check_at") WHERE reconciling and status = 'PENDING';--> statement-breakpoint
CREATE INDEX "payments_authorization_expiry_idx" ON "payments" USING btree ("authorization_expires_at") WHERE status = 'AUTHORIZED';--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_events_subject_type_key" ON "webhook_events" USING btree ("subject_id","type");--> statement-breakpoint
CREATE INDEX "payments_unfinished_idx" ON "payments" USING btree ("updated_at") WHERE status in ('PENDING', 'PROCESSING', 'AUTHORIZED');--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_capture_method_check" CHECK ("payments"."capture_method" in ('automatic', 'manual'));--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_operation_check" CHECK ("payments"."operation" in ('charge', 'authorize', 'capture', 'void'));--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_cancellation_reason_check" CHECK ("payments"."cancellation_reason" is null or "payments"."cancellation_reason" in ('duplicate', 'fraudulent', 'requested_by_customer', 'abandoned', 'expired'));--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_captured_within_amount" CHECK ("payments"."amount_captured" between 0 and "payments"."amount");--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_refunded_within_captured" CHECK ("payments"."amount_refunded" between 0 and "payments"."amount_captured");--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_capture_amount_check" CHECK ("payments"."capture_amount" is null or "payments"."capture_amount" between 1 and "payments"."amount");--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_status_check" CHECK ("payments"."status" in ('PENDING', 'PROCESSING', 'AUTHORIZED', 'COMPLETED', 'FAILED', 'CANCELED'));--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_final_has_completed_at" CHECK (("payments"."status" in ('COMPLETED', 'FAILED', 'CANCELED')) = ("payments"."completed_at" is not null));--> statement-breakpoint
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_type_check" CHECK ("webhook_events"."type" in ('payment.completed', 'payment.failed', 'payment.authorized', 'payment.canceled', 'refund.succeeded', 'refund.failed'));