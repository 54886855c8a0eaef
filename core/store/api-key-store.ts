import type { Role } from "../gen/herald/v1/registry_pb.js";

/** An API key as stored: never the key itself, only the SHA-256 of its secret part. */
export interface ApiKeyRecord {
  /** The public part of the key (`hak_<id>_…`). */
  id: string;
  name: string;
  roles: Role[];
  /** App ids, or ["*"] for every app. */
  appIds: string[];
  /** SHA-256 (hex) of the secret part. */
  hash: string;
  createdMs: number;
  /** 0: never expires. */
  expiresMs: number;
}

/**
 * The API keys of a Herald deployment.
 *
 * Guarantees (test/suites/api-key-store-suite.ts checks them against every implementation):
 * - `get` is what every authenticated call reads: the Redis store answers it from a near cache
 *   kept true by Redis key tracking, so a revocation on any instance is seen by the next call on
 *   every instance once Redis's invalidation arrives (on this instance: at once).
 * - `create` never replaces a key: a second record with the same id is refused (false).
 * - Records returned are copies or frozen: changing one never changes the store.
 * - `list` is newest first.
 * - When the backing service is unreachable, calls reject with an `UnavailableError` promptly.
 */
export interface ApiKeyStore {
  create(record: ApiKeyRecord): Promise<boolean>;
  get(id: string): Promise<ApiKeyRecord | undefined>;
  /** The record if this instance holds it now (memory, or the near cache), without waiting; undefined: ask `get`. */
  peek(id: string): ApiKeyRecord | undefined;
  list(): Promise<ApiKeyRecord[]>;
  revoke(id: string): Promise<boolean>;
}

export const newestFirst = (a: ApiKeyRecord, b: ApiKeyRecord) => b.createdMs - a.createdMs || (a.id < b.id ? 1 : -1);
