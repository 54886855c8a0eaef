import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { RedisServer } from "../support/redis-server.js";
import { registerApp, startTestHerald, uniquePrefix, watchersLive, type TestHerald } from "../support/herald.js";
import { rejection, unary, Watch } from "../support/grpc-client.js";
import { until } from "../suites/store-suite.js";

/** GetMessageStatus as a proto-only grpc-js client sees it (enums as names, longs as strings). */
interface Status {
  msgId: string;
  appId: string;
  time: { seconds: string } | null;
  broadcast: boolean;
  subscribers: Array<{ ksid: string; state: string; deliveredTime: { seconds: string } | null }>;
}

const states = (messages: Status[]) => messages.map((m) => m.subscribers.map((s) => `${s.ksid}:${s.state.replace("DELIVERY_STATE_", "")}`));

/**
 * Delivery status end to end over real gRPC: embedded, and with Redis across two instances (sent on
 * one, watched on the other, asked on the first).
 */
for (const mode of ["embedded", "redis"] as const) {
  describe(`message status (${mode}, over gRPC)`, () => {
    let redis: RedisServer | undefined;
    let sender: TestHerald;
    let watched: TestHerald;
    let eventId: string;
    let ksid: string;

    before(async () => {
      if (mode === "embedded") {
        sender = watched = await startTestHerald();
      } else {
        if (!process.env["REDIS_URL"]) redis = await RedisServer.start();
        const redisUrl = process.env["REDIS_URL"] ?? redis!.url;
        const keyPrefix = uniquePrefix();
        sender = await startTestHerald({ redis: { url: redisUrl, keyPrefix } });
        watched = await startTestHerald({ redis: { url: redisUrl, keyPrefix } });
      }
      eventId = await registerApp(sender, "shop");
      ({ ksid } = await unary<{ ksid: string }>(sender.clients.registry, "subscribe", {
        appId: "shop",
        deviceId: "phone",
        ufid: "ann",
        osType: "iphone",
      }));
    });
    after(async () => {
      await Promise.all([...new Set([sender, watched])].map((h) => h?.stop()));
      await redis?.destroy();
    });

    const status = (requestId: string) =>
      unary<{ messages: Status[] }>(sender.clients.hub, "getMessageStatus", { requestId }).then((r) => r.messages);
    const sendTo = (target: string, requestId = "") =>
      unary<{ msgId: string }>(sender.clients.hub, "sendEvent", { eventId, subscribers: [{ ksid: target }], requestId });

    it("reports QUEUED while no watcher of the subscriber is live, DELIVERED once one takes it", async () => {
      const queued = await sendTo(ksid);
      const [m] = await status(queued.msgId);
      assert.equal(m?.msgId, queued.msgId);
      assert.equal(m?.appId, "shop");
      assert.equal(m?.broadcast, false);
      assert.ok(Number(m?.time?.seconds) > 0);
      assert.deepEqual(m?.subscribers, [{ ksid, state: "DELIVERY_STATE_QUEUED", deliveredTime: null, pushes: [] }]);

      const watch = new Watch(watched.clients.hub, { appId: "shop", ksid });
      await watchersLive(watched);
      const sent = await sendTo(ksid);
      await watch.received(1);
      assert.equal(watch.events[0]?.msgId, sent.msgId);
      const delivered = await until(
        () => status(sent.msgId),
        (s) => s[0]?.subscribers[0]?.state === "DELIVERY_STATE_DELIVERED",
        "DELIVERED",
      );
      assert.ok(Number(delivered[0]?.subscribers[0]?.deliveredTime?.seconds) >= Number(delivered[0]?.time?.seconds));
      assert.deepEqual(states(await status(queued.msgId)), [[`${ksid}:QUEUED`]], "a live watcher does not receive what was sent before");
      watch.cancel();
    });

    it("groups messages under a request id, in send order, broadcasts listing who received them", async () => {
      const other = await unary<{ ksid: string }>(sender.clients.registry, "subscribe", {
        appId: "shop",
        deviceId: "tablet",
        ufid: "bob",
        osType: "iphone",
      });
      const watch = new Watch(watched.clients.hub, { appId: "shop", ksid });
      await watchersLive(watched);
      const requestId = `order-${mode}`;
      const first = await sendTo(ksid, requestId);
      const second = await unary<{ msgId: string }>(sender.clients.hub, "sendEvent", {
        eventId,
        requestId,
        subscribers: [{ ksid: other.ksid }, { ksid }],
      });
      const push = await unary<{ msgId: string }>(sender.clients.hub, "sendPush", {
        appId: "shop",
        allActive: true,
        content: { data: "sale" },
        requestId,
      });
      await watch.received(3);
      assert.deepEqual(
        watch.events.map((e) => [e.msgId, e.requestId]),
        [
          [first.msgId, requestId],
          [second.msgId, requestId],
          [push.msgId, requestId],
        ],
      );
      const messages = await until(
        () => status(requestId),
        (s) =>
          states(s)
            .flat()
            .filter((x) => x.endsWith("DELIVERED")).length === 3,
        "all three delivered",
      );
      assert.deepEqual(
        messages.map((m) => [m.msgId, m.broadcast]),
        [
          [first.msgId, false],
          [second.msgId, false],
          [push.msgId, true],
        ],
      );
      assert.deepEqual(states(messages), [[`${ksid}:DELIVERED`], [`${other.ksid}:QUEUED`, `${ksid}:DELIVERED`], [`${ksid}:DELIVERED`]]);
      watch.cancel();
    });

    it("marks events replayed to a resuming watcher", async () => {
      const sent = await sendTo(ksid, `replay-${mode}`);
      assert.deepEqual(states(await status(`replay-${mode}`)), [[`${ksid}:QUEUED`]]);
      const watch = new Watch(watched.clients.hub, { appId: "shop", ksid, resumeAfter: "0" });
      await until(async () => watch.events.some((e) => e.msgId === sent.msgId), Boolean, "the replayed event");
      await until(
        () => status(`replay-${mode}`),
        (s) => states(s)[0]?.[0] === `${ksid}:DELIVERED`,
        "DELIVERED",
      );
      watch.cancel();
    });

    it("answers NOT_FOUND / MESSAGE_NOT_FOUND for an unknown id, INVALID_ARGUMENT for none", async () => {
      const unknown = await rejection(status("never-sent"));
      assert.equal(unknown.code, grpc.status.NOT_FOUND);
      assert.deepEqual(unknown.metadata.get("herald-reason"), ["MESSAGE_NOT_FOUND"]);
      const none = await sendTo("ghost", `invalid-${mode}`);
      assert.equal(none.msgId, "");
      assert.equal((await rejection(status(`invalid-${mode}`))).code, grpc.status.NOT_FOUND, "nothing published, nothing recorded");
      const empty = await rejection(status(""));
      assert.equal(empty.code, grpc.status.INVALID_ARGUMENT);
    });
  });
}
