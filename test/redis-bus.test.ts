import { strict as assert } from "node:assert";
import { create, toBinary } from "@bufbuild/protobuf";
import { RedisBus } from "../core/bus/redis-bus.js";
import { BusUnavailableError } from "../core/bus/bus.js";
import { EventSchema } from "../core/gen/herald/v1/event_pb.js";
import { appendIds } from "../core/bus/envelope.js";
import { silentLogger } from "../core/logger.js";
import { RedisServer } from "./support/redis-server.js";
import { uniquePrefix } from "./support/herald.js";
import { busContract } from "./contract/bus-contract.js";

describe("RedisBus", () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis.destroy());

  const connect = (keyPrefix: string, historySize = 1000) =>
    RedisBus.connect({ url: redis.url, keyPrefix, historySize, commandTimeoutMs: 1000, maxReconnectDelayMs: 50, logger: silentLogger });

  busContract("RedisBus", {
    shared: true,
    async create({ historySize }) {
      const prefix = uniquePrefix();
      return { bus: await connect(prefix, historySize), peer: await connect(prefix, historySize) };
    },
  });

  it("appends ids in Lua byte for byte as appendIds does", async () => {
    const bus = await connect(uniquePrefix());
    try {
      const env = toBinary(EventSchema, create(EventSchema, { eventId: "x" }));
      for (let i = 0; i < 130; i++) {
        const p = await bus.publish("app", env);
        const stored = (await bus.history("app", p.offset - 1n, 1)).messages[0]!;
        assert.deepEqual(Buffer.from(stored), Buffer.from(appendIds(env, p.msgId, p.offset)));
      }
    } finally {
      await bus.close();
    }
  });

  it("fails fast while Redis is down, then resyncs and continues where it stopped", async () => {
    const prefix = uniquePrefix();
    const bus = await connect(prefix);
    const env = toBinary(EventSchema, create(EventSchema, { eventId: "x" }));
    try {
      const got: Uint8Array[] = [];
      let wake: (() => void) | undefined;
      await bus.subscribe("app", (m) => {
        got.push(m);
        wake?.();
      });
      for (let i = 0; i < 3; i++) await bus.publish("app", env);
      const resynced = new Promise<void>((resolve) => bus.onResync(resolve));
      await redis.stop();
      const started = Date.now();
      await assert.rejects(bus.publish("app", env), BusUnavailableError);
      await assert.rejects(bus.history("app", 0n, 1), BusUnavailableError);
      assert.ok(Date.now() - started < 900, "rejected well before the command timeout");
      await redis.restart();
      await resynced;
      const after = await bus.publish("app", env);
      assert.equal(after.offset, 4n, "offsets continue after the last acknowledged one (AOF)");
      while (got.length < 4) await new Promise<void>((r) => (wake = r));
      assert.equal(got.length, 4);
    } finally {
      if (!redis.running) await redis.restart();
      await bus.close();
    }
  });
});
