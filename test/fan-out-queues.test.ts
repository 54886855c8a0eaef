import { strict as assert } from "node:assert";
import { create, toBinary } from "@bufbuild/protobuf";
import { MemoryBus } from "../core/bus/memory-bus.js";
import { FanOut, WatcherEnded, type WatchFilter } from "../core/hub/fan-out.js";
import { EventSchema } from "../core/gen/herald/v1/event_pb.js";
import { getEncoded } from "../core/wire/pre-encoded.js";
import { silentLogger } from "../core/logger.js";

const all: WatchFilter = { routes: [{ type: "", resourceType: "", resourceId: "" }], ksid: "", osType: "" };
const event = (data: string) =>
  toBinary(EventSchema, create(EventSchema, { appId: "a", eventId: "e", content: { data, mimeType: "", priority: false } }));

describe("FanOut queues", () => {
  it("hold one response object and one encoded buffer per event, whatever the number of watchers", async () => {
    const bus = new MemoryBus({ historySize: 10 });
    const fanOut = new FanOut(bus, { queueLimit: 10, queueBytes: 1 << 20, historyPage: 10, logger: silentLogger });
    const watchers = await Promise.all([1, 2, 3].map(() => fanOut.watch("a", all)));
    await bus.publish("a", event("x".repeat(100_000)));
    const taken = await Promise.all(watchers.map((w) => w.next()));
    const responses = taken.map((r) => r.value);
    const bytes = responses.map((r) => getEncoded(r!));
    assert.ok(bytes[0] && bytes[0].byteLength > 100_000);
    for (let i = 1; i < 3; i++) {
      assert.equal(responses[i], responses[0], "the same response object");
      assert.equal(bytes[i], bytes[0], "the same bytes");
    }
    fanOut.closeAll();
    await bus.close();
  });

  it("end a watcher on bytes, counting queued bytes and those its transport has not sent", async () => {
    const bus = new MemoryBus({ historySize: 10 });
    const fanOut = new FanOut(bus, { queueLimit: 100, queueBytes: 250_000, historyPage: 10, logger: silentLogger });
    const w = await fanOut.watch("a", all);
    let unsent = 0;
    w.attach({ pendingBytes: () => unsent, interrupt: () => undefined });
    await bus.publish("a", event("x".repeat(100_000)));
    await w.next(); // the transport took it and has not sent it
    unsent = 100_010;
    await bus.publish("a", event("x".repeat(100_000))); // queued: nothing was
    assert.equal(w.waitingBytes > 200_000, true);
    await bus.publish("a", event("x".repeat(100_000))); // 300 KB would wait
    await assert.rejects(w.next(), (err: unknown) => err instanceof WatcherEnded && err.kind === "slow");
    await bus.close();
  });
});
