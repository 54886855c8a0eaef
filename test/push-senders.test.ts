import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { ApnsSender } from "../core/push/apns-sender.js";
import { OutboundGuard } from "../core/eventhos/outbound-guard.js";
import type { PushNotification } from "../core/push/push-sender.js";
import { ApnsFake } from "./support/apns-fake.js";
import { apnsKey, serviceAccountKey, vapidKeys } from "./support/push-keys.js";
import { create } from "@bufbuild/protobuf";
import { ApnsProviderSchema, FcmProviderSchema, WebPushProviderSchema } from "../core/gen/herald/v1/push_pb.js";
import { WebPushSender } from "../core/push/web-push-sender.js";
import { WebPushReceiver } from "./support/web-push-receiver.js";
import { FcmSender } from "../core/push/fcm-sender.js";
import { GuardedHttp } from "../core/push/guarded-http.js";
import { FcmFake } from "./support/fcm-fake.js";

const TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const never = new AbortController().signal;

function notification(over: Partial<PushNotification> = {}): PushNotification {
  return {
    id: randomUUID(),
    token: TOKEN,
    title: "Order",
    body: "Your order shipped",
    data: { msg_id: "7" },
    priority: true,
    expiresAtMs: 1_900_000_000_000,
    collapseId: "",
    ...over,
  };
}

describe("APNs sender against a fake APNs (HTTP/2, ES256 provider tokens)", () => {
  let fake: ApnsFake;
  const key = apnsKey();
  const provider = create(ApnsProviderSchema, {
    teamId: "TEAM000001",
    keyId: "KEY0000001",
    privateKey: key.privateKey,
    topic: "com.example.app",
  });
  let sender: ApnsSender;
  const allow = new OutboundGuard("127.0.0.1", undefined, "--push-allow-hosts");

  before(async () => {
    fake = await ApnsFake.start();
    fake.trust("KEY0000001", "TEAM000001", key.publicKey, "com.example.app");
    sender = new ApnsSender({ productionUrl: fake.url, sandboxUrl: `${fake.url}/`, connections: 2, timeoutMs: 5000 }, allow);
  });
  after(async () => {
    await sender.close();
    await fake.close();
  });

  it("sends the notification with APNs' headers and body, and reports the apns-id", async () => {
    const n = notification({ collapseId: "order-7" });
    const outcome = await sender.send(provider, n, never);
    assert.deepEqual(outcome, { kind: "delivered", providerId: n.id, status: 200 });
    const got = fake.pushes.at(-1)!;
    assert.equal(got.token, TOKEN);
    assert.equal(got.headers["apns-topic"], "com.example.app");
    assert.equal(got.headers["apns-push-type"], "alert");
    assert.equal(got.headers["apns-priority"], "10");
    assert.equal(got.headers["apns-expiration"], "1900000000");
    assert.equal(got.headers["apns-collapse-id"], "order-7");
    assert.equal(got.headers["apns-id"], n.id);
    assert.equal(got.body, '{"aps":{"alert":{"title":"Order","body":"Your order shipped"}},"msg_id":"7"}');

    await sender.send(provider, notification({ priority: false, title: "" }), never);
    const low = fake.pushes.at(-1)!;
    assert.equal(low.headers["apns-priority"], "5");
    assert.equal(low.headers["apns-collapse-id"], undefined);
    assert.equal(low.body, '{"aps":{"alert":"Your order shipped"},"msg_id":"7"}');
  });

  it("reuses its connections and its provider token", async () => {
    const before = fake.connections;
    const start = fake.pushes.length;
    await Promise.all(Array.from({ length: 40 }, () => sender.send(provider, notification(), never)));
    assert.ok(fake.connections - before <= 2, `${fake.connections - before} connections opened`);
    const tokens = new Set(fake.pushes.slice(start).map((p) => p.headers["authorization"]));
    assert.equal(tokens.size, 1);
  });

  it("maps APNs' answers: 410 unregistered, 400 failed, 429 and 500 retried with Retry-After, 403 on a key it does not trust", async () => {
    const t = (i: number) => `${i}`.padStart(64, "f");
    fake.answer(t(1), { status: 410, reason: "Unregistered" });
    fake.answer(t(2), { status: 400, reason: "BadDeviceToken" });
    fake.answer(t(3), { status: 429, reason: "TooManyRequests", retryAfter: 3 });
    fake.answer(t(4), { status: 500, reason: "InternalServerError" });
    fake.answer(t(5), { status: 503, reason: "ServiceUnavailable" });
    const outcomes = [];
    for (let i = 1; i <= 5; i++) outcomes.push(await sender.send(provider, notification({ token: t(i) }), never));
    assert.deepEqual(outcomes, [
      { kind: "failed", reason: "Unregistered", status: 410, unregistered: true },
      { kind: "failed", reason: "BadDeviceToken", status: 400, unregistered: false },
      { kind: "retry", reason: "TooManyRequests", status: 429, retryAfterMs: 3000 },
      { kind: "retry", reason: "InternalServerError", status: 500 },
      { kind: "retry", reason: "ServiceUnavailable", status: 503 },
    ]);
    const stranger = create(ApnsProviderSchema, { ...provider, privateKey: apnsKey().privateKey });
    const refused = await sender.send(stranger, notification(), never);
    assert.deepEqual(refused, { kind: "failed", reason: "InvalidProviderToken", status: 403, unregistered: false });
  });

  it("uses the sandbox endpoint for a sandbox provider, and makes a new provider token once the old one is due", async () => {
    const sandbox = await ApnsFake.start();
    sandbox.trust("KEY0000001", "TEAM000001", key.publicKey, "com.example.app");
    let now = Date.now();
    const renewing = new ApnsSender(
      { productionUrl: fake.url, sandboxUrl: sandbox.url, connections: 1, timeoutMs: 5000, clock: () => now },
      allow,
    );
    try {
      const dev = create(ApnsProviderSchema, { ...provider, sandbox: true });
      const count = fake.pushes.length;
      assert.equal((await renewing.send(dev, notification(), never)).kind, "delivered");
      now += 49 * 60_000;
      assert.equal((await renewing.send(dev, notification(), never)).kind, "delivered");
      now += 2 * 60_000; // 51 minutes: renewed before the hour APNs allows
      assert.equal((await renewing.send(dev, notification(), never)).kind, "delivered");
      assert.equal(sandbox.pushes.length, 3);
      assert.equal(fake.pushes.length, count, "nothing to production");
      const auth = sandbox.pushes.map((p) => p.headers["authorization"]);
      assert.equal(auth[0], auth[1], "kept for 49 minutes");
      assert.notEqual(auth[1], auth[2], "made afresh at 51");
    } finally {
      await renewing.close();
      await sandbox.close();
    }
  });

  it("refuses a malformed device token without calling APNs", async () => {
    const count = fake.pushes.length;
    const outcome = await sender.send(provider, notification({ token: "../../x" }), never);
    assert.deepEqual(outcome, { kind: "failed", reason: "BadDeviceToken", unregistered: false });
    assert.equal(fake.pushes.length, count);
  });

  it("does not connect to a loopback endpoint unless --push-allow-hosts allows it", async () => {
    const guarded = new ApnsSender(
      { productionUrl: fake.url, sandboxUrl: fake.url, connections: 1, timeoutMs: 5000 },
      new OutboundGuard("", undefined, "--push-allow-hosts"),
    );
    const count = fake.pushes.length;
    const outcome = await guarded.send(provider, notification(), never);
    await guarded.close();
    assert.equal(outcome.kind, "failed");
    assert.match((outcome as { reason: string }).reason, /127\.0\.0\.1 is a loopback address; allow it with --push-allow-hosts/);
    assert.equal(fake.pushes.length, count);
  });
});

describe("FCM sender against a fake FCM and OAuth2 token endpoint", () => {
  let fake: FcmFake;
  let http: GuardedHttp;
  let sender: FcmSender;
  const sa = serviceAccountKey();
  const provider = create(FcmProviderSchema, {
    projectId: "shop-prod",
    clientEmail: "push@shop-prod.iam.gserviceaccount.com",
    privateKey: sa.privateKey,
  });

  before(async () => {
    fake = await FcmFake.start();
    fake.trust(provider.clientEmail, sa.publicKey, "shop-prod");
    http = new GuardedHttp(new OutboundGuard("127.0.0.1", undefined, "--push-allow-hosts"), 5000);
    sender = new FcmSender({ baseUrl: fake.url, tokenUrl: fake.tokenUrl }, http);
  });
  after(async () => {
    await sender.close();
    await http.close();
    await fake.close();
  });

  it("gets an access token with a signed JWT grant, caches it, and sends the message with its overrides", async () => {
    const n = notification({ token: "fcm-token-1", collapseId: "order-7", expiresAtMs: Date.now() + 3600_000 });
    const outcome = await sender.send(provider, n, never);
    assert.equal(outcome.kind, "delivered");
    assert.match((outcome as { providerId: string }).providerId, /^projects\/shop-prod\/messages\/0:\d+$/);
    await sender.send(provider, notification({ token: "fcm-token-2" }), never);
    assert.equal(fake.issued.length, 1, "one access token for both");
    const got = fake.messages[0]!.message;
    assert.deepEqual(got.notification, { title: "Order", body: "Your order shipped" });
    assert.deepEqual(got.data, { msg_id: "7", herald_id: n.id });
    assert.equal(got.android?.priority, "HIGH");
    assert.equal(got.android?.collapse_key, "order-7");
    assert.match(got.android?.ttl ?? "", /^3[56]\d\ds$/);
    assert.equal(got.apns?.headers?.["apns-priority"], "10");
    assert.equal(got.apns?.headers?.["apns-collapse-id"], "order-7");
    assert.equal(got.webpush?.headers?.["Urgency"], "high");
  });

  it("maps FCM's answers: UNREGISTERED, INVALID_ARGUMENT, 429 and 503 with Retry-After; a refused token is renewed", async () => {
    fake.answer("gone", { status: 404, errorCode: "UNREGISTERED" });
    fake.answer("bad", { status: 400, errorCode: "INVALID_ARGUMENT" });
    fake.answer("busy", { status: 429, errorCode: "QUOTA_EXCEEDED", retryAfter: 2 });
    fake.answer("down", { status: 503 });
    const outcomes = [];
    for (const token of ["gone", "bad", "busy", "down"]) outcomes.push(await sender.send(provider, notification({ token }), never));
    assert.deepEqual(outcomes, [
      { kind: "failed", reason: "UNREGISTERED", status: 404, unregistered: true },
      { kind: "failed", reason: "INVALID_ARGUMENT", status: 400, unregistered: false },
      { kind: "retry", reason: "QUOTA_EXCEEDED", status: 429, retryAfterMs: 2000 },
      { kind: "retry", reason: "UNAVAILABLE", status: 503 },
    ]);
    const before = fake.issued.length;
    fake.revokeTokens();
    assert.deepEqual(await sender.send(provider, notification({ token: "t" }), never), {
      kind: "retry",
      reason: "UNAUTHENTICATED",
      status: 401,
    });
    assert.equal((await sender.send(provider, notification({ token: "t" }), never)).kind, "delivered");
    assert.equal(fake.issued.length, before + 1);
  });

  it("fails for good when the token endpoint refuses the service account", async () => {
    const stranger = create(FcmProviderSchema, { ...provider, clientEmail: "who@nowhere", privateKey: serviceAccountKey().privateKey });
    const outcome = await sender.send(stranger, notification(), never);
    assert.equal(outcome.kind, "failed");
    assert.match((outcome as { reason: string }).reason, /token endpoint answered 400/);
  });
});

describe("Web Push sender against a push service that decrypts with the subscription's keys", () => {
  let receiver: WebPushReceiver;
  let http: GuardedHttp;
  let sender: WebPushSender;
  const vapid = vapidKeys();
  const provider = create(WebPushProviderSchema, {
    subject: "mailto:ops@example.com",
    publicKey: vapid.publicKey,
    privateKey: vapid.privateKey,
  });

  before(async () => {
    receiver = await WebPushReceiver.start(vapid.publicKey);
    http = new GuardedHttp(new OutboundGuard("127.0.0.1", undefined, "--push-allow-hosts"), 5000);
    sender = new WebPushSender(http);
  });
  after(async () => {
    await http.close();
    await receiver.close();
  });

  it("encrypts the payload for the subscription, signs with VAPID, and sends TTL, Urgency and Topic", async () => {
    const sub = receiver.subscribe();
    const n = notification({ token: sub.json, collapseId: "order-7", expiresAtMs: Date.now() + 600_000 });
    const outcome = await sender.send(provider, n, never);
    assert.equal(outcome.kind, "delivered");
    assert.match((outcome as { providerId: string }).providerId, /\/message\/\d+$/);
    const got = receiver.deliveries.at(-1)!;
    assert.equal(got.status, 201);
    assert.equal(got.payload, JSON.stringify({ id: n.id, title: "Order", body: "Your order shipped", data: { msg_id: "7" } }));
    assert.equal(got.headers["urgency"], "high");
    assert.match(String(got.headers["ttl"]), /^(599|600)$/);
    assert.match(String(got.headers["topic"]), /^[A-Za-z0-9_-]{32}$/);
  });

  it("maps the push service's answers: 410 unregistered, 429 retried after Retry-After, 400 failed", async () => {
    const [gone, busy, bad] = [receiver.subscribe(), receiver.subscribe(), receiver.subscribe()];
    receiver.answer(gone.id, { status: 410 });
    receiver.answer(busy.id, { status: 429, retryAfter: 4 });
    receiver.answer(bad.id, { status: 400 });
    const outcomes = [];
    for (const s of [gone, busy, bad]) outcomes.push(await sender.send(provider, notification({ token: s.json }), never));
    assert.deepEqual(outcomes, [
      { kind: "failed", reason: "status 410", status: 410, unregistered: true },
      { kind: "retry", reason: "status 429", status: 429, retryAfterMs: 4000 },
      { kind: "failed", reason: "status 400", status: 400, unregistered: false },
    ]);
  });

  it("signs with the app's VAPID key: another key is refused (403)", async () => {
    const other = vapidKeys();
    const stranger = create(WebPushProviderSchema, {
      subject: "mailto:x@example.com",
      publicKey: other.publicKey,
      privateKey: other.privateKey,
    });
    const outcome = await sender.send(stranger, notification({ token: receiver.subscribe().json }), never);
    assert.deepEqual(outcome, { kind: "failed", reason: "status 403", status: 403, unregistered: false });
  });

  it("refuses an endpoint on a private address unless allowed", async () => {
    const guarded = new WebPushSender(new GuardedHttp(new OutboundGuard("", undefined, "--push-allow-hosts"), 5000));
    const sub = JSON.parse(receiver.subscribe().json) as { endpoint: string };
    const outcome = await guarded.send(
      provider,
      notification({ token: JSON.stringify({ ...sub, endpoint: sub.endpoint.replace("127.0.0.1", "10.0.0.1") }) }),
      never,
    );
    assert.equal(outcome.kind, "failed");
    assert.match((outcome as { reason: string }).reason, /10\.0\.0\.1 is a private address/);
  });
});
