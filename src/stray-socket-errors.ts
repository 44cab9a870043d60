/**
 * A socket error that reaches the process with nobody left to handle it.
 *
 * When PostgreSQL ends its sessions (a restart, a failover, `pg_terminate_backend`), Bun's
 * `net.Socket` can deliver the read side's ECONNRESET after postgres-js has already settled the
 * connection's work and let the socket go: the error then surfaces as an uncaught exception, and
 * without this the whole process would exit in the middle of an outage it otherwise rides out
 * (RELIABILITY.md, F6). Such an error carries nothing anyone waits for: the statements on that
 * connection have failed already (and are retried or answered 503), and the pool opens a new
 * connection. Anything else uncaught is still fatal.
 */
const STRAY_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT"]);
const STRAY_SYSCALLS = new Set(["read", "write"]);

export function isStraySocketError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, syscall } = error as Error & { code?: unknown; syscall?: unknown };
  return typeof code === "string" && STRAY_CODES.has(code) && typeof syscall === "string" && STRAY_SYSCALLS.has(syscall);
}
