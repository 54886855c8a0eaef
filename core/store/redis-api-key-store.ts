import { orUnavailable, type RedisClient } from "../redis/connect.js";
import type { RedisKeys } from "../redis/keys.js";
import type { TrackedCache } from "../redis/tracked-cache.js";
import { newestFirst, type ApiKeyRecord, type ApiKeyStore } from "./api-key-store.js";

/**
 * API keys in one Redis hash (id → JSON record). `get`, read on every authenticated call, goes
 * through the registry's near cache (TrackedCache), so checking a key costs no round trip and a
 * revocation anywhere drops it here as soon as Redis's invalidation arrives.
 */
export class RedisApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly k: RedisKeys,
    private readonly cache: TrackedCache | undefined,
  ) {}

  create(record: ApiKeyRecord): Promise<boolean> {
    return orUnavailable(async () => {
      try {
        return (await this.redis.hsetnx(this.k.apiKeys, record.id, JSON.stringify(record))) === 1;
      } finally {
        this.cache?.invalidate([this.k.apiKeys]);
      }
    });
  }

  get(id: string): Promise<ApiKeyRecord | undefined> {
    const fetch = async (r: RedisClient) => parse(await r.hget(this.k.apiKeys, id));
    return orUnavailable(() => (this.cache ? this.cache.read(this.k.apiKeys, id, fetch) : fetch(this.redis)));
  }

  peek(id: string): ApiKeyRecord | undefined {
    return this.cache?.peek<ApiKeyRecord | undefined>(this.k.apiKeys, id);
  }

  list(): Promise<ApiKeyRecord[]> {
    return orUnavailable(async () => {
      const all = await this.redis.hvals(this.k.apiKeys);
      return all
        .map((v) => parse(v))
        .filter((r): r is ApiKeyRecord => r !== undefined)
        .sort(newestFirst);
    });
  }

  revoke(id: string): Promise<boolean> {
    return orUnavailable(async () => {
      try {
        return (await this.redis.hdel(this.k.apiKeys, id)) === 1;
      } finally {
        this.cache?.invalidate([this.k.apiKeys]);
      }
    });
  }
}

/** Frozen, as cached records are shared between calls. */
function parse(json: string | null): ApiKeyRecord | undefined {
  if (json === null) return undefined;
  const r = JSON.parse(json) as ApiKeyRecord;
  return Object.freeze({ ...r, roles: Object.freeze(r.roles) as never, appIds: Object.freeze(r.appIds) as never });
}
