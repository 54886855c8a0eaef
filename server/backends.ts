import type { Logger } from "../core/logger.js";
import type { Bus } from "../core/bus/bus.js";
import { MemoryBus } from "../core/bus/memory-bus.js";
import { RedisBus } from "../core/bus/redis-bus.js";
import { RedisClusterBus } from "../core/bus/redis-cluster-bus.js";
import { clusterNodes, hasRedis, newRedisStats, type RedisConnection } from "../core/redis/connect.js";
import type { Stores } from "../core/store/stores.js";
import { memoryStores } from "../core/store/memory-stores.js";
import { connectRedisStores } from "../core/store/redis-stores.js";
import type { HeraldConfig } from "./config.js";

export interface Backends {
  mode: "embedded" | "redis";
  bus: Bus;
  stores: Stores;
  /** Where Redis-backed parts connect; undefined when embedded. */
  redis: RedisConnection | undefined;
  close(): Promise<void>;
}

/** Memory bus and stores when no Redis is configured (embedded), else Redis ones (one Redis, Sentinel or Cluster). */
export async function connectBackends(config: HeraldConfig, logger: Logger): Promise<Backends> {
  if (!hasRedis(config.redis)) {
    const bus = new MemoryBus({ historySize: config.watch.historySize });
    const stores = memoryStores(config.store);
    return { mode: "embedded", bus, stores, redis: undefined, close: () => closeAll(bus, stores) };
  }
  const url = config.redis.cluster || config.redis.sentinels ? "" : (config.redis.url ?? "");
  const redis: RedisConnection = { ...config.redis, url, logger, stats: newRedisStats() };
  const busOptions = { ...redis, historySize: config.watch.historySize };
  const bus = clusterNodes(redis) ? await RedisClusterBus.connect(busOptions) : await RedisBus.connect(busOptions);
  try {
    const stores = await connectRedisStores(redis, config.store);
    return { mode: "redis", bus, stores, redis, close: () => closeAll(bus, stores) };
  } catch (err) {
    await bus.close();
    throw err;
  }
}

async function closeAll(bus: Bus, stores: Stores): Promise<void> {
  await Promise.allSettled([bus.close(), stores.close()]);
}

/** A Redis URL fit for logs: the password masked. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable url)";
  }
}
