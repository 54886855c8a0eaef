import { strict as assert } from "node:assert";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { pino } from "pino";
import { EventSchema } from "../../core/gen/herald/v1/event_pb.js";
import { appendIds } from "../../core/bus/envelope.js";
import { IdempotencyKeyReused, type Bus, type Published } from "../../core/bus/bus.js";
import { UnavailableError } from "../../core/unavailable-error.js";
import type { Logger } from "../../core/logger.js";

export interface BusFixture {
  /**
   * A bus in a world of its own (nothing published yet). `peer`, where the backend can be shared,
   * is a second instance on the same world (e.g. another RedisBus on the same Redis and key prefix).
   * Every bus made here is closed after each test. `logger`, when given, is where the bus reports.
   */
  create(options: { historySize: number; logger?: Logger }): Promise<{ bus: Bus; peer?: Bus }>;
  /**
   * Msg ids increase per app only, not across apps (Redis Cluster: each slot counts its own, see
   * keys.ts msgIdBase); unset: across every app too.
   */
  idsPerApp?: boolean;
}

export const envelope = (n: number): Uint8Array =>
  toBinary(EventSchema, create(EventSchema, { appId: "x", eventId: `e${n}`, type: "t", targets: [`k${n}`] }));

const hex = (m: Uint8Array) => Buffer.from(m).toString("hex");
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => BigInt(from + i));
const byOffset = (a: Published, b: Published) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0);

/** Collects what a listener receives; `count(n)` resolves once it has at least `n` messages. */
export function collector() {
  const got: Uint8Array[] = [];
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  return {
    got,
    listener(message: Uint8Array): void {
      got.push(message);
      for (let i = waiting.length - 1; i >= 0; i--) {
        if (got.length >= waiting[i]!.n) waiting.splice(i, 1)[0]!.resolve();
      }
    },
    count(n: number): Promise<void> {
      if (got.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiting.push({ n, resolve }));
    },
    offsets: () => got.map((m) => fromBinary(EventSchema, m).offset),
  };
}

/** The guarantees documented on the Bus interface (core/bus/bus.ts), checked against one implementation. */
export function busContract(name: string, fixture: BusFixture): void {
  describe(`Bus contract: ${name}`, () => {
    let bus: Bus;
    /** `bus`, and the peer instance when there is one: "every instance". */
    let instances: Bus[];
    let opened: Bus[] = [];
    const open = async (historySize = 1000, logger?: Logger) => {
      const made = await fixture.create(logger ? { historySize, logger } : { historySize });
      opened.push(made.bus, ...(made.peer ? [made.peer] : []));
      return made;
    };
    beforeEach(async () => {
      const made = await open();
      bus = made.bus;
      instances = made.peer ? [made.bus, made.peer] : [made.bus];
    });
    afterEach(async () => {
      await Promise.all(opened.map((b) => b.close()));
      opened = [];
    });

    it("assigns msg ids unique and increasing across instances, offsets 1..n per app with no gap", async () => {
      const apps = ["a", "b", "c"];
      const sent = await Promise.all(
        Array.from({ length: 90 }, async (_, i) => {
          const app = apps[i % 3]!;
          const env = envelope(i);
          return { app, env, r: await instances[i % instances.length]!.publish(app, env) };
        }),
      );
      assert.equal(new Set(sent.map((s) => s.r.msgId)).size, sent.length, "msg ids unique");
      for (const { r } of sent) assert.match(r.msgId, /^[1-9][0-9]*$/, "numeric msg id");
      for (const app of apps) {
        const mine = sent
          .filter((s) => s.app === app)
          .map((s) => s.r)
          .sort(byOffset);
        assert.deepEqual(
          mine.map((r) => r.offset),
          range(1, 30),
          `offsets of ${app}`,
        );
        // One order for both: the later offset of an app has the larger msg id.
        for (let i = 1; i < mine.length; i++) assert.ok(BigInt(mine[i]!.msgId) > BigInt(mine[i - 1]!.msgId));
      }
      // The message is the envelope followed by msg_id and offset, and decodes as an Event with both.
      for (const { env, r } of sent) {
        assert.equal(hex(r.message), hex(appendIds(env, r.msgId, r.offset)));
        const event = fromBinary(EventSchema, r.message);
        assert.equal(event.msgId, r.msgId);
        assert.equal(event.offset, r.offset);
        assert.equal(hex(r.message.subarray(0, env.length)), hex(env));
      }
      // One publish after another, whichever instance: ids increase, across apps too (on a Cluster:
      // within each app).
      const highest = (app?: string) =>
        sent.filter((s) => app === undefined || s.app === app).reduce((max, s) => (BigInt(s.r.msgId) > max ? BigInt(s.r.msgId) : max), 0n);
      let previous = highest();
      const previousOf = new Map<string, bigint>([
        ["a", highest("a")],
        ["d", 0n],
      ]);
      for (let i = 0; i < 8; i++) {
        const app = i % 2 ? "a" : "d";
        const r = await instances[i % instances.length]!.publish(app, envelope(i));
        const before = fixture.idsPerApp ? previousOf.get(app)! : previous;
        assert.ok(BigInt(r.msgId) > before, `msg id ${r.msgId} after ${before}`);
        previous = BigInt(r.msgId);
        previousOf.set(app, previous);
        assert.equal(r.offset, BigInt(i % 2 ? 31 + (i - 1) / 2 : 1 + i / 2));
      }
    });

    it("delivers every message once, in offset order, to every listener of every instance, as stored", async () => {
      const listeners = instances.flatMap(() => [collector(), collector()]);
      await Promise.all(listeners.map((c, i) => instances[Math.floor(i / 2)]!.subscribe("app", c.listener)));
      const other = collector();
      await bus.subscribe("other-app", other.listener);
      const n = 40;
      const results = await Promise.all(Array.from({ length: n }, (_, i) => instances[i % instances.length]!.publish("app", envelope(i))));
      await Promise.all(listeners.map((c) => c.count(n)));
      // A last message: a duplicate of any earlier one would be delivered before it.
      results.push(await bus.publish("app", envelope(n)));
      await Promise.all(listeners.map((c) => c.count(n + 1)));
      results.sort(byOffset);
      const history = await bus.history("app", 0n, 1000);
      assert.deepEqual(
        history.messages.map(hex),
        results.map((r) => hex(r.message)),
        "history holds the published bytes",
      );
      for (const c of listeners) {
        assert.deepEqual(c.offsets(), range(1, n + 1), "each message once, in offset order");
        assert.deepEqual(c.got.map(hex), history.messages.map(hex), "delivered bytes are the history's");
        c.got.forEach((m, i) => assert.equal(fromBinary(EventSchema, m).msgId, results[i]!.msgId));
      }
      for (const b of instances) {
        assert.deepEqual((await b.history("app", 0n, 1000)).messages.map(hex), history.messages.map(hex));
      }
      assert.equal(other.got.length, 0, "nothing from another app");
      await instances[instances.length - 1]!.publish("other-app", envelope(99));
      await other.count(1);
      assert.deepEqual(other.offsets(), [1n], "offsets are per app");
      for (const c of listeners) assert.equal(c.got.length, n + 1);
    });

    it("isolates a throwing or rejecting listener from the publisher and the other listeners", async () => {
      const good = collector();
      await bus.subscribe("app", () => {
        throw new Error("listener bug");
      });
      await bus.subscribe("app", (async () => {
        throw new Error("async listener bug");
      }) as (m: Uint8Array) => void);
      await bus.subscribe("app", good.listener);
      const sent = await bus.publish("app", envelope(1));
      assert.equal(sent.offset, 1n);
      await bus.publish("app", envelope(2));
      await good.count(2);
      assert.deepEqual(good.offsets(), [1n, 2n]);
    });

    it("reference-counts subscriptions: removing one listener keeps the others, all can come back", async () => {
      const one = collector();
      const two = collector();
      const offOne = await bus.subscribe("app", one.listener);
      const offTwo = await bus.subscribe("app", two.listener);
      await offOne();
      await bus.publish("app", envelope(1));
      await two.count(1);
      assert.equal(one.got.length, 0, "a removed listener gets nothing");
      await offTwo();
      await offTwo(); // twice is harmless
      await bus.publish("app", envelope(2)); // nobody listening
      const three = collector();
      await bus.subscribe("app", three.listener);
      await bus.publish("app", envelope(3));
      await three.count(1);
      assert.deepEqual(three.offsets(), [3n]);
      assert.deepEqual(two.offsets(), [1n]);
      // The same function twice is two listeners; each handle removes one.
      const same = collector();
      const offA = await bus.subscribe("twice", same.listener);
      await bus.subscribe("twice", same.listener);
      await bus.publish("twice", envelope(1));
      await same.count(2);
      await offA();
      await bus.publish("twice", envelope(2));
      await same.count(3);
      assert.deepEqual(same.offsets(), [1n, 1n, 2n]);
    });

    it("keeps subscriptions right when subscribe and unsubscribe overlap", async () => {
      // Subscribing while the last listener's removal is in flight.
      const one = collector();
      const offOne = await bus.subscribe("app", one.listener);
      const two = collector();
      const [, offTwo] = await Promise.all([offOne(), bus.subscribe("app", two.listener)]);
      await bus.publish("app", envelope(1));
      await two.count(1);
      assert.equal(one.got.length, 0);
      // Removing the last listener while another one's subscription is in flight.
      const three = collector();
      const [offThree] = await Promise.all([bus.subscribe("app", three.listener), offTwo()]);
      await bus.publish("app", envelope(2));
      await three.count(1);
      assert.deepEqual(three.offsets(), [2n]);
      assert.deepEqual(two.offsets(), [1n]);
      // Many at once, none awaited before the next: only the survivor is left listening.
      const survivor = collector();
      let strays = 0;
      const churn: Array<Promise<unknown>> = [offThree()];
      for (let i = 0; i < 20; i++) {
        churn.push(bus.subscribe("app", () => strays++).then((off) => off()));
        if (i === 10) churn.push(bus.subscribe("app", survivor.listener));
      }
      await Promise.all(churn);
      await bus.publish("app", envelope(3));
      await survivor.count(1);
      assert.deepEqual(survivor.offsets(), [3n]);
      assert.equal(strays, 0, "removed listeners get nothing");
      // All gone concurrently, then back.
      const quiet = collector();
      const offs = await Promise.all(Array.from({ length: 5 }, () => bus.subscribe("quiet", quiet.listener)));
      await Promise.all(offs.map((off) => off()));
      await bus.publish("quiet", envelope(1));
      const back = collector();
      await bus.subscribe("quiet", back.listener);
      await bus.publish("quiet", envelope(2));
      await back.count(1);
      assert.deepEqual(back.offsets(), [2n]);
      assert.equal(quiet.got.length, 0);
    });

    it("reports an app never published as empty, earliest 0 and latest 0", async () => {
      for (const b of instances) {
        assert.deepEqual(await b.history("never", 0n, 10), { messages: [], earliest: 0n, latest: 0n });
        assert.deepEqual(await b.history("never", 5n, 0), { messages: [], earliest: 0n, latest: 0n });
      }
    });

    it("pages history after an offset, at most `limit`, with earliest and latest", async () => {
      for (let i = 0; i < 12; i++) await instances[i % instances.length]!.publish("app", envelope(i));
      const page = await bus.history("app", 4n, 5);
      assert.deepEqual(
        page.messages.map((m) => fromBinary(EventSchema, m).offset),
        range(5, 9),
      );
      assert.deepEqual(
        page.messages.map((m) => fromBinary(EventSchema, m).eventId),
        ["e4", "e5", "e6", "e7", "e8"],
      );
      assert.equal(page.earliest, 1n);
      assert.equal(page.latest, 12n);
      assert.deepEqual(
        (await bus.history("app", 10n, 5)).messages.map((m) => fromBinary(EventSchema, m).offset),
        [11n, 12n],
      );
      assert.deepEqual(await bus.history("app", 12n, 5), { messages: [], earliest: 1n, latest: 12n });
      assert.deepEqual(await bus.history("app", 50n, 5), { messages: [], earliest: 1n, latest: 12n });
      assert.deepEqual(await bus.history("app", 0n, 0), { messages: [], earliest: 1n, latest: 12n });
      // A negative `after` reads from the start; a limit is a whole number of messages, at least 0.
      const first = async (after: bigint, limit: number) =>
        (await bus.history("app", after, limit)).messages.map((m) => fromBinary(EventSchema, m).offset);
      assert.deepEqual(await first(-5n, 2), [1n, 2n]);
      assert.deepEqual(await first(3n, 2.7), [4n, 5n]);
      assert.deepEqual(await first(3n, -1), []);
      // Walking the pages gives everything once, in order.
      const walked: bigint[] = [];
      for (let after = 0n; ; ) {
        const p = await instances[instances.length - 1]!.history("app", after, 5);
        if (p.messages.length === 0) break;
        walked.push(...p.messages.map((m) => fromBinary(EventSchema, m).offset));
        after = walked[walked.length - 1]!;
      }
      assert.deepEqual(walked, range(1, 12));
      assert.deepEqual(await bus.history("other", 0n, 5), { messages: [], earliest: 0n, latest: 0n }, "apps are separate");
    });

    it("keeps at least the newest historySize messages and trims older ones", async () => {
      const { bus: small } = await open(100);
      for (let batch = 0; batch < 20; batch++) {
        await Promise.all(Array.from({ length: 100 }, (_, i) => small.publish("trim", envelope(batch * 100 + i))));
      }
      const h = await small.history("trim", 0n, 10_000);
      assert.equal(h.latest, 2000n);
      assert.ok(h.earliest > 1n, `trimmed (earliest ${h.earliest})`);
      assert.ok(h.earliest <= 1901n, `kept the newest 100 (earliest ${h.earliest})`);
      assert.deepEqual(
        h.messages.map((m) => fromBinary(EventSchema, m).offset),
        range(Number(h.earliest), 2000),
      );
      const tail = await small.history("trim", 1990n, 100);
      assert.deepEqual(
        tail.messages.map((m) => fromBinary(EventSchema, m).offset),
        range(1991, 2000),
      );
      const head = await small.history("trim", 0n, 3);
      assert.deepEqual(
        head.messages.map((m) => fromBinary(EventSchema, m).offset),
        range(Number(h.earliest), Number(h.earliest) + 2),
      );
    });

    it("publishes a batch as one step: consecutive ids, delivered in order, nothing of another publish in between", async () => {
      const got = instances.map(() => collector());
      await Promise.all(instances.map((b, i) => b.subscribe("batch", got[i]!.listener)));
      const sent = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const on = instances[i % instances.length]!;
          return i % 2 === 0
            ? on.publishBatch("batch", [envelope(i * 10), envelope(i * 10 + 1), envelope(i * 10 + 2)])
            : on
                .publish("batch", envelope(i * 10))
                .then((p) => ({ ids: [p], messages: [p.message], replayed: false, memo: new Uint8Array() }));
        }),
      );
      let total = 0;
      for (const { ids, messages, replayed } of sent) {
        assert.equal(replayed, false);
        total += ids.length;
        for (let i = 1; i < ids.length; i++) {
          assert.equal(BigInt(ids[i]!.msgId), BigInt(ids[0]!.msgId) + BigInt(i), "consecutive msg ids");
          assert.equal(ids[i]!.offset, ids[0]!.offset + BigInt(i), "consecutive offsets");
        }
        assert.deepEqual(
          messages.map((m) => fromBinary(EventSchema, m).offset),
          ids.map((id) => id.offset),
        );
      }
      assert.equal(total, 40);
      for (const c of got) {
        await c.count(total);
        assert.deepEqual(c.offsets(), range(1, total), "every instance sees offsets 1..n in order");
      }
      const h = await bus.history("batch", 0n, 100);
      assert.deepEqual(h.messages.map(hex), got[0]!.got.map(hex), "stored as delivered");
    });

    it("refuses an empty batch", async () => {
      await assert.rejects(bus.publishBatch("empty", []), RangeError);
      assert.equal((await bus.history("empty", 0n, 10)).latest, 0n);
    });

    it("publishes a batch under an idempotency key once: a repeat on any instance answers the first ids and memo", async () => {
      const c = collector();
      await bus.subscribe("idem", c.listener);
      const memo = new TextEncoder().encode("the rest of the reply");
      const key = { key: "order-42:{other}:x", fingerprint: "f1", windowMs: 60_000, memo };
      const first = await bus.publishBatch("idem", [envelope(1), envelope(2)], key);
      assert.equal(first.replayed, false);
      assert.deepEqual(first.memo, memo);
      for (const on of instances) {
        const again = await on.publishBatch("idem", [envelope(1), envelope(2)], { ...key, memo: new Uint8Array([9]) });
        assert.equal(again.replayed, true, "replayed");
        assert.deepEqual(again.ids, first.ids, "the first call's ids");
        assert.deepEqual(again.memo, memo, "the first call's memo");
        assert.deepEqual(again.messages, []);
      }
      // Racing repeats, on both instances: still nothing more.
      const raced = await Promise.all(
        Array.from({ length: 10 }, (_, i) => instances[i % instances.length]!.publishBatch("idem", [envelope(1), envelope(2)], key)),
      );
      assert.ok(raced.every((r) => r.replayed));
      // Published afterwards: the listener sees it right after the first batch, so nothing came in between.
      const marker = await bus.publish("idem", envelope(3));
      assert.equal(marker.offset, 3n);
      await c.count(3);
      assert.deepEqual(c.offsets(), [1n, 2n, 3n]);
      assert.equal((await bus.history("idem", 0n, 10)).latest, 3n);
    });

    it("lets only one of racing first calls under a key publish", async () => {
      const key = { key: "race", fingerprint: "f", windowMs: 60_000 };
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => instances[i % instances.length]!.publishBatch("race", [envelope(i)], key)),
      );
      assert.equal(results.filter((r) => !r.replayed).length, 1, "one published");
      assert.equal(new Set(results.map((r) => r.ids[0]!.msgId)).size, 1, "all answer its id");
      assert.equal((await bus.history("race", 0n, 100)).latest, 1n);
    });

    it("refuses a key reused by a different request, and scopes keys per app", async () => {
      await bus.publishBatch("scoped", [envelope(1)], { key: "k", fingerprint: "one", windowMs: 60_000 });
      for (const on of instances) {
        await assert.rejects(
          on.publishBatch("scoped", [envelope(2)], { key: "k", fingerprint: "two", windowMs: 60_000 }),
          IdempotencyKeyReused,
        );
      }
      assert.equal((await bus.history("scoped", 0n, 10)).latest, 1n, "nothing published");
      const elsewhere = await bus.publishBatch("scoped-2", [envelope(2)], { key: "k", fingerprint: "two", windowMs: 60_000 });
      assert.equal(elsewhere.replayed, false, "another app's key of the same name is another key");
    });

    it("reports a throwing or rejecting listener to its logger, with the error", async () => {
      const errors: Array<{ msg: string; err?: { message?: string } }> = [];
      const logger = pino({ level: "error" }, { write: (line: string) => void errors.push(JSON.parse(line)) });
      const { bus: logged } = await open(1000, logger);
      const good = collector();
      await logged.subscribe("app", () => {
        throw new Error("listener bug");
      });
      await logged.subscribe("app", (async () => {
        throw new Error("async listener bug");
      }) as (m: Uint8Array) => void);
      await logged.subscribe("app", good.listener);
      await logged.publish("app", envelope(1));
      // Listeners are called in order: the rejection was handled before the last one was called.
      await good.count(1);
      assert.deepEqual(
        errors.map((e) => [e.msg, e.err?.message]),
        [
          ["bus listener failed", "listener bug"],
          ["bus listener failed", "async listener bug"],
        ],
      );
    });

    it("reports an app only subscribed to, never published, as empty", async () => {
      await bus.subscribe("quiet", () => undefined);
      assert.deepEqual(await bus.history("quiet", 0n, 10), { messages: [], earliest: 0n, latest: 0n });
      assert.deepEqual(await bus.history("quiet", -1n, 10), { messages: [], earliest: 0n, latest: 0n });
    });

    it("only looks a key up with an empty batch: publishes and keeps nothing, or answers the first call", async () => {
      const memo = new TextEncoder().encode("memo");
      const looked = await bus.publishBatch("lookup", [], { key: "k", fingerprint: "f", windowMs: 60_000, memo });
      assert.deepEqual(looked, { ids: [], messages: [], replayed: false, memo });
      assert.equal((await bus.history("lookup", 0n, 10)).latest, 0n, "nothing published");
      // Nothing kept under the key: the first real batch under it publishes.
      const first = await bus.publishBatch("lookup", [envelope(1)], { key: "k", fingerprint: "f2", windowMs: 60_000 });
      assert.equal(first.replayed, false);
      assert.equal(first.ids[0]!.offset, 1n);
      for (const on of instances) {
        const again = await on.publishBatch("lookup", [], { key: "k", fingerprint: "f2", windowMs: 60_000 });
        assert.deepEqual([again.replayed, again.ids, again.messages], [true, first.ids, []]);
        await assert.rejects(on.publishBatch("lookup", [], { key: "k", fingerprint: "other", windowMs: 60_000 }), IdempotencyKeyReused);
      }
      assert.equal((await bus.history("lookup", 0n, 10)).latest, 1n);
    });

    it("names a reused key's error after the app", async () => {
      await bus.publishBatch("named", [envelope(1)], { key: "k", fingerprint: "one", windowMs: 60_000 });
      const err: unknown = await bus
        .publishBatch("named", [envelope(2)], { key: "k", fingerprint: "two", windowMs: 60_000 })
        .catch((e: unknown) => e);
      assert.ok(err instanceof IdempotencyKeyReused);
      assert.equal(err.name, "IdempotencyKeyReused");
      assert.equal(err.appId, "named");
      assert.equal(err.message, 'the idempotency key was already used for a different request of app "named"');
    });

    it("refuses every call once closed, as unavailable, and closing twice is harmless", async () => {
      const { bus: closing } = await open();
      const c = collector();
      await closing.subscribe("app", c.listener);
      await closing.close();
      await closing.close();
      const closed = (err: unknown) => err instanceof UnavailableError && err.message === "bus is closed";
      await assert.rejects(closing.publish("app", envelope(1)), closed);
      await assert.rejects(closing.publishBatch("app", [envelope(1)]), closed);
      await assert.rejects(closing.history("app", 0n, 1), closed);
      await assert.rejects(
        closing.subscribe("app", () => undefined),
        closed,
      );
      // The world goes on without it.
      await bus.publish("app", envelope(2));
      assert.equal((await bus.history("app", 0n, 10)).latest, 1n);
      assert.equal(c.got.length, 0);
    });

    it("forgets a key after its window: a repeat then publishes again", async () => {
      const key = { key: "short", fingerprint: "f", windowMs: 30 };
      const first = await bus.publishBatch("window", [envelope(1)], key);
      // Repeats answer the first call until the window ends; waits for that, bounded.
      const deadline = Date.now() + 5_000;
      let again = await bus.publishBatch("window", [envelope(1)], key);
      while (again.replayed) {
        assert.deepEqual(again.ids, first.ids);
        assert.ok(Date.now() < deadline, "the key outlived its window by 5 s");
        await new Promise((resolve) => setTimeout(resolve, 5));
        again = await bus.publishBatch("window", [envelope(1)], key);
      }
      assert.equal(again.ids[0]!.offset, 2n, "published anew");
      assert.equal((await bus.history("window", 0n, 10)).latest, 2n);
    });
  });
}
