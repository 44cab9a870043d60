-- Idempotency-Key records name their scope and the resource they answer with. Until now payments'
-- keys were stored as sent, refunds' keys prefixed with 'refunds' and U+001F (a character no key
-- sent can hold), and the resource's id sat in a column called payment_id even for refunds.
-- The old primary key goes first: a refund's key without its prefix may equal a payment's key of
-- the same merchant, which (merchant_id, scope, key) tells apart and (merchant_id, key) did not.
ALTER TABLE "idempotency_keys" DROP CONSTRAINT "idempotency_keys_merchant_id_key_pk";--> statement-breakpoint
ALTER TABLE "idempotency_keys" RENAME COLUMN "payment_id" TO "resource_id";--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD COLUMN "scope" text DEFAULT 'payments' NOT NULL;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ALTER COLUMN "scope" DROP DEFAULT;--> statement-breakpoint
UPDATE "idempotency_keys" SET "scope" = 'refunds', "key" = substr("key", 9) WHERE left("key", 8) = 'refunds' || chr(31);--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_merchant_id_scope_key_pk" PRIMARY KEY("merchant_id","scope","key");--> statement-breakpoint
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_scope_check" CHECK ("idempotency_keys"."scope" in ('payments', 'refunds', 'capture', 'cancel'));
