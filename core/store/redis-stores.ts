import { clusterNodes, connectClient, readyAll, type RedisConnection } from "../redis/connect.js";
import { keysOf } from "../redis/keys.js";
import { TrackedCache } from "../redis/tracked-cache.js";
import { UnavailableError } from "../unavailable-error.js";
import type { StoreConfig } from "./store-config.js";
import type { Stores } from "./stores.js";
import { RedisRegistryStore } from "./redis-registry-store.js";
import { RedisStatusStore } from "./redis-status-store.js";
import { RedisHandlerStore } from "./redis-handler-store.js";
import { RedisApiKeyStore } from "./redis-api-key-store.js";
import { RedisPushProviderStore } from "./redis-push-provider-store.js";

/**
 * The three stores on one Redis connection (auto-pipelined: the reads and writes of a send share
 * round trips), the registry behind a near cache kept true by key tracking unless
 * `registryCacheMax` is 0. Rejects with UnavailableError if Redis cannot be reached.
 */
export async function connectRedisStores(
  connection: RedisConnection,
  config: Pick<StoreConfig, "messageStatusTtlMs" | "registryCacheMax">,
): Promise<Stores> {
  const redis = connectClient({ ...connection, role: "store" }, { enableAutoPipelining: true });
  await readyAll(redis);
  let cache: TrackedCache | undefined;
  // On a Cluster the near cache is off: tracking would need a tracked connection and an
  // invalidation connection per master, kept in step with slot moves (README: its cost, measured).
  const cluster = clusterNodes(connection) !== undefined;
  if (cluster && config.registryCacheMax > 0) {
    connection.logger.info("Redis Cluster: the registry near cache is off; registry reads go to Redis");
  }
  try {
    if (config.registryCacheMax > 0 && !cluster)
      cache = await TrackedCache.connect({ ...connection, role: "store", maxEntries: config.registryCacheMax });
  } catch (err) {
    redis.disconnect();
    throw new UnavailableError(`cannot connect to Redis: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const keys = keysOf(connection);
  return {
    registry: new RedisRegistryStore(redis, keys, cache),
    status: new RedisStatusStore(redis, keys, config.messageStatusTtlMs),
    handlers: new RedisHandlerStore(redis, keys),
    apiKeys: new RedisApiKeyStore(redis, keys, cache),
    pushProviders: new RedisPushProviderStore(redis, keys, cache),
    ...(cache ? { cacheStats: cache.stats, nearCache: cache } : {}),
    async close() {
      await cache?.close();
      await redis.quit().catch(() => undefined);
      redis.disconnect();
    },
  };
}
