import { strict as assert } from "node:assert";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { MemoryStore } from "../core/store/memory-store.js";
import { storeContract } from "./contract/store-contract.js";

storeContract("MemoryStore", async (options) => new MemoryStore(options));

describe("MemoryStore delivery status", () => {
  it("keeps at most messageStatusMax request ids, dropping the oldest", async () => {
    const store = new MemoryStore({ messageStatusMax: 3 });
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
    assert.deepEqual((await Promise.all(["r4", "r5"].map((r) => store.messageStatus(r)))).map((m) => m?.length), [1, 1]);
  });
});
