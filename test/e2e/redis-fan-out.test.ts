import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { RedisServer } from "../support/redis-server.js";
import { registerApp, startTestHerald, uniquePrefix, watchersLive, type TestHerald } from "../support/herald.js";
import { rejection, unary, Watch } from "../support/grpc-client.js";
import { TcpProxy } from "../support/tcp-proxy.js";

const contiguous = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Several Herald instances on one real Redis, driven by plain grpc-js clients. */
describe("fan-out over Redis", () => {
  let redis: RedisServer;
  before(async () => {
    redis = process.env["REDIS_URL"] ? (undefined as never) : await RedisServer.start();
  });
  after(() => redis?.destroy());
  const redisUrl = () => process.env["REDIS_URL"] ?? redis.url;

  describe("two instances", () => {
    let a: TestHerald;
    let b: TestHerald;
    let eventId: string;
    beforeEach(async () => {
      const keyPrefix = uniquePrefix();
      a = await startTestHerald({ redis: { url: redisUrl(), keyPrefix } });
      b = await startTestHerald({ redis: { url: redisUrl(), keyPrefix } });
      eventId = await registerApp(a, "calls");
    });
    afterEach(async () => {
      await Promise.all([a.stop(), b.stop()]);
    });

    it("delivers every event sent on either instance to the matching watchers on both, in order", async () => {
      const onA = new Watch(a.clients.hub, { appId: "calls" });
      const ringingOnB = new Watch(b.clients.hub, { appId: "calls", type: "ringing" });
      const allOnB = new Watch(b.clients.hub, { appId: "calls", type: "any", resourceType: "any" });
      await Promise.all([watchersLive(a, 1), watchersLive(b, 2)]);
      const sent: Array<{ msgId: string; type: string }> = [];
      for (let i = 0; i < 40; i++) {
        const via = i % 2 === 0 ? a : b;
        const type = i % 3 === 0 ? "ringing" : "hangup";
        const r = await unary(via.clients.hub, "sendEvent", { eventId, type, resourceType: "call", resourceId: String(i) });
        sent.push({ msgId: r.msgId, type });
      }
      const ringing = sent.filter((s) => s.type === "ringing");
      await Promise.all([onA.received(40), allOnB.received(40), ringingOnB.received(ringing.length)]);
      assert.deepEqual(
        onA.events.map((e) => e.msgId),
        sent.map((s) => s.msgId),
      );
      assert.deepEqual(
        allOnB.events.map((e) => e.msgId),
        sent.map((s) => s.msgId),
      );
      assert.deepEqual(
        ringingOnB.events.map((e) => e.msgId),
        ringing.map((s) => s.msgId),
      );
      assert.deepEqual(onA.offsets(), contiguous(1, 40));
      const ids = sent.map((s) => BigInt(s.msgId));
      assert.ok(
        ids.every((id, i) => i === 0 || id > ids[i - 1]!),
        "msg ids increase across instances",
      );
      for (const w of [onA, ringingOnB, allOnB]) w.cancel();
      // Nothing more arrives after the last one (no duplicates trailing behind).
      assert.equal(onA.events.length, 40);
    });

    it("sends a batching watcher (max_batch) what arrives together in one response, read by a stock client, across instances", async () => {
      const batching = new Watch(b.clients.hub, { appId: "calls", maxBatch: 16 });
      const single = new Watch(b.clients.hub, { appId: "calls" });
      await watchersLive(b, 2);
      const events = Array.from({ length: 40 }, (_, i) => ({
        eventId,
        resourceId: String(i),
        namePairs: [{ name: "n", content: `é${i}` }],
      }));
      const sent = await unary(a.clients.hub, "sendEventBatch", { appId: "calls", events });
      const msgIds = (sent.responses as Array<{ msgId: string }>).map((r) => r.msgId);
      await Promise.all([batching.received(40), single.received(40)]);
      assert.deepEqual(
        batching.events.map((e) => e.msgId),
        msgIds,
        "every event once, in order",
      );
      assert.deepEqual(batching.events, single.events, "the same events, field for field, as one at a time");
      assert.deepEqual(batching.offsets(), contiguous(1, 40));
      assert.ok(
        batching.batches.every((n) => n >= 1 && n <= 16),
        `at most max_batch a response: ${batching.batches}`,
      );
      assert.ok(batching.batches.length < 40, `events that arrived together went together: ${batching.batches}`);
      assert.ok(single.batches.every((n) => n === 1));
      batching.cancel();
      single.cancel();
    });

    for (const maxBatch of [0, 8]) {
      it(`resumes after an offset with no gap and no duplicate while events keep arriving (max_batch ${maxBatch})`, async () => {
        let sending = true;
        let sent = 0;
        const publisher = (async () => {
          while (sending) {
            const via = sent % 2 === 0 ? a : b;
            await unary(via.clients.hub, "sendEvent", { eventId });
            sent++;
          }
        })();
        const first = new Watch(a.clients.hub, { appId: "calls", resumeAfter: "0", maxBatch });
        await first.received(25);
        first.cancel();
        await first.status;
        const seen = first.events.length;
        const lastOffset = first.events[seen - 1]!.offset;
        const second = new Watch(b.clients.hub, { appId: "calls", resumeAfter: lastOffset, maxBatch });
        await second.received(50);
        sending = false;
        await publisher;
        await second.received(sent - seen);
        second.cancel();
        const offsets = [...first.offsets(), ...second.offsets()];
        assert.deepEqual(offsets, contiguous(1, sent), `received ${offsets.length} of ${sent}`);
      });
    }

    it("ends a watcher that cannot keep up with RESOURCE_EXHAUSTED and a resume offset, without slowing the others", async () => {
      await Promise.all([a.stop(), b.stop()]);
      const keyPrefix = uniquePrefix();
      a = await startTestHerald({ redis: { url: redisUrl(), keyPrefix }, watch: { queueLimit: 16 } });
      b = await startTestHerald({ redis: { url: redisUrl(), keyPrefix } });
      eventId = await registerApp(a, "calls");
      const slow = new Watch(a.clients.hub, { appId: "calls" });
      const fast = new Watch(a.clients.hub, { appId: "calls" });
      await watchersLive(a, 2);
      slow.call.pause(); // reads nothing: HTTP/2 flow control backs up into the server's queue
      let slowEnded = false;
      a.fanOut.once("ended", (_app, kind) => (slowEnded = kind === "slow"));
      const data = "x".repeat(16 * 1024);
      let sent = 0;
      while (!slowEnded && sent < 5000) {
        await unary(b.clients.hub, "sendPush", { appId: "calls", allActive: true, content: { data } });
        sent++;
      }
      assert.ok(slowEnded, `slow watcher not ended after ${sent} events`);
      for (let i = 0; i < 10; i++) await unary(b.clients.hub, "sendPush", { appId: "calls", allActive: true, content: { data: "after" } });
      await fast.received(sent + 10);
      assert.deepEqual(fast.offsets(), contiguous(1, sent + 10));
      slow.call.resume();
      const status = await slow.status;
      assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.deepEqual(status.metadata.get("herald-reason"), ["SLOW_CONSUMER"]);
      const resume = status.metadata.get("herald-resume-after")[0];
      assert.ok(resume !== undefined, "resume offset given");
      // The offset is that of the last event the slow watcher was given: resuming after it
      // continues with no gap and no duplicate.
      assert.equal(Number(resume), slow.events.length, "resume after the last event delivered");
      const total = sent + 10;
      const resumed = new Watch(a.clients.hub, { appId: "calls", resumeAfter: String(resume) }, { keepContent: false });
      await resumed.received(total - Number(resume));
      assert.deepEqual([...slow.offsets(), ...resumed.offsets()], contiguous(1, total));
      resumed.cancel();
      fast.cancel();
    });

    it("applies a registry change made on one instance to the next send on the other (whose registry reads are cached)", async () => {
      const send = (request: object) => unary(a.clients.hub, "sendEvent", { eventId, ...request });
      const refused = async (request: object) => (await rejection(send(request))).code;
      const ksidRef = (value: string) => ({ subscribers: [{ ksid: value }] });
      // A warms its cache with the app, the event and the subscriber lookups.
      const { ksid } = await unary<{ ksid: string }>(b.clients.registry, "subscribe", {
        appId: "calls",
        deviceId: "d1",
        ufid: "u1",
        osType: "iphone",
      });
      for (let i = 0; i < 3; i++) assert.deepEqual((await send(ksidRef(ksid))).invalidSubscribers, []);
      assert.equal((await send(ksidRef("404"))).invalidSubscribers.length, 1);

      await unary(b.clients.registry, "upsertApp", { app: { id: "calls", name: "calls", published: false } });
      assert.equal(await refused({}), grpc.status.FAILED_PRECONDITION);
      await unary(b.clients.registry, "upsertApp", { app: { id: "calls", name: "calls", published: true } });
      await unary(b.clients.registry, "upsertEvent", { event: { id: eventId, appId: "calls", name: "e", published: false } });
      assert.equal(await refused({}), grpc.status.FAILED_PRECONDITION);
      await unary(b.clients.registry, "deleteEvent", { id: eventId });
      assert.equal(await refused({}), grpc.status.NOT_FOUND);
      await registerApp(b, "calls");

      await unary(b.clients.registry, "unsubscribe", { ksid });
      assert.equal((await send(ksidRef(ksid))).invalidSubscribers.length, 1, "an unsubscribed ksid is invalid at once");
      const again = await unary<{ ksid: string }>(b.clients.registry, "subscribe", {
        appId: "calls",
        deviceId: "d2",
        ufid: "u2",
        osType: "iphone",
      });
      assert.deepEqual((await send(ksidRef(again.ksid))).invalidSubscribers, [], "a new ksid is valid at once");
      assert.deepEqual((await send({ subscribers: [{ deviceId: "d2" }] })).invalidSubscribers, [], "and so is its device");
    });
  });

  it("fills what a watcher missed while its instance was cut off from Redis, once it is back, without another send", async () => {
    // A reaches Redis through a proxy the test cuts; B reaches it directly and publishes meanwhile.
    const target = process.env["REDIS_URL"] ? Number(new URL(redisUrl()).port) : redis.port;
    const proxy = await TcpProxy.start(target);
    const keyPrefix = uniquePrefix();
    const a = await startTestHerald({ redis: { url: proxy.url, keyPrefix, commandTimeoutMs: 1000, maxReconnectDelayMs: 50 } });
    const b = await startTestHerald({ redis: { url: redisUrl(), keyPrefix } });
    try {
      const eventId = await registerApp(b, "gap");
      const watch = new Watch(a.clients.hub, { appId: "gap" });
      await watchersLive(a);
      for (let i = 0; i < 2; i++) await unary(b.clients.hub, "sendEvent", { eventId });
      await watch.received(2);

      proxy.cut();
      const missed: string[] = [];
      for (let i = 0; i < 3; i++) missed.push((await unary(b.clients.hub, "sendEvent", { eventId })).msgId);
      proxy.restore();

      // Nothing is sent after Redis is back: only A's catch-up from history can bring these.
      await watch.received(5);
      assert.deepEqual(watch.offsets(), contiguous(1, 5));
      assert.deepEqual(
        watch.events.slice(2).map((e) => e.msgId),
        missed,
      );
      watch.cancel();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await proxy.close();
    }
  });

  it("survives a Redis restart: streams stay, nothing acknowledged is lost, sends fail fast meanwhile", async function () {
    if (process.env["REDIS_URL"]) this.skip(); // needs a Redis of its own to kill
    const h = await startTestHerald({
      // A command timeout beyond mocha's: a send that waited for it instead of failing fast fails the test.
      redis: { url: redisUrl(), keyPrefix: uniquePrefix(), commandTimeoutMs: 600_000, maxReconnectDelayMs: 100 },
    });
    try {
      const eventId = await registerApp(h, "durable");
      const watch = new Watch(h.clients.hub, { appId: "durable" });
      await watchersLive(h);
      const acked: string[] = [];
      for (let i = 0; i < 10; i++) acked.push((await unary(h.clients.hub, "sendEvent", { eventId })).msgId);
      await watch.received(10);

      await redis.stop();
      const err = await rejection(unary(h.clients.hub, "sendEvent", { eventId }));
      assert.equal(err.code, grpc.status.UNAVAILABLE, err.details);

      await redis.restart();
      // Retry as a client would until the core has reconnected (bounded).
      for (let attempt = 0; ; attempt++) {
        try {
          acked.push((await unary(h.clients.hub, "sendEvent", { eventId })).msgId);
          break;
        } catch (e) {
          if ((e as grpc.ServiceError).code !== grpc.status.UNAVAILABLE || attempt > 200) throw e;
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      for (let i = 0; i < 9; i++) acked.push((await unary(h.clients.hub, "sendEvent", { eventId })).msgId);
      await watch.received(20);
      assert.deepEqual(
        watch.events.map((e) => e.msgId),
        acked,
      );
      assert.deepEqual(watch.offsets(), contiguous(1, 20));

      // A watcher that resumes from the start gets all of it back from the durable history.
      const replay = new Watch(h.clients.hub, { appId: "durable", resumeAfter: "0" });
      await replay.received(20);
      assert.deepEqual(
        replay.events.map((e) => e.msgId),
        acked,
      );
      replay.cancel();
      watch.cancel();
    } finally {
      if (!redis.running) await redis.restart();
      await h.stop();
    }
  });
});
