import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createCipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import postgres from "postgres";
import { verifyWebhookSignature } from "../../modules/webhooks";
import { createPostgresDatabase } from "../support/db";
import { CARDS, client, paymentBody, waitForFinal } from "../support/payments";
import { type ServiceProcess, startService } from "../support/service-process";

const idOf = (key: Buffer) => createHash("sha256").update(key).digest("hex").slice(0, 12);
const keyIdOf = (base64: string) => idOf(Buffer.from(base64, "base64"));
const webhookKeyIdOf = (base64: string) =>
  idOf(Buffer.from(hkdfSync("sha256", Buffer.from(base64, "base64"), Buffer.alloc(0), "paystream webhook signing secrets", 32)));
/**
 * A random key whose ids the logs show as they are. A key id is 12 hex characters; about one in
 * 3,000 is 12 decimal digits that pass Luhn, and the logger's last-line filter masks such a run as
 * a card number (by design: it errs towards masking). The test compares logged ids, so it draws again.
 */
function randomKey(): string {
  for (;;) {
    const key = randomBytes(32).toString("base64");
    if ([keyIdOf(key), webhookKeyIdOf(key)].every((id) => /[a-f]/.test(id))) return key;
  }
}
const KEY_A = randomKey();
const KEY_B = randomKey();

interface Payment {
  id: string;
  status: string;
  card: { fingerprint: string };
}

interface Received {
  type: string | null;
  paymentId: string;
  signatureOk: boolean;
}

/** A card secret exactly as versions before the payment-bound `v2` format sealed it (key id as the only associated data). */
function sealAsBeforeTheUpgrade(base64Key: string, secret: object): string {
  const key = Buffer.from(base64Key, "base64");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(keyIdOf(base64Key)));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(secret), "utf8"), cipher.final()]);
  return [iv, ciphertext, cipher.getAuthTag()].map((b) => b.toString("base64")).join(".");
}

/**
 * The README's key rotation procedure against the real program on PostgreSQL: run on key A,
 * restart with CARD_ENCRYPTION_KEY=B and CARD_ENCRYPTION_KEYS_RETIRED=A, then (once nothing needs
 * A) without A. A merchant must notice nothing at any step.
 */
describe("rotating CARD_ENCRYPTION_KEY as the README says changes nothing a merchant sees", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let sql: ReturnType<typeof postgres>;
  let service: ServiceProcess | undefined;
  let receiver: ReturnType<typeof Bun.serve>;
  const received: Received[] = [];
  const outputs: string[] = [];
  let secret = "";

  const start = async (env: Record<string, string>, role: "api" | "all" = "all") => {
    service = await startService({
      role,
      env: { DATABASE_URL: database.url, BROKER: "postgres", RATE_LIMIT_RPS: "0", WEBHOOK_RETRY_BASE_MS: "200", WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true", ...env },
    });
    return service;
  };
  const stop = async () => {
    if (!service) return;
    expect(await service.stop()).toBe(0);
    outputs.push(service.output());
    service = undefined;
  };
  const create = async (url: string, body: object, idempotencyKey?: string) => {
    const res = await client(url).post(body, idempotencyKey ? { "idempotency-key": idempotencyKey } : {});
    return { status: res.status, payment: (await res.json()) as Payment };
  };
  const waitForEvents = async (paymentIds: string[]) => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !paymentIds.every((id) => received.some((r) => r.paymentId === id))) await Bun.sleep(100);
    return paymentIds.map((id) => received.filter((r) => r.paymentId === id));
  };

  const visa = paymentBody(CARDS.visa);
  const otherOrder = paymentBody(CARDS.visa, { amount: 2500, metadata: { orderId: "1002" } });
  const pay: Record<string, Payment> = {};

  beforeAll(async () => {
    database = await createPostgresDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(request) {
        const body = await request.text();
        const event = JSON.parse(body) as { data: { payment: { id: string } } };
        received.push({
          type: request.headers.get("paystream-event-type"),
          paymentId: event.data.payment.id,
          signatureOk: verifyWebhookSignature(body, request.headers.get("paystream-signature"), secret).ok,
        });
        return new Response(null, { status: 204 });
      },
    });
  });
  afterAll(async () => {
    if (service) await service.kill9();
    receiver.stop(true);
    await sql.end();
    await database.drop();
  }, 60_000);

  it("on key A: registers a webhook endpoint and takes idempotent payments that stay PENDING (no worker runs)", async () => {
    const api = await start({ CARD_ENCRYPTION_KEY: KEY_A }, "api");
    const res = await fetch(`${api.url}/v1/webhook-endpoint`, {
      method: "PUT",
      headers: { authorization: "Bearer sk_test_local", "content-type": "application/json" },
      body: JSON.stringify({ url: `http://127.0.0.1:${receiver.port}/hooks` }),
    });
    expect(res.status).toBe(200);
    secret = ((await res.json()) as { secret: string }).secret;

    const first = await create(api.url, visa, "order-1001");
    const second = await create(api.url, otherOrder, "order-1002");
    expect([first.status, second.status]).toEqual([202, 202]);
    pay.first = first.payment;
    pay.second = second.payment;
    await stop();

    // The second payment's card as the version before this upgrade left it in a live database.
    const card = { number: CARDS.visa, cvc: "123", holderName: "Jane Doe" };
    await sql`update card_secrets set sealed = ${sealAsBeforeTheUpgrade(KEY_A, card)} where payment_id = ${pay.second.id}`;
    const rows = await sql`select key_id from card_secrets order by payment_id`;
    expect(rows.map((r) => r.key_id)).toEqual([keyIdOf(KEY_A), keyIdOf(KEY_A)]);
  }, 60_000);

  it("with CARD_ENCRYPTION_KEY=B and CARD_ENCRYPTION_KEYS_RETIRED=A: replays, fingerprints, pending payments and webhooks keep working", async () => {
    const rotated = await start({ CARD_ENCRYPTION_KEY: KEY_B, CARD_ENCRYPTION_KEYS_RETIRED: KEY_A });

    // Payments sealed under A before the rotation (one in the pre-upgrade format) are charged.
    const settled = await waitForFinal(rotated.url, [pay.first!.id, pay.second!.id]);
    expect([settled.get(pay.first!.id)?.status, settled.get(pay.second!.id)?.status]).toEqual(["COMPLETED", "COMPLETED"]);

    const replay = await create(rotated.url, visa, "order-1001");
    expect(replay.status).toBe(202);
    expect(replay.payment.id).toBe(pay.first!.id);
    expect((await create(rotated.url, otherOrder, "order-1001")).status).toBe(409);

    const again = await create(rotated.url, paymentBody(CARDS.visa, { amount: 700 }));
    expect(again.status).toBe(202);
    expect(again.payment.card.fingerprint).toBe(pay.first!.card.fingerprint);
    pay.afterRotation = again.payment;

    const events = await waitForEvents([pay.first!.id, pay.second!.id, again.payment.id]);
    for (const forPayment of events) {
      expect(forPayment.length).toBeGreaterThan(0);
      for (const event of forPayment) expect(event).toMatchObject({ type: "payment.completed", signatureOk: true });
    }

    // Everything the service keeps sealed now uses B.
    const [endpoint] = await sql`select secret_key_id from webhook_endpoints`;
    const [stored] = await sql`select key_id from vault_keys`;
    const [cards] = await sql`select count(*)::int as n from card_secrets`;
    expect(cards?.n).toBe(0);
    expect(stored?.key_id).toBe(keyIdOf(KEY_B));
    expect(endpoint?.secret_key_id).toBe(webhookKeyIdOf(KEY_B));
    await stop();
    const loaded = outputs.at(-1)!.split("\n").find((line) => line.includes('"card encryption keys loaded"'));
    expect(JSON.parse(loaded!)).toMatchObject({ activeKeyId: keyIdOf(KEY_B), keyIds: [keyIdOf(KEY_B), keyIdOf(KEY_A)] });
  }, 90_000);

  it("after dropping A (nothing sealed under it is left): still the same replays, fingerprints and signatures", async () => {
    const [underA] = await sql`select count(*)::int as n from card_secrets where key_id = ${keyIdOf(KEY_A)}`;
    expect(underA?.n).toBe(0);
    const onlyB = await start({ CARD_ENCRYPTION_KEY: KEY_B });

    const replay = await create(onlyB.url, otherOrder, "order-1002");
    expect(replay.status).toBe(202);
    expect(replay.payment.id).toBe(pay.second!.id);

    const later = await create(onlyB.url, paymentBody(CARDS.visa, { amount: 900 }), "order-1003");
    expect(later.payment.card.fingerprint).toBe(pay.first!.card.fingerprint);
    const [events] = await waitForEvents([later.payment.id]);
    expect(events!.length).toBeGreaterThan(0);
    for (const event of events!) expect(event).toMatchObject({ type: "payment.completed", signatureOk: true });
    await stop();
  }, 90_000);

  it("never writes a key to the logs", () => {
    const logs = outputs.join("\n");
    expect(outputs).toHaveLength(3);
    for (const key of [KEY_A, KEY_B]) expect(logs).not.toContain(key);
  });
});
