import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { AppSchema, EventDefinitionSchema } from "../../core/gen/herald/v1/registry_pb.js";
import { SubscriberRefSchema, type SubscriberRef } from "../../core/gen/herald/v1/event_pb.js";
import { DeliveryState, type MessageStatus } from "../../core/gen/herald/v1/hub_pb.js";
import { EventHandlerSchema, type EventHandler } from "../../core/gen/herald/v1/handler_pb.js";
import type { MessageRecord, PushState } from "../../core/store/status-store.js";
import { PushChannel, PushProviderSchema } from "../../core/gen/herald/v1/push_pb.js";
import type { StoreConfig } from "../../core/store/store-config.js";
import type { Stores } from "../../core/store/stores.js";
import type { ApiKeyRecord } from "../../core/store/api-key-store.js";
import { Role } from "../../core/gen/herald/v1/registry_pb.js";

const apiKey = (id: string, createdMs: number, extra: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
  id,
  name: `key ${id}`,
  roles: [Role.PUBLISH],
  appIds: ["a"],
  hash: "ab".repeat(32),
  createdMs,
  expiresMs: 0,
  ...extra,
});

const app = (id: string, published = true) => create(AppSchema, { id, name: `${id} app`, published });
const event = (id: string, appId: string, published = true) =>
  create(EventDefinitionSchema, { id, appId, name: id, published, message: "hi {{x}}" });
const ksid = (value: string): SubscriberRef => create(SubscriberRefSchema, { ref: { case: "ksid", value } });
const ufid = (value: string): SubscriberRef => create(SubscriberRefSchema, { ref: { case: "ufid", value } });
const device = (value: string): SubscriberRef => create(SubscriberRefSchema, { ref: { case: "deviceId", value } });
const sub = (appId: string, deviceId: string, ufidValue = "", osType = "iphone") => ({ appId, deviceId, ufid: ufidValue, osType });

/** Polls `read` until `done` holds, failing after a bounded time. */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(value, (_, v) => (typeof v === "bigint" ? String(v) : v))}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let handlerSeq = 0;
const handler = (appId: string, id: string, types: string[] = ["any"], revision = 1n): EventHandler =>
  create(EventHandlerSchema, {
    id,
    appId,
    revision,
    created: timestampFromMs(1_700_000_000_000 + handlerSeq++),
    subscriptions: types.map((type) => ({ type, resourceType: "any", resourceId: "any" })),
  });

const SENT = timestampFromMs(1_700_000_000_123);
SENT.nanos += 456; // more precise than ms: kept as given
const record = (requestId: string, msgId: string, ksids: string[], broadcast = false): MessageRecord => ({
  requestId,
  msgId,
  appId: "a",
  ksids,
  broadcast,
  time: SENT,
});
/** [ksid, state, delivered ms] of each subscriber of a message. */
const states = (m: MessageStatus | undefined) =>
  m?.subscribers.map((s) => [s.ksid, DeliveryState[s.state], s.deliveredTime && timestampMs(s.deliveredTime)]);

/** Writes to a value the store handed out: a frozen one refuses (TypeError), a copy takes it. */
function changeIfWritable(write: () => void): void {
  try {
    write();
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
}

/**
 * The guarantees documented on RegistryStore, StatusStore and HandlerStore, checked against one
 * backend's three stores.
 */
export function storeSuite(name: string, make: (config?: Partial<StoreConfig>) => Promise<Stores>): void {
  describe(`Store contract: ${name}`, () => {
    let stores: Stores;
    beforeEach(async () => {
      stores = await make();
      await stores.registry.upsertApp(app("a"));
      await stores.registry.upsertApp(app("b", false));
    });
    afterEach(() => stores.close());

    it("creates API keys once, gets them by id, lists them newest first, revokes them", async () => {
      const keys = stores.apiKeys;
      assert.equal(await keys.create(apiKey("0000000000000001", 1000)), true);
      assert.equal(await keys.create(apiKey("0000000000000002", 2000, { roles: [Role.WATCH, Role.PUBLISH], appIds: ["*"] })), true);
      assert.equal(await keys.create(apiKey("0000000000000001", 3000, { name: "impostor" })), false, "an id is never replaced");
      assert.deepEqual(await keys.get("0000000000000001"), apiKey("0000000000000001", 1000));
      assert.deepEqual(
        (await keys.list()).map((k) => k.id),
        ["0000000000000002", "0000000000000001"],
      );
      const got = await keys.get("0000000000000002");
      changeIfWritable(() => got!.appIds.push("b"));
      changeIfWritable(() => (got!.hash = "changed"));
      assert.deepEqual(
        await keys.get("0000000000000002"),
        apiKey("0000000000000002", 2000, { roles: [Role.WATCH, Role.PUBLISH], appIds: ["*"] }),
      );
      // peek answers from what this instance holds, never more than get would.
      const peeked = keys.peek("0000000000000001");
      assert.ok(peeked === undefined || peeked === (await keys.get("0000000000000001")) || peeked.id === "0000000000000001");
      assert.equal(keys.peek("0000000000000009"), undefined);
      assert.equal(await keys.revoke("0000000000000001"), true);
      assert.equal(keys.peek("0000000000000001"), undefined, "revoked: not held any more");
      assert.equal(await keys.get("0000000000000001"), undefined, "revoked: gone at once for this instance");
      assert.equal(await keys.revoke("0000000000000001"), false);
      assert.deepEqual(
        (await keys.list()).map((k) => k.id),
        ["0000000000000002"],
      );
    });

    it("upserts, gets, lists and deletes apps, handing out copies", async () => {
      const got = await stores.registry.getApp("a");
      assert.equal(got?.name, "a app");
      changeIfWritable(() => (got!.name = "changed"));
      assert.equal((await stores.registry.getApp("a"))?.name, "a app", "a copy or frozen, never the stored value");
      await stores.registry.upsertApp(create(AppSchema, { id: "a", name: "renamed", published: false }));
      assert.deepEqual(await stores.registry.getApp("a"), create(AppSchema, { id: "a", name: "renamed", published: false }));
      assert.deepEqual((await stores.registry.listApps()).map((x) => x.id).sort(), ["a", "b"]);
      assert.equal(await stores.registry.getApp("zz"), undefined);
      assert.equal(await stores.registry.deleteApp("zz"), false);
    });

    it("finds events by id alone, lists them per app, and moves them between apps", async () => {
      await stores.registry.upsertEvent(event("1", "a"));
      await stores.registry.upsertEvent(event("2", "a", false));
      assert.deepEqual(await stores.registry.getEvent("1"), event("1", "a"));
      const got = await stores.registry.getEvent("1");
      changeIfWritable(() => (got!.published = !got!.published));
      assert.deepEqual(await stores.registry.getEvent("1"), event("1", "a"), "a copy or frozen, never the stored value");
      assert.deepEqual(
        (await stores.registry.listEvents("a")).map((e) => e.id),
        ["1", "2"],
      );
      await stores.registry.upsertEvent(event("2", "b"));
      assert.equal((await stores.registry.getEvent("2"))?.appId, "b");
      assert.deepEqual(
        (await stores.registry.listEvents("a")).map((e) => e.id),
        ["1"],
      );
      assert.deepEqual(
        (await stores.registry.listEvents("b")).map((e) => e.id),
        ["2"],
      );
      assert.equal(await stores.registry.deleteEvent("1"), true);
      assert.equal(await stores.registry.getEvent("1"), undefined);
      assert.equal(await stores.registry.deleteEvent("1"), false);
    });

    it("subscribes idempotently per app + device + ufid, with ksids unique across apps", async () => {
      const first = await stores.registry.subscribe(sub("a", "d1", "u1"));
      const again = await stores.registry.subscribe({ ...sub("a", "d1", "u1", "androidgcm"), sid: "s9" });
      assert.equal(again.ksid, first.ksid);
      assert.equal(again.osType, "androidgcm");
      assert.equal((await stores.registry.getSubscriber(first.ksid))?.sid, "s9");
      const otherDevice = await stores.registry.subscribe(sub("a", "d2", "u1"));
      const otherApp = await stores.registry.subscribe(sub("b", "d1", "u1"));
      assert.equal(new Set([first.ksid, otherDevice.ksid, otherApp.ksid]).size, 3);
      assert.equal((await stores.registry.getSubscriber(otherApp.ksid))?.appId, "b");
      assert.deepEqual((await stores.registry.listSubscribers("a")).map((s) => s.ksid).sort(), [first.ksid, otherDevice.ksid].sort());
      const same = await Promise.all(Array.from({ length: 20 }, () => stores.registry.subscribe(sub("a", "d3", "u3"))));
      assert.equal(new Set(same.map((s) => s.ksid)).size, 1, "concurrent identical subscribes give one ksid");
    });

    it("honours an explicit ksid and never hands it out again", async () => {
      const fixed = await stores.registry.subscribe({ ...sub("a", "d1"), ksid: "1" });
      assert.equal(fixed.ksid, "1");
      const next = await stores.registry.subscribe(sub("a", "d2"));
      assert.notEqual(next.ksid, "1");
      const moved = await stores.registry.subscribe({ ...sub("a", "d1"), ksid: "xxxx" });
      assert.equal(moved.ksid, "xxxx");
      assert.equal(await stores.registry.getSubscriber("1"), undefined, "the explicit ksid replaced the old one");
    });

    it("unsubscribes, and the subscriber is gone from every lookup", async () => {
      const s = await stores.registry.subscribe(sub("a", "d1", "u1"));
      assert.equal(await stores.registry.unsubscribe(s.ksid), true);
      assert.equal(await stores.registry.unsubscribe(s.ksid), false);
      assert.equal(await stores.registry.getSubscriber(s.ksid), undefined);
      const r = await stores.registry.resolve("a", [ksid(s.ksid), device("d1"), ufid("u1")]);
      assert.deepEqual(r.ksids, []);
      assert.equal(r.invalid.length, 3);
      const back = await stores.registry.subscribe(sub("a", "d1", "u1"));
      assert.deepEqual((await stores.registry.resolve("a", [device("d1")])).ksids, [back.ksid]);
    });

    it("deactivates a subscriber: kept, inactive, out of every resolve, active again when it subscribes", async () => {
      const s = await stores.registry.subscribe(sub("a", "d1", "u1"));
      assert.equal(await stores.registry.deactivate(s.ksid), true);
      assert.equal(await stores.registry.deactivate("nobody"), false);
      assert.equal((await stores.registry.getSubscriber(s.ksid))?.active, false);
      assert.deepEqual(
        (await stores.registry.listSubscribers("a")).map((x) => [x.ksid, x.active]),
        [[s.ksid, false]],
      );
      const r = await stores.registry.resolve("a", [ksid(s.ksid), device("d1"), ufid("u1")]);
      assert.deepEqual(r.ksids, []);
      assert.equal(r.invalid.length, 3);
      const back = await stores.registry.subscribe(sub("a", "d1", "u1"));
      assert.equal(back.ksid, s.ksid);
      assert.deepEqual((await stores.registry.resolve("a", [ksid(s.ksid), device("d1")])).ksids, [s.ksid]);
    });

    it("keeps one push provider per app and channel, lists them in channel order, clears one or all", async () => {
      const p = stores.pushProviders;
      const fcm = (projectId: string) =>
        create(PushProviderSchema, { appId: "a", config: { case: "fcm", value: { projectId, privateKey: "k" } } });
      const apns = create(PushProviderSchema, { appId: "a", config: { case: "apns", value: { teamId: "t", privateKey: "k" } } });
      await p.set(fcm("one"));
      await p.set(apns);
      await p.set(fcm("two"));
      assert.deepEqual(
        (await p.list("a")).map((x) => x.config.case),
        ["apns", "fcm"],
      );
      const got = await p.get("a", PushChannel.FCM);
      assert.equal(got?.config.case === "fcm" && got.config.value.projectId, "two");
      got!.appId = "changed";
      assert.equal((await p.get("a", PushChannel.FCM))?.appId, "a", "a copy");
      (await p.list("a"))[0]!.appId = "changed";
      assert.equal((await p.list("a"))[0]!.appId, "a", "a copy");
      assert.deepEqual(await p.list("b"), []);
      assert.equal(await p.clear("a", PushChannel.FCM), true);
      assert.equal(await p.clear("a", PushChannel.FCM), false);
      assert.equal(await p.get("a", PushChannel.FCM), undefined);
      await p.clearApp("a");
      assert.deepEqual(await p.list("a"), []);
    });

    it("records device push states per message and subscriber, shown with the message's status", async () => {
      const st = (state: DeliveryState, attempts: number, reason = ""): PushState => ({
        channel: PushChannel.APNS,
        state,
        reason,
        timeMs: 1_700_000_000_000 + attempts,
        attempts,
        providerId: "",
      });
      await stores.status.recordMessage(record("r1", "5", ["k1", "k2"]));
      await stores.status.markPush("r1", "5", "k1", st(DeliveryState.QUEUED, 0));
      await stores.status.markPush("r1", "5", "k1", st(DeliveryState.DELIVERED, 1));
      await stores.status.markPush("r1", "5", "k2", st(DeliveryState.FAILED, 1, "BadDeviceToken"));
      await stores.status.markPush("r1", "5", "k9", st(DeliveryState.DELIVERED, 1));
      const states = await stores.status.pushStates("r1", "5");
      assert.deepEqual(states.get("k1"), st(DeliveryState.DELIVERED, 1));
      assert.deepEqual(states.get("k2"), st(DeliveryState.FAILED, 1, "BadDeviceToken"));
      assert.deepEqual((await stores.status.pushStates("r1", "6")).size, 0);
      const [m] = (await stores.status.messageStatus("r1"))!;
      // Targeted: k9 was not, so it is not listed.
      assert.deepEqual(
        m!.subscribers.map((s) => [s.ksid, s.pushes.map((x) => [DeliveryState[x.state], x.reason, x.attempts])]),
        [
          ["k1", [["DELIVERED", "", 1]]],
          ["k2", [["FAILED", "BadDeviceToken", 1]]],
        ],
      );
      // A broadcast lists the subscribers reached by a device push too.
      await stores.status.recordMessage(record("r2", "7", [], true));
      await stores.status.markPush("r2", "7", "k3", st(DeliveryState.DELIVERED, 2));
      const [b] = (await stores.status.messageStatus("r2"))!;
      assert.deepEqual(
        b!.subscribers.map((s) => [s.ksid, DeliveryState[s.state], s.pushes.length]),
        [["k3", "QUEUED", 1]],
      );
    });

    it("resolves references to ksids of that app, each once, and lists the invalid ones in order", async () => {
      const [k1, k2, k3] = await Promise.all([
        stores.registry.subscribe(sub("a", "d1", "user")),
        stores.registry.subscribe(sub("a", "d2", "user")),
        stores.registry.subscribe(sub("a", "d3", "user")),
      ]);
      const foreign = await stores.registry.subscribe(sub("b", "d9", "other"));
      const empty = create(SubscriberRefSchema, {});
      const r = await stores.registry.resolve("a", [
        ksid(k2!.ksid),
        ufid("user"),
        ksid(foreign.ksid),
        device("nope"),
        empty,
        device("d1"),
        ufid("ghost"),
      ]);
      assert.equal(r.ksids[0], k2!.ksid, "in the order of the references");
      assert.deepEqual([...r.ksids].sort(), [k1!.ksid, k2!.ksid, k3!.ksid].sort());
      assert.equal(r.ksids.length, 3, "each once");
      assert.deepEqual(r.invalid, [ksid(foreign.ksid), device("nope"), empty, ufid("ghost")]);
      assert.deepEqual(await stores.registry.resolve("a", []), { ksids: [], invalid: [] });
    });

    it("deletes an app with its events and subscribers", async () => {
      await stores.registry.upsertEvent(event("1", "a"));
      const s = await stores.registry.subscribe(sub("a", "d1", "u1"));
      const kept = await stores.registry.subscribe(sub("b", "d1", "u1"));
      assert.equal(await stores.registry.deleteApp("a"), true);
      assert.equal(await stores.registry.getApp("a"), undefined);
      assert.equal(await stores.registry.getEvent("1"), undefined);
      assert.equal(await stores.registry.getSubscriber(s.ksid), undefined);
      assert.deepEqual(await stores.registry.listSubscribers("a"), []);
      assert.deepEqual(
        (await stores.registry.listApps()).map((x) => x.id),
        ["b"],
      );
      await stores.registry.upsertApp(app("a"));
      assert.deepEqual((await stores.registry.resolve("a", [device("d1"), ufid("u1")])).ksids, [], "no stale lookups");
      assert.equal((await stores.registry.getSubscriber(kept.ksid))?.appId, "b");
    });

    describe("delivery status", () => {
      it("records a message with every target QUEUED, handing out copies", async () => {
        await stores.status.recordMessage(record("r1", "10", ["k2", "k1"]));
        const [m, ...rest] = (await stores.status.messageStatus("r1")) ?? [];
        assert.equal(rest.length, 0);
        assert.equal(m?.msgId, "10");
        assert.equal(m?.appId, "a");
        assert.equal(m?.broadcast, false);
        assert.deepEqual([m?.time?.seconds, m?.time?.nanos], [SENT.seconds, SENT.nanos]);
        assert.deepEqual(states(m), [
          ["k2", "QUEUED", undefined],
          ["k1", "QUEUED", undefined],
        ]);
        m!.subscribers.length = 0;
        m!.time!.seconds = 0n;
        const again = (await stores.status.messageStatus("r1"))?.[0];
        assert.equal(again?.subscribers.length, 2, "a copy, not the stored value");
        assert.equal(again?.time?.seconds, SENT.seconds);
      });

      it("marks a target DELIVERED with its time, idempotently: the first time wins", async () => {
        await stores.status.recordMessage(record("r1", "10", ["k1", "k2"]));
        await stores.status.markDelivered("r1", "10", "k1", 1_000);
        await stores.status.markDelivered("r1", "10", "k1", 2_000);
        await stores.status.markDelivered("r1", "10", "stranger", 1_500);
        assert.deepEqual(states((await stores.status.messageStatus("r1"))?.[0]), [
          ["k1", "DELIVERED", 1_000],
          ["k2", "QUEUED", undefined],
        ]);
        await Promise.all([3_000, 4_000].map((t) => stores.status.markDelivered("r1", "10", "k2", t)));
        const k2 = (await stores.status.messageStatus("r1"))?.[0]?.subscribers[1];
        assert.ok(k2?.deliveredTime && [3_000, 4_000].includes(timestampMs(k2.deliveredTime)));
      });

      it("keeps a delivery marked before its message is recorded", async () => {
        await stores.status.markDelivered("r1", "10", "k2", 500);
        assert.equal(await stores.status.messageStatus("r1"), undefined, "nothing recorded yet");
        await stores.status.recordMessage(record("r1", "10", ["k1", "k2"]));
        assert.deepEqual(states((await stores.status.messageStatus("r1"))?.[0]), [
          ["k1", "QUEUED", undefined],
          ["k2", "DELIVERED", 500],
        ]);
      });

      it("lists the messages of one request id in send (msg id) order, apart from other ids", async () => {
        await stores.status.recordMessage(record("r1", "100", ["k1"]));
        await stores.status.recordMessage(record("r1", "9", ["k1"]));
        await stores.status.recordMessage(record("r2", "50", ["k1"]));
        await stores.status.recordMessage(record("r1", "10", ["k1"]));
        await stores.status.markDelivered("r1", "10", "k1", 7);
        const messages = await stores.status.messageStatus("r1");
        assert.deepEqual(
          messages?.map((m) => m.msgId),
          ["9", "10", "100"],
        );
        assert.deepEqual(
          messages?.map((m) => m.subscribers[0]?.state),
          [DeliveryState.QUEUED, DeliveryState.DELIVERED, DeliveryState.QUEUED],
        );
        assert.deepEqual(
          (await stores.status.messageStatus("r2"))?.map((m) => m.msgId),
          ["50"],
        );
      });

      it("adds the ksids a broadcast was delivered to, by delivery time", async () => {
        await stores.status.recordMessage(record("r1", "10", [], true));
        assert.deepEqual(states((await stores.status.messageStatus("r1"))?.[0]), []);
        await stores.status.markDelivered("r1", "10", "kb", 2_000);
        await stores.status.markDelivered("r1", "10", "ka", 1_000);
        await stores.status.markDelivered("r1", "10", "kb", 500);
        const m = (await stores.status.messageStatus("r1"))?.[0];
        assert.equal(m?.broadcast, true);
        assert.deepEqual(states(m), [
          ["ka", "DELIVERED", 1_000],
          ["kb", "DELIVERED", 2_000],
        ]);
      });

      it("answers undefined for an id never recorded", async () => {
        assert.equal(await stores.status.messageStatus("nope"), undefined);
        await stores.status.markDelivered("marked-only", "1", "k", 1);
        assert.equal(await stores.status.messageStatus("marked-only"), undefined);
      });

      it("forgets a request id messageStatusTtlMs after its first write, marks included, never extending it", async () => {
        const short = await make({ messageStatusTtlMs: 200 });
        try {
          await short.status.recordMessage(record("first", "1", ["k"]));
          await short.status.markDelivered("marked", "2", "k", 1);
          await short.status.recordMessage(record("later", "3", ["k"]));
          await short.status.recordMessage(record("first", "4", ["k"])); // after "later" was created
          assert.equal((await short.status.messageStatus("first"))?.length, 2);
          // Everything here was created no later than "later": once it is gone, so are they.
          await until(
            () => short.status.messageStatus("later"),
            (m) => m === undefined,
            "the status to expire",
          );
          assert.equal(await short.status.messageStatus("first"), undefined, "the TTL is not extended by a later message");
          await short.status.recordMessage(record("marked", "2", ["k"]));
          assert.deepEqual(
            states((await short.status.messageStatus("marked"))?.[0]),
            [["k", "QUEUED", undefined]],
            "the early mark expired too",
          );
        } finally {
          await short.close();
        }
      });
    });

    describe("event handlers", () => {
      it("creates, gets and lists handlers per app id in creation order, handing out copies; any app id will do", async () => {
        const h1 = handler("unregistered", "h1", ["ringing"]);
        assert.deepEqual(await stores.handlers.createHandler(h1, 5n, 10), h1);
        await stores.handlers.createHandler(handler("unregistered", "h2"), 0n, 10);
        await stores.handlers.createHandler(handler("other", "h3"), 0n, 10);
        const got = await stores.handlers.getHandler("unregistered", "h1");
        assert.deepEqual(
          got?.subscriptions.map((x) => x.type),
          ["ringing"],
        );
        got!.subscriptions = [];
        assert.equal((await stores.handlers.getHandler("unregistered", "h1"))?.subscriptions.length, 1, "a copy");
        assert.deepEqual(
          (await stores.handlers.listHandlers("unregistered")).map((h) => h.id),
          ["h1", "h2"],
        );
        assert.equal(await stores.handlers.getHandler("other", "h1"), undefined, "visible under its own app id only");
        assert.equal(await stores.handlers.getHandler("unregistered", "nope"), undefined);
        assert.deepEqual(await stores.handlers.listHandlers("nobody"), []);
        assert.equal(await stores.handlers.handlerCursor("unregistered", "h1"), 5n);
      });

      it("lists many handlers in creation order, whatever their ids", async () => {
        const n = 200;
        const ids: string[] = [];
        for (let i = 0; i < n; i++) {
          // Values past 64 bytes: Redis keeps such a hash as a hash table, not in insertion order.
          const h = handler("many", `h-${String(n - i).padStart(3, "0")}`, ["ringing", "hangup", "answered"]); // ids in the reverse order
          h.created = timestampFromMs(1_700_000_000_000 + i * 400); // across seconds: nanos go up and down
          ids.push(h.id);
          await stores.handlers.createHandler(h, 0n, n);
        }
        assert.deepEqual(
          (await stores.handlers.listHandlers("many")).map((h) => h.id),
          ids,
        );
      });

      it("refuses a handler over maxPerApp, or with an id already there", async () => {
        assert.ok(await stores.handlers.createHandler(handler("a", "h1"), 0n, 2));
        assert.equal(await stores.handlers.createHandler(handler("a", "h1"), 0n, 2), undefined, "same id");
        assert.ok(await stores.handlers.createHandler(handler("a", "h2"), 0n, 2));
        assert.equal(await stores.handlers.createHandler(handler("a", "h3"), 0n, 2), undefined, "third of at most 2");
        assert.ok(await stores.handlers.createHandler(handler("b", "h3"), 0n, 2), "another app has its own count");
        await stores.handlers.deleteHandler("a", "h1");
        assert.ok(await stores.handlers.createHandler(handler("a", "h3"), 0n, 2), "room again after a delete");
      });

      it("replaces a handler only over the revision before (compare-and-set)", async () => {
        await stores.handlers.createHandler(handler("a", "h", ["any"], 1n), 0n, 10);
        assert.equal(await stores.handlers.replaceHandler(handler("a", "h", ["ringing"], 3n)), false, "skips revision 2");
        assert.equal(await stores.handlers.replaceHandler(handler("a", "h", ["ringing"], 2n)), true);
        assert.equal(await stores.handlers.replaceHandler(handler("a", "h", ["hangup"], 2n)), false, "revision 2 is taken");
        const now = await stores.handlers.getHandler("a", "h");
        assert.deepEqual([now?.revision, now?.subscriptions.map((x) => x.type)], [2n, ["ringing"]]);
        assert.equal(await stores.handlers.replaceHandler(handler("a", "gone", ["any"], 2n)), false, "no such handler");
        assert.equal(await stores.handlers.getHandler("a", "gone"), undefined, "and none created");
      });

      it("moves a cursor forward only, and deletes it with its handler", async () => {
        await stores.handlers.createHandler(handler("a", "h"), 3n, 10);
        await stores.handlers.advanceHandlerCursor("a", "h", 7n);
        await stores.handlers.advanceHandlerCursor("a", "h", 5n);
        assert.equal(await stores.handlers.handlerCursor("a", "h"), 7n);
        const deleted = await stores.handlers.deleteHandler("a", "h");
        assert.equal(deleted?.id, "h");
        assert.equal(await stores.handlers.deleteHandler("a", "h"), undefined);
        assert.equal(await stores.handlers.getHandler("a", "h"), undefined);
        await stores.handlers.advanceHandlerCursor("a", "h", 9n);
        assert.equal(await stores.handlers.handlerCursor("a", "h"), 0n, "no cursor for a deleted handler");
        assert.ok(await stores.handlers.createHandler(handler("a", "h"), 1n, 10), "the id can be used again");
        assert.equal(await stores.handlers.handlerCursor("a", "h"), 1n);
      });

      it("keeps handlers when their app is deleted (an app id is only a namespace to them)", async () => {
        await stores.handlers.createHandler(handler("a", "h"), 0n, 10);
        await stores.registry.deleteApp("a");
        assert.equal((await stores.handlers.getHandler("a", "h"))?.id, "h");
      });
    });
  });
}
