import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { type FakePaypal, type PaypalEvent, startFakePaypal } from "../support/fake-paypal";
import { startMerchantReceiver, waitFor } from "../support/merchant-receiver";
import { CARDS, paymentBody } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

/** On a shared, loaded machine a start (migrations on PGlite) can take longer than startService's default. */
const START_TIMEOUT_MS = 90_000;

type View = Record<string, unknown> & { id: string; status: string };

/**
 * PayPal's webhook events through the real program (docs/CONTRACT.md §10), against a local fake of
 * PayPal that sends its transmission headers (SHA256withRSA) and answers verify-webhook-signature
 * for its webhook id only: a delivery PayPal does not confirm changes nothing, a redelivery has one
 * effect, and a dispute follows PayPal's record, not the body.
 */
describe("PayPal events through the real program (GATEWAY=paypal against a local fake of PayPal)", () => {
  let fake: FakePaypal;
  let service: ServiceProcess;
  let receiver: ReturnType<typeof startMerchantReceiver>;

  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${service.url}${path}`, { ...init, headers: { authorization: "Bearer sk_test_local", "content-type": "application/json", ...init.headers } });
  const read = async (path: string): Promise<View> => (await (await call(path)).json()) as View;
  async function completedPayment(): Promise<View & { gatewayReference: string }> {
    const created = (await (await call("/v1/payments", { method: "POST", body: JSON.stringify(paymentBody(CARDS.visa)) })).json()) as View;
    return waitFor("the payment to complete", async () => {
      const view = await read(`/v1/payments/${created.id}`);
      return view.status === "COMPLETED" ? (view as View & { gatewayReference: string }) : undefined;
    });
  }

  beforeAll(async () => {
    fake = await startFakePaypal({ cardProcessing: true });
    receiver = startMerchantReceiver();
    service = await startService({
      role: "all",
      env: {
        DATABASE_URL: "pglite://memory",
        GATEWAY: "paypal",
        PAYPAL_CLIENT_ID: fake.clientId,
        PAYPAL_CLIENT_SECRET: fake.clientSecret,
        PAYPAL_API_BASE: fake.url,
        PAYPAL_WEBHOOK_ID: fake.webhookId,
        GATEWAY_TIMEOUT_MS: "2000",
        WEBHOOK_RETRY_BASE_MS: "200",
        WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true",
      },
      timeoutMs: START_TIMEOUT_MS,
    });
    fake.setWebhookUrl(`${service.url}/v1/gateway-events/paypal`);
    const endpoint = await call("/v1/webhook-endpoint", { method: "PUT", body: JSON.stringify({ url: receiver.url }) });
    receiver.useSecret(((await endpoint.json()) as { secret: string }).secret);
  }, START_TIMEOUT_MS + 10_000);
  afterAll(async () => {
    await service?.stop();
    receiver?.stop();
    await fake?.stop();
  });

  it("refuses with 400 a delivery PayPal does not confirm, and changes nothing", async () => {
    const payment = await completedPayment();
    const body = JSON.stringify({
      id: "WH-FORGED-1",
      event_version: "1.0",
      event_type: "CUSTOMER.DISPUTE.CREATED",
      resource_type: "dispute",
      resource: { dispute_id: "PP-D-1", status: "WAITING_FOR_SELLER_RESPONSE", disputed_transactions: [{ seller_transaction_id: payment.gatewayReference }] },
    });
    const signed = fake.transmissionHeaders(body);
    const forged: [string, string, Record<string, string>][] = [
      ["no transmission headers", body, {}],
      ["signed for another webhook", body, fake.transmissionHeaders(body, "OTHERWEBHOOK01")],
      ["a body changed after signing", body.replace("WH-FORGED-1", "WH-FORGED-2"), signed],
      ["a signature of another body", body, fake.transmissionHeaders(`${body} `)],
    ];
    for (const [why, sent, headers] of forged) {
      const answer = await fake.deliverRaw(sent, headers);
      expect({ why, status: answer.status, code: (answer.body as { code?: string }).code }).toEqual({ why, status: 400, code: "invalid_signature" });
    }
    expect(await (await call(`/v1/payments/${payment.id}/disputes`)).json()).toEqual({ data: [], hasMore: false });
  });

  it("follows a dispute by PayPal's record from CUSTOMER.DISPUTE.CREATED to RESOLVED, once per event, whatever a body claims", async () => {
    const payment = await completedPayment();
    const { dispute, delivery } = await fake.openDispute(payment.gatewayReference);
    expect(delivery).toEqual({ status: 200, body: { received: true, result: "applied" } });
    const created = fake.events.at(-1) as PaypalEvent;
    expect(await fake.redeliver(created)).toEqual({ status: 200, body: { received: true, result: "duplicate" } });

    const [shown] = ((await (await call(`/v1/payments/${payment.id}/disputes`)).json()) as { data: View[] }).data;
    expect(shown).toMatchObject({
      paymentId: payment.id,
      amount: 1999,
      currency: "USD",
      reason: "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
      status: "needs_response",
      gatewayReference: dispute.dispute_id,
      evidenceDueBy: dispute.seller_response_due_date,
    });
    const disputeId = shown!.id;
    expect((await read(`/v1/payments/${payment.id}`)).amountDisputed).toBe(1999);

    expect(await fake.updateDispute(dispute.dispute_id, "UNDER_REVIEW")).toEqual({ status: 200, body: { received: true, result: "applied" } });
    expect((await read(`/v1/disputes/${disputeId}`)).status).toBe("under_review");

    // Signed by PayPal, but PayPal's record says UNDER_REVIEW: the body's "lost" changes nothing.
    const lying = await fake.sendEvent("CUSTOMER.DISPUTE.RESOLVED", "dispute", { ...dispute, status: "RESOLVED", dispute_outcome: { outcome_code: "RESOLVED_BUYER_FAVOUR" } });
    expect(lying).toEqual({ status: 200, body: { received: true, result: "unchanged" } });
    expect((await read(`/v1/disputes/${disputeId}`)).status).toBe("under_review");

    expect(await fake.updateDispute(dispute.dispute_id, "RESOLVED", "RESOLVED_SELLER_FAVOUR")).toEqual({ status: 200, body: { received: true, result: "applied" } });
    expect((await read(`/v1/disputes/${disputeId}`)).status).toBe("won");
    expect((await read(`/v1/payments/${payment.id}`)).amountDisputed).toBe(0);

    await waitFor("dispute.closed at the merchant", async () => (receiver.typesAbout(disputeId).includes("dispute.closed") ? true : undefined));
    await Bun.sleep(500);
    expect(receiver.typesAbout(disputeId)).toEqual(["dispute.closed", "dispute.created", "dispute.updated"]);
  });

  it("acknowledges events about captures paystream did not make as ignored", async () => {
    const answer = await fake.sendEvent("PAYMENT.CAPTURE.COMPLETED", "capture", { id: "5O190127TN364715T", status: "COMPLETED" });
    expect(answer).toEqual({ status: 200, body: { received: true, result: "ignored" } });
  });
});
