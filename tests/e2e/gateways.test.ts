import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { startFakePaypal } from "../support/fake-paypal";
import { startFakeStripe } from "../support/fake-stripe";
import { CARDS, client, paymentBody, waitForFinal } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

interface Fake {
  url: string;
  chargesFor(paymentId: string): number;
  stop(): Promise<void>;
}

const cases: { gateway: "stripe" | "paypal"; start: () => Promise<{ fake: Fake; env: Record<string, string>; secrets: string[] }> }[] = [
  {
    gateway: "stripe",
    start: async () => {
      const fake = await startFakeStripe();
      return { fake, env: { GATEWAY: "stripe", STRIPE_SECRET_KEY: fake.secretKey, STRIPE_API_BASE: fake.url }, secrets: [fake.secretKey] };
    },
  },
  {
    gateway: "paypal",
    start: async () => {
      const fake = await startFakePaypal();
      return {
        fake,
        env: { GATEWAY: "paypal", PAYPAL_CLIENT_ID: fake.clientId, PAYPAL_CLIENT_SECRET: fake.clientSecret, PAYPAL_API_BASE: fake.url },
        secrets: [fake.clientSecret],
      };
    },
  },
];

for (const { gateway, start } of cases) {
  describe(`the real program with GATEWAY=${gateway} against a local fake of its API`, () => {
    let fake: Fake;
    let secrets: string[];
    let service: ServiceProcess;

    beforeAll(async () => {
      const started = await start();
      fake = started.fake;
      secrets = started.secrets;
      service = await startService({ role: "all", env: { DATABASE_URL: "pglite://memory", GATEWAY_TIMEOUT_MS: "2000", ...started.env } });
    });
    afterAll(async () => {
      await service?.stop();
      await fake?.stop();
    });

    it("takes a good card from POST to COMPLETED with the gateway's reference, charged once", async () => {
      const res = await client(service.url).post(paymentBody(CARDS.visa));
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const final = await waitForFinal(service.url, [id]);
      expect(final.get(id)?.status).toBe("COMPLETED");
      const view = (await (await client(service.url).get(id)).json()) as { gateway: string; gatewayReference: string };
      expect(view.gateway).toBe(gateway);
      expect(view.gatewayReference).toBeTruthy();
      expect(fake.chargesFor(id)).toBe(1);
    });

    it("takes declined cards to FAILED with the mapped code", async () => {
      const expected: [string, string][] = [
        [CARDS.declined, "card_declined"],
        [CARDS.insufficientFunds, "insufficient_funds"],
      ];
      const ids = new Map<string, string>();
      for (const [card, code] of expected) {
        const { id } = (await (await client(service.url).post(paymentBody(card))).json()) as { id: string };
        ids.set(id, code);
      }
      const final = await waitForFinal(service.url, [...ids.keys()]);
      for (const [id, code] of ids) {
        expect(final.get(id)).toMatchObject({ status: "FAILED", failureCode: code });
        expect(fake.chargesFor(id)).toBe(0);
      }
    });

    it("never logs the card number or the gateway secret", () => {
      const logs = service.output();
      for (const secret of [...secrets, CARDS.visa, CARDS.declined]) expect(logs).not.toContain(secret);
    });
  });
}
