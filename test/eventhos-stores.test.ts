import { RedisServer } from "./support/redis-server.js";
import { uniquePrefix } from "./support/herald.js";
import { silentLogger } from "../core/logger.js";
import { MemoryClientStore } from "../core/store/memory-client-store.js";
import { RedisClientStore } from "../core/store/redis-client-store.js";
import { MemoryDeliveryStore } from "../core/store/memory-delivery-store.js";
import { RedisDeliveryStore } from "../core/store/redis-delivery-store.js";
import { MemoryWorkQueue } from "../core/delivery/memory-work-queue.js";
import { RedisWorkQueue } from "../core/delivery/redis-work-queue.js";
import { clientStoreContract } from "./contract/client-store-contract.js";
import { deliveryStoreContract } from "./contract/delivery-store-contract.js";
import { workQueueContract } from "./contract/work-queue-contract.js";

clientStoreContract("MemoryClientStore", async () => new MemoryClientStore());
deliveryStoreContract("MemoryDeliveryStore", async (options) => new MemoryDeliveryStore(options));
workQueueContract("MemoryWorkQueue", async (options) => {
  const q = new MemoryWorkQueue(options);
  return [q, q.consumer()];
});

describe("eventhos stores on Redis", () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis.destroy());
  const common = () => ({ url: redis.url, commandTimeoutMs: 1000, maxReconnectDelayMs: 50, logger: silentLogger });

  clientStoreContract("RedisClientStore", () => RedisClientStore.connect({ ...common(), keyPrefix: uniquePrefix() }));
  deliveryStoreContract("RedisDeliveryStore", (options) => RedisDeliveryStore.connect({ ...common(), keyPrefix: uniquePrefix(), ...options }));
  workQueueContract("RedisWorkQueue", async (options) => {
    const keyPrefix = uniquePrefix();
    return [await RedisWorkQueue.connect({ ...common(), keyPrefix, ...options }), await RedisWorkQueue.connect({ ...common(), keyPrefix, ...options })];
  });
});
