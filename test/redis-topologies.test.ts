import { strict as assert } from "node:assert";
import { keySlot } from "../core/redis/slots.js";
import { RedisCluster } from "./support/redis-cluster.js";
import { RedisSentinelSet } from "./support/redis-sentinel.js";

describe("test support: real Redis topologies", function () {
  this.timeout(60_000);

  it("starts a Cluster of 3 masters and 3 replicas, and moves a slot between masters", async () => {
    const cluster = await RedisCluster.start();
    try {
      const shards = await cluster.shards();
      assert.equal(shards.length, 3);
      assert.equal(cluster.nodes.length, 6);
      const apps = await cluster.appPerShard("t");
      const slots = apps.map((a) => keySlot(`{${a}}`));
      for (const [i, slot] of slots.entries()) assert.equal((await cluster.ownerOf(slot)).id, shards[i]!.id);
      const owner = await cluster.ownerOf(slots[0]!);
      await cluster.admin(owner.address).set(`{${apps[0]}}:k`, "v");
      await cluster.moveSlot(slots[0]!, shards[1]!);
      assert.equal((await cluster.ownerOf(slots[0]!)).id, shards[1]!.id);
      assert.equal(await cluster.admin(shards[1]!.address).get(`{${apps[0]}}:k`), "v", "the key moved with its slot");
    } finally {
      await cluster.destroy();
    }
  });

  it("starts a Sentinel set that promotes the replica when the master dies", async () => {
    const set = await RedisSentinelSet.start();
    try {
      assert.equal(await set.masterPort(), set.master.port);
      await set.master.stop("SIGKILL");
      await set.waitMaster(set.replica.port);
    } finally {
      await set.destroy();
    }
  });
});
