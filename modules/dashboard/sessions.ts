import { createHash, randomBytes } from "node:crypto";
import { and, eq, gt, inArray, lt, sql } from "drizzle-orm";
import type { Executor } from "../database";
import { dashboardSessions } from "./schema";

/** How long a sign-in lasts unless it is ended sooner; absolute, not extended by use. */
export const DEFAULT_SESSION_TTL_MS = 8 * 3_600_000;

/** 32 random bytes in base64url: what a cookie carries. Anything else is not looked up at all. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface DashboardSession {
  /** Stable, non-secret name of the session (the keyed digest of its token): open streams are filed under it. */
  id: string;
  merchantId: string;
}

export interface OpenedSession {
  /** The secret the cookie carries; only its keyed digest is stored. */
  token: string;
  /** Seconds until the session expires (the cookie's Max-Age). */
  maxAgeSeconds: number;
  expiresAt: Date;
}

/**
 * A keyed digest (HMAC-SHA-256 under a key kept out of the database): the vault's `keyedDigest`
 * in the service. The digest of a token is what the table stores.
 */
export interface SessionDigests {
  keyedDigest(value: string): string;
}

export interface DashboardSessions {
  /** Opens a session for a merchant that has just proven `apiKey`. */
  open(merchantId: string, apiKey: string): Promise<OpenedSession>;
  /** The live session of a cookie token: unexpired, not signed out, its API key still configured. */
  find(token: string): Promise<DashboardSession | undefined>;
  /** Ends the session of a token everywhere; returns its id when there was one. */
  close(token: string): Promise<string | undefined>;
  /** Of the given session ids, those still live: open streams of the others are ended. */
  stillLive(ids: string[]): Promise<Set<string>>;
}

/** Domain separation: the same key also digests idempotency request bodies. */
const SESSION_DIGEST_PREFIX = "dashboard-session\0";

/** 64 bits of a domain-separated hash of an API key: enough to tell keys apart, far too little to recover one. */
const keyTagOf = (apiKey: string) =>
  createHash("sha256").update("paystream dashboard session key tag\0").update(apiKey).digest("hex").slice(0, 16);

/**
 * Dashboard sign-in sessions, kept in PostgreSQL so every api process sees the same ones. A row
 * holds the keyed digest of its token, never the token: a copy of the table (a dump, a backup)
 * without the key cannot be matched against a token, let alone turned into one.
 * `liveApiKeys` are the keys this process accepts: a session opened with a key that has since
 * been taken out of the configuration is not honoured.
 */
export function createDashboardSessions(
  db: Executor,
  { liveApiKeys, digests, ttlMs = DEFAULT_SESSION_TTL_MS }: { liveApiKeys: readonly string[]; digests: SessionDigests; ttlMs?: number },
): DashboardSessions {
  const hashToken = (token: string) => digests.keyedDigest(SESSION_DIGEST_PREFIX + token);
  const liveTags = [...new Set(liveApiKeys.map(keyTagOf))];
  const live = and(gt(dashboardSessions.expiresAt, sql`now()`), inArray(dashboardSessions.keyTag, liveTags));

  return {
    async open(merchantId, apiKey) {
      // Sign-ins are rare and throttled: a good moment to forget the expired sessions.
      await db.delete(dashboardSessions).where(lt(dashboardSessions.expiresAt, sql`now()`));
      const token = randomBytes(32).toString("base64url");
      const [row] = await db
        .insert(dashboardSessions)
        .values({
          tokenHash: hashToken(token),
          merchantId,
          keyTag: keyTagOf(apiKey),
          expiresAt: sql`now() + make_interval(secs => ${ttlMs / 1000})`,
        })
        .returning({ expiresAt: dashboardSessions.expiresAt });
      if (!row) throw new Error("insert into dashboard_sessions returned no row");
      return { token, maxAgeSeconds: Math.floor(ttlMs / 1000), expiresAt: row.expiresAt };
    },

    async find(token) {
      if (!TOKEN_PATTERN.test(token)) return undefined;
      const id = hashToken(token);
      const [row] = await db
        .select({ merchantId: dashboardSessions.merchantId })
        .from(dashboardSessions)
        .where(and(eq(dashboardSessions.tokenHash, id), live));
      return row ? { id, merchantId: row.merchantId } : undefined;
    },

    async close(token) {
      if (!TOKEN_PATTERN.test(token)) return undefined;
      const [row] = await db
        .delete(dashboardSessions)
        .where(eq(dashboardSessions.tokenHash, hashToken(token)))
        .returning({ id: dashboardSessions.tokenHash });
      return row?.id;
    },

    async stillLive(ids) {
      if (ids.length === 0) return new Set();
      const rows = await db
        .select({ id: dashboardSessions.tokenHash })
        .from(dashboardSessions)
        .where(and(inArray(dashboardSessions.tokenHash, ids), live));
      return new Set(rows.map((r) => r.id));
    },
  };
}
