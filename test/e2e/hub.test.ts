import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { registerApp, startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { assertWatchRefused, rejection, unary, Watch } from "../support/grpc-client.js";

/** The core on the embedded default, through plain grpc-js clients that know only the .proto. */
describe("hub (embedded, over gRPC)", () => {
  let h: TestHerald;
  let eventId: string;

  before(async () => {
    h = await startTestHerald({
      limits: {
        maxMessageBytes: 64 * 1024,
        maxSubscribers: 5,
        maxNamePairs: 4,
        maxFieldLength: 64,
        maxContentBytes: 1024,
        maxPayloadBytes: 512,
      },
    });
    eventId = await registerApp(h, "shop", { message: "Hello {{lastname}}, order {{order}} shipped" });
    await unary(h.clients.registry, "upsertApp", { app: { id: "draft", name: "draft", published: false } });
    await unary(h.clients.registry, "upsertEvent", { event: { id: "draft-e", appId: "draft", published: true } });
    await unary(h.clients.registry, "upsertEvent", { event: { id: "shop-unpublished", appId: "shop", published: false } });
  });
  after(() => h.stop());

  const subscribe = (deviceId: string, osType = "androidgcm") =>
    unary<{ ksid: string }>(h.clients.registry, "subscribe", { appId: "shop", deviceId, ufid: `u-${deviceId}`, osType }).then(
      (r) => r.ksid,
    );

  it("publishes an event to the watchers whose filters match, with the template filled", async () => {
    const all = new Watch(h.clients.hub, { appId: "shop" });
    const ringing = new Watch(h.clients.hub, { appId: "shop", type: "ringing", resourceType: "any" });
    const call7 = new Watch(h.clients.hub, { appId: "shop", resourceType: "call", resourceId: "7" });
    await Promise.all([watchersLive(h, 3)]);
    const send = (type: string, resourceType: string, resourceId: string) =>
      unary(h.clients.hub, "sendEvent", {
        eventId,
        type,
        resourceType,
        resourceId,
        namePairs: [
          { name: "lastname", content: "Smith" },
          { name: "order", content: "42" },
        ],
      });
    const r1 = await send("ringing", "call", "7");
    const r2 = await send("hangup", "call", "8");
    const r3 = await send("ringing", "conference", "7");
    assert.ok(Number(r2.msgId) > Number(r1.msgId) && Number(r3.msgId) > Number(r2.msgId));
    await all.received(3);
    await ringing.received(2);
    await call7.received(1);
    assert.deepEqual(
      all.events.map((e) => e.msgId),
      [r1.msgId, r2.msgId, r3.msgId],
    );
    assert.deepEqual(
      ringing.events.map((e) => e.msgId),
      [r1.msgId, r3.msgId],
    );
    assert.deepEqual(
      call7.events.map((e) => e.msgId),
      [r1.msgId],
    );
    const first = all.events[0]!;
    assert.equal(first.content?.data, "Hello Smith, order 42 shipped");
    assert.equal(first.eventId, eventId);
    assert.equal(first.appId, "shop");
    assert.deepEqual(first.namePairs, [
      { name: "lastname", content: "Smith" },
      { name: "order", content: "42" },
    ]);
    for (const w of [all, ringing, call7]) w.cancel();
  });

  it("answers a watch's response headers once it is live, before any event (not with its first one)", async function () {
    this.timeout(5000); // without them, nothing ever comes: fail soon
    const w = new Watch(h.clients.hub, { appId: "shop", type: "never-sent" });
    const headers = await Promise.race([
      new Promise<grpc.Metadata>((resolve) => w.call.once("metadata", resolve)),
      w.status.then((s) => {
        throw new Error(`stream ended: ${s.code} ${s.details}`);
      }),
    ]);
    assert.ok(headers instanceof grpc.Metadata);
    assert.equal(w.events.length, 0);
    w.call.cancel();
    assert.equal((await w.status).code, grpc.status.CANCELLED);
  });

  it("delivers to a ksid watcher only what targets it, and reports invalid subscribers", async () => {
    const [a, b] = [await subscribe("dev-a"), await subscribe("dev-b", "iphone")];
    const wa = new Watch(h.clients.hub, { appId: "shop", ksid: a });
    const wb = new Watch(h.clients.hub, { appId: "shop", ksid: b });
    await watchersLive(h, 2);
    const toA = await unary(h.clients.hub, "sendEvent", { eventId, subscribers: [{ ksid: a }, { ksid: "nope" }] });
    assert.deepEqual(toA.invalidSubscribers, [{ ksid: "nope", ref: "ksid" }]);
    const byDevice = await unary(h.clients.hub, "sendEvent", { eventId, subscribers: [{ deviceId: "dev-b" }] });
    const none = await unary(h.clients.hub, "sendEvent", { eventId, subscribers: [{ ufid: "ghost" }, { deviceId: "ghost" }] });
    assert.equal(none.msgId, "", "nothing published when every subscriber is invalid");
    assert.equal(none.invalidSubscribers.length, 2);
    const broadcast = await unary(h.clients.hub, "sendEvent", { eventId });
    const pushIos = await unary(h.clients.hub, "sendPush", {
      appId: "shop",
      allActive: true,
      osType: "iphone",
      content: { data: "hi iphones" },
    });
    await wa.received(2);
    await wb.received(3);
    assert.deepEqual(
      wa.events.map((e) => e.msgId),
      [toA.msgId, broadcast.msgId],
    );
    assert.deepEqual(
      wb.events.map((e) => e.msgId),
      [byDevice.msgId, broadcast.msgId, pushIos.msgId],
    );
    assert.equal(wb.events[2]!.content?.data, "hi iphones");
    wa.cancel();
    wb.cancel();
  });

  it("answers each kind of bad request with its code and reason", async () => {
    const fails = async (method: string, req: object, code: grpc.status, reason: string) => {
      const err = await rejection(unary(h.clients.hub, method, req));
      assert.equal(err.code, code, `${method} ${JSON.stringify(req)}: ${err.details}`);
      assert.deepEqual(err.metadata.get("herald-reason"), [reason], JSON.stringify(req));
      assert.ok(!/\n\s+at /.test(err.details), "no stack trace");
    };
    const I = grpc.status.INVALID_ARGUMENT;
    await fails("sendEvent", {}, I, "INVALID_ARGUMENT");
    await fails("sendEvent", { eventId: "x".repeat(65) }, I, "INVALID_ARGUMENT");
    await fails("sendEvent", { eventId, subscribers: [{}] }, I, "INVALID_ARGUMENT");
    await fails("sendEvent", { eventId, subscribers: Array.from({ length: 6 }, (_, i) => ({ ksid: String(i) })) }, I, "INVALID_ARGUMENT");
    await fails("sendEvent", { eventId, content: { data: "x".repeat(1025) } }, I, "INVALID_ARGUMENT");
    await fails("sendEvent", { eventId, namePairs: Array.from({ length: 5 }, (_, i) => ({ name: `n${i}` })) }, I, "INVALID_ARGUMENT");
    await fails("sendEvent", { eventId, payload: { stringValue: "x".repeat(600) } }, I, "INVALID_ARGUMENT");
    await fails("sendEvent", { eventId: "unknown" }, grpc.status.NOT_FOUND, "EVENT_NOT_FOUND");
    await fails("sendEvent", { appId: "nowhere", eventId }, grpc.status.NOT_FOUND, "APP_NOT_FOUND");
    await fails("sendEvent", { appId: "draft", eventId }, grpc.status.FAILED_PRECONDITION, "APP_NOT_PUBLISHED");
    await fails("sendEvent", { eventId: "draft-e" }, grpc.status.FAILED_PRECONDITION, "APP_NOT_PUBLISHED");
    await fails("sendEvent", { eventId: "shop-unpublished" }, grpc.status.FAILED_PRECONDITION, "EVENT_NOT_PUBLISHED");
    await fails("sendPush", { appId: "shop", allActive: true }, I, "INVALID_ARGUMENT");
    await fails("sendPush", { appId: "shop", content: { data: "x" } }, I, "INVALID_ARGUMENT");
    await fails(
      "sendPush",
      { appId: "draft", allActive: true, content: { data: "x" } },
      grpc.status.FAILED_PRECONDITION,
      "APP_NOT_PUBLISHED",
    );

    const tooBig = await rejection(unary(h.clients.hub, "sendEvent", { eventId, content: { data: "x".repeat(70 * 1024) } }));
    assert.equal(tooBig.code, grpc.status.RESOURCE_EXHAUSTED);

    const regErr = await rejection(unary(h.clients.registry, "subscribe", { appId: "shop", deviceId: "d", osType: "amiga" }));
    assert.equal(regErr.code, I);
    const missing = await rejection(unary(h.clients.registry, "getApp", { id: "nope" }));
    assert.equal(missing.code, grpc.status.NOT_FOUND);

    await assertWatchRefused(h.clients.hub, { appId: "nowhere" }, grpc.status.NOT_FOUND);
    await assertWatchRefused(h.clients.hub, { appId: "shop", resumeAfter: "999999" }, grpc.status.OUT_OF_RANGE, "HISTORY_EXPIRED");
  });

  it("serves the same handlers over Connect (JSON over HTTP) and answers health on the facade", async () => {
    const base = `http://127.0.0.1:${h.httpPort}`;
    const res = await fetch(`${base}/herald.v1.HubService/SendEvent`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ eventId, payload: { order: 42 } }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { msgId: string; offset: string };
    assert.match(body.msgId, /^\d+$/);
    const bad = await fetch(`${base}/herald.v1.HubService/SendEvent`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ eventId: "unknown" }),
    });
    assert.equal(bad.status, 404);
    assert.equal(((await bad.json()) as { code: string }).code, "not_found");
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
  });
});

describe("hub (embedded, over gRPC) with a short history", () => {
  let h: TestHerald;
  let eventId: string;
  before(async () => {
    h = await startTestHerald({ watch: { historySize: 5 } });
    eventId = await registerApp(h, "short");
    for (let i = 0; i < 10; i++) await unary(h.clients.hub, "sendEvent", { eventId });
  });
  after(() => h.stop());

  it("refuses resume_after older than the history held with OUT_OF_RANGE / HISTORY_EXPIRED", async () => {
    // History holds offsets 6..10: resuming after 5 misses nothing, after 4 would miss 5.
    for (const resumeAfter of ["0", "1", "4"]) {
      const w = new Watch(h.clients.hub, { appId: "short", resumeAfter });
      // Refused before any event: an accepted stream would replay 6..10 at once (and stay open).
      const status = await Promise.race([w.status, w.received(1).then(() => (w.cancel(), w.status))]);
      assert.equal(status.code, grpc.status.OUT_OF_RANGE, `resume_after ${resumeAfter}: ${status.details}`);
      assert.deepEqual(status.metadata.get("herald-reason"), ["HISTORY_EXPIRED"]);
    }
    const oldest = new Watch(h.clients.hub, { appId: "short", resumeAfter: "5" });
    await oldest.received(5);
    assert.deepEqual(oldest.offsets(), [6, 7, 8, 9, 10]);
    oldest.cancel();
    const latest = new Watch(h.clients.hub, { appId: "short", resumeAfter: "10" });
    await watchersLive(h);
    await unary(h.clients.hub, "sendEvent", { eventId });
    await latest.received(1);
    assert.deepEqual(latest.offsets(), [11]);
    latest.cancel();
  });
});
