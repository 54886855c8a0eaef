import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { RedisStore } from "../core/store/redis-store.js";
import { StoreUnavailableError } from "../core/store/store.js";
import { AppSchema } from "../core/gen/herald/v1/registry_pb.js";
import { silentLogger } from "../core/logger.js";
import { RedisServer } from "./support/redis-server.js";
import { uniquePrefix } from "./support/herald.js";
import { storeContract } from "./contract/store-contract.js";

describe("RedisStore", () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis.destroy());

  const connect = (keyPrefix = uniquePrefix()) =>
    RedisStore.connect({ url: redis.url, keyPrefix, commandTimeoutMs: 1000, maxReconnectDelayMs: 50, logger: silentLogger });

  storeContract("RedisStore", () => connect());

  it("keeps the registry across a Redis restart and fails fast while Redis is down", async () => {
    const store = await connect();
    try {
      await store.upsertApp(create(AppSchema, { id: "kept", published: true }));
      const s = await store.subscribe({ appId: "kept", deviceId: "d", ufid: "u", osType: "iphone" });
      await redis.stop();
      const started = Date.now();
      await assert.rejects(store.getApp("kept"), StoreUnavailableError);
      assert.ok(Date.now() - started < 900, "rejected well before the command timeout");
      await redis.restart();
      // Retry as a caller would until the connection is back (bounded).
      let app;
      for (let attempt = 0; !app; attempt++) {
        try {
          app = await store.getApp("kept");
        } catch (err) {
          if (!(err instanceof StoreUnavailableError) || attempt > 200) throw err;
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      assert.equal(app?.published, true);
      assert.equal((await store.getSubscriber(s.ksid))?.deviceId, "d");
    } finally {
      if (!redis.running) await redis.restart();
      await store.close();
    }
  });
});
