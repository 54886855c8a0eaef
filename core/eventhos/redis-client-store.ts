import type { ClientRecord, ClientStore, KeyRecord } from "./client-store.js";
import { connectClient, orUnavailable, readyAll, type RedisConnection, type RedisClient } from "../redis/connect.js";
import { keysOf, type RedisKeys } from "../redis/keys.js";
import type { TrackedCache } from "../redis/tracked-cache.js";

export type RedisClientStoreOptions = RedisConnection;

type Stored = Omit<ClientRecord, "keys">;

/**
 * Clients in Redis, as JSON: `eventhos:client:<id>` (the record without keys), its keys in the hash
 * `eventhos:client:<id>:keys` (key id → {hash, createdMs}), the index `eventhos:key:<sha256>` →
 * [client id, key id], the id set `eventhos:clients` and the token secret `eventhos:token-secret`.
 *
 * What every /event/send reads twice (the key's index entry, the client and its keys) goes through
 * the registry's near cache when there is one, as API keys do: a revocation or a deleted client
 * anywhere is seen as soon as Redis's invalidation arrives, this process's own writes at once.
 * The raw values are cached; each read parses its own copy.
 */
export class RedisClientStore implements ClientStore {
  private constructor(
    private readonly k: RedisKeys["eventhos"],
    private readonly redis: RedisClient,
    /** Absent: every read goes to Redis. */
    private readonly cache: TrackedCache | undefined,
  ) {}

  static async connect(options: RedisClientStoreOptions, cache?: TrackedCache): Promise<RedisClientStore> {
    const redis = connectClient({ ...options, role: "client-store" }, { enableAutoPipelining: true });
    await readyAll(redis);
    return new RedisClientStore(keysOf(options).eventhos, redis, cache);
  }

  /** A read through the near cache, if there is one; values are shared there, so never changed. */
  private cached<T>(key: string, fetch: (redis: RedisClient) => Promise<T>): Promise<T> {
    return this.cache ? this.cache.read(key, "", fetch) : fetch(this.redis);
  }

  /** A write; once it is answered, what the cache holds of its keys is dropped. */
  private async wrote<T>(keys: readonly string[], write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      this.cache?.invalidate(keys);
    }
  }

  putClient(client: ClientRecord): Promise<void> {
    const { keys: _keys, ...stored } = client;
    return orUnavailable(() =>
      this.wrote([this.k.client(client.id)], async () => {
        await this.redis.multi().set(this.k.client(client.id), JSON.stringify(stored)).sadd(this.k.clients, client.id).exec();
      }),
    );
  }

  getClient(id: string): Promise<ClientRecord | undefined> {
    return orUnavailable(async () => {
      const [json, keys] = await Promise.all([
        this.cached(this.k.client(id), (r) => r.get(this.k.client(id))),
        this.cached(this.k.clientKeys(id), (r) => r.hgetall(this.k.clientKeys(id))),
      ]);
      if (!json) return undefined;
      const records = Object.entries(keys).map(([keyId, v]) => ({ id: keyId, ...(JSON.parse(v) as Omit<KeyRecord, "id">) }));
      records.sort((a, b) => a.createdMs - b.createdMs || a.id.localeCompare(b.id));
      return { ...(JSON.parse(json) as Stored), keys: records };
    });
  }

  listClients(): Promise<ClientRecord[]> {
    return orUnavailable(async () => {
      const ids = (await this.redis.smembers(this.k.clients)).sort();
      const all = await Promise.all(ids.map((id) => this.getClient(id)));
      return all.filter((c): c is ClientRecord => c !== undefined);
    });
  }

  deleteClient(id: string): Promise<boolean> {
    return orUnavailable(async () => {
      const keys = await this.redis.hgetall(this.k.clientKeys(id));
      const hashes = Object.values(keys).map((v) => this.k.key((JSON.parse(v) as KeyRecord).hash));
      return this.wrote([this.k.client(id), this.k.clientKeys(id), ...hashes], async () => {
        const res = await this.redis
          .multi()
          .del(this.k.client(id), this.k.clientKeys(id), ...hashes)
          .srem(this.k.clients, id)
          .exec();
        return Number(res?.[1]?.[1] ?? 0) > 0;
      });
    });
  }

  addKey(clientId: string, key: KeyRecord): Promise<boolean> {
    return orUnavailable(async () => {
      if (!(await this.redis.exists(this.k.client(clientId)))) return false;
      await this.wrote([this.k.clientKeys(clientId), this.k.key(key.hash)], () =>
        this.redis
          .multi()
          .hset(this.k.clientKeys(clientId), key.id, JSON.stringify({ hash: key.hash, createdMs: key.createdMs }))
          .set(this.k.key(key.hash), JSON.stringify([clientId, key.id]))
          .exec(),
      );
      return true;
    });
  }

  revokeKey(clientId: string, keyId: string): Promise<boolean> {
    return orUnavailable(async () => {
      const v = await this.redis.hget(this.k.clientKeys(clientId), keyId);
      if (!v) return false;
      const { hash } = JSON.parse(v) as KeyRecord;
      await this.wrote([this.k.clientKeys(clientId), this.k.key(hash)], () =>
        this.redis.multi().hdel(this.k.clientKeys(clientId), keyId).del(this.k.key(hash)).exec(),
      );
      return true;
    });
  }

  findKey(hash: string): Promise<{ clientId: string; keyId: string } | undefined> {
    return orUnavailable(async () => {
      const v = await this.cached(this.k.key(hash), (r) => r.get(this.k.key(hash)));
      if (!v) return undefined;
      const [clientId, keyId] = JSON.parse(v) as [string, string];
      return { clientId, keyId };
    });
  }

  sharedSecret(candidate: string): Promise<string> {
    return orUnavailable(async () => {
      // SET NX then GET: whichever instance came first, all read the same secret.
      await this.redis.set(this.k.tokenSecret, candidate, "NX");
      return (await this.redis.get(this.k.tokenSecret)) ?? candidate;
    });
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }
}
