CREATE TABLE "kafka_relayed" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"topic" text NOT NULL,
	"partition" integer NOT NULL,
	"offset" bigint NOT NULL,
	"payment_id" text NOT NULL,
	"refund_id" text,
	"due_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
DROP INDEX "outbox_payment_idx";--> statement-breakpoint
CREATE INDEX "kafka_relayed_payment_idx" ON "kafka_relayed" USING btree ("payment_id","topic");--> statement-breakpoint
CREATE INDEX "kafka_relayed_offset_idx" ON "kafka_relayed" USING btree ("topic","partition","offset");--> statement-breakpoint
CREATE INDEX "outbox_payment_idx" ON "outbox" USING btree ("payment_id","topic");