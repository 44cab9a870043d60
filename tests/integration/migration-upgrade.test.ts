import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { eq, sql } from "drizzle-orm";
import { PgDialect, type PgSession } from "drizzle-orm/pg-core";
import type { Database } from "../../modules/database";
import { paypalAmount } from "../../modules/gateways/paypal/paypal-units";
import { acceptsEveryCard } from "../../modules/gateways/configuration";
import { findIdempotencyRecord } from "../../modules/idempotency";
import { canonicalJson, createIntakeService, createRefundService } from "../../modules/intake";
import { failRefundAfterSuccess, newPaymentId, newRefundId, recordDispute } from "../../modules/payments";
import { webhookEvents } from "../../modules/webhooks";
import { CardVault } from "../../modules/vault";
import { type DatabaseHandle, openDatabase } from "../../src/db";
import { MIGRATIONS } from "../../src/embedded-assets";
import { BACKENDS, createPostgresDatabase } from "../support/db";
import { paymentBody } from "../support/payments";

/** The last migration of the previous release: the databases in service are at this one. */
const PREVIOUS_RELEASE = "0008_outbox_notify_rows";

const journal = JSON.parse(readFileSync(resolve(import.meta.dir, "../../drizzle/meta/_journal.json"), "utf8")) as { entries: { tag: string }[] };
const previousRelease = MIGRATIONS.slice(0, journal.entries.findIndex((entry) => entry.tag === PREVIOUS_RELEASE) + 1);

/** What drizzle's migrator does on a start of the previous release: its migrations, recorded alike. */
function migrateToPreviousRelease(db: Database): Promise<void> {
  return new PgDialect().migrate(previousRelease, db._.session as unknown as PgSession, { migrationsFolder: "drizzle" });
}

/**
 * A database the previous release ran, upgraded by a start of this one: what it stored must keep
 * answering as it did. Its rows are written with that release's SQL, not with this code.
 */
for (const backend of BACKENDS) {
  describe(`upgrading a populated database from ${PREVIOUS_RELEASE} [${backend}]`, () => {
    const vault = new CardVault([Buffer.alloc(32, 1)], Buffer.alloc(32, 2));
    const gateway = { name: "paypal" as const, toGatewayAmount: paypalAmount, acceptsCardData: acceptsEveryCard };
    const paymentId = newPaymentId();
    const refundId = newRefundId();
    const paymentRequest = paymentBody();
    const refundRequest = { amount: 500, reason: "requested_by_customer" };
    let handle: DatabaseHandle;
    let drop = async () => {};

    beforeAll(async () => {
      let url = "pglite://memory";
      if (backend === "postgres") {
        const created = await createPostgresDatabase();
        url = created.url;
        drop = created.drop;
      }
      const previous = openDatabase(url, 2);
      await migrateToPreviousRelease(previous.db);
      // The previous release stored payments' keys as sent and refunds' keys behind 'refunds' and U+001F, both under payment_id.
      await previous.db.execute(sql`
        insert into payments (id, merchant_id, amount, currency, card_brand, card_last4, card_exp_month, card_exp_year, card_fingerprint,
                              customer_email, customer_name, gateway, status, amount_captured, amount_refunded, completed_at)
        values (${paymentId}, 'm1', 1999, 'USD', 'visa', '4242', 12, 2030, 'fp', 'jane@example.com', 'Jane Doe', 'paypal',
                'COMPLETED', 1999, 500, now())`);
      await previous.db.execute(sql`insert into refunds (id, payment_id, merchant_id, amount, currency, reason) values (${refundId}, ${paymentId}, 'm1', 500, 'USD', 'requested_by_customer')`);
      await previous.db.execute(sql`
        insert into idempotency_keys (merchant_id, key, request_hash, payment_id, status_code) values
          ('m1', 'order-17', ${vault.keyedDigest(canonicalJson(paymentRequest))}, ${paymentId}, 202),
          ('m1', ${"refunds\u001forder-17"}, ${vault.keyedDigest(canonicalJson({ paymentId, body: refundRequest }))}, ${refundId}, 202)`);
      // A merchant event of that release: its type must pass the widened check (0011_gateway_events).
      await previous.db.execute(sql`
        insert into webhook_events (id, merchant_id, payment_id, subject_id, type, body)
        values ('evt_before_upgrade', 'm1', ${paymentId}, ${paymentId}, 'payment.completed', '{}')`);
      if (backend === "pglite") {
        handle = previous;
      } else {
        // A deploy: the previous release's process goes, this release's starts and migrates.
        await previous.close();
        handle = openDatabase(url, 5);
      }
      await handle.migrate();
    });
    afterAll(async () => {
      await handle.close();
      await drop();
    });

    it("moves each key into its scope, the refund's without its prefix, and keeps the resource it answers with", async () => {
      expect(await findIdempotencyRecord(handle.db, "payments", "m1", "order-17")).toMatchObject({ resourceId: paymentId, statusCode: 202 });
      expect(await findIdempotencyRecord(handle.db, "refunds", "m1", "order-17")).toMatchObject({ resourceId: refundId, statusCode: 202 });
      expect(await findIdempotencyRecord(handle.db, "refunds", "m1", "refunds\u001forder-17")).toBeUndefined();
    });

    it("replays a payment and a refund whose keys were recorded before the upgrade", async () => {
      const intake = createIntakeService({ db: handle.db, vault, gateway });
      const payment = await intake.createPayment({ merchantId: "m1", body: paymentRequest, idempotencyKey: "order-17", requestId: "req_retry" });
      expect(payment.kind === "replayed" && { id: payment.payment.id, statusCode: payment.statusCode }).toEqual({ id: paymentId, statusCode: 202 });

      const refunds = createRefundService({ db: handle.db, digests: vault, gateway });
      const refund = await refunds.createRefund({ merchantId: "m1", paymentId, body: refundRequest, idempotencyKey: "order-17", requestId: "req_retry" });
      expect(refund.kind === "replayed" && { id: refund.refund.id, statusCode: refund.statusCode }).toEqual({ id: refundId, statusCode: 202 });
    });

    it("reads a card payment written before the upgrade as before: its card view, and no payment method (0010_payment_method)", async () => {
      const intake = createIntakeService({ db: handle.db, vault, gateway });
      expect(await intake.getPayment("m1", paymentId)).toMatchObject({
        id: paymentId,
        status: "COMPLETED",
        card: { brand: "visa", last4: "4242", expMonth: 12, expYear: 2030, fingerprint: "fp" },
        paymentMethod: null,
      });
    });

    it("gives a payment written before the upgrade no disputes, then records a dispute and a late refund failure on it (0011_gateway_events)", async () => {
      const intake = createIntakeService({ db: handle.db, vault, gateway });
      expect(await intake.getPayment("m1", paymentId)).toMatchObject({ amountRefunded: 500, amountDisputed: 0 });
      const [event] = await handle.db.select().from(webhookEvents).where(eq(webhookEvents.id, "evt_before_upgrade"));
      expect(event?.type).toBe("payment.completed");

      const change = await handle.db.transaction((tx) =>
        recordDispute(tx, { id: paymentId, merchantId: "m1", gateway: "paypal" }, {
          gatewayReference: "PP-D-1",
          amount: 1999,
          currency: "USD",
          reason: "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
          status: "needs_response",
          evidenceDueBy: null,
        }),
      );
      expect(change.kind).toBe("created");
      expect(await intake.getPayment("m1", paymentId)).toMatchObject({ amountDisputed: 1999 });

      // The refund of that release, as its worker would have ended it; then the gateway fails it late.
      await handle.db.execute(sql`update refunds set status = 'SUCCEEDED', completed_at = now(), gateway_reference = 'gw_refund_1' where id = ${refundId}`);
      expect((await failRefundAfterSuccess(handle.db, refundId, { code: "refund_failed", message: "late" }))?.status).toBe("FAILED");
      expect(await intake.getPayment("m1", paymentId)).toMatchObject({ amountRefunded: 0 });
    });

    it("still refuses a key recorded before the upgrade when it comes with another body", async () => {
      const intake = createIntakeService({ db: handle.db, vault, gateway });
      const payment = await intake.createPayment({ merchantId: "m1", body: paymentBody(undefined, { amount: 2500 }), idempotencyKey: "order-17", requestId: "req_other" });
      expect(payment).toEqual({ kind: "idempotency_key_reused" });

      const refunds = createRefundService({ db: handle.db, digests: vault, gateway });
      const refund = await refunds.createRefund({ merchantId: "m1", paymentId, body: { amount: 400 }, idempotencyKey: "order-17", requestId: "req_other" });
      expect(refund).toEqual({ kind: "idempotency_key_reused" });
    });
  });
}
