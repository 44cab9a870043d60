import pino, { type Logger } from "pino";
import { passesLuhn } from "../modules/intake";
import { maskCredentials } from "../modules/runtime";

export type { Logger };

/** Any run of 12–19 digits, optionally split by spaces or dashes: the shape of a card number. */
const PAN_LIKE = /(?<![0-9])[0-9](?:[ -]?[0-9]){11,18}(?![0-9])/g;

/**
 * The last line of defence behind the redact paths: whatever slipped into a log line (an error
 * message quoting a request, a third-party stack), a Luhn-valid card number never leaves.
 */
export function maskCardNumbers(line: string): string {
  return line.replace(PAN_LIKE, (match) => {
    const digits = match.replace(/[ -]/g, "");
    return passesLuhn(digits) ? `[card …${digits.slice(-4)}]` : match;
  });
}

const REDACT_PATHS = [
  "card.number",
  "card.cvc",
  "*.card.number",
  "*.card.cvc",
  "cvc",
  "number",
  "cardNumber",
  "req.headers.authorization",
  "headers.authorization",
  "authorization",
  "secretKey",
  "clientSecret",
  "*.secretKey",
  "*.clientSecret",
];

/**
 * Query errors (drizzle's DrizzleQueryError) carry the statement's parameters — for intake, a
 * customer's e-mail, name and metadata — in `params` and again in the message. Logs keep the
 * statement and the driver's cause, never the parameters.
 */
function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  if (error && typeof error === "object" && "query" in error && "params" in error) {
    const cause = (error as { cause?: unknown }).cause;
    return {
      type: serialized.type,
      message: "database query failed",
      query: String((error as { query: unknown }).query).slice(0, 500),
      cause: cause ? pino.stdSerializers.err(cause as Error) : undefined,
    };
  }
  return serialized;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "paystream", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      // Likewise a connection string quoted by a driver or a broker client keeps its user and host, never its password.
      hooks: { streamWrite: (line) => maskCredentials(maskCardNumbers(line)) },
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
    },
    destination,
  );
}
