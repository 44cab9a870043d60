import { verifyWebhookSignature } from "../../modules/webhooks";

/** A merchant's webhook event as the receiver keeps it. */
export interface ReceivedEvent {
  id: string;
  type: string;
  data: { refund?: { id: string; status: string }; dispute?: { id: string; status: string; paymentId: string } };
}

/**
 * A merchant's webhook endpoint on this host: keeps every event whose paystream signature checks
 * out under the endpoint's secret (set once the endpoint is registered), answers 204.
 */
export function startMerchantReceiver() {
  let secret = "";
  const received: ReceivedEvent[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const body = await request.text();
      if (verifyWebhookSignature(body, request.headers.get("paystream-signature"), secret).ok) received.push(JSON.parse(body) as ReceivedEvent);
      return new Response(null, { status: 204 });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/hooks`,
    received,
    /** The types of the events about a refund or dispute, sorted: deliveries are not ordered (receivers order by createdAt). */
    typesAbout: (subjectId: string) =>
      received
        .filter((e) => e.data.refund?.id === subjectId || e.data.dispute?.id === subjectId)
        .map((e) => e.type)
        .sort(),
    useSecret(value: string) {
      secret = value;
    },
    stop: () => server.stop(true),
  };
}

/** Polls `probe` until it answers something (or the time is up). */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}
