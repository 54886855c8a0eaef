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

/** Hashes of keys presented lately: every /event/send checks its key twice (Authorize, then ReceiveEvent). */
const hashes = new Map<string, string>();
const MAX_HASHES = 1024;
/** Longer strings are not keys of ours (46 characters): hashed each time, never kept. */
const MAX_CACHED_KEY = 64;

export function hashKey(key: string): string {
  if (key.length > MAX_CACHED_KEY) return createHash("sha256").update(key).digest("hex");
  let hash = hashes.get(key);
  if (hash === undefined) {
    // A cache, not a store: full, it starts over (a flood of made-up keys only costs their hashing).
    if (hashes.size >= MAX_HASHES) hashes.clear();
    hashes.set(key, (hash = createHash("sha256").update(key).digest("hex")));
  }
  return hash;
}

/** Compares two hex hashes of equal length in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

const ISSUER = "herald";
const AUDIENCE = "eventhos";

interface Verified {
  clientId: string;
  generation: number;
  /** The token's `exp` (epoch seconds). */
  exp: number;
}

const MAX_VERIFIED = 1024;

/** HS256 tokens of the client_credentials grant: subject = client id, `gen` = the client's generation. */
export class TokenSigner {
  private readonly key: Uint8Array;
  /**
   * Claims of tokens verified lately, by token, until their `exp`: a token's signature, issuer and
   * audience cannot change, and a producer sends many events with one token (jose verifies each
   * twice per /event/send otherwise). Whether the client and its generation still hold is checked
   * by the caller on every use, as before.
   */
  private readonly verified = new Map<string, Verified>();

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
    const known = this.verified.get(token);
    // jose's own rule: expired once the clock (whole seconds) reaches exp.
    if (known && Math.floor(Date.now() / 1000) < known.exp) return { clientId: known.clientId, generation: known.generation };
    if (known) this.verified.delete(token);
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ["HS256"], issuer: ISSUER, audience: AUDIENCE });
      if (typeof payload.sub !== "string" || typeof payload["gen"] !== "number") return undefined;
      // Only tokens that expire are kept (ours always do), so that an entry never outlives its token.
      if (typeof payload.exp === "number") {
        if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
        this.verified.set(token, { clientId: payload.sub, generation: payload["gen"], exp: payload.exp });
      }
      return { clientId: payload.sub, generation: payload["gen"] };
    } catch {
      return undefined;
    }
  }
}
