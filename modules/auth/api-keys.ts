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
  private readonly keys: { merchantId: string; digest: Buffer }[];

  constructor(keys: ApiKey[]) {
    this.keys = keys.map((k) => ({ merchantId: k.merchantId, digest: digest(k.secret) }));
  }

  /** The merchant of a `Bearer <secret>` header, or undefined. */
  authenticate(authorization: string | null | undefined): Merchant | undefined {
    const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(authorization ?? "");
    if (!match?.[1]) return undefined;
    const presented = digest(match[1]);
    let found: Merchant | undefined;
    // Every key is compared, whichever matches, so the time taken does not depend on the position.
    for (const key of this.keys) {
      if (timingSafeEqual(presented, key.digest)) found = { id: key.merchantId };
    }
    return found;
  }
}
