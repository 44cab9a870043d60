CREATE TABLE "card_secrets" (
	"payment_id" text PRIMARY KEY NOT NULL,
	"key_id" text NOT NULL,
	"sealed" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"merchant_id" text NOT NULL,
	"key" text NOT NULL,
	"request_hash" text NOT NULL,
	"payment_id" text NOT NULL,
	"status_code" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "idempotency_keys_merchant_id_key_pk" PRIMARY KEY("merchant_id","key")
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"topic" text NOT NULL,
	"payment_id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"available_at" timestamp with time zone DEFAULT now() NOT NULL,
	"lease_until" timestamp with time zone,
	"deliveries" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "payments" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"status" text DEFAULT 'PENDING' NOT NULL,
	"amount" integer NOT NULL,
	"currency" text NOT NULL,
	"description" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"card_brand" text NOT NULL,
	"card_last4" text NOT NULL,
	"card_exp_month" smallint NOT NULL,
	"card_exp_year" smallint NOT NULL,
	"card_fingerprint" text NOT NULL,
	"customer_email" text NOT NULL,
	"customer_name" text NOT NULL,
	"customer_reference" text,
	"gateway" text NOT NULL,
	"gateway_reference" text,
	"failure_code" text,
	"failure_message" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"lease_expires_at" timestamp with time zone,
	"request_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	CONSTRAINT "payments_status_check" CHECK ("payments"."status" in ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED')),
	CONSTRAINT "payments_amount_check" CHECK ("payments"."amount" between 1 and 99999999),
	CONSTRAINT "payments_final_has_completed_at" CHECK (("payments"."status" in ('COMPLETED', 'FAILED')) = ("payments"."completed_at" is not null))
);
--> statement-breakpoint
CREATE TABLE "simulator_charges" (
	"idempotency_key" text PRIMARY KEY NOT NULL,
	"payment_id" text NOT NULL,
	"outcome" text NOT NULL,
	"decline_code" text,
	"reference" text NOT NULL,
	"amount" integer NOT NULL,
	"currency" text NOT NULL,
	"requests" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "outbox_due_idx" ON "outbox" USING btree ("topic","available_at");--> statement-breakpoint
CREATE INDEX "outbox_payment_idx" ON "outbox" USING btree ("payment_id");--> statement-breakpoint
CREATE INDEX "outbox_leased_idx" ON "outbox" USING btree ("lease_until") WHERE lease_until is not null;--> statement-breakpoint
CREATE INDEX "payments_merchant_id_idx" ON "payments" USING btree ("merchant_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "payments_merchant_status_id_idx" ON "payments" USING btree ("merchant_id","status","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "payments_unfinished_idx" ON "payments" USING btree ("updated_at") WHERE status in ('PENDING', 'PROCESSING');--> statement-breakpoint
CREATE INDEX "simulator_charges_payment_idx" ON "simulator_charges" USING btree ("payment_id");