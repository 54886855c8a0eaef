import { strict as assert } from "node:assert";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { memoryStores } from "../core/store/memory-stores.js";
import { MemoryStatusStore } from "../core/store/memory-status-store.js";
import { defaultStoreConfig } from "../core/store/store-config.js";
import { storeSuite } from "./suites/store-suite.js";

storeSuite("memory", async (config) => memoryStores({ ...defaultStoreConfig, ...config }));

describe("MemoryStatusStore", () => {
  it("keeps at most messageStatusMax request ids, dropping the oldest", async () => {
    const store = new MemoryStatusStore({ ...defaultStoreConfig, messageStatusMax: 3 });
    const send = (requestId: string, msgId: string) =>
      store.recordMessage({ requestId, msgId, appId: "a", ksids: ["k"], broadcast: false, time: timestampNow() });
    await send("r1", "1");
    await store.markDelivered("r2", "2", "k", 1); // a mark alone holds a slot too
    await send("r3", "3");
    await send("r1", "4"); // a later message does not make r1 newer
    await send("r4", "5");
    assert.equal(await store.messageStatus("r1"), undefined, "the oldest went first");
    assert.ok((await store.messageStatus("r3")) && (await store.messageStatus("r4")));
    await send("r5", "6"); // drops r2, the mark-only one
    await send("r2", "2"); // r2 anew, dropping r3
    assert.equal((await store.messageStatus("r2"))?.[0]?.subscribers[0]?.deliveredTime, undefined, "r2's mark was dropped with it");
    assert.equal(await store.messageStatus("r3"), undefined);
    assert.deepEqual(
      (await Promise.all(["r4", "r5"].map((r) => store.messageStatus(r)))).map((m) => m?.length),
      [1, 1],
    );
  });

  it("keeps exactly the newest messageStatusMax request ids over a long churn", async () => {
    // Past the queue's compaction, with ids dropped and created again.
    const store = new MemoryStatusStore({ ...defaultStoreConfig, messageStatusMax: 100 });
    const ids = Array.from({ length: 5000 }, (_, i) => `r${i % 2600}`);
    let msg = 0;
    for (const requestId of ids) {
      await store.recordMessage({ requestId, msgId: String(++msg), appId: "a", ksids: ["k"], broadcast: false, time: timestampNow() });
    }
    const kept: string[] = [];
    for (let i = 0; i < 2600; i++) if (await store.messageStatus(`r${i}`)) kept.push(`r${i}`);
    // The last 100 sends named r2300..r2399, each created anew after it was dropped.
    assert.deepEqual(
      kept,
      Array.from({ length: 100 }, (_, i) => `r${2300 + i}`),
    );
    assert.equal((await store.messageStatus("r2399"))?.length, 1, "a re-created id holds only its new message");
  });
});
