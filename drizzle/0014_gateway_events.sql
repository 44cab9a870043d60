CREATE TABLE "disputes" (
	"id" text PRIMARY KEY NOT NULL,
	"payment_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"gateway" text NOT NULL,
	"gateway_reference" text NOT NULL,
	"amount" integer NOT NULL,
	"currency" text NOT NULL,
	"reason" text NOT NULL,
	"status" text NOT NULL,
	"evidence_due_by" timestamp with time zone,
	"revision" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "disputes_status_check" CHECK ("disputes"."status" in ('needs_response', 'under_review', 'won', 'lost')),
	CONSTRAINT "disputes_amount_check" CHECK ("disputes"."amount" >= 0)
);
--> statement-breakpoint
CREATE TABLE "gateway_events" (
	"gateway" text NOT NULL,
	"event_id" text NOT NULL,
	"type" text NOT NULL,
	"result" text NOT NULL,
	"payment_id" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "gateway_events_gateway_event_id_pk" PRIMARY KEY("gateway","event_id"),
	CONSTRAINT "gateway_events_result_check" CHECK ("gateway_events"."result" in ('applied', 'unchanged', 'ignored'))
);
--> statement-breakpoint
ALTER TABLE "webhook_events" DROP CONSTRAINT "webhook_events_type_check";--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "amount_disputed" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "disputes_gateway_reference_key" ON "disputes" USING btree ("gateway","gateway_reference");--> statement-breakpoint
CREATE INDEX "disputes_payment_id_idx" ON "disputes" USING btree ("payment_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "disputes_merchant_id_idx" ON "disputes" USING btree ("merchant_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "gateway_events_received_at_idx" ON "gateway_events" USING btree ("received_at");--> statement-breakpoint
CREATE INDEX "payments_gateway_reference_idx" ON "payments" USING btree ("gateway_reference") WHERE gateway_reference is not null;--> statement-breakpoint
CREATE INDEX "refunds_gateway_reference_idx" ON "refunds" USING btree ("gateway_reference") WHERE gateway_reference is not null;--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_disputed_not_negative" CHECK ("payments"."amount_disputed" >= 0);--> statement-breakpoint
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_type_check" CHECK ("webhook_events"."type" in ('payment.completed', 'payment.failed', 'payment.authorized', 'payment.canceled', 'payment.requires_action', 'refund.succeeded', 'refund.failed', 'dispute.created', 'dispute.updated', 'dispute.closed'));