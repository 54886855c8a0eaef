import { strict as assert } from "node:assert";
import { Redis, ReplyError } from "ioredis";
import { asUnavailable, isUnavailable } from "../core/redis/connect.js";
import { connectRedisStores } from "../core/store/redis-stores.js";
import { defaultStoreConfig } from "../core/store/store-config.js";
import { UnavailableError } from "../core/unavailable-error.js";
import { silentLogger } from "../core/logger.js";
import { RedisServer } from "./support/redis-server.js";
import { uniquePrefix } from "./support/herald.js";

/** Only "Redis cannot answer now" is UNAVAILABLE (retry); a bug must not pass for an outage. */
describe("which failures are outages (isUnavailable)", () => {
  it("is false for our own bugs and for Redis refusing a command", () => {
    assert.equal(isUnavailable(new TypeError("Cannot read properties of undefined (reading 'appId')")), false);
    assert.equal(isUnavailable(new RangeError("premature EOF")), false);
    assert.equal(isUnavailable(new ReplyError("ERR wrong number of arguments for 'hget' command")), false);
    assert.equal(isUnavailable(new ReplyError("WRONGTYPE Operation against a key holding the wrong kind of value")), false);
    assert.equal(isUnavailable("a string"), false);
    const bug = new TypeError("x is not a function");
    assert.equal(asUnavailable(bug), bug, "a bug is passed on as it is");
  });

  it("is true for the replies of a Redis that is loading or failing over", () => {
    for (const reply of [
      "LOADING Redis is loading the dataset in memory",
      "BUSY Redis is busy running a script",
      "READONLY You can't write against a read only replica.",
      "MASTERDOWN Link with MASTER is down",
      "TRYAGAIN Multiple keys request during rehashing of slot",
      "CLUSTERDOWN The cluster is down",
    ]) {
      assert.equal(isUnavailable(new ReplyError(reply)), true, reply);
    }
  });

  describe("against a real Redis", () => {
    let redis: RedisServer;
    before(async () => {
      redis = await RedisServer.start();
    });
    after(() => redis.destroy());

    it("calls a command that times out (Redis paused) an outage", async () => {
      const stores = await connectRedisStores(
        { url: redis.url, keyPrefix: uniquePrefix(), commandTimeoutMs: 100, maxReconnectDelayMs: 50, logger: silentLogger },
        { ...defaultStoreConfig, registryCacheMax: 0 },
      );
      const admin = new Redis(redis.url);
      try {
        // Answered at once; from then on the other clients' commands wait, so the store's times out.
        await admin.call("CLIENT", "PAUSE", "600", "ALL");
        const err = await stores.registry.getApp("a").then(
          () => assert.fail("expected a failure"),
          (e: unknown) => e,
        );
        assert.ok(err instanceof UnavailableError, String(err));
        assert.match(err.message, /timed out/);
        await admin.call("CLIENT", "UNPAUSE");
      } finally {
        admin.disconnect();
        await stores.close();
      }
    });

    it("calls a command on a connection to a stopped Redis an outage", async () => {
      const stores = await connectRedisStores(
        { url: redis.url, keyPrefix: uniquePrefix(), commandTimeoutMs: 1000, maxReconnectDelayMs: 50, logger: silentLogger },
        defaultStoreConfig,
      );
      try {
        await redis.stop();
        const err = await stores.registry.getApp("a").then(
          () => assert.fail("expected a failure"),
          (e: unknown) => e,
        );
        assert.ok(err instanceof UnavailableError, String(err));
      } finally {
        await stores.close();
        await redis.restart();
      }
    });
  });
});
