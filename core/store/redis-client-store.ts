import type { Redis } from "ioredis";
import { StoreUnavailableError } from "./store.js";
import type { ClientRecord, ClientStore, KeyRecord } from "./client-store.js";
import { connectRedis, isUnavailable, ready } from "../redis/connect.js";
import type { Logger } from "../logger.js";

export interface RedisClientStoreOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  maxReconnectDelayMs: number;
  logger: Logger;
}

type Stored = Omit<ClientRecord, "keys">;

/**
 * Clients in Redis, as JSON: `eventhos:client:<id>` (the record without keys), its keys in the hash
 * `eventhos:client:<id>:keys` (key id → {hash, createdMs}), the index `eventhos:key:<sha256>` →
 * [client id, key id], the id set `eventhos:clients` and the token secret `eventhos:token-secret`.
 */
export class RedisClientStore implements ClientStore {
  private constructor(
    private readonly p: string,
    private readonly redis: Redis,
  ) {}

  static async connect(options: RedisClientStoreOptions): Promise<RedisClientStore> {
    const redis = connectRedis({ ...options, role: "client-store" }, { enableAutoPipelining: true });
    try {
      await ready(redis);
    } catch (err) {
      redis.disconnect();
      throw new StoreUnavailableError(`cannot connect to Redis: ${String(err)}`);
    }
    return new RedisClientStore(`${options.keyPrefix}eventhos:`, redis);
  }

  private call<T>(f: () => Promise<T>): Promise<T> {
    return f().catch((err: unknown) => {
      if (isUnavailable(err)) throw new StoreUnavailableError(`redis: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    });
  }

  private client(id: string): string {
    return `${this.p}client:${id}`;
  }

  putClient(client: ClientRecord): Promise<void> {
    const { keys: _keys, ...stored } = client;
    return this.call(async () => {
      await this.redis.multi().set(this.client(client.id), JSON.stringify(stored)).sadd(`${this.p}clients`, client.id).exec();
    });
  }

  getClient(id: string): Promise<ClientRecord | undefined> {
    return this.call(async () => {
      const [json, keys] = await Promise.all([this.redis.get(this.client(id)), this.redis.hgetall(`${this.client(id)}:keys`)]);
      if (!json) return undefined;
      const records = Object.entries(keys).map(([keyId, v]) => ({ id: keyId, ...(JSON.parse(v) as Omit<KeyRecord, "id">) }));
      records.sort((a, b) => a.createdMs - b.createdMs || a.id.localeCompare(b.id));
      return { ...(JSON.parse(json) as Stored), keys: records };
    });
  }

  listClients(): Promise<ClientRecord[]> {
    return this.call(async () => {
      const ids = (await this.redis.smembers(`${this.p}clients`)).sort();
      const all = await Promise.all(ids.map((id) => this.getClient(id)));
      return all.filter((c): c is ClientRecord => c !== undefined);
    });
  }

  deleteClient(id: string): Promise<boolean> {
    return this.call(async () => {
      const keys = await this.redis.hgetall(`${this.client(id)}:keys`);
      const hashes = Object.values(keys).map((v) => `${this.p}key:${(JSON.parse(v) as KeyRecord).hash}`);
      const res = await this.redis
        .multi()
        .del(this.client(id), `${this.client(id)}:keys`, ...hashes)
        .srem(`${this.p}clients`, id)
        .exec();
      return Number(res?.[1]?.[1] ?? 0) > 0;
    });
  }

  addKey(clientId: string, key: KeyRecord): Promise<boolean> {
    return this.call(async () => {
      if (!(await this.redis.exists(this.client(clientId)))) return false;
      await this.redis
        .multi()
        .hset(`${this.client(clientId)}:keys`, key.id, JSON.stringify({ hash: key.hash, createdMs: key.createdMs }))
        .set(`${this.p}key:${key.hash}`, JSON.stringify([clientId, key.id]))
        .exec();
      return true;
    });
  }

  revokeKey(clientId: string, keyId: string): Promise<boolean> {
    return this.call(async () => {
      const v = await this.redis.hget(`${this.client(clientId)}:keys`, keyId);
      if (!v) return false;
      const { hash } = JSON.parse(v) as KeyRecord;
      await this.redis.multi().hdel(`${this.client(clientId)}:keys`, keyId).del(`${this.p}key:${hash}`).exec();
      return true;
    });
  }

  findKey(hash: string): Promise<{ clientId: string; keyId: string } | undefined> {
    return this.call(async () => {
      const v = await this.redis.get(`${this.p}key:${hash}`);
      if (!v) return undefined;
      const [clientId, keyId] = JSON.parse(v) as [string, string];
      return { clientId, keyId };
    });
  }

  sharedSecret(candidate: string): Promise<string> {
    return this.call(async () => {
      // SET NX then GET: whichever instance came first, all read the same secret.
      await this.redis.set(`${this.p}token-secret`, candidate, "NX");
      return (await this.redis.get(`${this.p}token-secret`)) ?? candidate;
    });
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }
}
