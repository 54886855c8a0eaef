import { strict as assert } from "node:assert";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { MemoryBus } from "../core/bus/memory-bus.js";
import { RedisBus } from "../core/bus/redis-bus.js";
import { appendIds, varint, wrapField1 } from "../core/bus/envelope.js";
import { defaultRedisConfig } from "../core/redis/connect.js";
import { silentLogger } from "../core/logger.js";
import { EventSchema } from "../core/gen/herald/v1/event_pb.js";
import { WatchEventsResponseSchema } from "../core/gen/herald/v1/hub_pb.js";
import { collector, envelope } from "./suites/bus-suite.js";

const offsets = (messages: Uint8Array[]) => messages.map((m) => fromBinary(EventSchema, m).offset);

/** Edges of the buses and the envelope that the bus contract leaves out. */
describe("bus edges", () => {
  it("refuses a history size that is not a positive integer, before connecting to anything", async () => {
    for (const historySize of [0, -1, 1.5, Number.NaN]) {
      const refused = { name: "RangeError", message: `historySize must be a positive integer, got ${historySize}` };
      assert.throws(() => new MemoryBus({ historySize }), refused);
      await assert.rejects(
        RedisBus.connect({ ...defaultRedisConfig, url: "redis://127.0.0.1:1", historySize, logger: silentLogger }),
        refused,
      );
    }
    assert.doesNotThrow(() => new MemoryBus({ historySize: 1 }));
  });

  it("MemoryBus: pages what it holds from any `after`, whole limits only", async () => {
    const bus = new MemoryBus({ historySize: 3 });
    for (let i = 0; i < 7; i++) await bus.publish("app", envelope(i));
    // Holds 5..7; compacted once the dropped slots outnumbered the held ones.
    assert.deepEqual(offsets((await bus.history("app", 0n, 10)).messages), [5n, 6n, 7n]);
    assert.deepEqual(offsets((await bus.history("app", -5n, 10)).messages), [5n, 6n, 7n]);
    assert.deepEqual(offsets((await bus.history("app", 4n, 10)).messages), [5n, 6n, 7n]);
    assert.deepEqual(offsets((await bus.history("app", 5n, 1.9)).messages), [6n]);
    assert.deepEqual(offsets((await bus.history("app", 5n, -1)).messages), []);
    assert.deepEqual(offsets((await bus.history("app", 6n, 10)).messages), [7n]);
    assert.deepEqual(await bus.history("app", 7n, 10), { messages: [], earliest: 5n, latest: 7n });
    for (let i = 7; i < 20; i++) await bus.publish("app", envelope(i));
    const all = await bus.history("app", 0n, 10);
    assert.deepEqual([offsets(all.messages), all.earliest, all.latest], [[18n, 19n, 20n], 18n, 20n]);
    await bus.close();
  });

  it("MemoryBus: a listener removed during a delivery gets nothing more, not even that message", async () => {
    const bus = new MemoryBus({ historySize: 10 });
    const later = collector();
    let off: (() => Promise<void>) | undefined;
    await bus.subscribe("app", () => void off?.());
    off = await bus.subscribe("app", later.listener);
    await bus.publish("app", envelope(1));
    assert.equal(later.got.length, 0);
    await bus.close();
  });

  it("MemoryBus: subscribing the same function twice is two listeners, removed one by one", async () => {
    const bus = new MemoryBus({ historySize: 10 });
    const c = collector();
    const offA = await bus.subscribe("app", c.listener);
    await bus.subscribe("app", c.listener);
    await bus.publish("app", envelope(1));
    assert.equal(c.got.length, 2);
    await offA();
    await bus.publish("app", envelope(2));
    assert.equal(c.got.length, 3);
    await bus.close();
    await assert.rejects(bus.subscribe("app", c.listener));
  });

  it("varint: protobuf's encoding at every length, refusing negative and unsafe values", () => {
    for (const n of [0n, 1n, 127n, 128n, 16_383n, 16_384n, 2_097_151n, 2_097_152n, 2n ** 35n, BigInt(Number.MAX_SAFE_INTEGER)]) {
      const event = toBinary(EventSchema, create(EventSchema, { offset: n }));
      // An Event with only `offset` (field 2, varint): its tag, then the varint (0 is not written).
      assert.deepEqual([...varint(n)], n === 0n ? [0] : [...event.subarray(1)], `varint ${n}`);
    }
    assert.throws(() => varint(-1n), { name: "RangeError", message: "varint out of range: -1" });
    assert.throws(() => varint(2n ** 53n), { name: "RangeError", message: `varint out of range: ${2n ** 53n}` });
  });

  it("wrapField1 frames messages of every length as field 1", () => {
    for (const size of [0, 1, 127, 128, 16_383, 16_384, 70_000]) {
      const env = toBinary(EventSchema, create(EventSchema, { appId: "a".repeat(size) }));
      const message = appendIds(env, "7", 3n);
      const wrapped = fromBinary(WatchEventsResponseSchema, wrapField1(message));
      assert.equal(wrapped.event?.appId.length, size);
      assert.equal(wrapped.event?.msgId, "7");
      assert.equal(wrapped.event?.offset, 3n);
    }
  });
});
