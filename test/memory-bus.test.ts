import { strict as assert } from "node:assert";
import { fromBinary } from "@bufbuild/protobuf";
import { MemoryBus } from "../core/bus/memory-bus.js";
import { UnavailableError } from "../core/unavailable-error.js";
import { EventSchema } from "../core/gen/herald/v1/event_pb.js";
import { busContract, collector, envelope } from "./suites/bus-suite.js";

busContract("MemoryBus", {
  create: async ({ historySize, logger }) => ({ bus: new MemoryBus(logger ? { historySize, logger } : { historySize }) }),
});

describe("MemoryBus", () => {
  const offsetOf = (m: Uint8Array) => fromBinary(EventSchema, m).offset;

  it("numbers msg ids from 1 and keeps exactly the newest historySize", async () => {
    const bus = new MemoryBus({ historySize: 3 });
    const first = await bus.publish("a", envelope(0));
    assert.equal(first.msgId, "1");
    for (let i = 1; i < 10; i++) await bus.publish(i % 2 ? "b" : "a", envelope(i));
    const a = await bus.history("a", 0n, 10);
    assert.deepEqual(a.messages.map(offsetOf), [3n, 4n, 5n]);
    assert.deepEqual([a.earliest, a.latest], [3n, 5n]);
    assert.deepEqual((await bus.history("a", 3n, 1)).messages.map(offsetOf), [4n]);
    await bus.close();
  });

  it("delivers before publish resolves, and a publish from a listener after the current message", async () => {
    const bus = new MemoryBus({ historySize: 10 });
    const first = collector();
    const last = collector();
    await bus.subscribe("app", (m) => {
      first.listener(m);
      if (offsetOf(m) === 1n) void bus.publish("app", envelope(2));
    });
    await bus.subscribe("app", last.listener);
    const publishing = bus.publish("app", envelope(1));
    // Synchronous delivery: both messages reached both listeners during the publish call.
    assert.deepEqual(first.offsets(), [1n, 2n]);
    assert.deepEqual(last.offsets(), [1n, 2n], "offset order for every listener");
    assert.equal((await publishing).offset, 1n);
    await bus.close();
  });

  it("refuses work once closed", async () => {
    const bus = new MemoryBus({ historySize: 10 });
    const c = collector();
    await bus.subscribe("app", c.listener);
    await bus.close();
    await assert.rejects(bus.publish("app", envelope(1)), UnavailableError);
    await assert.rejects(bus.history("app", 0n, 1), UnavailableError);
    assert.equal(c.got.length, 0);
  });
});
