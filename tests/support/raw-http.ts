import { connect } from "node:net";

/**
 * HTTP/1.1 over a plain socket, byte for byte, for what fetch refuses to send: control
 * characters and bytes above 0xFF in header values, unencoded bytes in the request target,
 * a Content-Length that does not match the body. One request per connection.
 */

export interface RawRequest {
  method: string;
  /** The request target exactly as sent; a JS string is written as Latin-1 (one byte per char). */
  target: string | Uint8Array;
  /** Header lines as sent; values are written like `target`. Host and Connection are added. */
  headers?: [string, string | Uint8Array][];
  body?: Uint8Array;
  /** Shut the sending side after the body, so a server waiting for more bytes sees the end. */
  endAfterBody?: boolean;
  timeoutMs?: number;
}

export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** What came back: an answer, the connection closed without one, or nothing before the timeout. */
export type RawOutcome = { kind: "answer"; response: RawResponse } | { kind: "closed" } | { kind: "timeout" };

const bytes = (text: string | Uint8Array) => (typeof text === "string" ? Buffer.from(text, "latin1") : Buffer.from(text));

function parseResponse(data: Buffer): (RawResponse & { complete: boolean }) | undefined {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const [statusLine, ...lines] = data.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1]);
  if (!Number.isInteger(status)) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  // The first answer only: whatever follows belongs to bytes the server read as a next request.
  const length = Number(headers.get("content-length") ?? Number.NaN);
  const rest = data.subarray(end + 4);
  const body = Number.isInteger(length) ? rest.subarray(0, length) : rest;
  return { status, headers, body: body.toString("utf8"), complete: Number.isInteger(length) && rest.length >= length };
}

export function sendRaw(port: number, request: RawRequest): Promise<RawOutcome> {
  const head = [
    Buffer.concat([Buffer.from(`${request.method} `, "latin1"), bytes(request.target), Buffer.from(" HTTP/1.1\r\n", "latin1")]),
    Buffer.from("Host: 127.0.0.1\r\nConnection: close\r\n", "latin1"),
    ...(request.headers ?? []).map(([name, value]) => Buffer.concat([Buffer.from(`${name}: `, "latin1"), bytes(value), Buffer.from("\r\n")])),
    Buffer.from("\r\n"),
  ];
  const payload = Buffer.concat([...head, Buffer.from(request.body ?? new Uint8Array())]);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = connect(port, "127.0.0.1");
    const finish = (outcome?: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const response = parseResponse(Buffer.concat(chunks));
      resolve(outcome ?? (response ? { kind: "answer", response } : { kind: "closed" }));
    };
    const timer = setTimeout(() => {
      const response = parseResponse(Buffer.concat(chunks));
      finish(response ? { kind: "answer", response } : { kind: "timeout" });
    }, request.timeoutMs ?? 5_000);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      // Done once the first answer is whole, or is an event stream (which never ends by itself).
      const response = parseResponse(Buffer.concat(chunks));
      if (!response) return;
      const streaming = response.headers.get("content-type")?.startsWith("text/event-stream") ?? false;
      if (streaming || response.complete) finish({ kind: "answer", response });
    });
    socket.on("end", () => finish());
    socket.on("close", () => finish());
    // A reset after the answer arrived still leaves the answer to read.
    socket.on("error", () => finish());
    socket.write(payload, () => {
      if (request.endAfterBody) socket.end();
    });
  });
}
