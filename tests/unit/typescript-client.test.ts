import { describe, expect, it } from "bun:test";
import { isFinal, verifyWebhookSignature } from "../../clients/typescript";
import { signWebhookPayload } from "../../modules/webhooks";

/** The client's Web Crypto verifier accepts exactly what the service's signer produces, and nothing altered. */
describe("verifyWebhookSignature of the TypeScript client", () => {
  const secret = "whsec_test_0123456789abcdefghijklmnopqrstuv";
  const body = JSON.stringify({ id: "evt_1", type: "payment.completed", data: { payment: { id: "pay_1", amount: 1999 } } });
  const now = Date.now();
  const t = Math.floor(now / 1000);

  it("accepts a signature made by the service, from the string or the bytes of the body", async () => {
    const header = signWebhookPayload(body, secret, t);
    expect(await verifyWebhookSignature(body, header, secret, { now })).toBe(true);
    expect(await verifyWebhookSignature(new TextEncoder().encode(body), header, secret, { now })).toBe(true);
  });

  it("refuses a changed body, another secret, a stale or future timestamp and a malformed header", async () => {
    const header = signWebhookPayload(body, secret, t);
    expect(await verifyWebhookSignature(body.replace("1999", "1"), header, secret, { now })).toBe(false);
    expect(await verifyWebhookSignature(body, header, `${secret}x`, { now })).toBe(false);
    expect(await verifyWebhookSignature(body, header, secret, { now: now + 301_000 })).toBe(false);
    expect(await verifyWebhookSignature(body, header, secret, { now: now - 301_000 })).toBe(false);
    expect(await verifyWebhookSignature(body, header.replace(`t=${t}`, `t=${t + 1}`), secret, { now })).toBe(false);
    for (const bad of [null, "", "v1=abc", `t=${t}`, `t=x,${header.split(",")[1]}`, header.toUpperCase()])
      expect(await verifyWebhookSignature(body, bad, secret, { now })).toBe(false);
  });

  it("accepts the header when any of several v1 signatures matches", async () => {
    const header = signWebhookPayload(body, secret, t);
    const other = signWebhookPayload(body, "whsec_other", t).split(",")[1];
    expect(await verifyWebhookSignature(body, `${header.split(",")[0]},${other},${header.split(",")[1]}`, secret, { now })).toBe(true);
  });
});

describe("isFinal", () => {
  it("is true for COMPLETED, FAILED and CANCELED only", () => {
    expect(["PENDING", "PROCESSING", "AUTHORIZED", "COMPLETED", "FAILED", "CANCELED"].map((status) => isFinal({ status: status as "PENDING" }))).toEqual([
      false,
      false,
      false,
      true,
      true,
      true,
    ]);
  });
});
