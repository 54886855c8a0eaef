import { strict as assert } from "node:assert";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { MemoryBus } from "../core/bus/memory-bus.js";
import type { Bus } from "../core/bus/bus.js";
import { EventKind, EventSchema } from "../core/gen/herald/v1/event_pb.js";
import { WatchEventsResponseSchema, type WatchEventsResponse } from "../core/gen/herald/v1/hub_pb.js";
import { getEncoded } from "../core/wire/pre-encoded.js";
import type { SinkListener, StreamSink } from "../core/wire/push-stream.js";
import { FanOut, WatcherEnded, type Route, type Watcher, type WatchFilter } from "../core/hub/fan-out.js";
import { silentLogger } from "../core/logger.js";
import { UnavailableError } from "../core/unavailable-error.js";
import { envelope } from "./suites/bus-suite.js";
import { appendIds, wrapField1 } from "../core/bus/envelope.js";
import { pino } from "pino";
import { Redis } from "ioredis";
import { RedisBus } from "../core/bus/redis-bus.js";
import { defaultRedisConfig } from "../core/redis/connect.js";
import { RedisServer } from "./support/redis-server.js";

const any: Route = { type: "", resourceType: "", resourceId: "" };
/** One turn of the event loop (where the next slice, or a batch's flush, has run). */
const turn = () => new Promise((resolve) => setImmediate(resolve));
const everything: WatchFilter = { routes: [any], ksid: "", osType: "" };

const event = (fields: MessageInitShape<typeof EventSchema> = {}) =>
  toBinary(EventSchema, create(EventSchema, { appId: "app", eventId: "e", ...fields }));

const handlerChange = (id: string, revision: bigint, routes: Route[], deleted = false) =>
  toBinary(
    EventSchema,
    create(EventSchema, {
      appId: "app",
      kind: EventKind.HANDLER,
      handlerChange: { handler: { id, appId: "app", subscriptions: routes, revision }, deleted },
    }),
  );

/** Reads a watcher until `last` (an offset) or its end; what it read, and how it ended. */
async function read(watcher: Watcher, last?: bigint): Promise<{ offsets: bigint[]; ids: string[]; end: WatcherEnded | "done" | "open" }> {
  const offsets: bigint[] = [];
  const ids: string[] = [];
  try {
    for (;;) {
      const r = await watcher.next();
      if (r.done) return { offsets, ids, end: "done" };
      offsets.push(r.value.event?.offset ?? 0n);
      ids.push(r.value.event?.resourceId ?? "");
      if (r.value.event?.offset === last) return { offsets, ids, end: "open" };
    }
  } catch (err) {
    if (err instanceof WatcherEnded) return { offsets, ids, end: err };
    throw err;
  }
}

/** The fan-out's public interface over a real (memory) bus. */
describe("FanOut", () => {
  let bus: MemoryBus;
  let fanOut: FanOut;
  beforeEach(() => {
    bus = new MemoryBus({ historySize: 100 });
    fanOut = new FanOut(bus, { queueLimit: 3, queueBytes: 1 << 30, historyPage: 2, logger: silentLogger });
  });
  afterEach(() => bus.close());

  it("fills a jump in offsets from history: an event published while a watcher registers is not lost", async () => {
    const fanOut = new FanOut(bus, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 2, logger: silentLogger });
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
  });

  it("keeps a watcher with queueLimit events unread, ends it at one more (at once), and the others go on", async () => {
    const slow = await fanOut.watch("app", everything);
    const fast = await fanOut.watch("app", everything);
    const ended: string[] = [];
    fanOut.on("ended", (app, kind) => ended.push(`${app}:${kind}`));
    for (let i = 1; i <= 3; i++) await bus.publish("app", event({ resourceId: `r${i}` }));
    assert.deepEqual((await read(fast, 3n)).offsets, [1n, 2n, 3n]);
    assert.deepEqual(ended, [], "three queued is within the limit");
    await bus.publish("app", event({ resourceId: "r4" }));
    assert.deepEqual(ended, ["app:slow"]);
    const got = await read(slow);
    assert.deepEqual(got.offsets, [], "its backlog is dropped: it ends at once");
    assert.ok(got.end instanceof WatcherEnded && got.end.kind === "slow");
    assert.equal(fanOut.watcherCount, 1);
    await bus.publish("app", event({ resourceId: "r5" }));
    assert.deepEqual((await read(fast, 5n)).offsets, [4n, 5n]);
  });

  it("hands out long streams in order (its queue is compacted as it is read)", async () => {
    const many = new FanOut(bus, { queueLimit: 5000, queueBytes: 1 << 30, historyPage: 100, logger: silentLogger });
    const watcher = await many.watch("app", everything);
    for (let i = 1; i <= 1100; i++) await bus.publish("app", event({ resourceId: `r${i}` }));
    const { offsets } = await read(watcher, 1100n);
    for (let i = 1101; i <= 1200; i++) await bus.publish("app", event({ resourceId: `r${i}` }));
    const rest = await read(watcher, 1200n);
    const all = [...offsets, ...rest.offsets];
    assert.equal(all.length, 1200);
    assert.ok(
      all.every((o, i) => o === BigInt(i + 1)),
      "every offset once, in order",
    );
  });

  it("on closeAll ends every watcher after what it has queued, and refuses new watchers", async () => {
    const watcher = await fanOut.watch("app", everything);
    await bus.publish("app", event());
    fanOut.closeAll();
    const got = await read(watcher);
    assert.deepEqual(got.offsets, [1n], "the queued event first");
    assert.ok(got.end instanceof WatcherEnded && got.end.kind === "shutdown");
    await assert.rejects(fanOut.watch("app", everything), (err: unknown) => err instanceof WatcherEnded && err.kind === "shutdown");
    assert.equal(fanOut.watcherCount, 0);
  });

  it("counts watchers, emits watch and unwatch, and stops listening to an app without watchers", async () => {
    const moments: string[] = [];
    fanOut.on("watch", (app) => moments.push(`watch:${app}`));
    fanOut.on("unwatch", (app) => moments.push(`unwatch:${app}`));
    const a = await fanOut.watch("app", everything);
    const b = await fanOut.watch("other", everything);
    assert.equal(fanOut.watcherCount, 2);
    a.close();
    a.close(); // twice: once counted
    await b.return();
    assert.equal(fanOut.watcherCount, 0);
    assert.deepEqual(moments, ["watch:app", "watch:other", "unwatch:app", "unwatch:other"]);
    assert.deepEqual(await a.next(), { value: undefined, done: true });
    // A new watcher of the app starts a new subscription and gets what is published from then on.
    const c = await fanOut.watch("app", everything);
    await bus.publish("app", event());
    assert.deepEqual((await read(c, 1n)).offsets, [1n]);
  });

  it("refuses a watcher when the bus cannot be read, and holds nothing for it: the next one registers", async () => {
    let fail = true;
    const once: Bus = {
      publish: (app, env) => bus.publish(app, env),
      publishBatch: (app, envs, idempotency) => bus.publishBatch(app, envs, idempotency),
      subscribe: (app, listener) => bus.subscribe(app, listener),
      history: (app, after, limit) =>
        fail ? ((fail = false), Promise.reject(new UnavailableError("down"))) : bus.history(app, after, limit),
      onResync: () => undefined,
      close: () => bus.close(),
    };
    const fo = new FanOut(once, { queueLimit: 10, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    await assert.rejects(fo.watch("app", everything), UnavailableError);
    assert.equal(fo.watcherCount, 0);
    const watcher = await fo.watch("app", everything);
    await bus.publish("app", event());
    assert.deepEqual((await read(watcher, 1n)).offsets, [1n]);
  });

  it("a watcher closed by its reader drops what it had queued and ends", async () => {
    const watcher = await fanOut.watch("app", everything);
    await bus.publish("app", event());
    await bus.publish("app", event());
    watcher.close();
    assert.deepEqual(await watcher.next(), { value: undefined, done: true });
    assert.equal(fanOut.watcherCount, 0);
  });

  it("ends its watchers as unavailable when a gap cannot be filled from history", async () => {
    // The one fault made here: history failing while live messages still arrive (a Redis failing
    // over between the two connections); a real bus does everything else.
    let historyFails = false;
    const flaky: Bus = {
      publish: (app, env) => bus.publish(app, env),
      publishBatch: (app, envs, idempotency) => bus.publishBatch(app, envs, idempotency),
      subscribe: (app, listener) => bus.subscribe(app, listener),
      history: (app, after, limit) =>
        historyFails ? Promise.reject(new UnavailableError("history down")) : bus.history(app, after, limit),
      onResync: () => undefined,
      close: () => bus.close(),
    };
    const warnings: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const fo = new FanOut(flaky, { queueLimit: 10, queueBytes: 1 << 30, historyPage: 10, logger });
    const ended: string[] = [];
    fo.on("ended", (_app, kind) => ended.push(kind));
    const watching = fo.watch("app", everything);
    await bus.publish("app", event()); // lands while registering: the next one shows a gap
    const watcher = await watching;
    historyFails = true;
    await bus.publish("app", event());
    const got = await read(watcher);
    assert.deepEqual(got.offsets, []);
    assert.ok(got.end instanceof WatcherEnded && got.end.kind === "unavailable");
    assert.equal(got.end.message, "event history is unavailable; resume later");
    assert.deepEqual(ended, ["unavailable"]);
    assert.deepEqual(
      warnings.map((w) => [w["msg"], w["app"], w["err"]]),
      [["cannot fill gap from history", "app", "UnavailableError: history down"]],
    );
  });

  it("matches routes (empty or any: everything), subscriber targets and os types", () => {
    const check = (filter: Partial<WatchFilter>, fields: MessageInitShape<typeof EventSchema>) =>
      fanOut.watch("app", { ...everything, ...filter }).then((w) => {
        const e = create(EventSchema, { appId: "app", ...fields });
        const result = [w.matches(e), w.matches(e, new Set(e.targets))];
        w.close();
        assert.equal(result[0], result[1], "the same answer from the list and the set of targets");
        return result[0];
      });
    return (async () => {
      const ringing: Route = { type: "ringing", resourceType: "call", resourceId: "7" };
      assert.equal(await check({ routes: [] }, {}), false, "no route: nothing");
      assert.equal(await check({ routes: [ringing] }, { type: "ringing", resourceType: "call", resourceId: "7" }), true);
      assert.equal(await check({ routes: [ringing] }, { type: "hangup", resourceType: "call", resourceId: "7" }), false);
      assert.equal(await check({ routes: [ringing] }, { type: "ringing", resourceType: "conf", resourceId: "7" }), false);
      assert.equal(await check({ routes: [ringing] }, { type: "ringing", resourceType: "call", resourceId: "8" }), false);
      const anyCall: Route = { type: "any", resourceType: "call", resourceId: "any" };
      assert.equal(await check({ routes: [ringing, anyCall] }, { type: "x", resourceType: "call", resourceId: "9" }), true);
      assert.equal(await check({ ksid: "k1" }, {}), true, "a broadcast reaches every subscriber");
      assert.equal(await check({ ksid: "k1" }, { targets: ["k0", "k1"] }), true);
      assert.equal(await check({ ksid: "k1" }, { targets: ["k0", "k2"] }), false);
      const nine = Array.from({ length: 9 }, (_, i) => `k${i + 2}`);
      assert.equal(await check({ ksid: "k1" }, { targets: nine }), false);
      assert.equal(await check({ ksid: "k1" }, { targets: [...nine, "k1"] }), true);
      assert.equal(await check({ ksid: "k1", osType: "iphone" }, { osType: "iphone" }), true);
      assert.equal(await check({ ksid: "k1", osType: "iphone" }, { osType: "androidgcm" }), false);
      assert.equal(await check({ osType: "iphone" }, { osType: "androidgcm" }), true, "without a ksid, os types do not filter");
      assert.equal(await check({}, { kind: EventKind.HANDLER }), false, "handler changes are never delivered");
    })();
  });

  it("applies its handler's newer changes in order with the events, ignores older ones and other handlers', and ends when it is deleted", async () => {
    const ringing: Route = { type: "ringing", resourceType: "", resourceId: "" };
    const hangup: Route = { type: "hangup", resourceType: "", resourceId: "" };
    const watcher = await fanOut.watch("app", { routes: [ringing], ksid: "", osType: "", handler: { id: "h1", revision: 2n } });
    const send = (type: string, resourceId: string) => bus.publish("app", event({ type, resourceId }));
    await send("ringing", "a"); // 1
    await bus.publish("app", handlerChange("h1", 2n, [hangup])); // 2: not newer than what it has
    await bus.publish("app", handlerChange("h2", 9n, [hangup])); // 3: another handler's
    await send("hangup", "b"); // 4: not wanted
    await send("ringing", "c"); // 5
    assert.deepEqual((await read(watcher, 5n)).ids, ["a", "c"]);
    await bus.publish("app", handlerChange("h1", 3n, [hangup])); // 6
    await send("ringing", "d"); // 7: not wanted any more
    await send("hangup", "e"); // 8
    await bus.publish("app", handlerChange("h1", 4n, [hangup], true)); // 9: deleted
    await send("hangup", "f"); // 10: after the end
    const rest = await read(watcher);
    assert.deepEqual(rest.ids, ["e"]);
    assert.equal(rest.end, "done", "a deleted handler's stream ends normally");
    assert.equal(fanOut.watcherCount, 0);
  });
  /** Encoded size of the response that carries `message` with these ids (what a watcher queues). */
  const responseSize = (message: Uint8Array, msgId: string, offset: bigint) => wrapField1(appendIds(message, msgId, offset)).byteLength;

  it("counts a gap once, fills it over several history pages while live events wait, then goes on live", async () => {
    const fo = new FanOut(bus, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 2, logger: silentLogger });
    await bus.publish("app", event());
    const watching = fo.watch("app", everything);
    await bus.publish("app", event()); // 2: between the latest offset and the subscription
    const watcher = await watching;
    // 3 shows the gap; the fill reads history from 2 while 4 and 5 arrive live (delivery is synchronous).
    await Promise.all([bus.publish("app", event()), bus.publish("app", event()), bus.publish("app", event())]);
    assert.deepEqual((await read(watcher, 5n)).offsets, [2n, 3n, 4n, 5n]);
    await bus.publish("app", event()); // 6: the next one, live
    assert.deepEqual((await read(watcher, 6n)).offsets, [6n]);
    assert.deepEqual(fo.stats, { gapFills: 1, resyncFills: 0, filledEvents: 4, replays: 0 }, "two full pages, then an empty one");
  });

  it("dispatches what arrived live after the last history page was read", async () => {
    const fo = new FanOut(bus, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 3, logger: silentLogger });
    const watching = fo.watch("app", everything);
    await bus.publish("app", event()); // 1: missed while registering
    const watcher = await watching;
    // 2 shows the gap and the fill reads history (1, 2) at once; 3 arrives after that read, before its page is used.
    await Promise.all([bus.publish("app", event()), bus.publish("app", event())]);
    assert.deepEqual((await read(watcher, 3n)).offsets, [1n, 2n, 3n]);
    assert.deepEqual(fo.stats, { gapFills: 1, resyncFills: 0, filledEvents: 2, replays: 0 });
  });

  it("folds a resync that comes while a gap is being filled into that fill", async () => {
    // The one thing made here: the bus's resync signal, which only a reconnection gives.
    const resyncs: Array<() => void> = [];
    const reconnecting: Bus = {
      publish: (app, env) => bus.publish(app, env),
      publishBatch: (app, envs, idempotency) => bus.publishBatch(app, envs, idempotency),
      subscribe: (app, listener) => bus.subscribe(app, listener),
      history: (app, after, limit) => bus.history(app, after, limit),
      onResync: (listener) => void resyncs.push(listener),
      close: () => bus.close(),
    };
    const fo = new FanOut(reconnecting, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    const watching = fo.watch("app", everything);
    await bus.publish("app", event()); // 1: missed while registering
    const watcher = await watching;
    const publishing = bus.publish("app", event()); // 2: a gap, being filled
    for (const resync of resyncs) resync();
    await publishing;
    assert.deepEqual((await read(watcher, 2n)).offsets, [1n, 2n]);
    assert.deepEqual([fo.stats.gapFills, fo.stats.resyncFills], [1, 0]);
    // Once the fill is done, a resync catches up from history.
    for (const resync of resyncs) resync();
    await bus.publish("app", event());
    assert.deepEqual((await read(watcher, 3n)).offsets, [3n]);
    assert.deepEqual([fo.stats.gapFills, fo.stats.resyncFills], [1, 1]);
  });

  it("counts what its watchers have waiting, in events and bytes, and no longer what was read", async () => {
    const fo = new FanOut(bus, { queueLimit: 10, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    const [one, two] = await Promise.all([fo.watch("app", everything), fo.watch("other", everything)]);
    assert.deepEqual(fo.queued(), { events: 0, bytes: 0 });
    const messages = [event({ resourceId: "a" }), event({ resourceId: "bb" })];
    for (const m of messages) await bus.publish("app", m);
    await bus.publish("other", messages[0]!);
    const [a, b] = [responseSize(messages[0]!, "1", 1n), responseSize(messages[1]!, "2", 2n)];
    const c = responseSize(messages[0]!, "3", 1n);
    assert.deepEqual(fo.queued(), { events: 3, bytes: a + b + c });
    assert.equal(one!.queuedEvents, 2);
    await one!.next(); // handed to its reader: still counted in bytes until the next pull
    assert.deepEqual(fo.queued(), { events: 2, bytes: a + b + c });
    await one!.next();
    assert.deepEqual(fo.queued(), { events: 1, bytes: b + c });
    await two!.next();
    assert.deepEqual(fo.queued(), { events: 0, bytes: b + c });
    assert.equal(one!.queuedEvents, 0);
  });

  it("bounds bytes only behind a queued event: a reader that keeps up gets events larger than the bound", async () => {
    const fo = new FanOut(bus, { queueLimit: 10, queueBytes: 10, historyPage: 10, logger: silentLogger });
    const watcher = await fo.watch("app", everything);
    for (let i = 1; i <= 3; i++) {
      await bus.publish("app", event({ resourceId: "x".repeat(100) }));
      assert.deepEqual((await read(watcher, BigInt(i))).offsets, [BigInt(i)]);
    }
    assert.equal(fo.watcherCount, 1);
  });

  it("keeps exactly queueBytes waiting, and ends a watcher at one byte more", async () => {
    const m = event({ resourceId: "r" });
    const size = responseSize(m, "1", 1n); // every one of these: one-digit ids
    const fo = new FanOut(bus, { queueLimit: 10, queueBytes: 2 * size, historyPage: 10, logger: silentLogger });
    const watcher = await fo.watch("app", everything);
    await bus.publish("app", m);
    await bus.publish("app", m);
    assert.equal(fo.watcherCount, 1, "two events of queueBytes / 2 fit");
    assert.equal(watcher.waitingBytes, 2 * size);
    await bus.publish("app", m);
    const got = await read(watcher);
    assert.ok(got.end instanceof WatcherEnded && got.end.kind === "slow");
    assert.equal(got.end.message, `watcher fell behind by more than ${2 * size} bytes`);
  });

  it("counts the bytes its transport holds instead of the last one handed out, and interrupts it when ending", async () => {
    const m = event({ resourceId: "r" });
    const size = responseSize(m, "1", 1n);
    const fo = new FanOut(bus, { queueLimit: 10, queueBytes: 2 * size, historyPage: 10, logger: silentLogger });
    const watcher = await fo.watch("app", everything);
    let unsent = 0;
    let interrupts = 0;
    watcher.attach({ pendingBytes: () => unsent, interrupt: () => void interrupts++ });
    await bus.publish("app", m);
    await watcher.next(); // taken, and (unsent = 0) already written
    await bus.publish("app", m);
    await bus.publish("app", m);
    assert.equal(watcher.waitingBytes, 2 * size, "the one handed out is not counted: the transport sent it");
    assert.equal(fo.watcherCount, 1);
    unsent = 1;
    await bus.publish("app", m);
    assert.equal(fo.watcherCount, 0, "one byte over");
    assert.equal(interrupts, 1);
  });

  it("says why it ended a watcher: how far behind, shutdown, or history unavailable", async () => {
    const slow = await fanOut.watch("app", everything);
    for (let i = 0; i < 4; i++) await bus.publish("app", event());
    const got = await read(slow);
    assert.ok(got.end instanceof WatcherEnded);
    assert.equal(got.end.message, "watcher fell behind by 3 events");
    const other = await fanOut.watch("app", everything);
    fanOut.closeAll();
    const shut = await read(other);
    assert.ok(shut.end instanceof WatcherEnded && shut.end.kind === "shutdown");
    assert.equal(shut.end.message, "server is shutting down");
    await assert.rejects(fanOut.watch("app", everything), { name: "WatcherEnded", message: "server is shutting down" });
  });

  it("keeps the reason a watcher was ended for, even once its reader closes it", async () => {
    const watcher = await fanOut.watch("app", everything);
    for (let i = 0; i < 4; i++) await bus.publish("app", event());
    watcher.close();
    await assert.rejects(watcher.next(), (err: unknown) => err instanceof WatcherEnded && err.kind === "slow");
    assert.deepEqual(await watcher.return(), { value: undefined, done: true });
  });

  it("skips an event of the handler kind without a change, for every watcher", async () => {
    const errors: unknown[] = [];
    const logged = new MemoryBus({
      historySize: 10,
      logger: pino({ level: "error" }, { write: (line: string) => void errors.push(line) }),
    });
    const fo = new FanOut(logged, { queueLimit: 10, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    const watcher = await fo.watch("app", everything);
    await logged.publish("app", event({ kind: EventKind.HANDLER }));
    await logged.publish("app", event());
    assert.deepEqual((await read(watcher, 2n)).offsets, [2n]);
    assert.deepEqual(errors, []);
  });

  it("applies a handler's change to its watchers whatever other watchers the app has", async () => {
    const ringing: Route = { type: "ringing", resourceType: "", resourceId: "" };
    const hangup: Route = { type: "hangup", resourceType: "", resourceId: "" };
    const marker: Route = { type: "marker", resourceType: "", resourceId: "" };
    // A watcher of no handler registered first: it sees the change before the handler's watcher.
    const plain = await fanOut.watch("app", everything);
    const watcher = await fanOut.watch("app", { routes: [ringing, marker], ksid: "", osType: "", handler: { id: "h1", revision: 1n } });
    await bus.publish("app", handlerChange("h1", 2n, [hangup, marker])); // 1
    await bus.publish("app", event({ type: "hangup", resourceId: "a" })); // 2
    await bus.publish("app", event({ type: "ringing", resourceId: "b" })); // 3
    await bus.publish("app", event({ type: "marker", resourceId: "c" })); // 4
    assert.deepEqual((await read(watcher, 4n)).ids, ["a", "c"]);
    assert.deepEqual((await read(plain, 4n)).offsets, [2n, 3n, 4n]);
  });
});

/** The fan-out over a real Redis: what it subscribes to, and its catch-up after a reconnection. */
describe("FanOut over RedisBus", () => {
  let redis: RedisServer;
  let admin: Redis;
  let bus: RedisBus;
  let prefix: string;
  let n = 0;
  before(async () => {
    redis = await RedisServer.start({ durable: false });
    admin = new Redis(redis.url);
  });
  beforeEach(async () => {
    prefix = `fan-out-${process.pid}-${++n}:`;
    bus = await RedisBus.connect({
      ...defaultRedisConfig,
      url: redis.url,
      keyPrefix: prefix,
      historySize: 100,
      maxReconnectDelayMs: 50,
      logger: silentLogger,
    });
  });
  afterEach(() => bus.close());
  after(async () => {
    admin.disconnect();
    await redis.destroy();
  });

  const numsub = async (app: string) => Number(((await admin.pubsub("NUMSUB", `${prefix}{${app}}:events`)) as unknown[])[1]);
  const calls = async (command: string) =>
    Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, "m").exec(await admin.info("commandstats"))?.[1] ?? 0);

  it("unsubscribes from an app when its last watcher goes, and subscribes anew for the next one", async () => {
    const fo = new FanOut(bus, { queueLimit: 10, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    const [one, two] = await Promise.all([fo.watch("app", everything), fo.watch("app", everything)]);
    assert.equal(await numsub("app"), 1);
    const [subscribes, unsubscribes] = [await calls("subscribe"), await calls("unsubscribe")];
    one!.close();
    await two!.return();
    // The next watcher's SUBSCRIBE runs after the UNSUBSCRIBE of the channel.
    const three = await fo.watch("app", everything);
    assert.deepEqual([await calls("unsubscribe"), await calls("subscribe")], [unsubscribes + 1, subscribes + 1]);
    assert.equal(await numsub("app"), 1);
    await bus.publish("app", event());
    assert.deepEqual((await read(three, 1n)).offsets, [1n]);
  });

  it("leaves nothing subscribed for a watcher ended while it registered", async () => {
    const fo = new FanOut(bus, { queueLimit: 10, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    const watching = fo.watch("app", everything);
    fo.closeAll(); // before the subscription is made
    const got = await read(await watching);
    assert.ok(got.end instanceof WatcherEnded && got.end.kind === "shutdown");
    assert.equal(await numsub("app"), 0, "subscribed, then unsubscribed once registered");
    assert.equal(fo.watcherCount, 0);
  });

  it("catches up from history once after the bus resubscribed, without another publish", async () => {
    const fo = new FanOut(bus, { queueLimit: 10, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    const watcher = await fo.watch("app", everything);
    await bus.publish("app", event());
    assert.deepEqual((await read(watcher, 1n)).offsets, [1n]);
    const resynced = new Promise<void>((resolve) => bus.onResync(resolve)); // called after the fan-out's own
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    await bus.publish("app", event()); // 2: missed, unless the subscriber was already back
    await resynced;
    assert.deepEqual((await read(watcher, 2n)).offsets, [2n]);
    assert.equal(fo.stats.resyncFills, 1);
    assert.equal(fo.stats.gapFills, 0);
  });
});

/** An event for more watchers than `fanOutSlice` goes out over several turns of the event loop. */
describe("FanOut in slices", () => {
  let bus: MemoryBus;
  beforeEach(() => {
    bus = new MemoryBus({ historySize: 100 });
  });
  afterEach(() => bus.close());

  const watchers = (fo: FanOut, n: number, filter: WatchFilter = everything) =>
    Promise.all(Array.from({ length: n }, () => fo.watch("app", filter)));

  it("delivers a slice a turn, and the events behind it wait: every watcher gets every event, in order", async () => {
    const fo = new FanOut(bus, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 10, fanOutSlice: 2, logger: silentLogger });
    const five = await watchers(fo, 5);
    await bus.publish("app", event({ resourceId: "a" }));
    await bus.publish("app", event({ resourceId: "b" }));
    assert.deepEqual(
      five.map((w) => w.queuedEvents),
      [1, 1, 0, 0, 0],
      "the first slice at once, the rest later",
    );
    await turn();
    assert.deepEqual(
      five.map((w) => w.queuedEvents),
      [1, 1, 1, 1, 0],
    );
    await turn();
    assert.deepEqual(
      five.map((w) => w.queuedEvents),
      [2, 1, 1, 1, 1],
      "then the second event, from the first watcher",
    );
    for (const w of five) assert.deepEqual((await read(w, 2n)).ids, ["a", "b"]);
  });

  it("a watcher registered while an event is sliced gets the events after it, not that one", async () => {
    const fo = new FanOut(bus, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 10, fanOutSlice: 1, logger: silentLogger });
    const three = await watchers(fo, 3);
    await bus.publish("app", event({ resourceId: "a" }));
    const late = await fo.watch("app", everything);
    await bus.publish("app", event({ resourceId: "b" }));
    for (const w of three) assert.deepEqual((await read(w, 2n)).ids, ["a", "b"]);
    assert.deepEqual((await read(late, 2n)).ids, ["b"]);
  });

  it("applies a handler's deletion after the events sliced before it: each of its streams gets them, then ends", async () => {
    const fo = new FanOut(bus, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 10, fanOutSlice: 1, logger: silentLogger });
    const three = await watchers(fo, 3, { routes: [any], ksid: "", osType: "", handler: { id: "h1", revision: 1n } });
    await bus.publish("app", event({ resourceId: "a" }));
    await bus.publish("app", handlerChange("h1", 2n, [any], true));
    for (const w of three) {
      const got = await read(w);
      assert.deepEqual(got.ids, ["a"]);
      assert.equal(got.end, "done");
    }
    assert.equal(fo.watcherCount, 0);
  });

  it("finishes at once when more than queueLimit events wait (what waits is bounded)", async () => {
    const fo = new FanOut(bus, { queueLimit: 3, queueBytes: 1 << 30, historyPage: 10, fanOutSlice: 1, logger: silentLogger });
    const two = await watchers(fo, 2);
    for (const id of ["a", "b", "c"]) await bus.publish("app", event({ resourceId: id }));
    assert.deepEqual(
      two.map((w) => w.queuedEvents),
      [1, 0],
      "three waiting dispatches are within the bound",
    );
    const ended: string[] = [];
    fo.on("ended", (_app, kind) => ended.push(kind));
    await bus.publish("app", event({ resourceId: "d" }));
    assert.deepEqual(ended, ["slow", "slow"], "the fourth finished them all in this turn: four queued each, past the watchers' own limit");
  });
});

/** A watcher that asks for batches (WatchEvents `max_batch`). */
describe("FanOut batching watchers", () => {
  let bus: MemoryBus;
  beforeEach(() => {
    bus = new MemoryBus({ historySize: 100 });
  });
  afterEach(() => bus.close());

  const publish = (n: number) => {
    for (let i = 0; i < n; i++) void bus.publish("app", event());
  };
  const offsets = (r: WatchEventsResponse) => r.events.map((e) => Number(e.offset));

  /** A transport's sink that records what it takes, with room or not. */
  class RecordingSink implements StreamSink<WatchEventsResponse> {
    readonly sent: WatchEventsResponse[] = [];
    room = true;
    listener: SinkListener | undefined;
    send(response: WatchEventsResponse): boolean {
      this.sent.push(response);
      return this.room;
    }
    pendingBytes(): number {
      return 0;
    }
    listen(listener: SinkListener): void {
      this.listener = listener;
    }
    end(): void {}
    fail(): void {}
  }

  it("sends what one turn brings as one response of at most maxBatch; while its sink is full it queues, and batches on drain", async () => {
    const fo = new FanOut(bus, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    const watcher = await fo.watch("app", everything, 3);
    const sink = new RecordingSink();
    watcher.run(sink, undefined, (e) => e);
    publish(5);
    assert.deepEqual(sink.sent.map(offsets), [[1, 2, 3]], "a full batch goes at once");
    await turn();
    assert.deepEqual(
      sink.sent.map(offsets),
      [
        [1, 2, 3],
        [4, 5],
      ],
      "the rest once the turn is over",
    );
    assert.ok(sink.sent.every((r) => r.event === undefined));
    sink.room = false;
    publish(1);
    await turn();
    publish(4);
    await turn();
    assert.equal(sink.sent.length, 3, "nothing more while the sink is full");
    assert.equal(watcher.queuedEvents, 4);
    sink.room = true;
    sink.listener?.drain();
    assert.deepEqual(sink.sent.slice(2).map(offsets), [[6], [7, 8, 9], [10]]);
    watcher.close();
  });

  it("is bounded once its sink is full, as any watcher", async () => {
    const fo = new FanOut(bus, { queueLimit: 4, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    const watcher = await fo.watch("app", everything, 3);
    const sink = new RecordingSink();
    sink.room = false;
    watcher.run(sink, undefined, (e) => e);
    const ended: string[] = [];
    fo.on("ended", (_app, kind) => ended.push(kind));
    publish(3);
    assert.deepEqual(sink.sent.map(offsets), [[1, 2, 3]], "a full batch is sent, and the sink says it is full");
    publish(4);
    assert.deepEqual(ended, [], "four queued: within the bound");
    publish(1);
    assert.deepEqual(ended, ["slow"]);
  });

  it("gives the same batch object to watchers that take the same events (encoded once, its bytes field 2 of each)", async () => {
    const fo = new FanOut(bus, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    const [a, b] = await Promise.all([fo.watch("app", everything, 8), fo.watch("app", everything, 8)]);
    const sinks = [new RecordingSink(), new RecordingSink()];
    a!.run(sinks[0]!, undefined, (e) => e);
    b!.run(sinks[1]!, undefined, (e) => e);
    publish(2);
    await turn();
    const [x, y] = sinks.map((s) => s.sent[0]);
    assert.equal(x, y);
    const bytes = getEncoded(x as WatchEventsResponse);
    assert.ok(bytes);
    assert.deepEqual(fromBinary(WatchEventsResponseSchema, bytes), x, "its recorded bytes decode to it");
  });

  it("pulled: hands out up to maxBatch queued events a response", async () => {
    const fo = new FanOut(bus, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    const watcher = await fo.watch("app", everything, 3);
    publish(5);
    assert.deepEqual(offsets((await watcher.next()).value), [1, 2, 3]);
    assert.deepEqual(offsets((await watcher.next()).value), [4, 5]);
    watcher.close();
  });

  it("is capped by the options' maxBatch and by the queue's bound", async () => {
    const capped = new FanOut(bus, { queueLimit: 100, queueBytes: 1 << 30, historyPage: 10, maxBatch: 2, logger: silentLogger });
    assert.equal((await capped.watch("app", everything, 50)).maxBatch, 2);
    const bounded = new FanOut(bus, { queueLimit: 4, queueBytes: 1 << 30, historyPage: 10, logger: silentLogger });
    assert.equal((await bounded.watch("app", everything, 50)).maxBatch, 4);
    assert.equal((await bounded.watch("app", everything)).maxBatch, 1);
    assert.equal((await bounded.watch("app", everything, 0)).maxBatch, 1, "0: a request without max_batch");
  });
});
