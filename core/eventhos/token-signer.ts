import { createHash, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { SignJWT, jwtVerify } from "jose";

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

/** Client secrets are chosen by people: a slow, salted hash (scrypt, Node's default cost). */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(secret, salt, 32);
  return `scrypt$${salt.toString("base64url")}$${hash.toString("base64url")}`;
}

/** Timing-safe; a malformed stored value never matches. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const [kind, salt, hash] = stored.split("$");
  if (kind !== "scrypt" || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, "base64url");
  const actual = await scryptAsync(secret, Buffer.from(salt, "base64url"), expected.length);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A hash of a fixed secret, so that an unknown client costs as much as a wrong secret. */
export const DECOY_HASH = "scrypt$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

const KEY_PREFIX = "hk_";

/** A long-lived key: 256 random bits, so SHA-256 is hash enough (and lets us index by it). */
export function newKey(): { id: string; key: string; hash: string } {
  const key = KEY_PREFIX + randomBytes(32).toString("base64url");
  return { id: randomBytes(6).toString("hex"), key, hash: hashKey(key) };
}

export const isLongLivedKey = (accessKey: string) => accessKey.startsWith(KEY_PREFIX);

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Compares two hex hashes of equal length in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

const ISSUER = "herald";
const AUDIENCE = "eventhos";

/** HS256 tokens of the client_credentials grant: subject = client id, `gen` = the client's generation. */
export class TokenSigner {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  sign(clientId: string, generation: number): Promise<string> {
    return new SignJWT({ gen: generation })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(clientId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key);
  }

  /** undefined for a token that is malformed, forged, expired or not ours. */
  async verify(token: string): Promise<{ clientId: string; generation: number } | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE });
      if (typeof payload.sub !== "string" || typeof payload["gen"] !== "number") return undefined;
      return { clientId: payload.sub, generation: payload["gen"] };
    } catch {
      return undefined;
    }
  }
}
