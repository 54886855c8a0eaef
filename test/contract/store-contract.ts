import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { AppSchema, EventDefinitionSchema } from "../../core/gen/herald/v1/registry_pb.js";
import { SubscriberRefSchema, type SubscriberRef } from "../../core/gen/herald/v1/event_pb.js";
import type { Store } from "../../core/store/store.js";

const app = (id: string, published = true) => create(AppSchema, { id, name: `${id} app`, published });
const event = (id: string, appId: string, published = true) =>
  create(EventDefinitionSchema, { id, appId, name: id, published, message: "hi {{x}}" });
const ksid = (value: string): SubscriberRef => create(SubscriberRefSchema, { ref: { case: "ksid", value } });
const ufid = (value: string): SubscriberRef => create(SubscriberRefSchema, { ref: { case: "ufid", value } });
const device = (value: string): SubscriberRef => create(SubscriberRefSchema, { ref: { case: "deviceId", value } });
const sub = (appId: string, deviceId: string, ufidValue = "", osType = "iphone") => ({ appId, deviceId, ufid: ufidValue, osType });

/** The guarantees documented on the Store interface, checked against one implementation. */
export function storeContract(name: string, make: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await make();
      await store.upsertApp(app("a"));
      await store.upsertApp(app("b", false));
    });
    afterEach(() => store.close());

    it("upserts, gets, lists and deletes apps, handing out copies", async () => {
      const got = await store.getApp("a");
      assert.equal(got?.name, "a app");
      got!.name = "changed";
      assert.equal((await store.getApp("a"))?.name, "a app", "a copy, not the stored value");
      await store.upsertApp(create(AppSchema, { id: "a", name: "renamed", published: false }));
      assert.deepEqual(await store.getApp("a"), create(AppSchema, { id: "a", name: "renamed", published: false }));
      assert.deepEqual((await store.listApps()).map((x) => x.id).sort(), ["a", "b"]);
      assert.equal(await store.getApp("zz"), undefined);
      assert.equal(await store.deleteApp("zz"), false);
    });

    it("finds events by id alone, lists them per app, and moves them between apps", async () => {
      await store.upsertEvent(event("1", "a"));
      await store.upsertEvent(event("2", "a", false));
      assert.deepEqual(await store.getEvent("1"), event("1", "a"));
      assert.deepEqual((await store.listEvents("a")).map((e) => e.id), ["1", "2"]);
      await store.upsertEvent(event("2", "b"));
      assert.equal((await store.getEvent("2"))?.appId, "b");
      assert.deepEqual((await store.listEvents("a")).map((e) => e.id), ["1"]);
      assert.deepEqual((await store.listEvents("b")).map((e) => e.id), ["2"]);
      assert.equal(await store.deleteEvent("1"), true);
      assert.equal(await store.getEvent("1"), undefined);
      assert.equal(await store.deleteEvent("1"), false);
    });

    it("subscribes idempotently per app + device + ufid, with ksids unique across apps", async () => {
      const first = await store.subscribe(sub("a", "d1", "u1"));
      const again = await store.subscribe({ ...sub("a", "d1", "u1", "androidgcm"), sid: "s9" });
      assert.equal(again.ksid, first.ksid);
      assert.equal(again.osType, "androidgcm");
      assert.equal((await store.getSubscriber(first.ksid))?.sid, "s9");
      const otherDevice = await store.subscribe(sub("a", "d2", "u1"));
      const otherApp = await store.subscribe(sub("b", "d1", "u1"));
      assert.equal(new Set([first.ksid, otherDevice.ksid, otherApp.ksid]).size, 3);
      assert.equal((await store.getSubscriber(otherApp.ksid))?.appId, "b");
      assert.deepEqual((await store.listSubscribers("a")).map((s) => s.ksid).sort(), [first.ksid, otherDevice.ksid].sort());
      const same = await Promise.all(Array.from({ length: 20 }, () => store.subscribe(sub("a", "d3", "u3"))));
      assert.equal(new Set(same.map((s) => s.ksid)).size, 1, "concurrent identical subscribes give one ksid");
    });

    it("honours an explicit ksid and never hands it out again", async () => {
      const fixed = await store.subscribe({ ...sub("a", "d1"), ksid: "1" });
      assert.equal(fixed.ksid, "1");
      const next = await store.subscribe(sub("a", "d2"));
      assert.notEqual(next.ksid, "1");
      const moved = await store.subscribe({ ...sub("a", "d1"), ksid: "xxxx" });
      assert.equal(moved.ksid, "xxxx");
      assert.equal(await store.getSubscriber("1"), undefined, "the explicit ksid replaced the old one");
    });

    it("unsubscribes, and the subscriber is gone from every lookup", async () => {
      const s = await store.subscribe(sub("a", "d1", "u1"));
      assert.equal(await store.unsubscribe(s.ksid), true);
      assert.equal(await store.unsubscribe(s.ksid), false);
      assert.equal(await store.getSubscriber(s.ksid), undefined);
      const r = await store.resolve("a", [ksid(s.ksid), device("d1"), ufid("u1")]);
      assert.deepEqual(r.ksids, []);
      assert.equal(r.invalid.length, 3);
      const back = await store.subscribe(sub("a", "d1", "u1"));
      assert.deepEqual((await store.resolve("a", [device("d1")])).ksids, [back.ksid]);
    });

    it("resolves references to ksids of that app, each once, and lists the invalid ones in order", async () => {
      const [k1, k2, k3] = await Promise.all([
        store.subscribe(sub("a", "d1", "user")),
        store.subscribe(sub("a", "d2", "user")),
        store.subscribe(sub("a", "d3", "user")),
      ]);
      const foreign = await store.subscribe(sub("b", "d9", "other"));
      const empty = create(SubscriberRefSchema, {});
      const r = await store.resolve("a", [
        ksid(k2!.ksid), ufid("user"), ksid(foreign.ksid), device("nope"), empty, device("d1"), ufid("ghost"),
      ]);
      assert.equal(r.ksids[0], k2!.ksid, "in the order of the references");
      assert.deepEqual([...r.ksids].sort(), [k1!.ksid, k2!.ksid, k3!.ksid].sort());
      assert.equal(r.ksids.length, 3, "each once");
      assert.deepEqual(r.invalid, [ksid(foreign.ksid), device("nope"), empty, ufid("ghost")]);
      assert.deepEqual(await store.resolve("a", []), { ksids: [], invalid: [] });
    });

    it("deletes an app with its events and subscribers", async () => {
      await store.upsertEvent(event("1", "a"));
      const s = await store.subscribe(sub("a", "d1", "u1"));
      const kept = await store.subscribe(sub("b", "d1", "u1"));
      assert.equal(await store.deleteApp("a"), true);
      assert.equal(await store.getApp("a"), undefined);
      assert.equal(await store.getEvent("1"), undefined);
      assert.equal(await store.getSubscriber(s.ksid), undefined);
      assert.deepEqual(await store.listSubscribers("a"), []);
      assert.deepEqual((await store.listApps()).map((x) => x.id), ["b"]);
      await store.upsertApp(app("a"));
      assert.deepEqual((await store.resolve("a", [device("d1"), ufid("u1")])).ksids, [], "no stale lookups");
      assert.equal((await store.getSubscriber(kept.ksid))?.appId, "b");
    });
  });
}
