import { strict as assert } from "node:assert";
import { registerApp, startTestHerald, uniquePrefix, watchersLive, type TestHerald } from "../support/herald.js";
import { RedisServer } from "../support/redis-server.js";
import * as grpc from "@grpc/grpc-js";
import { rejection, unary, Watch } from "../support/grpc-client.js";
import { get, post } from "../support/http.js";
import { PushFakes } from "../support/push-fakes.js";
import { until } from "../suites/store-suite.js";

const IOS = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const GONE = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0410";
const BUSY = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0429";

interface Row {
  pushId: string;
  ksid: string;
  status: string;
  channel?: string;
  reason?: string;
}

/**
 * Pushes reach devices: a Kony eventpushmessage to subscribers on three platforms goes to the APNs,
 * FCM and Web Push fakes and to a live watcher; the Kony status API and GetMessageStatus show each
 * outcome; a 410 deactivates; a 429 is retried after its Retry-After.
 */
for (const mode of ["embedded", "redis"] as const)
  describe(`device pushes through APNs, FCM and Web Push (${mode}, fakes on 127.0.0.1)`, function () {
    this.timeout(30_000);
    let fakes: PushFakes;
    let redis: RedisServer | undefined;
    let h: TestHerald;
    let base: string;
    const ksids: Record<string, string> = {};
    let webSub: { id: string; json: string };

    before(async () => {
      fakes = await PushFakes.start();
      // A tiny backoff: a 429 retried at once would show that Retry-After was not honoured.
      const push = fakes.config({ backoffBaseMs: 5, backoffMaxMs: 5000, retryLimit: 3 });
      if (mode === "embedded") h = await startTestHerald({ push });
      else {
        if (!process.env["REDIS_URL"]) redis = await RedisServer.start();
        h = await startTestHerald({ push, redis: { url: process.env["REDIS_URL"] ?? redis!.url, keyPrefix: uniquePrefix() } });
      }
      base = `http://127.0.0.1:${h.httpPort}`;
      await registerApp(h, "shop", { message: "Hello {{lastname}}" });
      for (const provider of fakes.providers("shop")) await unary(h.clients.registry, "setPushProvider", { provider });
      webSub = fakes.web.subscribe();
      const subscribe = async (name: string, osType: string, sid: string) => {
        // As a Kony device does: POST /kpns/subscription carrying its push token as sid.
        const res = await post(
          `${base}/kpns/subscription`,
          JSON.stringify({ subscriptionService: { subscribe: { appId: "shop", deviceId: name, ufid: `${name}-user`, osType, sid } } }),
          "application/json",
        );
        assert.equal(res.status, 200, res.body);
        ksids[name] = JSON.parse(res.body).subscriptionResponse.ksid as string;
      };
      await subscribe("ios", "iphone", IOS);
      await subscribe("android", "androidgcm", "fcm-registration-token-1");
      await subscribe("web", "web", webSub.json);
      await subscribe("gone", "iphone", GONE);
      await subscribe("busy", "ipad", BUSY);
    });
    after(async () => {
      await h?.stop();
      await fakes?.close();
      await redis?.stop();
    });

    const eventPush = (...names: string[]) =>
      post(
        `${base}/kpns/service/eventpushmessage`,
        JSON.stringify({
          event: {
            eventid: "shop-e",
            eventNamePairs: { key: [{ name: "lastname", content: "Smith" }] },
            message: {
              content: { priorityService: "true", mimeType: "text/plain" },
              subscribers: { subscriber: names.map((n) => ({ ksid: ksids[n] })) },
            },
          },
        }),
        "application/json",
      );
    const statusRows = async (msgId: string): Promise<Row[]> => {
      const res = await get(`${base}/kpns/api/v1/status/push/request/${msgId}`);
      assert.equal(res.status, 200, res.body);
      return (JSON.parse(res.body) as { messages: Row[] }).messages;
    };
    const deviceRows = (rows: Row[]) => rows.filter((r) => r.channel !== undefined);
    const allFinal = (rows: Row[]) => deviceRows(rows).every((r) => r.status !== "Submitted");

    it("delivers one Kony event to APNs, FCM, Web Push and a live watcher, and the status API shows each outcome", async () => {
      fakes.apns.answer(GONE, { status: 410, reason: "Unregistered" });
      const watch = new Watch(h.clients.hub, { appId: "shop" });
      await watchersLive(h);
      const [a0, f0, w0] = [fakes.apns.pushes.length, fakes.fcm.messages.length, fakes.web.deliveries.length];

      const res = await eventPush("ios", "android", "web", "gone");
      assert.equal(res.status, 200, res.body);
      const msgId = /"msgId":"?(\d+)/.exec(res.body)?.[1];
      assert.ok(msgId, res.body);

      await Promise.all([fakes.apns.received(a0 + 2), fakes.fcm.received(f0 + 1), fakes.web.received(w0 + 1), watch.received(1)]);
      assert.equal(watch.events[0]?.content?.data, "Hello Smith");

      const ios = fakes.apns.pushes.slice(a0).find((p) => p.token === IOS)!;
      assert.deepEqual(JSON.parse(ios.body), { aps: { alert: "Hello Smith" }, msg_id: msgId, event_id: "shop-e" });
      assert.equal(ios.headers["apns-priority"], "10");
      assert.equal(ios.headers["apns-topic"], "com.example.shop");
      const fcm = fakes.fcm.messages.at(-1)!;
      assert.equal(fcm.message.token, "fcm-registration-token-1");
      assert.deepEqual(fcm.message.notification, { body: "Hello Smith" });
      assert.equal(fcm.message.data?.["msg_id"], msgId);
      const web = fakes.web.deliveries.at(-1)!;
      assert.equal(web.subscription, webSub.id);
      assert.deepEqual(JSON.parse(web.payload!).body, "Hello Smith");

      const rows = await until(() => statusRows(msgId), allFinal, "every device push final");
      const byKsid = (name: string) => deviceRows(rows).find((r) => r.ksid === ksids[name]);
      assert.deepEqual(
        ["ios", "android", "web", "gone"].map((n) => [n, byKsid(n)?.channel, byKsid(n)?.status, byKsid(n)?.reason]),
        [
          ["ios", "apns", "Delivered", undefined],
          ["android", "fcm", "Delivered", undefined],
          ["web", "webpush", "Delivered", undefined],
          ["gone", "apns", "Failed", "Unregistered"],
        ],
      );
      // A permanent refusal is not retried.
      assert.equal(fakes.apns.pushes.filter((p) => p.token === GONE).length, 1);
      // The watcher's own rows: one per subscriber, as before (it watched the app, not a ksid).
      assert.equal(rows.filter((r) => r.channel === undefined).length, 4);

      // GetMessageStatus carries the same per channel, with the provider's ids.
      const { messages } = await unary(h.clients.hub, "getMessageStatus", { requestId: msgId });
      const ios2 = messages[0].subscribers.find((s: { ksid: string }) => s.ksid === ksids["ios"]);
      assert.equal(ios2.pushes[0].channel, "PUSH_CHANNEL_APNS");
      assert.equal(ios2.pushes[0].state, "DELIVERY_STATE_DELIVERED");
      assert.equal(ios2.pushes[0].providerId, ios.headers["apns-id"]);
      assert.equal(ios2.pushes[0].attempts, 1);
      const android = messages[0].subscribers.find((s: { ksid: string }) => s.ksid === ksids["android"]);
      assert.match(android.pushes[0].providerId, /^projects\/shop-prod\/messages\//);
      watch.call.cancel();
    });

    it("deactivates a subscriber whose token APNs calls Unregistered (410): later events skip it", async () => {
      const { subscriber } = await unary(h.clients.registry, "getSubscriber", { ksid: ksids["gone"] });
      assert.equal(subscriber.active, false);
      const before = fakes.apns.pushes.filter((p) => p.token === GONE).length;
      const res = await eventPush("ios", "gone");
      assert.match(res.body, new RegExp(`"ksid":"${ksids["gone"]}"`), "the inactive subscriber is listed as invalid");
      const msgId = /"msgId":"?(\d+)/.exec(res.body)![1]!;
      await until(() => statusRows(msgId), allFinal, "the push final");
      assert.equal(fakes.apns.pushes.filter((p) => p.token === GONE).length, before);
    });

    it("retries a 429 after its Retry-After, not before, and a 5xx with backoff, and reports the attempts", async () => {
      fakes.apns.answer(BUSY, { status: 429, reason: "TooManyRequests", retryAfter: 1 });
      fakes.fcm.answer("fcm-registration-token-1", { status: 503 }, { status: 500 });
      const start = fakes.apns.pushes.length;
      const fcmStart = fakes.fcm.messages.length;
      const res = await eventPush("busy", "android");
      const msgId = /"msgId":"?(\d+)/.exec(res.body)![1]!;
      const rows = await until(
        () => statusRows(msgId),
        (r) => allFinal(r) && deviceRows(r).length === 2,
        "the pushes final",
      );
      assert.deepEqual(
        deviceRows(rows).map((r) => r.status),
        ["Delivered", "Delivered"],
      );
      assert.deepEqual(
        fakes.fcm.messages.slice(fcmStart).map((m) => m.status),
        [503, 500, 200],
      );
      const tries = fakes.apns.pushes.slice(start).filter((p) => p.token === BUSY);
      assert.deepEqual(
        tries.map((p) => p.status),
        [429, 200],
      );
      const times = tries.map((p) => p.at);
      assert.ok(times[1]! - times[0]! >= 1000, `retried after ${times[1]! - times[0]!} ms, before Retry-After`);
      assert.equal(tries[0]!.headers["apns-id"], tries[1]!.headers["apns-id"], "the same apns-id on the retry");
      const { messages } = await unary(h.clients.hub, "getMessageStatus", { requestId: msgId });
      assert.deepEqual(
        messages[0].subscribers.map((x: { pushes: Array<{ attempts: number }> }) => x.pushes[0]!.attempts),
        [2, 3],
      );
    });

    it("takes push options (title, collapse id, TTL): a push not accepted within its TTL is Expired; bad options are refused", async () => {
      fakes.apns.answer(IOS, { status: 429, reason: "TooManyRequests", retryAfter: 2 });
      const start = fakes.apns.pushes.length;
      const { msgId } = await unary<{ msgId: string }>(h.clients.hub, "sendPush", {
        appId: "shop",
        subscribers: [{ ksid: ksids["ios"] }],
        content: { data: "Last call" },
        pushOptions: { title: "Sale", ttlSeconds: 1, collapseId: "sale-1" },
      });
      const rows = await until(
        () => statusRows(msgId),
        (r) => deviceRows(r).length === 1 && allFinal(r),
        "the push final",
      );
      assert.deepEqual(
        deviceRows(rows).map((r) => [r.status, r.reason]),
        [["Expired", "the push expired before the push service accepted it"]],
      );
      const tries = fakes.apns.pushes.slice(start);
      assert.equal(tries.length, 1, "not sent again after its TTL");
      assert.equal(tries[0]!.headers["apns-collapse-id"], "sale-1");
      assert.deepEqual(JSON.parse(tries[0]!.body).aps.alert, { title: "Sale", body: "Last call" });
      assert.ok(Number(tries[0]!.headers["apns-expiration"]) - Date.now() / 1000 <= 1);

      const err = await rejection(
        unary(h.clients.hub, "sendPush", {
          appId: "shop",
          allActive: true,
          content: { data: "x" },
          pushOptions: { collapseId: "c".repeat(65) },
        }),
      );
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /push_options\.collapse_id is longer than 64 bytes/);
    });

    it("sends allActive + osType pushes (the Kony message API) to the active subscribers of that os type only, and counts sends in herald_push_sends_total", async () => {
      const start = fakes.apns.pushes.length;
      const fcmStart = fakes.fcm.messages.length;
      const res = await post(
        `${base}/kpns/api/v1/messages/push`,
        JSON.stringify({
          messageRequest: {
            appId: "shop",
            messages: { message: { subscribers: { allActive: "true", osType: "iphone" }, content: { data: "to every iphone" } } },
          },
        }),
        "application/json",
      );
      assert.equal(res.status, 200, res.body);
      const requestId = JSON.parse(res.body).messageResponse.requestId as string;
      const rows = await until(
        () => statusRows(requestId),
        (r) => deviceRows(r).length > 0 && allFinal(r),
        "the broadcast's pushes final",
      );
      // iphone subscribers: ios (active), gone (deactivated); ipad "busy" is another os type.
      assert.deepEqual(
        deviceRows(rows).map((r) => [r.ksid, r.status]),
        [[ksids["ios"], "Delivered"]],
      );
      assert.deepEqual(
        fakes.apns.pushes.slice(start).map((p) => [p.token, JSON.parse(p.body).aps.alert]),
        [[IOS, "to every iphone"]],
      );
      assert.equal(fakes.fcm.messages.length, fcmStart);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /herald_push_sends_total\{channel="apns",outcome="delivered"\} [4-9]/);
      assert.match(metrics, /herald_push_sends_total\{channel="apns",outcome="unregistered"\} 1/);
      assert.match(metrics, /herald_push_sends_total\{channel="apns",outcome="retried"\} 2/);
      assert.match(metrics, /herald_push_sends_total\{channel="apns",outcome="expired"\} 1/);
      assert.match(metrics, /herald_push_sends_total\{channel="fcm",outcome="delivered"\} 2/);
      assert.match(metrics, /herald_push_sends_total\{channel="fcm",outcome="retried"\} 2/);
    });
  });
