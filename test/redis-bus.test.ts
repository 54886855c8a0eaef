import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { pino } from "pino";
import { RedisBus, type RedisBusOptions } from "../core/bus/redis-bus.js";
import { UnavailableError } from "../core/unavailable-error.js";
import { defaultRedisConfig } from "../core/redis/connect.js";
import { appendIds } from "../core/bus/envelope.js";
import { silentLogger } from "../core/logger.js";
import { RedisServer } from "./support/redis-server.js";
import { freePort } from "./support/free-port.js";
import { busContract, collector, envelope } from "./suites/bus-suite.js";

let prefixes = 0;
/** A key prefix of its own per bus world, so that tests sharing one Redis never meet. */
const uniquePrefix = () => `bus-test-${process.pid}-${++prefixes}:`;

describe("RedisBus", () => {
  let redis: RedisServer;
  /** A plain connection for looking at what the bus did in Redis. */
  let admin: Redis;
  const buses: RedisBus[] = [];

  before(async () => {
    redis = await RedisServer.start({ durable: true });
    admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    admin.on("error", () => undefined); // it reconnects by itself across the restart test
    await admin.connect();
  });
  afterEach(async () => {
    if (!redis.running) await redis.restart();
    else redis.resume(); // a test that failed while Redis was paused must not stall the next ones
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });
  after(async () => {
    admin.disconnect();
    await redis.destroy();
  });

  const connect = async (keyPrefix: string, options: Partial<RedisBusOptions> = {}) => {
    const bus = await RedisBus.connect({
      url: redis.url,
      keyPrefix,
      historySize: 1000,
      commandTimeoutMs: 2000,
      maxReconnectDelayMs: 50,
      logger: silentLogger,
      ...options,
    });
    buses.push(bus);
    return bus;
  };

  busContract("RedisBus", {
    async create({ historySize, logger = silentLogger }) {
      const prefix = uniquePrefix();
      return { bus: await connect(prefix, { historySize, logger }), peer: await connect(prefix, { historySize }) };
    },
  });

  const numsub = async (channel: string) => Number(((await admin.pubsub("NUMSUB", channel)) as unknown[])[1]);
  const calls = async (command: string) => {
    const stats = await admin.info("commandstats");
    return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, "m").exec(stats)?.[1] ?? 0);
  };

  /** A logger whose lines the test reads, from `level` up. */
  const recorder = (level: string) => {
    const lines: Array<Record<string, unknown>> = [];
    return { lines, logger: pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line)) }) };
  };

  it("builds the message in Lua byte for byte as appendIds does, at every varint length", async () => {
    const prefix = uniquePrefix();
    const bus = await connect(prefix);
    const envelopes = [
      new Uint8Array(0),
      Uint8Array.from([0x00, 0xff, 0x0a, 0x80, 0x10, 0x7f, 0xc3]),
      Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919) & 0xff),
      envelope(1),
    ];
    // Lua numbers are doubles: offsets are exact up to 2^53 - 1, reached by the last publish here.
    const offsets = [1n, 127n, 128n, 16_383n, 16_384n, 2_097_151n, 2_097_152n, 1n << 35n, 1n << 49n, (1n << 53n) - 4n];
    await admin.set(`${prefix}msgid`, String(10n ** 15n)); // 16-digit msg ids
    for (const offset of offsets) {
      const app = `varint-${offset}`;
      await admin.set(`${prefix}{${app}}:offset`, String(offset - 1n));
      const c = collector();
      await bus.subscribe(app, c.listener);
      for (const [i, env] of envelopes.entries()) {
        const p = await bus.publish(app, env);
        const expected = appendIds(env, p.msgId, p.offset);
        assert.deepEqual(Buffer.from(p.message), Buffer.from(expected));
        const h = await bus.history(app, p.offset - 1n, 1);
        assert.deepEqual(Buffer.from(h.messages[0]!), Buffer.from(expected), `stored bytes at offset ${p.offset}`);
        await c.count(i + 1);
        assert.deepEqual(Buffer.from(c.got[i]!), Buffer.from(expected), `delivered bytes at offset ${p.offset}`);
      }
      assert.equal((await bus.history(app, 0n, 0)).latest, offset + 3n);
    }
  });

  it("leaves no gap when the append fails, and reports that as a Redis error, not as unavailable", async () => {
    const prefix = uniquePrefix();
    const bus = await connect(prefix);
    await bus.publish("ok", envelope(0));
    await admin.xadd(`${prefix}{broken}:history`, "0-5", "d", "not ours");
    const err: unknown = await bus.publish("broken", envelope(1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error && !(err instanceof UnavailableError), String(err));
    assert.match(err.message, /XADD/);
    assert.equal(await admin.get(`${prefix}{broken}:offset`), "0", "offset rolled back");
    assert.equal(await admin.get(`${prefix}msgid`), "1", "msg id rolled back");
    await admin.set(`${prefix}{broken}:offset`, "5");
    const p = await bus.publish("broken", envelope(2));
    assert.deepEqual([p.msgId, p.offset], ["2", 6n]);
  });

  it("lays out keys and channels per app, hash-tagged, with the documented default prefix", async () => {
    const prefix = uniquePrefix();
    const bus = await connect(prefix);
    await bus.subscribe("a", () => undefined);
    await bus.publish("a", envelope(1));
    assert.equal(await admin.get(`${prefix}msgid`), "1");
    assert.equal(await admin.get(`${prefix}{a}:offset`), "1");
    assert.equal(await admin.type(`${prefix}{a}:history`), "stream");
    const entries = await admin.xrangeBuffer(`${prefix}{a}:history`, "-", "+");
    assert.equal(entries.length, 1);
    assert.equal(entries[0]![0].toString(), "0-1");
    assert.equal(entries[0]![1][0]!.toString(), "d");
    assert.equal(await numsub(`${prefix}{a}:events`), 1);

    const defaults = await RedisBus.connect({ ...defaultRedisConfig, url: redis.url, historySize: 10, logger: silentLogger });
    buses.push(defaults);
    const before = Number((await admin.get("herald:{default-prefix-check}:offset")) ?? 0);
    const p = await defaults.publish("default-prefix-check", envelope(1));
    assert.equal(p.offset, BigInt(before + 1));
    assert.equal(await admin.get("herald:{default-prefix-check}:offset"), String(before + 1));
  });

  it("keeps an idempotency key as a hash of the app named by the key's SHA-256, expiring with the window, and nothing else", async () => {
    const prefix = uniquePrefix();
    const bus = await connect(prefix);
    const key = "x}:{victim}:offset";
    await bus.publishBatch("a", [envelope(1), envelope(2)], { key, fingerprint: "fp", windowMs: 60_000 });
    const name = `${prefix}{a}:idem:${createHash("sha256").update(key).digest("hex")}`;
    assert.deepEqual(await admin.hgetall(name), { f: "fp", i: "1,1,2", m: "" });
    const ttl = await admin.pttl(name);
    assert.ok(ttl > 0 && ttl <= 60_000, `expires with the window (${ttl} ms)`);
    assert.deepEqual(
      (await admin.keys(`${prefix}*`)).sort(),
      [`${prefix}msgid`, `${prefix}{a}:history`, `${prefix}{a}:offset`, name].sort(),
    );
    // Without a key, nothing is written besides the publish.
    await bus.publishBatch("a", [envelope(3)]);
    assert.equal((await admin.keys(`${prefix}*`)).length, 4);
  });

  it("writes nothing of a batch whose append Redis refuses: counters put back, no idempotency record", async () => {
    const prefix = uniquePrefix();
    const bus = await connect(prefix);
    await bus.publish("a", envelope(1));
    // An entry written by hand past the next offset: the script's first XADD is refused.
    await admin.xadd(`${prefix}{a}:history`, "0-9", "d", "x");
    await assert.rejects(
      bus.publishBatch("a", [envelope(2), envelope(3)], { key: "k", fingerprint: "f", windowMs: 60_000 }),
      /XADD|equal or smaller/,
    );
    assert.equal(await admin.get(`${prefix}{a}:offset`), "1");
    assert.equal(await admin.get(`${prefix}msgid`), "1");
    assert.equal(await admin.xlen(`${prefix}{a}:history`), 2);
    assert.deepEqual(await admin.keys(`${prefix}{a}:idem:*`), []);
  });

  describe("group commit: publishes without a key in one turn go as one script call", () => {
    const evalshas = () => calls("evalsha");

    it("sends the publishes of one turn together, in call order, each with its own consecutive ids and messages", async () => {
      const prefix = uniquePrefix();
      const bus = await connect(prefix);
      const got = collector();
      await bus.subscribe("a", got.listener);
      await bus.publish("a", envelope(0)); // the script is loaded: what follows is counted
      const before = await evalshas();
      const [one, batch, two] = await Promise.all([
        bus.publish("a", envelope(1)),
        bus.publishBatch("a", [envelope(2), envelope(3), envelope(4)]),
        bus.publish("a", envelope(5)),
      ]);
      assert.equal((await evalshas()) - before, 1, "one script call for the three publishes");
      assert.deepEqual([one.msgId, one.offset], ["2", 2n]);
      assert.deepEqual(
        batch.ids.map((i) => [i.msgId, i.offset]),
        [
          ["3", 3n],
          ["4", 4n],
          ["5", 5n],
        ],
      );
      assert.deepEqual([two.msgId, two.offset], ["6", 6n]);
      assert.equal(batch.replayed, false);
      assert.deepEqual(
        batch.messages.map((m) => Buffer.from(m).toString("hex")),
        [2, 3, 4].map((n, i) => Buffer.from(appendIds(envelope(n), String(3 + i), BigInt(3 + i))).toString("hex")),
      );
      assert.equal(Buffer.from(two.message).toString("hex"), Buffer.from(appendIds(envelope(5), "6", 6n)).toString("hex"));
      await got.count(6);
      assert.deepEqual(
        got.got.map((m) => Buffer.from(m).toString("hex")),
        [0, 1, 2, 3, 4, 5].map((n) => Buffer.from(appendIds(envelope(n), String(n + 1), BigInt(n + 1))).toString("hex")),
        "delivered in call order",
      );
    });

    it("keeps apps apart; a keyed publish goes alone, after the group waiting before it", async () => {
      const prefix = uniquePrefix();
      const bus = await connect(prefix);
      await bus.publish("a", envelope(0));
      const before = await evalshas();
      const [a, b, keyed] = await Promise.all([
        bus.publish("a", envelope(1)),
        bus.publish("b", envelope(2)),
        bus.publishBatch("a", [envelope(3)], { key: "k", fingerprint: "f", windowMs: 60_000 }),
      ]);
      assert.equal((await evalshas()) - before, 3, "one call per app, one for the keyed publish");
      assert.equal(a.offset, 2n);
      assert.equal(b.offset, 1n);
      assert.equal(keyed.ids[0]!.offset, 3n, "the keyed publish was sent after the group waiting before it");
    });

    it("sends a group that would pass 1024 envelopes at once, and the rest as the next one", async () => {
      const bus = await connect(uniquePrefix());
      await bus.publish("a", envelope(0));
      const before = await evalshas();
      const many = Array.from({ length: 1000 }, (_, i) => envelope(i));
      const results = await Promise.all([
        bus.publishBatch("a", many),
        bus.publishBatch("a", many.slice(0, 100)),
        bus.publish("a", envelope(1)),
      ]);
      assert.equal((await evalshas()) - before, 2);
      assert.deepEqual(
        results.map((r) => ("ids" in r ? r.ids[0]!.offset : r.offset)),
        [2n, 1002n, 1102n],
      );
    });

    it("fails every publish of a group whose append Redis refuses, and writes none of them", async () => {
      const prefix = uniquePrefix();
      const bus = await connect(prefix);
      await bus.publish("a", envelope(0));
      await admin.xadd(`${prefix}{a}:history`, "0-9", "d", "x");
      const outcomes = await Promise.allSettled([bus.publish("a", envelope(1)), bus.publishBatch("a", [envelope(2), envelope(3)])]);
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ["rejected", "rejected"],
      );
      for (const o of outcomes) assert.match(String((o as PromiseRejectedResult).reason), /XADD|equal or smaller/);
      assert.equal(await admin.get(`${prefix}{a}:offset`), "1");
      assert.equal(await admin.xlen(`${prefix}{a}:history`), 2);
    });
  });

  it("sends one SUBSCRIBE per app channel per process, and UNSUBSCRIBE when the last listener goes", async () => {
    const prefix = uniquePrefix();
    const bus = await connect(prefix);
    const channel = `${prefix}{app}:events`;
    const subscribes = await calls("subscribe");
    const unsubscribes = await calls("unsubscribe");
    const offs = await Promise.all(Array.from({ length: 5 }, () => bus.subscribe("app", () => undefined)));
    offs.push(await bus.subscribe("app", () => undefined));
    assert.equal(await calls("subscribe"), subscribes + 1);
    assert.equal(await numsub(channel), 1);
    await Promise.all(offs.slice(1).map((off) => off()));
    assert.equal(await numsub(channel), 1, "still one listener");
    assert.equal(await calls("unsubscribe"), unsubscribes);
    await offs[0]!();
    assert.equal(await numsub(channel), 0);
    assert.equal(await calls("unsubscribe"), unsubscribes + 1);
  });

  it("subscribes again for the next listener when the last one's UNSUBSCRIBE timed out", async () => {
    const prefix = uniquePrefix();
    const { lines, logger } = recorder("debug");
    const bus = await connect(prefix, { commandTimeoutMs: 200, logger });
    const channel = `${prefix}{app}:events`;
    const off = await bus.subscribe("app", () => undefined);
    assert.equal(await numsub(channel), 1);
    // A stalled Redis: the UNSUBSCRIBE waits in the socket, and times out before Redis runs it.
    redis.pause();
    try {
      await off();
    } finally {
      redis.resume();
    }
    assert.deepEqual(
      lines.filter((l) => l["msg"] === "unsubscribe failed").map((l) => [l["channel"], l["err"]]),
      [[channel, "UnavailableError: redis: Command timed out"]],
    );
    // It was sent before this: Redis runs it first.
    assert.equal(await numsub(channel), 0, "Redis ran the UNSUBSCRIBE that timed out");
    const c = collector();
    await bus.subscribe("app", c.listener);
    assert.equal(await numsub(channel), 1, "the next listener's SUBSCRIBE was sent");
    await bus.publish("app", envelope(1));
    await c.count(1);
    assert.deepEqual(c.offsets(), [1n]);
  });

  it("keeps a listener that comes while the last one's UNSUBSCRIBE is on its way", async () => {
    const prefix = uniquePrefix();
    const bus = await connect(prefix);
    const off = await bus.subscribe("app", () => undefined);
    redis.pause();
    let offing: Promise<void>;
    let subscribing: Promise<() => Promise<void>>;
    const b = collector();
    try {
      offing = off();
      // One turn of the event loop: the UNSUBSCRIBE is written (and waits in the stalled Redis).
      await new Promise((resolve) => setImmediate(resolve));
      subscribing = bus.subscribe("app", b.listener);
    } finally {
      redis.resume();
    }
    await Promise.all([offing, subscribing]);
    assert.equal(await numsub(`${prefix}{app}:events`), 1);
    await bus.publish("app", envelope(1));
    // A SUBSCRIBE sent after that message went out: its reply comes after the message.
    await bus.subscribe("other", () => undefined);
    assert.deepEqual(b.offsets(), [1n]);
  });

  it("drops a listener whose SUBSCRIBE timed out: it gets nothing, even once Redis has run the command", async () => {
    const prefix = uniquePrefix();
    const bus = await connect(prefix, { commandTimeoutMs: 200 });
    const refused = collector();
    redis.pause();
    try {
      await assert.rejects(bus.subscribe("app", refused.listener), UnavailableError);
    } finally {
      redis.resume();
    }
    // Redis ran the late SUBSCRIBE: a message of the app comes for no listener, and is dropped
    // before the reply to a later SUBSCRIBE on that connection.
    await bus.publish("app", envelope(1));
    await bus.subscribe("other", () => undefined);
    const c = collector();
    await bus.subscribe("app", c.listener);
    await bus.publish("app", envelope(2));
    await c.count(1);
    assert.deepEqual(c.offsets(), [2n]);
    assert.equal(refused.got.length, 0);
  });

  it("forgets the channels of apps left without listeners: a resync resubscribes only those listened to", async () => {
    const prefix = uniquePrefix();
    const { lines, logger } = recorder("info");
    const bus = await connect(prefix, { logger });
    await bus.subscribe("kept", () => undefined);
    await (await bus.subscribe("left", () => undefined))();
    // Several operations on one channel at once, the last one removing its last listener.
    const offs = await Promise.all([bus.subscribe("churn", () => undefined), bus.subscribe("churn", () => undefined)]);
    await Promise.all(offs.map((off) => off()));
    const resynced = new Promise<void>((resolve) => bus.onResync(resolve));
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    await resynced;
    assert.deepEqual(
      lines.filter((l) => l["msg"] === "bus resubscribed; resyncing").map((l) => l["channels"]),
      [1],
    );
    assert.deepEqual([await numsub(`${prefix}{kept}:events`), await numsub(`${prefix}{left}:events`)], [1, 0]);
  });

  it("calls every resync listener, reporting one that throws", async () => {
    const prefix = uniquePrefix();
    const { lines, logger } = recorder("error");
    const bus = await connect(prefix, { logger });
    await bus.subscribe("app", () => undefined);
    bus.onResync(() => {
      throw new Error("resync bug");
    });
    const resynced = new Promise<void>((resolve) => bus.onResync(resolve));
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    await resynced;
    assert.deepEqual(
      lines.map((l) => [l["msg"], (l["err"] as { message?: string } | undefined)?.message]),
      [["bus resync listener failed", "resync bug"]],
    );
  });

  /** The bus's subscriber connection, to stall Redis the moment it is back (a real stall, timed). */
  const subscriberOf = (bus: RedisBus) => (bus as unknown as { subscriber: Redis }).subscriber;

  it("reconnects again when Redis stalls while it resubscribes, then resyncs", async () => {
    const prefix = uniquePrefix();
    const failures: Array<Record<string, unknown>> = [];
    let failed!: () => void;
    const resubscribeFailed = new Promise<void>((resolve) => (failed = resolve));
    const logger = pino(
      { level: "warn" },
      {
        write: (line: string) => {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry["msg"] !== "resubscribe failed; reconnecting") return;
          failures.push(entry);
          failed();
        },
      },
    );
    const bus = await connect(prefix, { commandTimeoutMs: 200, logger });
    const c = collector();
    await bus.subscribe("app", c.listener);
    const resynced = new Promise<void>((resolve) => bus.onResync(resolve));
    // Redis stalls the moment the subscriber is back, before its SUBSCRIBE: that times out.
    subscriberOf(bus).prependOnceListener("ready", () => redis.pause());
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    await resubscribeFailed;
    redis.resume();
    await resynced;
    assert.deepEqual(
      failures.map((l) => l["err"]),
      ["UnavailableError: redis: Command timed out"],
    );
    assert.equal(await numsub(`${prefix}{app}:events`), 1);
    await bus.publish("app", envelope(1));
    await c.count(1);
  });

  it("closes both of its connections", async () => {
    const clients = async () => ((await admin.client("LIST")) as string).trim().split("\n").length;
    const before = await clients();
    const bus = await connect(uniquePrefix(), { historySize: 1 });
    await bus.subscribe("app", () => undefined);
    assert.equal(await clients(), before + 2);
    await bus.close();
    assert.equal(await clients(), before);
  });

  it("resubscribes before calling onResync when only the subscriber connection was dropped", async () => {
    const prefix = uniquePrefix();
    const bus = await connect(prefix);
    const c = collector();
    await bus.subscribe("app", c.listener);
    await bus.subscribe("app2", () => undefined);
    await bus.publish("app", envelope(1));
    await c.count(1);
    const resynced = new Promise<void>((resolve) => bus.onResync(resolve));
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    await bus.publish("app", envelope(2)); // may be missed: resync is the cue to read history
    await resynced;
    assert.equal(await numsub(`${prefix}{app}:events`), 1, "resubscribed when resync is called");
    assert.equal(await numsub(`${prefix}{app2}:events`), 1);
    const seen = c.got.length; // 1, or 2 if the reconnection was quicker than that publish
    await bus.publish("app", envelope(3));
    await c.count(seen + 1);
    assert.equal(c.offsets()[seen], 3n);
    const h = await bus.history("app", 0n, 10);
    assert.equal(h.messages.length, 3, "the missed message is in history");
  });

  it("fails fast while Redis is down, then resyncs and continues after the last acknowledged offset", async () => {
    const prefix = uniquePrefix();
    // A command timeout beyond mocha's: a call that waited for it instead of failing fast fails the test.
    const bus = await connect(prefix, { commandTimeoutMs: 600_000 });
    const idle = await connect(uniquePrefix(), { commandTimeoutMs: 600_000 });
    const c = collector();
    await bus.subscribe("app", c.listener);
    const acked = [];
    for (let i = 0; i < 3; i++) acked.push(await bus.publish("app", envelope(i)));
    await c.count(3);
    let resyncs = 0;
    const resynced = new Promise<void>((resolve) =>
      bus.onResync(() => {
        resyncs++;
        resolve();
      }),
    );

    await redis.stop();
    await assert.rejects(bus.publish("app", envelope(3)), UnavailableError);
    await assert.rejects(bus.history("app", 0n, 10), UnavailableError);
    await assert.rejects(
      bus.subscribe("other", () => undefined),
      (err: unknown) => err instanceof UnavailableError && /^redis subscriber connection is [a-z]+$/.test(err.message),
    );
    await assert.rejects(bus.publish("app", envelope(4)), UnavailableError);
    await idle.close(); // closing while Redis is down does not wait for it
    const port = await freePort();
    await assert.rejects(
      RedisBus.connect({
        url: `redis://127.0.0.1:${port}`,
        keyPrefix: "unused:",
        historySize: 10,
        commandTimeoutMs: 600_000,
        maxReconnectDelayMs: 50,
        logger: silentLogger,
      }),
      UnavailableError,
    );

    await redis.restart();
    await resynced;
    assert.equal(resyncs, 1);
    assert.equal(await numsub(`${prefix}{app}:events`), 1, "resubscribed when resync is called");
    const next = await bus.publish("app", envelope(5));
    assert.equal(next.offset, 4n, "offsets continue after the last acknowledged one (AOF)");
    assert.ok(BigInt(next.msgId) > BigInt(acked[2]!.msgId));
    await c.count(4);
    assert.deepEqual(c.offsets(), [1n, 2n, 3n, 4n], "the subscription works again");
    const h = await bus.history("app", 0n, 10);
    assert.deepEqual(
      h.messages.map((m) => Buffer.from(m).toString("hex")),
      [...acked, next].map((p) => Buffer.from(p.message).toString("hex")),
    );
    const fresh = collector();
    await bus.subscribe("other", fresh.listener);
    await bus.publish("other", envelope(6));
    await fresh.count(1);
  });

  describe("--redis-wait-replicas (WAIT before answering a publish)", () => {
    it("sends no WAIT when off, as always", async () => {
      const before = await calls("wait");
      const bus = await connect(uniquePrefix());
      await bus.publish("app", envelope(1));
      assert.equal(await calls("wait"), before);
    });

    it("answers UnavailableError when fewer replicas confirm in time, the event published all the same", async () => {
      const prefix = uniquePrefix();
      const bus = await connect(prefix, { waitReplicas: 1, waitTimeoutMs: 50 });
      const before = await calls("wait");
      await assert.rejects(bus.publish("app", envelope(1)), (err: unknown) => {
        assert.ok(err instanceof UnavailableError);
        assert.match(err.message, /only 0 of 1 replicas confirmed it within 50 ms/);
        return true;
      });
      assert.equal(await calls("wait"), before + 1);
      assert.equal((await bus.history("app", 0n, 10)).latest, 1n, "published: a retry needs the same idempotency key");
      // A repeat under a key is held to the replicas too: its first call may not have reached one.
      const keyed = { key: "k", fingerprint: "f", windowMs: 60_000 };
      await assert.rejects(bus.publishBatch("app", [envelope(2)], keyed), /published, but only 0 of 1/);
      await assert.rejects(bus.publishBatch("app", [envelope(2)], keyed), /a repeat, but only 0 of 1/);
      assert.equal((await bus.history("app", 0n, 10)).latest, 2n, "the repeat published nothing");
    });

    it("answers once a replica holds the publish", async () => {
      const replica = await RedisServer.start({ durable: false, args: ["--replicaof", "127.0.0.1", String(redis.port)] });
      try {
        const raw = new Redis(replica.url);
        try {
          while (!/master_link_status:up/.test(await raw.info("replication"))) await new Promise((r) => setTimeout(r, 20));
        } finally {
          raw.disconnect();
        }
        const prefix = uniquePrefix();
        const bus = await connect(prefix, { waitReplicas: 1, waitTimeoutMs: 5000 });
        const r = await bus.publish("app", envelope(1));
        assert.equal(r.offset, 1n);
        const onReplica = new Redis(replica.url);
        try {
          assert.equal(await onReplica.get(`${prefix}{app}:offset`), "1", "the replica has it when the publish is answered");
        } finally {
          onReplica.disconnect();
        }
      } finally {
        await replica.destroy();
      }
    });
  });
});
