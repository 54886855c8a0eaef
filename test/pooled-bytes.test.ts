import { strict as assert } from "node:assert";
import { ByteArena, pooledBytes } from "../core/wire/pooled-bytes.js";
import { MemoryBus } from "../core/bus/memory-bus.js";
import { envelope } from "./suites/bus-suite.js";

describe("pooled bytes", () => {
  it("pooledBytes: a plain Uint8Array of the size asked, cut from a larger block", () => {
    const a = pooledBytes(200);
    const b = pooledBytes(200);
    assert.equal(Object.getPrototypeOf(a), Uint8Array.prototype); // not a Buffer: compares like any Uint8Array
    assert.equal(a.byteLength, 200);
    assert.ok(a.buffer.byteLength > 200, "a slice of Node's pool, not an allocation of its own");
    a.fill(1);
    b.fill(2);
    assert.ok(
      a.every((x) => x === 1),
      "slices do not overlap",
    );
  });

  it("ByteArena: consecutive arrays share a block without overlapping; blocks grow from 1 KiB to the largest", () => {
    const arena = new ByteArena(4096);
    const first = arena.alloc(600);
    const second = arena.alloc(300);
    assert.equal(first.buffer, second.buffer);
    assert.equal(first.buffer.byteLength, 1024);
    assert.equal(second.byteOffset, 600);
    const third = arena.alloc(300); // 1,200 > 1,024: a new block, twice the size
    assert.notEqual(third.buffer, first.buffer);
    assert.equal(third.buffer.byteLength, 2048);
    const sizes = [3, 4, 5].map(() => {
      const x = arena.alloc(1000);
      arena.alloc(1000);
      arena.alloc(1000);
      arena.alloc(1000);
      return x.buffer.byteLength;
    });
    assert.deepEqual(sizes, [2048, 4096, 4096], "capped at the largest block");
    const big = arena.alloc(1025); // over a quarter of the largest block: its own
    assert.equal(big.buffer.byteLength, 1025);
    first.fill(7);
    second.fill(8);
    assert.ok(first.every((x) => x === 7));
  });

  it("MemoryBus keeps each message intact in its arena, across many blocks and history rolling over", async () => {
    const bus = new MemoryBus({ historySize: 500 });
    const published: Uint8Array[] = [];
    for (let i = 0; i < 2000; i++) published.push(Uint8Array.from((await bus.publish("app", envelope(i))).message));
    const { messages } = await bus.history("app", 1500n, 1000);
    assert.equal(messages.length, 500);
    messages.forEach((m, i) => assert.deepEqual(m, published[1500 + i]));
    assert.ok(messages[0]!.buffer.byteLength > messages[0]!.byteLength, "messages are cut from blocks");
  });
});
