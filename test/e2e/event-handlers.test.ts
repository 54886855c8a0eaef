import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { registerApp, startTestHerald, uniquePrefix, watchersGone, watchersLive, type TestHerald } from "../support/herald.js";
import { redisKeys } from "../../core/redis/keys.js";
import { assertWatchRefused, rejection, unary, Watch } from "../support/grpc-client.js";
import { RedisServer } from "../support/redis-server.js";
import { eventTypes, typesAndResources } from "../support/event-types.js";

const reason = (err: grpc.ServiceError) => err.metadata.get("herald-reason")[0];
const sub = (type: string, resourceType = "", resourceId = "") => ({ type, resourceType, resourceId });
const types = (h: { subscriptions: Array<{ type: string }> }) => h.subscriptions.map((s) => s.type);

/** Event handler RPCs and WatchEvents(handler_id), through plain grpc-js clients that know only the .proto. */
describe("event handlers (core RPCs over gRPC)", () => {
  let h: TestHerald;
  before(async () => {
    h = await startTestHerald({ limits: { maxHandlerSubscriptions: 3 } });
    await registerApp(h, "pbx");
  });
  after(() => h.stop());

  const create = (appId: string, subscriptions: object[]) =>
    unary(h.clients.registry, "createEventHandler", { appId, subscriptions }).then((r) => r.handler);
  const update = (appId: string, id: string, changes: object[]) =>
    unary(h.clients.registry, "updateEventHandler", { appId, id, changes }).then((r) => r.handler);
  const send = (type: string, resourceId = "r") =>
    unary(h.clients.hub, "sendEvent", { appId: "pbx", eventId: "pbx-e", type, resourceType: "call", resourceId });

  it("creates a handler with any app id, normalising empty attributes to any and keeping identical ones once", async () => {
    const handler = await create("not-registered", [sub(""), sub("any", "any", "any"), sub("ringing", "call")]);
    assert.match(handler.id, /^[0-9a-f-]{36}$/);
    assert.equal(handler.revision, "1");
    assert.deepEqual(handler.subscriptions, [sub("any", "any", "any"), sub("ringing", "call", "any")]);
    const got = await unary(h.clients.registry, "getEventHandler", { appId: "not-registered", id: handler.id });
    assert.deepEqual(got.handler, handler);
    const other = await rejection(unary(h.clients.registry, "getEventHandler", { appId: "someone-else", id: handler.id }));
    assert.equal(other.code, grpc.status.NOT_FOUND);
    assert.equal(reason(other), "HANDLER_NOT_FOUND");
    const listed = await unary(h.clients.registry, "listEventHandlers", { appId: "not-registered" });
    assert.deepEqual(
      listed.handlers.map((x: { id: string }) => x.id),
      [handler.id],
    );
  });

  it("refuses what it cannot store with INVALID_ARGUMENT", async () => {
    for (const req of [
      { appId: "", subscriptions: [sub("any")] },
      { appId: "x", subscriptions: [] },
      { appId: "x", subscriptions: [sub("a"), sub("b"), sub("c"), sub("d")] },
      { appId: "x", subscriptions: [sub("t".repeat(1000))] },
    ]) {
      const err = await rejection(unary(h.clients.registry, "createEventHandler", req));
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(req).slice(0, 80));
    }
    const handler = await create("x", [sub("a")]);
    const bad = await rejection(update("x", handler.id, [{ action: "SUBSCRIPTION_ACTION_UNSPECIFIED", subscription: sub("b") }]));
    assert.equal(bad.code, grpc.status.INVALID_ARGUMENT);
    const tooMany = await rejection(
      update(
        "x",
        handler.id,
        ["b", "c", "d"].map((t) => ({ action: "SUBSCRIPTION_ACTION_ADD", subscription: sub(t) })),
      ),
    );
    assert.equal(tooMany.code, grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(
      types((await unary(h.clients.registry, "getEventHandler", { appId: "x", id: handler.id })).handler),
      ["a"],
      "unchanged",
    );
  });

  it("applies the changes of an update in order, as one revision", async () => {
    const handler = await create("pbx", [sub("ringing")]);
    const next = await update("pbx", handler.id, [
      { action: "SUBSCRIPTION_ACTION_ADD", subscription: sub("hangup") },
      { action: "SUBSCRIPTION_ACTION_REMOVE", subscription: sub("ringing") },
      { action: "SUBSCRIPTION_ACTION_REMOVE", subscription: sub("never-there") },
    ]);
    assert.deepEqual([next.revision, types(next)], ["2", ["hangup"]]);
  });

  it("streams a handler's events with WatchEvents(handler_id), follows its updates, and ends OK when it is deleted", async () => {
    const handler = await create("pbx", [sub("ringing")]);
    const watch = new Watch(h.clients.hub, { appId: "pbx", handlerId: handler.id });
    await watchersLive(h);
    await send("hangup", "h0");
    await send("ringing", "r1");
    await watch.received(1);
    await update("pbx", handler.id, [{ action: "SUBSCRIPTION_ACTION_ADD", subscription: sub("hangup") }]);
    await send("hangup", "h1");
    await watch.received(2);
    await unary(h.clients.registry, "deleteEventHandler", { appId: "pbx", id: handler.id });
    const status = await watch.status;
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(typesAndResources(watch.events), [
      ["ringing", "r1"],
      ["hangup", "h1"],
    ]);
    const again = await rejection(unary(h.clients.registry, "deleteEventHandler", { appId: "pbx", id: handler.id }));
    assert.equal(reason(again), "HANDLER_NOT_FOUND");
  });

  it("starts a new handler's first stream after the events published before it was created", async () => {
    const eventId = await registerApp(h, "earlier");
    for (let i = 0; i < 3; i++) await unary(h.clients.hub, "sendEvent", { eventId, type: "ringing", resourceId: `old${i}` });
    const handler = await create("earlier", [sub("any")]);
    const watch = new Watch(h.clients.hub, { appId: "earlier", handlerId: handler.id });
    await watchersLive(h);
    await unary(h.clients.hub, "sendEvent", { eventId, type: "ringing", resourceId: "new" });
    await watch.received(1);
    assert.deepEqual(typesAndResources(watch.events), [["ringing", "new"]]);
    watch.cancel();
  });

  it("refuses WatchEvents with a handler_id and filters, or an unknown handler", async () => {
    const handler = await create("pbx", [sub("any")]);
    await assertWatchRefused(h.clients.hub, { appId: "pbx", handlerId: handler.id, type: "ringing" }, grpc.status.INVALID_ARGUMENT);
    await assertWatchRefused(h.clients.hub, { appId: "pbx", handlerId: "nope" }, grpc.status.NOT_FOUND, "HANDLER_NOT_FOUND");
  });

  it("never delivers handler changes to ordinary watchers, live or replayed", async () => {
    await registerApp(h, "quiet");
    const live = new Watch(h.clients.hub, { appId: "quiet" });
    await watchersLive(h);
    const handler = await create("quiet", [sub("any")]);
    await update("quiet", handler.id, [{ action: "SUBSCRIPTION_ACTION_ADD", subscription: sub("ringing") }]);
    await unary(h.clients.hub, "sendEvent", { appId: "quiet", eventId: "quiet-e", type: "t1" });
    await unary(h.clients.registry, "deleteEventHandler", { appId: "quiet", id: handler.id });
    await unary(h.clients.hub, "sendEvent", { appId: "quiet", eventId: "quiet-e", type: "t2" });
    await live.received(2);
    const replayed = new Watch(h.clients.hub, { appId: "quiet", resumeAfter: "0" });
    await replayed.received(2);
    assert.deepEqual(eventTypes(live.events), ["t1", "t2"]);
    assert.deepEqual(eventTypes(replayed.events), ["t1", "t2"]);
    // The changes hold history offsets of their own: offsets are positions, not a count.
    assert.deepEqual(replayed.offsets(), [2, 4]);
    live.cancel();
    replayed.cancel();
  });
});

describe("event handlers (embedded) with a short history", () => {
  let h: TestHerald;
  before(async () => {
    h = await startTestHerald({ watch: { historySize: 5 } });
  });
  after(() => h.stop());

  it("continues a handler whose position is older than history from the oldest event held", async () => {
    const eventId = await registerApp(h, "behind");
    const { handler } = await unary(h.clients.registry, "createEventHandler", { appId: "behind", subscriptions: [sub("any")] });
    // Created on an empty app: its position is 0. Ten events later, history holds offsets 6..10.
    for (let i = 1; i <= 10; i++) await unary(h.clients.hub, "sendEvent", { eventId, type: "ringing", resourceId: `r${i}` });
    const watch = new Watch(h.clients.hub, { appId: "behind", handlerId: handler.id });
    await watch.received(5);
    assert.deepEqual(watch.offsets(), [6, 7, 8, 9, 10]);
    watch.cancel();
  });
});

describe("event handlers on two instances sharing Redis", () => {
  let redis: RedisServer;
  let a: TestHerald;
  let b: TestHerald;
  let keyPrefix: string;
  before(async () => {
    redis = await RedisServer.start();
    keyPrefix = uniquePrefix();
    a = await startTestHerald({ redis: { url: redis.url, keyPrefix } });
    b = await startTestHerald({ redis: { url: redis.url, keyPrefix } });
  });
  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
    await redis.destroy();
  });

  it("loses no change when both instances update one handler at once (compare-and-set)", async () => {
    const { handler } = await unary(a.clients.registry, "createEventHandler", { appId: "race", subscriptions: [sub("start")] });
    const adds = Array.from({ length: 24 }, (_, i) =>
      unary((i % 2 ? a : b).clients.registry, "updateEventHandler", {
        appId: "race",
        id: handler.id,
        changes: [{ action: "SUBSCRIPTION_ACTION_ADD", subscription: sub(`t${i}`) }],
      }),
    );
    await Promise.all(adds);
    const { handler: final } = await unary(b.clients.registry, "getEventHandler", { appId: "race", id: handler.id });
    assert.equal(final.revision, "25");
    assert.deepEqual(types(final).sort(), ["start", ...Array.from({ length: 24 }, (_, i) => `t${i}`)].sort());
  });

  it("starts a new handler's first stream after the events published before it was created (Redis store)", async () => {
    const eventId = await registerApp(a, "earlier");
    for (let i = 0; i < 3; i++) await unary(a.clients.hub, "sendEvent", { eventId, type: "ringing", resourceId: `old${i}` });
    const { handler } = await unary(a.clients.registry, "createEventHandler", { appId: "earlier", subscriptions: [sub("any")] });
    const watch = new Watch(b.clients.hub, { appId: "earlier", handlerId: handler.id });
    await watchersLive(b);
    await unary(a.clients.hub, "sendEvent", { eventId, type: "ringing", resourceId: "new" });
    await watch.received(1);
    assert.deepEqual(typesAndResources(watch.events), [["ringing", "new"]]);
    watch.cancel();
  });

  it("continues a handler whose saved position is beyond the latest offset (history lost) with the new events", async () => {
    const eventId = await registerApp(a, "lost");
    const { handler } = await unary(a.clients.registry, "createEventHandler", { appId: "lost", subscriptions: [sub("any")] });
    const first = new Watch(a.clients.hub, { appId: "lost", handlerId: handler.id });
    await watchersLive(a);
    for (let i = 1; i <= 20; i++) await unary(b.clients.hub, "sendEvent", { eventId, resourceId: `before${i}` });
    await first.received(20);
    const gone = watchersGone(a);
    first.cancel();
    await gone;
    // The app's history is lost, its handler's position (20) is not: offsets start again from 1.
    const admin = new Redis(redis.url);
    const keys = redisKeys(keyPrefix);
    await admin.del(keys.history("lost"), keys.offset("lost"));
    admin.disconnect();
    const second = new Watch(a.clients.hub, { appId: "lost", handlerId: handler.id });
    await watchersLive(a);
    // The stream continues from the latest offset when it opens, a moment a client cannot see:
    // events keep coming until it has some.
    let sending = true;
    const publisher = (async () => {
      for (let i = 1; sending; i++) await unary(b.clients.hub, "sendEvent", { eventId, resourceId: `after${i}` });
    })();
    try {
      await second.received(3);
    } finally {
      sending = false;
      await publisher;
    }
    const offsets = second.offsets();
    assert.deepEqual(
      offsets,
      Array.from({ length: offsets.length }, (_, i) => offsets[0]! + i),
    );
    assert.ok(
      second.events.every((e) => e.resourceId.startsWith("after")),
      "only events published after the loss",
    );
    second.cancel();
  });
});
