import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { eq, sql } from "drizzle-orm";
import { PgDialect, type PgSession } from "drizzle-orm/pg-core";
import { createDashboardSessions } from "../../modules/dashboard";
import { type Database, queryRows } from "../../modules/database";
import { paypalAmount } from "../../modules/gateways/paypal/paypal-units";
import { acceptsEveryCard } from "../../modules/gateways/configuration";
import { findIdempotencyRecord } from "../../modules/idempotency";
import { queuedInTopic, recordRelayed } from "../../modules/broker/kafka/relayed";
import { canonicalJson, createIntakeService, createRefundService } from "../../modules/intake";
import { failRefundAfterSuccess, newPaymentId, newRefundId, recordDispute } from "../../modules/payments";
import { webhookEvents } from "../../modules/webhooks";
import { CardVault } from "../../modules/vault";
import { createWebhookDispatcher, createWebhookService, WebhookSecretBox } from "../../modules/webhooks";
import { type DatabaseHandle, openDatabase } from "../../src/db";
import { MIGRATIONS } from "../../src/embedded-assets";
import { BACKENDS, createPostgresDatabase } from "../support/db";
import { silentLogger } from "../support/harness";
import { paymentBody } from "../support/payments";

/** The last migration of the previous release: the databases in service are at this one. */
const PREVIOUS_RELEASE = "0008_outbox_notify_rows";

const journal = JSON.parse(readFileSync(resolve(import.meta.dir, "../../drizzle/meta/_journal.json"), "utf8")) as { entries: { tag: string }[] };
const previousRelease = MIGRATIONS.slice(0, journal.entries.findIndex((entry) => entry.tag === PREVIOUS_RELEASE) + 1);

const OLD_SESSION_TOKEN = "A".repeat(43);

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
    const webhookSecrets = new WebhookSecretBox(Buffer.alloc(32, 1));
    let receiver: ReturnType<typeof Bun.serve> | undefined;
    const received: string[] = [];

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
      // A webhook endpoint of the previous release (no failure record then) with an event still to deliver.
      receiver = Bun.serve({
        port: 0,
        hostname: "127.0.0.1",
        fetch: async (request) => {
          received.push(await request.text());
          return new Response("ok");
        },
      });
      const sealed = webhookSecrets.seal("whsec_previous_release");
      await previous.db.execute(sql`
        insert into webhook_endpoints (merchant_id, url, secret_key_id, sealed_secret)
        values ('m1', ${`http://127.0.0.1:${receiver.port}/hooks`}, ${sealed.keyId}, ${sealed.sealed})`);
      await previous.db.execute(sql`
        insert into webhook_events (id, merchant_id, payment_id, subject_id, type, body)
        values ('evt_previous_release', 'm1', ${paymentId}, ${paymentId}, 'payment.completed', '{"id":"evt_previous_release"}')`);
      await previous.db.execute(sql`insert into webhook_deliveries (event_id, merchant_id) values ('evt_previous_release', 'm1')`);
      // A dashboard session of the previous release: the unkeyed SHA-256 of its token.
      await previous.db.execute(sql`
        insert into dashboard_sessions (token_hash, merchant_id, key_tag, expires_at)
        values (${createHash("sha256").update(OLD_SESSION_TOKEN).digest("hex")}, 'm1', 'tag', now() + interval '1 hour')`);
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
      receiver?.stop(true);
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

    it("reads a payment written before customer authentication as one that never waited (0011_customer_action): no returnUrl, nextAction or payer", async () => {
      const intake = createIntakeService({ db: handle.db, vault, gateway });
      expect(await intake.getPayment("m1", paymentId)).toMatchObject({ returnUrl: null, cancelUrl: null, nextAction: null, payer: null });
      const [row] = await queryRows<{ status_check: string }>(handle.db, sql`select pg_get_constraintdef(oid) as status_check from pg_constraint where conname = 'payments_status_check'`);
      expect(row?.status_check).toContain("REQUIRES_ACTION");
    });

    it("deletes the dashboard sessions stored as an unkeyed SHA-256 (dashboard_sessions_keyed): their users sign in again", async () => {
      expect(await queryRows(handle.db, sql`select count(*)::int as n from dashboard_sessions`)).toEqual([{ n: 0 }]);
      const sessions = createDashboardSessions(handle.db, { liveApiKeys: ["sk_m1"], digests: vault });
      expect(await sessions.find(OLD_SESSION_TOKEN)).toBeUndefined();
    });

    it("keeps a webhook endpoint enabled with no failure record, and delivers the event it left pending (webhook_fairness)", async () => {
      const service = createWebhookService({ db: handle.db, secrets: webhookSecrets, destinations: { requireHttps: false, allowPrivateNetworks: true } });
      expect(await service.getEndpoint("m1")).toMatchObject({ status: "enabled", failingSince: null, disabledAt: null, disabledReason: null });
      const dispatcher = createWebhookDispatcher(handle.db, silentLogger, {
        secrets: webhookSecrets,
        retryBaseMs: 1_000,
        maxAgeMs: 86_400_000,
        timeoutMs: 2_000,
        destinations: { requireHttps: false, allowPrivateNetworks: true },
      });
      expect(await dispatcher.dispatchOnce()).toBe(1);
      expect(received).toEqual(['{"id":"evt_previous_release"}']);
      expect((await service.listEvents("m1", { limit: 10 })).data[0]?.delivery).toMatchObject({ status: "delivered", attempts: 1 });
    });

    it("gives a payment written before the upgrade no disputes, then records a dispute and a late refund failure on it (0014_gateway_events)", async () => {
      const intake = createIntakeService({ db: handle.db, vault, gateway });
      expect(await intake.getPayment("m1", paymentId)).toMatchObject({ amountRefunded: 500, amountDisputed: 0 });
      const [event] = await handle.db.select().from(webhookEvents).where(eq(webhookEvents.id, "evt_previous_release"));
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

    it("adds an empty kafka_relayed (kafka_relayed), which records a relayed message and holds it queued until its partition consumes it", async () => {
      expect(await queryRows(handle.db, sql`select count(*)::int as n from kafka_relayed`)).toEqual([{ n: 0 }]);
      await recordRelayed(handle.db, [{ topic: "upgrade.requested", partition: 0, offset: 7, paymentId, refundId: null, dueAt: new Date() }]);
      const queued = (from: number) => queuedInTopic("upgrade.requested", [{ partition: 0, from, high: 10 }]).payment(sql`${paymentId}`);
      expect(await queryRows(handle.db, sql`select ${queued(5)} as q`)).toEqual([{ q: true }]);
      expect(await queryRows(handle.db, sql`select ${queued(8)} as q`)).toEqual([{ q: false }]);
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
