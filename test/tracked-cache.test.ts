import { strict as assert } from "node:assert";
import { once } from "node:events";
import { Redis } from "ioredis";
import { TrackedCache } from "../core/redis/tracked-cache.js";
import { silentLogger } from "../core/logger.js";
import { RedisServer } from "./support/redis-server.js";
import { uniquePrefix } from "./support/herald.js";

/** The near cache kept true by Redis key tracking, against a real redis-server. */
describe("TrackedCache", () => {
  let redis: RedisServer;
  let raw: Redis;
  let cache: TrackedCache;
  let key: string;
  /** Reads of `key` that reached Redis. */
  let fetched: number;

  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis.destroy());

  const connect = (maxEntries = 1000, url = redis.url) =>
    TrackedCache.connect({ url, role: "test", logger: silentLogger, commandTimeoutMs: 1000, maxReconnectDelayMs: 50, maxEntries });

  beforeEach(async () => {
    raw = new Redis(redis.url);
    key = `${uniquePrefix()}{app}:app`;
    await raw.set(key, "v1");
    cache = await connect();
    fetched = 0;
  });
  afterEach(async () => {
    await cache.close();
    raw.disconnect();
  });

  const get = (k = key) =>
    cache.read(k, "", async (r) => {
      fetched++;
      return r.get(k);
    });
  /** Resolves when the cache has dropped `k` on Redis's word (or everything). */
  const invalidated = (k = key) =>
    new Promise<void>((resolve) => {
      const on = (keys: string[] | null) => {
        if (keys === null || keys.includes(k)) {
          cache.off("invalidate", on);
          resolve();
        }
      };
      cache.on("invalidate", on);
    });
  /** The id of one of the cache's connections, by the name it gives itself. */
  const clientId = async (name: string) => {
    const list = await raw.client("LIST");
    const line = String(list)
      .split("\n")
      .find((l) => l.includes(` name=${name} `));
    assert.ok(line, `a connection named ${name}`);
    return /id=(\d+)/.exec(line)![1]!;
  };

  it("reads a key from Redis once, then serves it until Redis says it changed", async () => {
    assert.equal(cache.tracking, true);
    assert.equal(await get(), "v1");
    assert.equal(await get(), "v1");
    assert.equal(fetched, 1, "the second read came from the cache");

    const dropped = invalidated();
    await raw.set(key, "v2"); // another client, as another instance or an operator would
    await dropped;
    assert.equal(await get(), "v2");
    assert.equal(fetched, 2);
  });

  it("keeps a missing key as missing, until it is created", async () => {
    const absent = `${key}:absent`;
    assert.equal(await get(absent), null);
    assert.equal(await get(absent), null);
    assert.equal(fetched, 1);
    const dropped = invalidated(absent);
    await raw.set(absent, "now");
    await dropped;
    assert.equal(await get(absent), "now");
  });

  it("caches hash fields one by one; a change to any field drops the whole key", async () => {
    const hash = `${key}:subs`;
    await raw.hset(hash, "k1", "x", "k2", "y");
    let asked: string[][] = [];
    const exist = (fields: string[]) =>
      cache.readFields(hash, fields, async (r, missing) => {
        asked.push([...missing]);
        return (await r.hmget(hash, ...missing)).map((v) => v !== null);
      });
    assert.deepEqual(await exist(["k1", "k9"]), [true, false]);
    assert.deepEqual(await exist(["k9", "k2", "k1"]), [false, true, true]);
    assert.deepEqual(asked, [["k1", "k9"], ["k2"]], "only what was not kept is asked for");
    const dropped = invalidated(hash);
    await raw.hset(hash, "k9", "z");
    await dropped;
    asked = [];
    assert.deepEqual(await exist(["k1", "k9"]), [true, true]);
    assert.deepEqual(asked, [["k1", "k9"]]);
  });

  it("does not keep a value whose key changed while it was being read", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let replied!: () => void;
    const read = new Promise<void>((resolve) => (replied = resolve));
    // The reply is in hand but not yet returned when the invalidation arrives: the order in which
    // the two connections deliver is not fixed.
    const slow = cache.read(key, "", async (r) => {
      const value = await r.get(key);
      replied();
      await gate;
      return value;
    });
    await read; // Redis has run the read (and tracks the key) before the write below
    const dropped = invalidated();
    await raw.set(key, "v2");
    await dropped;
    release();
    assert.equal(await slow, "v1", "the read itself answers what it read");
    assert.equal(await get(), "v2", "but it was not kept");
    assert.equal(fetched, 1);
  });

  it("drops a key at once when this process says it wrote it", async () => {
    assert.equal(await get(), "v1");
    await raw.set(key, "v2");
    cache.invalidate([key]);
    assert.equal(await get(), "v2");
    assert.equal(fetched, 2);
  });

  it("drops everything on FLUSHALL", async () => {
    assert.equal(await get(), "v1");
    const dropped = invalidated();
    await raw.flushall();
    await dropped;
    assert.equal(await get(), null);
    assert.equal(fetched, 2);
  });

  it("starts over past maxEntries", async () => {
    await cache.close();
    cache = await connect(2);
    for (const k of ["a", "b", "c"]) await get(`${key}:${k}`);
    fetched = 0;
    await get(`${key}:a`);
    assert.equal(fetched, 1, "the third value emptied it");
    await get(`${key}:a`);
    assert.equal(fetched, 1);
  });

  for (const name of ["herald-invalidations", "herald-tracked-reads"]) {
    it(`stops caching when its ${name} connection drops, and tracks again on the new connection`, async () => {
      assert.equal(await get(), "v1");
      const off = once(cache, "tracking");
      const on = new Promise<void>((resolve) => cache.on("tracking", (tracking: boolean) => tracking && resolve()));
      await raw.client("KILL", "ID", await clientId(name));
      assert.deepEqual(await off, [false]);
      await on;
      // Tracking on the new connection pair: a change is announced again.
      assert.equal(await get(), "v1");
      assert.equal(await get(), "v1");
      assert.equal(fetched, 2, "emptied on the drop, then cached again");
      const dropped = invalidated();
      await raw.set(key, "v2");
      await dropped;
      assert.equal(await get(), "v2");
    });
  }

  it("reads everything from Redis when Redis refuses tracking (here an ACL), and still answers", async () => {
    await raw.acl("SETUSER", "no-tracking", "on", "nopass", "~*", "&*", "+@all", "-client|tracking");
    await cache.close();
    cache = await connect(1000, redis.url.replace("redis://", "redis://no-tracking@"));
    assert.equal(cache.tracking, false);
    assert.equal(await get(), "v1");
    await raw.set(key, "v2");
    assert.equal(await get(), "v2");
    assert.equal(fetched, 2);
  });

  it("reads from Redis while Redis is down (failing fast), and does not serve what changed meanwhile", async () => {
    assert.equal(await get(), "v1");
    const off = once(cache, "tracking");
    await redis.stop();
    await off;
    await assert.rejects(get());
    const on = once(cache, "tracking");
    await redis.restart();
    await raw.set(key, "v2"); // raw reconnects by itself; this may land before tracking is back
    await on;
    assert.equal(await get(), "v2");
  });
});
