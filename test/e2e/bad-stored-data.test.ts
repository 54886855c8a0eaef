import { strict as assert } from "node:assert";
import { create } from "@bufbuild/protobuf";
import { timestampNow, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import * as grpc from "@grpc/grpc-js";
import { HubService } from "../../core/gen/herald/v1/hub_pb.js";
import { EventKind } from "../../core/gen/herald/v1/event_pb.js";
import { ReceivedEventSchema, ReceivedState } from "../../core/gen/herald/v1/eventhos_pb.js";
import { RedisDeliveryStore } from "../../core/eventhos/redis-delivery-store.js";
import { RedisBus } from "../../core/bus/redis-bus.js";
import { encodeEvent } from "../../core/bus/encode-event.js";
import { redisKeys } from "../../core/redis/keys.js";
import { defaultRedisConfig } from "../../core/redis/connect.js";
import { silentLogger } from "../../core/logger.js";
import { startTestHerald, uniquePrefix, type TestHerald } from "../support/herald.js";
import { rejection, unary } from "../support/grpc-client.js";
import { RedisServer } from "../support/redis-server.js";
import { ADMIN_TOKEN, EventhosApi } from "../support/eventhos.js";

/** `{"n": Infinity, "s": "\ud800"}`: what JSON.parse made of `{"n":1e400,"s":"\ud800"}` before it was refused. */
function badValue(): Value {
  return create(ValueSchema, {
    kind: {
      case: "structValue",
      value: {
        fields: {
          n: create(ValueSchema, { kind: { case: "numberValue", value: Number.POSITIVE_INFINITY } }),
          s: create(ValueSchema, { kind: { case: "stringValue", value: "\ud800" } }),
        },
      },
    },
  });
}

describe("bad input never poisons stored data", () => {
  let redis: RedisServer | undefined;
  let url: string;
  let keyPrefix: string;
  let h: TestHerald;
  let api: EventhosApi;
  before(async () => {
    if (!process.env["REDIS_URL"]) redis = await RedisServer.start();
    url = process.env["REDIS_URL"] ?? redis!.url;
    keyPrefix = uniquePrefix();
    h = await startTestHerald({
      redis: { url, keyPrefix },
      server: { seedFile: "examples/seed.yaml" },
      auth: { adminKey: ADMIN_TOKEN },
      eventhos: { tokenSecret: "a-token-secret-of-the-test-suite-0123456789" },
    });
    api = new EventhosApi(h.httpPort);
  });
  after(async () => {
    await h.stop();
    await redis?.stop();
  });

  const connectJson = () =>
    createClient(
      HubService,
      createConnectTransport({
        baseUrl: `http://127.0.0.1:${h.httpPort}`,
        httpVersion: "1.1",
        useBinaryFormat: false, // connect-node's default is binary, which carries Infinity
        interceptors: [
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${ADMIN_TOKEN}`);
            return next(req);
          },
        ],
      }),
    );

  it("the core refuses a payload JSON cannot write: Connect-JSON 1e400 or a lone surrogate, gRPC Infinity", async () => {
    for (const payload of ['{"n":1e400}', '{"s":"\\ud800"}', '{"\\udfff":1}', "[-1e400]"]) {
      const r = await fetch(`http://127.0.0.1:${h.httpPort}/herald.v1.HubService/SendEvent`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
        body: `{"eventId":"1","payload":${payload}}`,
      });
      const body = (await r.json()) as { code: string; message: string };
      assert.equal(r.status, 400, payload);
      assert.equal(body.code, "invalid_argument", payload);
      assert.match(body.message, /payload holds/);
    }
    const err = await rejection(
      unary(h.clients.hub, "sendEvent", {
        eventId: "1",
        payload: { structValue: { fields: { n: { numberValue: Number.NEGATIVE_INFINITY } } } },
      }),
    );
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
  });

  it("GET /event/received survives a stored body with Infinity and a record that does not decode", async () => {
    const p = await api.producer("poison");
    const token = await api.token(p.clientId, p.secret);
    assert.equal((await api.send(p.eventId, token, { good: 1 })).status, 200);
    // Old data, written as an earlier version would have: straight through the store, and raw bytes.
    const store = await RedisDeliveryStore.connect({ ...defaultRedisConfig, url, keyPrefix, logger: silentLogger, retentionMs: 3_600_000 });
    const raw = new Redis(url);
    try {
      const received = create(ReceivedEventSchema, {
        id: "old-bad",
        eventId: p.eventId,
        appId: "poison",
        clientId: p.clientId,
        state: ReceivedState.NO_CONTRACTS,
        time: timestampNow(),
        body: badValue(),
      });
      assert.ok(await store.createReceived(received, []));
      const k = redisKeys(keyPrefix).eventhos;
      await raw.set(k.received("old-garbage"), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
      await raw.zadd(k.receivedOfEvent(p.eventId), Date.now(), "old-garbage");
    } finally {
      await store.close();
      raw.disconnect();
    }
    const list = await api.call("GET", `/event/received?event=${p.eventId}`, undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
    assert.equal(list.status, 200, list.body);
    const records = list.json.content as Array<{ id: string; body: unknown }>;
    assert.deepEqual(
      records.map((r) => r.id).sort(),
      ["old-bad", records.find((r) => r.id !== "old-bad")!.id].sort(),
      "the good and the repaired record; the garbage one skipped",
    );
    assert.deepEqual(records.find((r) => r.id === "old-bad")!.body, { n: null, s: "\ufffd" });
    const one = await api.call("GET", "/event/received/old-bad", undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
    assert.equal(one.status, 200, one.body);
  });

  it("a Connect-JSON WatchEvents replay carries a stored event with Infinity, repaired, and goes on", async () => {
    const bus = await RedisBus.connect({ ...defaultRedisConfig, url, keyPrefix, logger: silentLogger, historySize: 100 });
    let before: bigint;
    try {
      const first = await unary(h.clients.hub, "sendEvent", { eventId: "1", payload: { stringValue: "before" } });
      before = BigInt(first.offset);
      await bus.publish(
        "demo",
        encodeEvent({
          appId: "demo",
          eventId: "1",
          kind: EventKind.EVENT,
          type: "",
          resourceType: "",
          resourceId: "",
          targets: [],
          osType: "",
          namePairs: [],
          payload: badValue(),
          time: timestampNow(),
          requestId: "",
        }),
      );
    } finally {
      await bus.close();
    }
    await unary(h.clients.hub, "sendEvent", { eventId: "1", payload: { stringValue: "after" } });
    const seen: unknown[] = [];
    const abort = new AbortController();
    try {
      for await (const res of connectJson().watchEvents({ appId: "demo", resumeAfter: before }, { signal: abort.signal })) {
        seen.push(res.event?.payload?.kind.value);
        if (seen.length === 2) break;
      }
    } catch (err) {
      if (!(err instanceof ConnectError && err.code === Code.Canceled)) throw err;
    }
    abort.abort();
    assert.equal(seen.length, 2);
    const repaired = seen[0] as { fields: Record<string, Value> };
    assert.deepEqual(repaired.fields["n"]?.kind, { case: "nullValue", value: 0 });
    assert.equal(seen[1], "after");
  });
});
