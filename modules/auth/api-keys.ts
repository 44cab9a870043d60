import { createHash, timingSafeEqual } from "node:crypto";

export interface ApiKey {
  merchantId: string;
  secret: string;
}

export interface Merchant {
  id: string;
}

const digest = (secret: string) => createHash("sha256").update(secret).digest();

/**
 * Keys are kept only as SHA-256 digests (a memory dump does not reveal them) and compared in
 * constant time, so response timing says nothing about how much of a guessed key was right.
 */
export class ApiKeyAuthenticator {
  private readonly keys: { merchantId: string; digest: Buffer; id: string }[];

  constructor(keys: ApiKey[]) {
    this.keys = keys.map((k) => {
      const keyDigest = digest(k.secret);
      return { merchantId: k.merchantId, digest: keyDigest, id: keyDigest.toString("hex") };
    });
  }

  /** The merchant of a `Bearer <secret>` header, or undefined. */
  authenticate(authorization: string | null | undefined): Merchant | undefined {
    return this.identify(authorization)?.merchant;
  }

  /**
   * The merchant and which key it was: `key` is the key's digest (hex), the same for the same
   * secret in any authenticator. A merchant may hold several keys, and the failed-authentication
   * throttle remembers keys, not merchants.
   */
  identify(authorization: string | null | undefined): { merchant: Merchant; key: string } | undefined {
    const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(authorization ?? "");
    if (!match?.[1]) return undefined;
    const presented = digest(match[1]);
    let found: { merchant: Merchant; key: string } | undefined;
    // Every key is compared, whichever matches, so the time taken does not depend on the position.
    for (const key of this.keys) {
      if (timingSafeEqual(presented, key.digest)) found = { merchant: { id: key.merchantId }, key: key.id };
    }
    return found;
  }
}
