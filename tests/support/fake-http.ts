import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { testTls } from "./test-tls";

/** Small pieces shared by the fake gateway servers (node:http, so faults can reach the socket). */

export function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return typeof value === "string" ? value : null;
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** What a webhook endpoint answered a fake gateway's delivery: its status and body (JSON when it is). */
export interface Delivery {
  status: number;
  body: unknown;
}

/** POSTs a fake gateway's event delivery to `url`, exactly `body`, with `headers`. */
export async function deliver(url: string | null, body: string, headers: Record<string, string>): Promise<Delivery> {
  if (url === null) throw new Error("fake gateway: no webhook URL set");
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

export interface FakeServerOptions {
  /**
   * Serve https with the test CA's certificate (tests/support/test-tls.ts), as a program in
   * production requires of its gateway; the program must trust the CA (NODE_EXTRA_CA_CERTS).
   */
  tls?: boolean;
}

/** Listens on a free loopback port, over http or https; `url` is the base URL to configure. */
export async function listenOnLoopback(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: FakeServerOptions = {},
): Promise<{ server: Server; url: string }> {
  const server: Server = options.tls ? createHttpsServer({ key: testTls().key, cert: testTls().cert }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}` };
}
