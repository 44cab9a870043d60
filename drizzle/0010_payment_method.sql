ALTER TABLE "payments" ALTER COLUMN "card_brand" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ALTER COLUMN "card_last4" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ALTER COLUMN "card_exp_month" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ALTER COLUMN "card_exp_year" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ALTER COLUMN "card_fingerprint" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "payment_method" text;--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_card_view_check" CHECK ("payments"."payment_method" is not null or ("payments"."card_brand" is not null and "payments"."card_last4" is not null and "payments"."card_exp_month" is not null and "payments"."card_exp_year" is not null));