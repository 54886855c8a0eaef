import { strict as assert } from "node:assert";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EventSchema } from "../../core/gen/herald/v1/event_pb.js";
import type { Bus } from "../../core/bus/bus.js";

export interface BusFixture {
  /** A bus; `peer` is another instance on the same backend, where `shared` says there is one. */
  create(options: { historySize: number }): Promise<{ bus: Bus; peer?: Bus }>;
  shared: boolean;
}

const envelope = (n: number) => toBinary(EventSchema, create(EventSchema, { eventId: `e${n}`, type: "t" }));

/** Collects what a listener receives and resolves when it has `n` messages. */
function collector() {
  const got: Uint8Array[] = [];
  let waiting: { n: number; resolve: () => void } | undefined;
  return {
    got,
    listener: (m: Uint8Array) => {
      got.push(m);
      if (waiting && got.length >= waiting.n) waiting.resolve();
    },
    count(n: number): Promise<void> {
      if (got.length >= n) return Promise.resolve();
      return new Promise((resolve) => (waiting = { n, resolve }));
    },
    offsets: () => got.map((m) => fromBinary(EventSchema, m).offset),
  };
}

/** The guarantees documented on the Bus interface, checked against one implementation. */
export function busContract(name: string, fixture: BusFixture): void {
  describe(`Bus contract: ${name}`, () => {
    let bus: Bus;
    let peer: Bus | undefined;
    let opened: Bus[] = [];
    const open = async (historySize = 1000) => {
      const made = await fixture.create({ historySize });
      opened.push(made.bus, ...(made.peer ? [made.peer] : []));
      return made;
    };
    beforeEach(async () => {
      ({ bus, peer } = await open());
    });
    afterEach(async () => {
      await Promise.all(opened.map((b) => b.close()));
      opened = [];
    });

    it("assigns increasing msg ids and gap-free offsets per app, and appends both to the envelope", async () => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => bus.publish(i % 2 ? "a" : "b", envelope(i))));
      const ids = results.map((r) => BigInt(r.msgId));
      assert.equal(new Set(ids).size, 50, "msg ids unique");
      const sortedOffsets = (app: string) =>
        results.filter((_, i) => (i % 2 ? "a" : "b") === app).map((r) => r.offset).sort((x, y) => (x < y ? -1 : 1));
      assert.deepEqual(sortedOffsets("a"), Array.from({ length: 25 }, (_, i) => BigInt(i + 1)));
      assert.deepEqual(sortedOffsets("b"), Array.from({ length: 25 }, (_, i) => BigInt(i + 1)));
      // msg ids increase with offsets within an app: one order for both.
      const a = results.filter((_, i) => i % 2).sort((x, y) => (x.offset < y.offset ? -1 : 1));
      assert.ok(a.every((r, i) => i === 0 || BigInt(r.msgId) > BigInt(a[i - 1]!.msgId)));
      const decoded = fromBinary(EventSchema, results[0]!.message);
      assert.equal(decoded.msgId, results[0]!.msgId);
      assert.equal(decoded.offset, results[0]!.offset);
      assert.equal(decoded.eventId, "e0");
    });

    it("delivers the history's bytes to every listener, once each, in offset order", async () => {
      const one = collector();
      const two = collector();
      const other = collector();
      await bus.subscribe("app", one.listener);
      await bus.subscribe("app", two.listener);
      await bus.subscribe("other-app", other.listener);
      await Promise.all(Array.from({ length: 30 }, (_, i) => bus.publish("app", envelope(i))));
      await Promise.all([one.count(30), two.count(30)]);
      const expected = Array.from({ length: 30 }, (_, i) => BigInt(i + 1));
      assert.deepEqual(one.offsets(), expected);
      assert.deepEqual(two.offsets(), expected);
      const history = await bus.history("app", 0n, 100);
      assert.deepEqual(history.messages.map((m) => Buffer.from(m).toString("hex")), one.got.map((m) => Buffer.from(m).toString("hex")));
      await bus.publish("other-app", envelope(99));
      await other.count(1);
      assert.equal(one.got.length, 30, "nothing from another app");
    });

    it("reference-counts subscriptions: removing one listener keeps the others, all can come back", async () => {
      const one = collector();
      const two = collector();
      const offOne = await bus.subscribe("app", one.listener);
      const offTwo = await bus.subscribe("app", two.listener);
      await offOne();
      await bus.publish("app", envelope(1));
      await two.count(1);
      assert.equal(one.got.length, 0);
      await offTwo();
      await offTwo(); // twice is harmless
      const three = collector();
      await bus.subscribe("app", three.listener);
      await bus.publish("app", envelope(2));
      await three.count(1);
      assert.deepEqual(three.offsets(), [2n]);
      assert.equal(two.got.length, 1);
    });

    it("pages history after an offset and reports earliest and latest", async () => {
      assert.deepEqual(await bus.history("never", 0n, 10), { messages: [], earliest: 0n, latest: 0n });
      for (let i = 0; i < 12; i++) await bus.publish("app", envelope(i));
      const page = await bus.history("app", 4n, 5);
      assert.deepEqual(page.messages.map((m) => fromBinary(EventSchema, m).offset), [5n, 6n, 7n, 8n, 9n]);
      assert.equal(page.earliest, 1n);
      assert.equal(page.latest, 12n);
      assert.equal((await bus.history("app", 12n, 5)).messages.length, 0);
      assert.equal((await bus.history("app", 0n, 0)).latest, 12n);
    });

    it("keeps at least the newest historySize messages and trims older ones", async () => {
      const { bus: small } = await open(100);
      for (let i = 0; i < 2000; i++) await small.publish("trim", envelope(i));
      const h = await small.history("trim", 0n, 10_000);
      assert.equal(h.latest, 2000n);
      assert.ok(h.earliest > 1n, `trimmed (earliest ${h.earliest})`);
      assert.ok(h.earliest <= 1901n, `kept the newest 100 (earliest ${h.earliest})`);
      assert.equal(h.messages.length, Number(2000n - h.earliest + 1n));
      assert.equal(fromBinary(EventSchema, h.messages[0]!).offset, h.earliest);
    });

    it("isolates a throwing listener from the publisher and the other listeners", async () => {
      const good = collector();
      await bus.subscribe("app", () => {
        throw new Error("listener bug");
      });
      await bus.subscribe("app", good.listener);
      await bus.publish("app", envelope(1));
      await good.count(1);
    });

    if (fixture.shared) it("shares ids, offsets and delivery with a peer instance on the same backend", async () => {
      const p = peer!;
      const onBus = collector();
      const onPeer = collector();
      await bus.subscribe("shared", onBus.listener);
      await p.subscribe("shared", onPeer.listener);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? bus : p).publish("shared", envelope(i))),
      );
      await Promise.all([onBus.count(40), onPeer.count(40)]);
      const expected = Array.from({ length: 40 }, (_, i) => BigInt(i + 1));
      assert.deepEqual(onBus.offsets(), expected);
      assert.deepEqual(onPeer.offsets(), expected);
      assert.equal(new Set(results.map((r) => r.msgId)).size, 40);
    });
  });
}
