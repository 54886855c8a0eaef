import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { EventHandlerSchema } from "../core/gen/herald/v1/handler_pb.js";
import { HandlerCursors } from "../core/hub/handler-cursors.js";
import { MemoryHandlerStore } from "../core/store/memory-handler-store.js";
import { silentLogger } from "../core/logger.js";

/** A real MemoryHandlerStore that reports each cursor write, and can fail the next ones (a fault). */
class ObservedStore extends MemoryHandlerStore {
  writes: bigint[] = [];
  failNext = 0;
  private waiters: Array<() => void> = [];
  override async advanceHandlerCursor(appId: string, id: string, offset: bigint): Promise<void> {
    this.writes.push(offset);
    for (const w of this.waiters.splice(0)) w();
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("store down");
    }
    return super.advanceHandlerCursor(appId, id, offset);
  }
  nextWrite(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

describe("HandlerCursors", () => {
  let store: ObservedStore;
  let cursors: HandlerCursors;
  beforeEach(async () => {
    store = new ObservedStore();
    await store.createHandler(create(EventHandlerSchema, { id: "h", appId: "a", revision: 1n }), 5n, 10);
    cursors = new HandlerCursors(store, { flushMs: 20, logger: silentLogger });
  });
  afterEach(() => cursors.stop());

  it("opens at the stored position, notes in memory, and writes the latest once per flush", async () => {
    assert.equal(await cursors.open("a", "h"), 5n);
    const written = store.nextWrite();
    cursors.note("a", "h", 6n);
    cursors.note("a", "h", 8n);
    cursors.note("a", "h", 7n); // never backwards
    assert.deepEqual(store.writes, [], "not at every event");
    await written;
    assert.deepEqual(store.writes, [8n]);
    assert.equal(await store.handlerCursor("a", "h"), 8n);
  });

  it("writes at once when a stream ends, and a stream opening meanwhile starts from this instance's newer position", async () => {
    await cursors.open("a", "h");
    cursors.note("a", "h", 9n);
    assert.equal(await cursors.open("a", "h"), 9n, "newer than the store's 5");
    cursors.close("a", "h");
    assert.deepEqual(store.writes, [9n], "written on close, before any flush");
  });

  it("keeps a failed write for the next flush", async () => {
    await cursors.open("a", "h");
    store.failNext = 1;
    const first = store.nextWrite();
    cursors.note("a", "h", 6n);
    await first;
    const retried = store.nextWrite();
    await retried;
    assert.deepEqual(store.writes, [6n, 6n]);
    assert.equal(await store.handlerCursor("a", "h"), 6n);
  });
});
