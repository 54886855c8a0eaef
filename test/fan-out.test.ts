import { strict as assert } from "node:assert";
import { MemoryBus } from "../core/bus/memory-bus.js";
import { FanOut, type WatchFilter } from "../core/hub/fan-out.js";
import { silentLogger } from "../core/logger.js";
import { envelope } from "./suites/bus-suite.js";

const everything: WatchFilter = { routes: [{ type: "", resourceType: "", resourceId: "" }], ksid: "", osType: "" };

/** The fan-out's public interface over a real (memory) bus. */
describe("FanOut", () => {
  it("fills a jump in offsets from history: an event published while a watcher registers is not lost", async () => {
    const bus = new MemoryBus({ historySize: 100 });
    const fanOut = new FanOut(bus, { queueLimit: 100, historyPage: 2, logger: silentLogger });
    await bus.publish("app", envelope(0));
    // Registering takes a few steps (the latest offset, then the subscription): this publish lands
    // in between, so the watcher's first live event is two past what it knew.
    const watching = fanOut.watch("app", everything);
    await bus.publish("app", envelope(1));
    const watcher = await watching;
    for (let i = 2; i <= 4; i++) await bus.publish("app", envelope(i));
    const offsets: bigint[] = [];
    for await (const response of watcher) {
      offsets.push(response.event?.offset ?? 0n);
      if (response.event?.offset === 5n) break;
    }
    assert.deepEqual(offsets, [2n, 3n, 4n, 5n]);
    assert.equal(fanOut.watcherCount, 0, "breaking out of the loop closed the watcher");
    await bus.close();
  });
});
