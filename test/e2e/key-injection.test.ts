import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { Redis } from "ioredis";
import type { ConnectError } from "@connectrpc/connect";
import { Validator } from "../../core/rpc/validate.js";
import { defaultLimits } from "../../core/rpc/limits.js";
import { reasonOf } from "../../core/rpc/errors.js";
import { RedisServer } from "../support/redis-server.js";
import { startTestHerald, uniquePrefix, type TestHerald } from "../support/herald.js";
import { rejection, unary, Watch } from "../support/grpc-client.js";
import { eventPushDocument } from "../support/contract-docs.js";
import { post, XML } from "../support/http.js";
import { eventhosGrpc } from "../support/eventhos.js";

/** Issue 13: ids from requests are checked before they reach a Redis key. */
describe("ids that reach Redis keys (key injection)", () => {
  let redis: RedisServer;
  let raw: Redis;
  let h: TestHerald;
  let eventhos: ReturnType<typeof eventhosGrpc>;
  let prefix: string;
  let accessKey: string;

  before(async () => {
    redis = await RedisServer.start({ durable: false });
    raw = new Redis(redis.url, { lazyConnect: true });
    await raw.connect();
    prefix = uniquePrefix();
    h = await startTestHerald({ redis: { url: redis.url, keyPrefix: prefix } });
    eventhos = eventhosGrpc(h.grpcPort);
    await unary(h.clients.registry, "upsertApp", { app: { id: "shop", name: "shop", published: true } });
    await unary(h.clients.registry, "upsertEvent", { event: { id: "e9", appId: "shop", name: "e9", published: true } });
    await unary(eventhos.delivery, "upsertAction", {
      action: { id: "notify", appId: "shop", name: "n", url: "https://crm.example.com/hook" },
    });
    await unary(eventhos.delivery, "upsertContract", {
      // Inactive: no delivery runs in the background while the tests count keys; the event's index is written all the same.
      contract: { id: "e9-notify", eventId: "e9", actionId: "notify", name: "c", active: false },
    });
    // ReceiveEvent checks the producer's access key (issue 13).
    await unary(eventhos.clients, "upsertClient", { client: { id: "shop-producer", appId: "shop", name: "p" }, secret: "s3cret" });
    accessKey = (await unary(eventhos.clients, "issueToken", { clientId: "shop-producer", clientSecret: "s3cret" })).accessToken;
  });
  after(async () => {
    eventhos?.close();
    await h?.stop();
    raw?.disconnect();
    await redis?.destroy();
  });

  /** Every key of this Herald, with its type. */
  async function keys(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    let cursor = "0";
    do {
      const [next, batch] = await raw.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      for (const k of batch) out.set(k, await raw.type(k));
    } while (cursor !== "0");
    return out;
  }

  /** The call fails with INVALID_ARGUMENT naming `field`, and writes no key: none new, none holding `injected`. */
  async function refused(call: () => Promise<unknown>, field: string, injected: string): Promise<void> {
    const before = await keys();
    const err = await rejection(call());
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${field}: ${err.message}`);
    assert.match(err.details, new RegExp(`^${field.replace(/[[\].]/g, "\\$&")} `), err.details);
    assert.equal(err.metadata.get("herald-reason")[0], "INVALID_ARGUMENT");
    const after = await keys();
    assert.deepEqual(
      [...after].filter(([k]) => !before.has(k)),
      [],
      `${field}: nothing is written`,
    );
    assert.deepEqual(
      [...after.keys()].filter((k) => k.includes(injected)),
      [],
      `${field}: no key holds ${JSON.stringify(injected)}`,
    );
  }

  it("refuses the attack: ReceiveEvent with msg_id by-event:e9 cannot overwrite the event's index, later sends still work", async () => {
    const index = `${prefix}eventhos:received:by-event:e9`;
    await refused(
      () => unary(eventhos.delivery, "receiveEvent", { msgId: "by-event:e9", appId: "shop", eventId: "e9" }),
      "msg_id",
      "received:by-event:e9",
    );
    assert.notEqual(await raw.type(index), "string");

    // What the eventhos facade does for /event/send: SendEvent, then ReceiveEvent with its msg id.
    for (let i = 0; i < 2; i++) {
      const sent = await unary(h.clients.hub, "sendEvent", { eventId: "e9", payload: { numberValue: i } });
      const received = await unary(eventhos.delivery, "receiveEvent", { msgId: sent.msgId, appId: "shop", eventId: "e9", accessKey });
      assert.equal(received.contracts, 0);
      assert.equal(await raw.type(index), "zset");
      assert.notEqual(await raw.zscore(index, sent.msgId), null, "the index lists the received event");
    }
    const listed = await unary(eventhos.delivery, "listReceivedEvents", { eventId: "e9" });
    assert.equal(listed.receivedEvents.length, 2);
  });

  it("refuses an app id with a brace: it would leave the app's hash tag and name another app's keys", async () => {
    await refused(() => unary(h.clients.registry, "upsertApp", { app: { id: "shop}:x", name: "x", published: true } }), "app.id", "}:x");
    await refused(() => unary(h.clients.registry, "upsertApp", { app: { id: "{shop", name: "x", published: true } }), "app.id", "{{shop");
    await refused(
      () => unary(h.clients.registry, "subscribe", { appId: "sh{op}", deviceId: "d", ufid: "u", osType: "androidgcm" }),
      "app_id",
      "{op}",
    );
    await refused(() => unary(h.clients.hub, "sendPush", { appId: "shop}x", allActive: true, content: { data: "hi" } }), "app_id", "}x");
    await refused(() => unary(h.clients.hub, "sendEvent", { appId: "{shop}", eventId: "e9" }), "app_id", "{{shop}");
    await refused(
      () => unary(h.clients.registry, "createEventHandler", { appId: "shop}", subscriptions: [{ type: "any" }] }),
      "app_id",
      "shop}}",
    );
    await refused(() => unary(eventhos.delivery, "receiveEvent", { msgId: "77", appId: "shop}", eventId: "e9" }), "app_id", "shop}}");

    const watch = new Watch(h.clients.hub, { appId: "shop}:events" });
    const status = await watch.status;
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.match(status.details, /^app_id /);
  });

  it("refuses a ksid, device id or ufid with ':' (by-device:<d> and by-ufid:<u> share the app's keys)", async () => {
    const sub = { appId: "shop", deviceId: "d1", ufid: "u1", osType: "androidgcm" };
    await refused(() => unary(h.clients.registry, "subscribe", { ...sub, deviceId: "d1:x" }), "device_id", "d1:x");
    await refused(() => unary(h.clients.registry, "subscribe", { ...sub, ufid: "by-device:d1" }), "ufid", "by-ufid:by-device");
    await refused(() => unary(h.clients.registry, "subscribe", { ...sub, deviceId: "d\u0000u" }), "device_id", "\u0000");
    await refused(() => unary(h.clients.registry, "unsubscribe", { ksid: "1:x" }), "ksid", "1:x");
    await refused(
      () => unary(h.clients.hub, "sendEvent", { eventId: "e9", subscribers: [{ ksid: "1" }, { deviceId: "d1:x" }] }),
      "subscribers[1].deviceId",
      "d1:x",
    );
    await refused(() => unary(h.clients.hub, "sendEvent", { eventId: "e9", subscribers: [{ ufid: "u 1" }] }), "subscribers[0].ufid", "u 1");
    const watch = new Watch(h.clients.hub, { appId: "shop", ksid: "1:x" });
    assert.equal((await watch.status).code, grpc.status.INVALID_ARGUMENT);

    // The same values without the separator are ordinary ids.
    const ok = await unary(h.clients.registry, "subscribe", { ...sub, ufid: "alice+tag@example.com" });
    assert.match(ok.ksid, /^\d+$/);
  });

  it("refuses a request id with '}' (status:{R} is the status hash's hash tag)", async () => {
    const offset = await raw.get(`${prefix}{shop}:offset`);
    await refused(() => unary(h.clients.hub, "sendEvent", { eventId: "e9", requestId: "r}x" }), "request_id", "r}x");
    await refused(
      () => unary(h.clients.hub, "sendPush", { appId: "shop", allActive: true, requestId: "{r}", content: { data: "hi" } }),
      "request_id",
      "{r}",
    );
    await refused(() => unary(h.clients.hub, "getMessageStatus", { requestId: "r}x" }), "request_id", "r}x");
    assert.equal(await raw.get(`${prefix}{shop}:offset`), offset, "nothing was published");
    const sent = await unary(h.clients.hub, "sendEvent", { eventId: "e9", requestId: "order-42.retry_1" });
    assert.equal((await unary(h.clients.hub, "getMessageStatus", { requestId: "order-42.retry_1" })).messages[0].msgId, sent.msgId);
  });

  it("refuses eventhos ids with ':': a client x:keys, an action, a contract, an event index", async () => {
    const client = { id: "x:keys", appId: "shop", name: "x" };
    await refused(() => unary(eventhos.clients, "upsertClient", { client, secret: "s" }), "client.id", "x:keys");
    await refused(() => unary(eventhos.clients, "issueToken", { clientId: "x:keys", clientSecret: "s" }), "client_id", "x:keys");
    await refused(
      () => unary(eventhos.clients, "upsertClient", { client: { id: "x", appId: "shop", allowedEventIds: ["e9", "e:9"] }, secret: "s" }),
      "client.allowed_event_ids[1]",
      "e:9",
    );
    await refused(
      () => unary(eventhos.delivery, "upsertAction", { action: { id: "a:b", appId: "shop", url: "http://127.0.0.1:9/" } }),
      "action.id",
      "a:b",
    );
    await refused(
      () => unary(eventhos.delivery, "upsertContract", { contract: { id: "s:by-event:e9", eventId: "e9", actionId: "notify" } }),
      "contract.id",
      "contract:s:",
    );
    await refused(() => unary(eventhos.delivery, "listContracts", { eventId: "e9:x" }), "event_id", "e9:x");
    await refused(() => unary(eventhos.delivery, "receiveEvent", { msgId: "78", appId: "shop", eventId: "e9:x" }), "event_id", "e9:x");
  });

  it("refuses registry and handler ids with ':' and leaves the app's handler hashes alone", async () => {
    await refused(
      () => unary(h.clients.registry, "upsertEvent", { event: { id: "e:1", appId: "shop", published: true } }),
      "event.id",
      "e:1",
    );
    await refused(() => unary(h.clients.registry, "getEventHandler", { appId: "shop", id: "h:1" }), "id", "h:1");
    await refused(() => unary(h.clients.registry, "deleteEventHandler", { appId: "shop", id: "h}1" }), "id", "h}1");
  });

  it("answers a Kony event push naming event a:b with the contract's 400, not a lookup", async () => {
    const doc = eventPushDocument("kpns");
    const before = await keys();
    const r = await post(
      `http://127.0.0.1:${h.httpPort}/kpns/service/eventpushmessage`,
      doc.xmlRequest.replace("<eventid>1</eventid>", "<eventid>a:b</eventid>"),
      XML,
    );
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /<code>400<\/code>/);
    assert.deepEqual(await keys(), before);
  });
});

describe("Validator.id: the one rule for ids that reach keys", () => {
  const v = new Validator({ ...defaultLimits, maxFieldLength: 64 });
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      assert.equal(reasonOf(err), "INVALID_ARGUMENT");
      return (err as ConnectError).rawMessage;
    }
    assert.fail("expected INVALID_ARGUMENT");
  };

  it("accepts the ids Herald's clients use: numeric ksids, UUIDs, e-mails, slugs, base64url, generated ids", () => {
    for (const id of [
      "1",
      "xxxx",
      "demo",
      "alice@example.com",
      "bob+tag@mail.example.org",
      "new-order-k736",
      "new-bomb-k736k3hiW7",
      "order-to-crm",
      "e686876c-e446-4be7-9b70-beb3059b5fc9",
      "dev_1.2~x",
      "YWJj+ZGVm=",
      "42-1",
      "a".repeat(64),
    ]) {
      assert.equal(v.id("id", id), id);
      assert.equal(v.optionalId("id", id), id);
    }
    assert.equal(v.optionalId("request_id", ""), "");
  });

  it("refuses empty, too long, and every character that can change a key's meaning, naming the field", () => {
    assert.match(
      refusal(() => v.id("app_id", "")),
      /^app_id is required/,
    );
    assert.match(
      refusal(() => v.id("app_id", "a".repeat(65))),
      /^app_id is longer than 64 characters/,
    );
    for (const bad of [
      "a:b",
      "{a",
      "a}",
      "a b",
      "a\tb",
      "a\nb",
      "a\u0000b",
      "a\u007fb",
      "a*",
      "a?",
      "[a]",
      "a\\b",
      "a/b",
      "a,b",
      "é",
      "a\u200bb",
      "a\u{1F389}",
    ]) {
      assert.match(
        refusal(() => v.id("msg_id", bad)),
        /^msg_id may contain only letters, digits and - _ \. @ ~ \+ =$/,
        JSON.stringify(bad),
      );
      assert.match(
        refusal(() => v.optionalId("request_id", bad)),
        /^request_id /,
      );
    }
  });

  it("checks each subscriber reference the same way, by its place in the list", () => {
    const ref = (c: "ksid" | "ufid" | "deviceId", value: string) => ({ ref: { case: c, value } }) as any;
    v.subscribers([ref("ksid", "1"), ref("ufid", "alice@example.com"), ref("deviceId", "e686876c-e446")]);
    assert.match(
      refusal(() => v.subscribers([ref("ksid", "1"), ref("deviceId", "d:1")])),
      /^subscribers\[1\]\.deviceId may contain only/,
    );
    assert.match(
      refusal(() => v.subscribers([ref("ufid", "x}")])),
      /^subscribers\[0\]\.ufid may contain only/,
    );
  });
});
