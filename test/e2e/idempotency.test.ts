import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { registerApp, startTestHerald, uniquePrefix, type TestHerald } from "../support/herald.js";
import { rejection, unary, type RawClient } from "../support/grpc-client.js";
import { RedisServer } from "../support/redis-server.js";

interface Sent {
  msgId: string;
  offset: string;
  invalidSubscribers: Array<{ ksid?: string }>;
}

/** A unary call with a deadline (ms from now). */
function call<T = Sent>(client: RawClient, method: string, request: object, deadlineMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** A Connect (JSON over HTTP/1.1) call of HubService. */
async function connectCall(h: TestHerald, method: string, body: object): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${h.httpPort}/herald.v1.HubService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const reason = (err: grpc.ServiceError) => err.metadata.get("herald-reason")[0];

/** `{ n }` as a google.protobuf.Value the way proto-loader takes it (Connect takes the JSON). */
const payload = (n: number) => ({ structValue: { fields: { n: { numberValue: n } } } });

/** Two Herald instances on one real Redis: retries with an idempotency key publish once, whichever instance takes them. */
describe("idempotent sends (two instances on one Redis, over gRPC and Connect)", () => {
  let redis: RedisServer;
  let a: TestHerald;
  let b: TestHerald;
  let eventId: string;

  before(async () => {
    redis = await RedisServer.start();
    const keyPrefix = uniquePrefix();
    // A short command timeout: a paused Redis fails sends within the test's time.
    const config = { redis: { url: redis.url, keyPrefix, commandTimeoutMs: 300, maxReconnectDelayMs: 50 } };
    a = await startTestHerald(config);
    b = await startTestHerald(config);
    eventId = await registerApp(a, "idem");
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.destroy();
  });

  /** The app's latest offset, from a send without key on `a`: the number of entries so far + 1. */
  const nextOffset = async () => Number((await unary<Sent>(a.clients.hub, "sendEvent", { eventId })).offset);

  it("answers a repeated SendEvent with the first reply and publishes it once, on either instance and transport", async () => {
    const request = { eventId, payload: payload(7), idempotencyKey: "order-7" };
    const first = await unary<Sent>(a.clients.hub, "sendEvent", request);
    const onB = await unary<Sent>(b.clients.hub, "sendEvent", request);
    assert.deepEqual(onB, first, "the other instance answers the first reply");
    const overConnect = await connectCall(b, "SendEvent", { ...request, payload: { n: 7 } });
    assert.equal(overConnect.status, 200);
    assert.equal(overConnect.body["msgId"], first.msgId);
    assert.equal(overConnect.body["offset"], first.offset);
    assert.equal(await nextOffset(), Number(first.offset) + 1, "published once");
  });

  it("answers a repeated SendPush with the first reply, invalid subscribers included, and publishes it once", async () => {
    const { ksid } = await unary<{ ksid: string }>(a.clients.registry, "subscribe", {
      appId: "idem",
      deviceId: "d1",
      osType: "androidgcm",
    });
    const request = {
      appId: "idem",
      subscribers: [{ ksid }, { ksid: "nobody" }],
      content: { data: "hi" },
      idempotencyKey: "push-1",
    };
    const first = await unary<Sent>(a.clients.hub, "sendPush", request);
    assert.deepEqual(
      first.invalidSubscribers.map((s) => s.ksid),
      ["nobody"],
    );
    // The subscriber list would resolve differently now; the repeat still answers what the first call did.
    await unary(a.clients.registry, "unsubscribe", { ksid });
    const again = await unary<Sent>(b.clients.hub, "sendPush", request);
    assert.deepEqual(again, first);
    const overConnect = await connectCall(a, "SendPush", request);
    assert.equal(overConnect.body["msgId"], first.msgId);
    assert.deepEqual(overConnect.body["invalidSubscribers"], [{ ksid: "nobody" }]);
    assert.equal(await nextOffset(), Number(first.offset) + 1, "published once");
  });

  it("refuses a key reused by a different request with ALREADY_EXISTS / IDEMPOTENCY_KEY_REUSED, publishing nothing", async () => {
    const first = await unary<Sent>(a.clients.hub, "sendEvent", { eventId, payload: payload(1), idempotencyKey: "reused" });
    const err = await rejection(unary(b.clients.hub, "sendEvent", { eventId, payload: payload(2), idempotencyKey: "reused" }));
    assert.equal(err.code, grpc.status.ALREADY_EXISTS);
    assert.equal(reason(err), "IDEMPOTENCY_KEY_REUSED");
    // Another method under the same key is another request too.
    const push = await rejection(
      unary(a.clients.hub, "sendPush", { appId: "idem", allActive: true, content: { data: "x" }, idempotencyKey: "reused" }),
    );
    assert.equal(reason(push), "IDEMPOTENCY_KEY_REUSED");
    const overConnect = await connectCall(b, "SendEvent", { eventId, payload: { n: 3 }, idempotencyKey: "reused" });
    assert.equal(overConnect.status, 409);
    assert.equal(overConnect.body["code"], "already_exists");
    assert.equal(await nextOffset(), Number(first.offset) + 1, "nothing published");
  });

  it("refuses a key with a character outside printable ASCII, or too long, with INVALID_ARGUMENT", async () => {
    for (const idempotencyKey of ["with space", "é", "k".repeat(257)]) {
      const err = await rejection(unary(a.clients.hub, "sendEvent", { eventId, idempotencyKey }));
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, idempotencyKey);
      assert.match(err.details, /idempotency_key/);
    }
  });

  it("publishes exactly once what was retried with its key after UNAVAILABLE / DEADLINE_EXCEEDED while Redis was paused", async () => {
    const before = await nextOffset();
    const sends = Array.from({ length: 6 }, (_, i) => ({ eventId, payload: payload(i), idempotencyKey: `paused-${i}` }));
    redis.pause();
    let failures: grpc.ServiceError[];
    try {
      // Half with a deadline shorter than Redis's command timeout: DEADLINE_EXCEEDED; half UNAVAILABLE.
      failures = await Promise.all(
        sends.map((s, i) => rejection(call(i % 2 === 0 ? a.clients.hub : b.clients.hub, "sendEvent", s, i < 3 ? 100 : 5_000))),
      );
    } finally {
      redis.resume();
    }
    assert.deepEqual(
      failures.map((e) => e.code),
      [
        grpc.status.DEADLINE_EXCEEDED,
        grpc.status.DEADLINE_EXCEEDED,
        grpc.status.DEADLINE_EXCEEDED,
        grpc.status.UNAVAILABLE,
        grpc.status.UNAVAILABLE,
        grpc.status.UNAVAILABLE,
      ],
    );
    // The caller's retry policy: the same request and key until it succeeds (Redis is back by now,
    // and runs what was written to it while frozen).
    const retried = await Promise.all(
      sends.map(async (s, i) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await call(i % 2 === 0 ? b.clients.hub : a.clients.hub, "sendEvent", s, 5_000);
          } catch (err) {
            const code = (err as grpc.ServiceError).code;
            if ((code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED) || attempt === 50) throw err;
          }
        }
      }),
    );
    const offsets = retried.map((r) => Number(r.offset)).sort((x, y) => x - y);
    assert.deepEqual(
      offsets,
      [1, 2, 3, 4, 5, 6].map((n) => before + n),
      "one offset each, no gap",
    );
    assert.equal(await nextOffset(), before + 7, "published exactly once each");
  });
});
