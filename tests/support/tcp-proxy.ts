import { createServer, type Server, type Socket, connect } from "node:net";

/**
 * A TCP proxy between the service and PostgreSQL that can fall silent: `silence()` keeps every
 * socket open (and accepts new ones) but forwards nothing, in either direction, so the service
 * sees a database that stops answering without closing anything, as during a network partition.
 * `resume()` delivers what was held back, in order (closes included), as TCP delivers it once a
 * partition heals: a statement sent into the silence may still run on the server afterwards.
 */
export interface SilentProxy {
  /** `databaseUrl` with its host and port replaced by the proxy's. */
  urlFor(databaseUrl: string): string;
  silence(): void;
  resume(): void;
  /** Connections accepted so far (the service's pool reconnecting shows here). */
  readonly accepted: number;
  close(): Promise<void>;
}

const END = Symbol("end");
type Item = Uint8Array | string | typeof END;

/** One direction of one connection: bytes and the close, forwarded or held back while silent. */
class Direction {
  private held: Item[] = [];

  constructor(
    private readonly to: Socket,
    private readonly silent: () => boolean,
  ) {}

  push(item: Item) {
    if (this.silent() || this.held.length > 0) this.held.push(item);
    else this.deliver(item);
  }

  flush() {
    const held = this.held;
    this.held = [];
    for (const item of held) this.deliver(item);
  }

  private deliver(item: Item) {
    if (this.to.destroyed) return;
    if (item === END) this.to.end();
    else this.to.write(item);
  }
}

export async function startSilentProxy(target: { host: string; port: number }): Promise<SilentProxy> {
  let silent = false;
  let accepted = 0;
  const directions = new Set<Direction>();
  const sockets = new Set<Socket>();

  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    const up = new Direction(upstream, () => silent);
    const down = new Direction(client, () => silent);
    directions.add(up).add(down);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    }
    client.on("data", (chunk) => up.push(chunk));
    client.on("end", () => up.push(END));
    upstream.on("data", (chunk) => down.push(chunk));
    upstream.on("end", () => down.push(END));
    // A reset (not a clean close) of one side is passed on as a close of the other, in turn.
    client.on("close", () => up.push(END));
    upstream.on("close", () => down.push(END));
  });
  const port = await listenOnLoopback(server);

  return {
    urlFor: (databaseUrl) => proxiedUrl(databaseUrl, port),
    silence() {
      silent = true;
    },
    resume() {
      silent = false;
      for (const direction of directions) direction.flush();
    },
    get accepted() {
      return accepted;
    },
    async close() {
      silent = false;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A TCP proxy that cuts a connection the moment its client sends given bytes (such as the text of
 * a statement): by a reset, so the client's next read fails with ECONNRESET, or by falling silent
 * on it, forwarding nothing more while the socket stays open. It cuts as many connections as it
 * was armed for; everything else passes through untouched.
 */
export interface CuttingProxy {
  /** `databaseUrl` with its host and port replaced by the proxy's. */
  urlFor(databaseUrl: string): string;
  /** Cuts the next `count` connections whose client sends `marker`. */
  arm(marker: string, count: number, how: "reset" | "silence"): void;
  /** Connections cut so far. */
  readonly cuts: number;
  close(): Promise<void>;
}

export async function startCuttingProxy(target: { host: string; port: number }): Promise<CuttingProxy> {
  let armed = { marker: "", count: 0, how: "reset" as "reset" | "silence" };
  let cuts = 0;
  const sockets = new Set<Socket>();

  const server: Server = createServer((client) => {
    const upstream = connect({ host: target.host, port: target.port });
    let silent = false;
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    }
    client.on("data", (chunk) => {
      if (silent) return;
      if (armed.count > 0 && chunk.toString("latin1").includes(armed.marker)) {
        armed.count--;
        cuts++;
        if (armed.how === "silence") silent = true;
        else {
          client.resetAndDestroy();
          upstream.destroy();
        }
        return;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => silent || client.write(chunk));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => silent || client.destroy());
  });
  const port = await listenOnLoopback(server);

  return {
    urlFor: (databaseUrl) => proxiedUrl(databaseUrl, port),
    arm(marker, count, how) {
      armed = { marker, count, how };
    },
    get cuts() {
      return cuts;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  return typeof address === "object" && address ? address.port : 0;
}

function proxiedUrl(databaseUrl: string, port: number): string {
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  return url.toString();
}
