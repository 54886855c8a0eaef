import { RedisServer } from "./support/redis-server.js";
import { uniquePrefix } from "./support/herald.js";
import { silentLogger } from "../core/logger.js";
import { MemoryClientStore } from "../core/eventhos/memory-client-store.js";
import { RedisClientStore } from "../core/eventhos/redis-client-store.js";
import { MemoryDeliveryStore } from "../core/eventhos/memory-delivery-store.js";
import { RedisDeliveryStore } from "../core/eventhos/redis-delivery-store.js";
import { MemoryWorkQueue } from "../core/queue/memory-work-queue.js";
import { RedisWorkQueue } from "../core/queue/redis-work-queue.js";
import { clientStoreContract } from "./suites/client-store-suite.js";
import { deliveryStoreContract } from "./suites/delivery-store-suite.js";
import { workQueueContract } from "./suites/work-queue-suite.js";

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
  deliveryStoreContract("RedisDeliveryStore", (options) =>
    RedisDeliveryStore.connect({ ...common(), keyPrefix: uniquePrefix(), ...options }),
  );
  workQueueContract("RedisWorkQueue", async (options) => {
    const keyPrefix = uniquePrefix();
    const queue = { ...common(), keyPrefix, ...options, stream: `${keyPrefix}queue`, group: "workers", role: "queue" };
    return [await RedisWorkQueue.connect(queue), await RedisWorkQueue.connect(queue)];
  });
});
