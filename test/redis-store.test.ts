import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Redis } from "ioredis";
import { connectRedisStores } from "../core/store/redis-stores.js";
import { defaultStoreConfig, type StoreConfig } from "../core/store/store-config.js";
import { UnavailableError } from "../core/unavailable-error.js";
import { AppSchema } from "../core/gen/herald/v1/registry_pb.js";
import { silentLogger } from "../core/logger.js";
import { RedisServer } from "./support/redis-server.js";
import { uniquePrefix } from "./support/herald.js";
import { storeSuite } from "./suites/store-suite.js";

describe("Redis stores", () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis.destroy());

  const connect = (keyPrefix = uniquePrefix(), config: Partial<StoreConfig> = {}, commandTimeoutMs = 1000) =>
    connectRedisStores(
      { url: redis.url, keyPrefix, commandTimeoutMs, maxReconnectDelayMs: 50, logger: silentLogger },
      { ...defaultStoreConfig, ...config },
    );

  storeSuite("Redis", (config) => connect(undefined, config));
  storeSuite("Redis without its registry cache", (config) => connect(undefined, { ...config, registryCacheMax: 0 }));

  it("keeps a request's status in one hash whose TTL is set by its first write, mark or record", async () => {
    const prefix = uniquePrefix();
    const stores = await connect(prefix, { messageStatusTtlMs: 60_000 });
    const store = stores.status;
    const raw = new Redis(redis.url);
    try {
      const key = `${prefix}status:{req-1}`;
      await store.markDelivered("req-1", "7", "k", 1);
      const first = await raw.pttl(key);
      assert.ok(first > 0 && first <= 60_000, `a mark alone sets the TTL (pttl ${first})`);
      await raw.pexpire(key, 30_000); // recognisable: a later write must not reset it
      await store.recordMessage({ requestId: "req-1", msgId: "7", appId: "a", ksids: ["k"], broadcast: false, time: timestampNow() });
      const after = await raw.pttl(key);
      assert.ok(after > 0 && after <= 30_000, `the record keeps the TTL (pttl ${after})`);
      assert.deepEqual((await raw.hkeys(key)).sort(), ["d:7:k", "m:7"]);
    } finally {
      raw.disconnect();
      await stores.close();
    }
  });

  it("sends the status writes of one tick to Redis as one script call", async () => {
    const stores = await connect();
    const store = stores.status;
    const raw = new Redis(redis.url);
    const scriptCalls = async () => {
      const stats = await raw.info("commandstats");
      return [...stats.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const rec = (requestId: string, msgId: string) =>
      store.recordMessage({ requestId, msgId, appId: "a", ksids: ["k1", "k2"], broadcast: false, time: timestampNow() });
    try {
      await rec("warm-up", "1"); // loads the script
      const before = await scriptCalls();
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          i % 2 === 0
            ? rec(`batch-${i}`, String(10 + i))
            : store.markDelivered(`batch-${i - 1}`, String(9 + i), "k2", 1_700_000_000_000 + i),
        ),
      );
      assert.equal((await scriptCalls()) - before, 1);
      for (const i of [0, 48, 98]) {
        const [m] = (await store.messageStatus(`batch-${i}`)) ?? [];
        assert.equal(m?.msgId, String(10 + i));
        assert.deepEqual(
          m?.subscribers.map((s) => [s.ksid, s.deliveredTime ? Number(s.deliveredTime.seconds) : 0]),
          [
            ["k1", 0],
            ["k2", 1_700_000_000],
          ],
        );
      }
    } finally {
      raw.disconnect();
      await stores.close();
    }
  });

  it("keeps the registry across a Redis restart and fails fast while Redis is down", async () => {
    // A command timeout beyond mocha's: a call that waited for it instead of failing fast fails the test.
    const stores = await connect(undefined, {}, 600_000);
    const { registry: store, status } = stores;
    try {
      await store.upsertApp(create(AppSchema, { id: "kept", published: true }));
      const s = await store.subscribe({ appId: "kept", deviceId: "d", ufid: "u", osType: "iphone" });
      await redis.stop();
      await assert.rejects(store.getApp("kept"), UnavailableError);
      await assert.rejects(status.messageStatus("r"), UnavailableError);
      await assert.rejects(status.markDelivered("r", "1", "k", 1), UnavailableError);
      await assert.rejects(
        status.recordMessage({ requestId: "r", msgId: "1", appId: "kept", ksids: [], broadcast: true, time: timestampNow() }),
        UnavailableError,
      );
      await redis.restart();
      // Retry as a caller would until the connection is back (bounded).
      let app;
      for (let attempt = 0; !app; attempt++) {
        try {
          app = await store.getApp("kept");
        } catch (err) {
          if (!(err instanceof UnavailableError) || attempt > 200) throw err;
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      assert.equal(app?.published, true);
      assert.equal((await store.getSubscriber(s.ksid))?.deviceId, "d");
    } finally {
      if (!redis.running) await redis.restart();
      await stores.close();
    }
  });
});
