import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { MASTER_NAME, RedisSentinelSet } from "../support/redis-sentinel.js";
import { registerApp, startTestHerald, uniquePrefix, watchersLive, type TestHerald } from "../support/herald.js";
import { unary, Watch } from "../support/grpc-client.js";
import { ResumingWatcher } from "../support/resuming-watcher.js";
import { waitFor } from "../support/redis-cluster.js";

/** Herald on a real Sentinel set (master, replica, 3 Sentinels), the master killed mid-traffic. */
describe("Herald on Redis Sentinel", function () {
  this.timeout(120_000);
  let set: RedisSentinelSet;
  let a: TestHerald;
  let b: TestHerald;
  before(async () => {
    set = await RedisSentinelSet.start();
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await set?.destroy();
  });

  it("follows a failover: sends fail fast with UNAVAILABLE during the switch, then succeed; resumed watchers lose nothing acknowledged", async () => {
    const redis = {
      url: "",
      sentinels: set.sentinelAddresses.join(","),
      masterName: MASTER_NAME,
      keyPrefix: uniquePrefix(),
      commandTimeoutMs: 1000,
      maxReconnectDelayMs: 100,
      waitReplicas: 1,
      waitTimeoutMs: 500,
    };
    a = await startTestHerald({ redis });
    b = await startTestHerald({ redis });
    const eventId = await registerApp(a, "orders");
    const watcher = new ResumingWatcher(b.clients.hub, "orders");
    await watchersLive(b);

    const acked: string[] = [];
    const failures: number[] = [];
    let phase = "before" as "before" | "after";
    let ackedAfter = 0;
    let sending = true;
    const publisher = (async () => {
      for (let i = 0; sending; i++) {
        const started = Date.now();
        try {
          const r = await unary<{ msgId: string }>(a.clients.hub, "sendEvent", { eventId, idempotencyKey: `order-${i}` });
          acked.push(r.msgId);
          if (phase === "after") ackedAfter++;
        } catch (err) {
          assert.equal((err as grpc.ServiceError).code, grpc.status.UNAVAILABLE, String(err));
          failures.push(Date.now() - started);
          i--; // the same key again: published once whatever happened to the failed attempt
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    })();
    while (acked.length < 30) await new Promise((resolve) => setImmediate(resolve));
    await set.master.stop("SIGKILL");
    await set.waitMaster(set.replica.port);
    // The old master comes back; the Sentinels make it a replica of the new one (WAIT 1 has a replica again).
    await set.master.restart();
    phase = "after";
    const deadline = Date.now() + 60_000;
    while (ackedAfter < 30 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    sending = false;
    await publisher;
    assert.ok(ackedAfter >= 30, `sends succeed after the failover (${ackedAfter})`);
    assert.ok(failures.length > 0, "some sends failed during the switch");
    assert.ok(Math.max(...failures) < 2500, `every failed send failed fast (slowest ${Math.max(...failures)} ms)`);

    // Every acknowledged send reaches the watcher, once, in offset order.
    const deadlineRx = Date.now() + 30_000;
    const have = () => new Set(watcher.events.map((e) => e.msgId));
    while (acked.some((id) => !have().has(id)) && Date.now() < deadlineRx) await new Promise((resolve) => setTimeout(resolve, 20));
    await watcher.stop();
    const missing = acked.filter((id) => !have().has(id));
    assert.deepEqual(missing, [], `acknowledged events the watcher never got (stream ended ${watcher.ends} times)`);
    const offsets = watcher.events.map((e) => Number(e.offset));
    assert.ok(
      offsets.every((o, i) => i === 0 || o > offsets[i - 1]!),
      "offsets increase",
    );
    // A watcher from the start reads them all from the new master's history.
    const replay = new Watch(b.clients.hub, { appId: "orders", resumeAfter: "0" });
    await replay.received(acked.length);
    replay.cancel();
    const replayed = new Set(replay.events.map((e) => e.msgId));
    assert.deepEqual(
      acked.filter((id) => !replayed.has(id)),
      [],
      "history on the new master holds every acknowledged send",
    );
  });

  it("follows a switchover (SENTINEL FAILOVER) under --redis-wait-replicas 1: every acknowledged send stays, one offset each", async () => {
    const before = await set.masterPort();
    const replicaPort = before === set.master.port ? set.replica.port : set.master.port;
    const eventId = "orders-e";
    const sendOk = async (key: string) => {
      for (;;) {
        try {
          return await unary<{ msgId: string; offset: string }>(a.clients.hub, "sendEvent", { eventId, idempotencyKey: key });
        } catch (err) {
          // The old master answers READONLY once demoted (the connection then asks the Sentinels
          // again), or no replica confirms in time: UNAVAILABLE, retried with the same key.
          assert.equal((err as grpc.ServiceError).code, grpc.status.UNAVAILABLE, String(err));
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    const first = await sendOk("switch-1");
    await set.admin(set.sentinels[0]!.port).call("SENTINEL", "FAILOVER", MASTER_NAME);
    await set.waitMaster(replicaPort);
    const second = await sendOk("switch-2");
    await waitFor(async () => /role:slave/.test(await set.admin(before).info("replication")), "the old master to be a replica");
    const third = await sendOk("switch-3");
    assert.deepEqual(
      [second.offset, third.offset].map(BigInt),
      [BigInt(first.offset) + 1n, BigInt(first.offset) + 2n],
      "each acknowledged send holds its own offset on the new master",
    );
  });
});
