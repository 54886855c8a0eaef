import { strict as assert } from "node:assert";
import { RedisClusterBus } from "../core/bus/redis-cluster-bus.js";
import { connectRedisStores } from "../core/store/redis-stores.js";
import { defaultStoreConfig } from "../core/store/store-config.js";
import { RedisClientStore } from "../core/eventhos/redis-client-store.js";
import { RedisDeliveryStore } from "../core/eventhos/redis-delivery-store.js";
import { RedisWorkQueue } from "../core/queue/redis-work-queue.js";
import { appSlot } from "../core/redis/keys.js";
import { silentLogger } from "../core/logger.js";
import { RedisCluster } from "./support/redis-cluster.js";
import { uniquePrefix } from "./support/herald.js";
import { busContract } from "./suites/bus-suite.js";
import { storeSuite } from "./suites/store-suite.js";
import { clientStoreContract } from "./suites/client-store-suite.js";
import { deliveryStoreContract } from "./suites/delivery-store-suite.js";
import { workQueueContract } from "./suites/work-queue-suite.js";

/** The contract suites of the bus and the stores, on a real Redis Cluster (3 masters, 3 replicas). */
describe("on Redis Cluster", function () {
  this.timeout(60_000);
  let cluster: RedisCluster;
  before(async () => {
    cluster = await RedisCluster.start();
  });
  after(() => cluster?.destroy());

  const common = () => ({
    url: "",
    cluster: cluster.nodes.join(","),
    commandTimeoutMs: 2000,
    maxReconnectDelayMs: 50,
    logger: silentLogger,
  });

  it("spreads the suites' apps over all three masters", async () => {
    const owners = new Set<string>();
    for (const app of ["a", "b", "c"]) owners.add((await cluster.ownerOf(appSlot(app))).id);
    assert.equal(owners.size, 3, "apps a, b and c are on three different masters");
  });

  it("keeps no registry near cache on a Cluster (reads go to Redis), whatever --registry-cache-max says", async () => {
    const stores = await connectRedisStores({ ...common(), keyPrefix: uniquePrefix() }, { ...defaultStoreConfig, registryCacheMax: 1000 });
    try {
      assert.equal(stores.cacheStats, undefined);
    } finally {
      await stores.close();
    }
  });

  busContract("RedisClusterBus", {
    idsPerApp: true,
    async create({ historySize, logger = silentLogger }) {
      const keyPrefix = uniquePrefix();
      const connect = (log = silentLogger) => RedisClusterBus.connect({ ...common(), keyPrefix, historySize, logger: log });
      return { bus: await connect(logger), peer: await connect() };
    },
  });

  storeSuite("Redis Cluster", (config) =>
    connectRedisStores({ ...common(), keyPrefix: uniquePrefix() }, { ...defaultStoreConfig, ...config }),
  );

  clientStoreContract("RedisClientStore on Redis Cluster", () => RedisClientStore.connect({ ...common(), keyPrefix: uniquePrefix() }));
  deliveryStoreContract("RedisDeliveryStore on Redis Cluster", (options) =>
    RedisDeliveryStore.connect({ ...common(), keyPrefix: uniquePrefix(), ...options }),
  );
  workQueueContract("RedisWorkQueue on Redis Cluster", async (options) => {
    const keyPrefix = uniquePrefix();
    const queue = { ...common(), keyPrefix, ...options, stream: `${keyPrefix}{eventhos}:queue`, group: "workers", role: "queue" };
    return [await RedisWorkQueue.connect(queue), await RedisWorkQueue.connect(queue)];
  });
});
