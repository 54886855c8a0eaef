import { strict as assert } from "node:assert";
import * as grpc from "@grpc/grpc-js";
import { appSlot } from "../../core/redis/keys.js";
import { RedisCluster } from "../support/redis-cluster.js";
import { registerApp, startTestHerald, uniquePrefix, watchersLive, type TestHerald } from "../support/herald.js";
import { unary, Watch } from "../support/grpc-client.js";
import { ResumingWatcher } from "../support/resuming-watcher.js";
import { waitFor } from "../support/redis-cluster.js";

const contiguous = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Two Herald instances on a real Redis Cluster (3 masters + 3 replicas), driven by plain grpc-js clients. */
describe("Herald on Redis Cluster", function () {
  this.timeout(90_000);
  let cluster: RedisCluster;
  let a: TestHerald;
  let b: TestHerald;
  let keyPrefix: string;
  before(async () => {
    cluster = await RedisCluster.start();
  });
  after(() => cluster?.destroy());
  beforeEach(async () => {
    keyPrefix = uniquePrefix();
    const redis = { url: "", cluster: cluster.nodes.join(","), keyPrefix, maxReconnectDelayMs: 100 };
    a = await startTestHerald({ redis });
    b = await startTestHerald({ redis });
  });
  afterEach(async () => {
    await Promise.all([a.stop(), b.stop()]);
  });

  it("carries the events of apps on every shard to watchers on both instances, msg ids increasing per app", async () => {
    const apps = await cluster.appPerShard("shard");
    const events = await Promise.all(apps.map((app) => registerApp(a, app)));
    const watches = apps.map((appId) => new Watch(b.clients.hub, { appId }));
    await watchersLive(b, apps.length);
    const sent = new Map<string, string[]>(apps.map((app) => [app, []]));
    for (let i = 0; i < 30; i++) {
      const app = apps[i % apps.length]!;
      const r = await unary<{ msgId: string }>((i % 2 ? a : b).clients.hub, "sendEvent", { eventId: events[i % apps.length] });
      sent.get(app)!.push(r.msgId);
    }
    for (const [i, app] of apps.entries()) {
      await watches[i]!.received(10);
      assert.deepEqual(
        watches[i]!.events.map((e) => e.msgId),
        sent.get(app),
      );
      assert.deepEqual(watches[i]!.offsets(), contiguous(1, 10));
      const ids = sent.get(app)!.map(BigInt);
      assert.ok(
        ids.every((id, j) => j === 0 || id > ids[j - 1]!),
        `msg ids of ${app} increase`,
      );
      // slot × 2^39 + n: the app's slot is in its ids.
      assert.equal(ids[0]! >> 39n, BigInt(appSlot(app)));
    }
    for (const w of watches) w.cancel();
  });

  it("keeps streaming every event once, in order, while the app's slot moves to another master", async () => {
    const [app] = await cluster.appPerShard("moving");
    const eventId = await registerApp(a, app!);
    const slot = appSlot(app!);
    const from = await cluster.ownerOf(slot);
    const to = (await cluster.shards()).find((s) => s.id !== from.id)!;
    const onA = new Watch(a.clients.hub, { appId: app! });
    const onB = new Watch(b.clients.hub, { appId: app! });
    await Promise.all([watchersLive(a), watchersLive(b)]);
    let sending = true;
    let acked = 0;
    let refused = 0;
    const publisher = (async () => {
      for (let i = 0; sending; i++) {
        try {
          await unary((i % 2 ? a : b).clients.hub, "sendEvent", { eventId, idempotencyKey: `k${i}` });
          acked++;
        } catch (err) {
          // While the slot is half moved, a send may be refused (TRYAGAIN): UNAVAILABLE, retried.
          assert.equal((err as grpc.ServiceError).code, grpc.status.UNAVAILABLE, String(err));
          refused++;
          i--;
        }
      }
    })();
    await onA.received(20);
    await cluster.moveSlot(slot, to);
    const afterMove = acked;
    await onB.received(afterMove + 20);
    sending = false;
    await publisher;
    assert.equal((await cluster.ownerOf(slot)).id, to.id, "the slot moved");
    await Promise.all([onA.received(acked), onB.received(acked)]);
    for (const w of [onA, onB]) {
      assert.deepEqual(w.offsets(), contiguous(1, acked), `every event once, in order (${refused} sends refused while moving)`);
    }
    // The subscriptions followed the slot: the new owner carries the channel, the old one not.
    const numsub = async (address: string) =>
      Number(((await cluster.admin(address).call("PUBSUB", "SHARDNUMSUB", `${keyPrefix}{${app}}:events`)) as unknown[])[1]);
    assert.equal(await numsub(to.address), 2, "both instances subscribed on the new owner");
    assert.equal(await numsub(from.address), 0);
    onA.cancel();
    onB.cancel();
  });

  // Last: it leaves the cluster with masters and replicas swapped on one shard.
  it("follows the failover of the app's master: a replica promoted, watchers resume with every acknowledged event", async () => {
    await Promise.all([a.stop(), b.stop()]);
    const redis = {
      url: "",
      cluster: cluster.nodes.join(","),
      keyPrefix,
      maxReconnectDelayMs: 100,
      commandTimeoutMs: 1000,
      waitReplicas: 1,
      waitTimeoutMs: 500,
    };
    a = await startTestHerald({ redis });
    b = await startTestHerald({ redis });
    const [app] = await cluster.appPerShard("failing");
    const eventId = await registerApp(a, app!);
    const slot = appSlot(app!);
    const master = await cluster.ownerOf(slot);
    const watcher = new ResumingWatcher(b.clients.hub, app!);
    await watchersLive(b);
    const acked: string[] = [];
    let failed = 0;
    let lastError = "";
    let sending = true;
    const publisher = (async () => {
      for (let i = 0; sending; i++) {
        try {
          acked.push((await unary<{ msgId: string }>(a.clients.hub, "sendEvent", { eventId, idempotencyKey: `f${i}` })).msgId);
        } catch (err) {
          assert.equal((err as grpc.ServiceError).code, grpc.status.UNAVAILABLE, String(err));
          failed++;
          lastError = (err as Error).message;
          i--;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    })();
    await waitFor(async () => acked.length >= 20, "20 sends acknowledged");
    const killed = cluster.servers.find((s) => s.port === master.port)!;
    await killed.stop("SIGKILL");
    await waitFor(async () => (await cluster.ownerOf(slot)).id !== master.id, "a replica to take the slot over", 30_000);
    // The old master comes back as a replica of the new one, so that WAIT 1 has a replica again.
    await killed.restart();
    const at = acked.length;
    await waitFor(async () => acked.length >= at + 20, "20 sends acknowledged after the failover", 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}; the last send failed with: ${lastError}`);
    });
    sending = false;
    await publisher;
    await waitFor(
      async () => {
        const have = new Set(watcher.events.map((e) => e.msgId));
        return acked.every((id) => have.has(id));
      },
      `the watcher to hold every acknowledged event (${failed} sends refused during the failover)`,
      30_000,
    );
    await watcher.stop();
    const offsets = watcher.events.map((e) => Number(e.offset));
    assert.ok(
      offsets.every((o, i) => i === 0 || o > offsets[i - 1]!),
      "in offset order, once",
    );
  });
});
