/**
 * A socket error that reaches the process with nobody left to handle it.
 *
 * When PostgreSQL ends its sessions (a restart, a failover, `pg_terminate_backend`), Bun's
 * `net.Socket` can deliver the read side's ECONNRESET after postgres-js has already settled the
 * connection's work and let the socket go. Such an error carries nothing anyone waits for: the
 * statements on that connection have failed already (and are retried or answered 503), and the
 * pool opens a new connection. Without this the whole process would exit in the middle of an
 * outage it otherwise rides out (RELIABILITY.md, F6). Anything else nobody handled is still fatal.
 */
const STRAY_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT"]);
const STRAY_SYSCALLS = new Set(["read", "write"]);

export function isStraySocketError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, syscall } = error as Error & { code?: unknown; syscall?: unknown };
  return typeof code === "string" && STRAY_CODES.has(code) && typeof syscall === "string" && STRAY_SYSCALLS.has(syscall);
}

/**
 * Applies that rule to both ways an error can reach the process unhandled: thrown (an uncaught
 * exception) and a rejected promise nobody awaits. Bun, unlike Node, does not hand an unhandled
 * rejection to the 'uncaughtException' listeners: it prints it and exits with 1, so a listener on
 * that event alone let a dropped socket error end the process (RELIABILITY.md, F6).
 */
export function guardAgainstStraySocketErrors(
  target: { on(event: "uncaughtException" | "unhandledRejection", listener: (error: unknown) => void): unknown },
  handle: { stray(error: unknown): void; fatal(error: unknown): void },
): void {
  const decide = (error: unknown) => (isStraySocketError(error) ? handle.stray(error) : handle.fatal(error));
  target.on("uncaughtException", decide);
  target.on("unhandledRejection", decide);
}
