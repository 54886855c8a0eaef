import { strict as assert } from "node:assert";
import { Redis } from "ioredis";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ExecutionSchema, ExecutionState, ReceivedEventSchema, ReceivedState } from "../core/gen/herald/v1/eventhos_pb.js";
import { keysOf } from "../core/redis/keys.js";
import { TrackedCache } from "../core/redis/tracked-cache.js";
import { RedisServer } from "./support/redis-server.js";
import { uniquePrefix } from "./support/herald.js";
import { silentLogger } from "../core/logger.js";
import { MemoryClientStore } from "../core/eventhos/memory-client-store.js";
import { RedisClientStore } from "../core/eventhos/redis-client-store.js";
import { MemoryDeliveryStore } from "../core/eventhos/memory-delivery-store.js";
import { RedisDeliveryStore } from "../core/eventhos/redis-delivery-store.js";
import { MemoryWorkQueue } from "../core/queue/memory-work-queue.js";
import { RedisWorkQueue } from "../core/queue/redis-work-queue.js";
import { clientStoreContract } from "./suites/client-store-suite.js";
import { deliveryStoreContract } from "./suites/delivery-store-suite.js";
import { workQueueContract } from "./suites/work-queue-suite.js";

clientStoreContract("MemoryClientStore", async () => new MemoryClientStore());
deliveryStoreContract("MemoryDeliveryStore", async (options) => new MemoryDeliveryStore(options));
workQueueContract("MemoryWorkQueue", async (options) => {
  const q = new MemoryWorkQueue(options);
  return [q, q.consumer()];
});

describe("MemoryDeliveryStore: maxReceived", () => {
  // Received now: well within the retention when the test runs.
  const receivedOf = (id: string, state: ReceivedState) =>
    create(ReceivedEventSchema, { id, eventId: "e", time: timestampFromMs(Date.now()), state, executionIds: [`${id}-1`] });
  const executionOf = (id: string) => create(ExecutionSchema, { id: `${id}-1`, receivedId: id, state: ExecutionState.PENDING });
  const ids = async (store: MemoryDeliveryStore) =>
    (await store.listReceived({ eventId: "", state: ReceivedState.UNSPECIFIED, limit: 100 })).map((r) => r.id).sort();

  it("drops the received events finished longest ago, with their executions; pending ones stay", async () => {
    const store = new MemoryDeliveryStore({ retentionMs: 60_000, maxReceived: 3 });
    for (const id of ["p1", "p2", "p3"]) await store.createReceived(receivedOf(id, ReceivedState.PENDING), [executionOf(id)]);
    // Over the bound, but nothing is finished: nothing can go.
    await store.createReceived(receivedOf("p4", ReceivedState.PENDING), [executionOf("p4")]);
    assert.deepEqual(await ids(store), ["p1", "p2", "p3", "p4"]);
    // Finished in the order p3, p1: p3 goes first, then p1; p2 and p4 (pending) stay.
    await store.setReceivedState("p3", ReceivedState.PROCESSED);
    assert.deepEqual(await ids(store), ["p1", "p2", "p4"]);
    assert.equal(await store.getExecution("p3-1"), undefined);
    await store.setReceivedState("p1", ReceivedState.ERROR);
    await store.createReceived(receivedOf("n5", ReceivedState.NO_CONTRACTS), []);
    assert.deepEqual(await ids(store), ["n5", "p2", "p4"]);
    // Pending again (a retry), a finished event is no longer the one to drop.
    await store.setReceivedState("n5", ReceivedState.PENDING);
    await store.setReceivedState("p2", ReceivedState.PROCESSED);
    await store.createReceived(receivedOf("p6", ReceivedState.PENDING), [executionOf("p6")]);
    assert.deepEqual(await ids(store), ["n5", "p4", "p6"]);
    assert.notEqual(await store.getExecution("p4-1"), undefined);
    await store.close();
  });
});

describe("eventhos stores on Redis", () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(() => redis.destroy());
  const common = () => ({ url: redis.url, commandTimeoutMs: 1000, maxReconnectDelayMs: 50, logger: silentLogger });

  clientStoreContract("RedisClientStore", () => RedisClientStore.connect({ ...common(), keyPrefix: uniquePrefix() }));
  deliveryStoreContract("RedisDeliveryStore", (options) =>
    RedisDeliveryStore.connect({ ...common(), keyPrefix: uniquePrefix(), ...options }),
  );
  /** A store with a near cache of its own, closed with it. */
  async function cached<S extends { close(): Promise<void> }>(make: (cache: TrackedCache) => Promise<S>): Promise<S> {
    const cache = await TrackedCache.connect({ ...common(), role: "test", maxEntries: 1000 });
    const store = await make(cache);
    const close = store.close.bind(store);
    store.close = async () => {
      await close();
      await cache.close();
    };
    return store;
  }
  clientStoreContract("RedisClientStore behind a near cache", () =>
    cached((cache) => RedisClientStore.connect({ ...common(), keyPrefix: uniquePrefix() }, cache)),
  );
  deliveryStoreContract("RedisDeliveryStore behind a near cache", (options) =>
    cached((cache) => RedisDeliveryStore.connect({ ...common(), keyPrefix: uniquePrefix(), ...options }, cache)),
  );

  it("RedisDeliveryStore: a state change keeps the record's expiry", async () => {
    const keyPrefix = uniquePrefix();
    const store = await RedisDeliveryStore.connect({ ...common(), keyPrefix, retentionMs: 60_000 });
    const raw = new Redis(redis.url);
    try {
      const k = keysOf({ keyPrefix }).eventhos;
      const time = timestampFromMs(Date.now());
      await store.createReceived(create(ReceivedEventSchema, { id: "1", eventId: "e", time, executionIds: ["1-1"] }), [
        create(ExecutionSchema, { id: "1-1", receivedId: "1", state: ExecutionState.PENDING }),
      ]);
      await store.setReceivedState("1", ReceivedState.PROCESSED);
      await store.updateExecution("1-1", { state: ExecutionState.PROCESSED, runStart: 2 });
      for (const key of [k.received("1"), k.execution("1-1")]) {
        const ttl = await raw.pttl(key);
        assert.ok(ttl > 50_000 && ttl <= 60_000, `${key} expires in ${ttl} ms`);
      }
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  workQueueContract("RedisWorkQueue", async (options) => {
    const keyPrefix = uniquePrefix();
    const queue = { ...common(), keyPrefix, ...options, stream: `${keyPrefix}queue`, group: "workers", role: "queue" };
    return [await RedisWorkQueue.connect(queue), await RedisWorkQueue.connect(queue)];
  });
});
