/**
 * Whether an error means "the database cannot be reached" (as opposed to a bad query): then
 * callers answer 503 and retry later. Drizzle wraps driver errors, so the cause chain is walked.
 */
export function isConnectionError(error: unknown): boolean {
  for (const e of causeChain(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|CONNECT_TIMEOUT|CONNECTION_|57P0[1-3]|08\d{3}|53300)/.test(code))
      return true;
    const message = e instanceof Error ? e.message : String(e);
    if (/^(?!Failed query)[\s\S]*(connect|connection|terminat|ECONNRE)/i.test(message)) return true;
  }
  return false;
}

/**
 * Codes of connection errors raised before the statement reached the server: nothing it asked
 * for can have happened. Any other connection error may have come after the server ran (and
 * committed) it: the connection died, or stopped answering, with the answer still to come.
 */
const UNSENT = /^(ECONNREFUSED|CONNECT_TIMEOUT|CONNECTION_QUEUE_TIMEOUT|57P0[1-3]|53300)$/;

/**
 * Whether a write that failed with this error may nevertheless have been committed: a connection
 * error other than one raised before the statement was sent. The caller cannot tell, so it must
 * not report the write as not done (a retry must be able to find it: idempotency keys).
 */
export function mayHaveCommitted(error: unknown): boolean {
  if (!isConnectionError(error)) return false;
  for (const e of causeChain(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && UNSENT.test(code)) return false;
  }
  return true;
}

/** The error and the causes it wraps (drizzle wraps the driver's), at most five deep. */
function* causeChain(error: unknown): Generator<unknown> {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) yield e;
}
