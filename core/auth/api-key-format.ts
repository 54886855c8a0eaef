import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * An API key is `hak_<id>_<secret>`: the id (16 hex digits) finds its record without a scan, the
 * secret (32 random bytes, base64url) is what only the holder knows. Only SHA-256(secret) is kept:
 * a random 256-bit secret needs no slow hash (unlike a password), so checking one costs about a
 * microsecond and no Redis round trip (the record comes from the near cache).
 */
export const API_KEY_PREFIX = "hak_";
const FORMAT = /^hak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  id: string;
  /** The whole key, shown once. */
  key: string;
  hash: string;
}

export function newApiKey(): NewApiKey {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { id, key: `${API_KEY_PREFIX}${id}_${secret}`, hash: sha256(secret) };
}

/** The id and secret of a well-formed key; undefined for anything else. */
export function parseApiKey(key: string): { id: string; secret: string } | undefined {
  const m = FORMAT.exec(key);
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined;
}

export const looksLikeApiKey = (s: string) => s.startsWith(API_KEY_PREFIX);

export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** Compares two hex SHA-256 digests in constant time. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}
