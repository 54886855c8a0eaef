import { strict as assert } from "node:assert";
import type { ClientRecord, ClientStore } from "../../core/eventhos/client-store.js";

const client = (id: string, extra: Partial<ClientRecord> = {}): ClientRecord => ({
  id,
  appId: "app",
  name: `${id} client`,
  allowedEventIds: ["e1"],
  secretHash: "scrypt$x$y",
  generation: 1,
  keys: [],
  ...extra,
});

/** The guarantees documented on the ClientStore interface, checked against one implementation. */
export function clientStoreContract(name: string, make: () => Promise<ClientStore>): void {
  describe(`ClientStore contract: ${name}`, () => {
    let store: ClientStore;
    beforeEach(async () => {
      store = await make();
    });
    afterEach(() => store.close());

    it("puts, gets, lists and deletes clients, handing out copies", async () => {
      await store.putClient(client("b"));
      await store.putClient(client("a", { allowedEventIds: [] }));
      const got = await store.getClient("b");
      assert.deepEqual(got, client("b"));
      got!.allowedEventIds.push("changed");
      assert.deepEqual((await store.getClient("b"))?.allowedEventIds, ["e1"]);
      assert.deepEqual(
        (await store.listClients()).map((c) => c.id),
        ["a", "b"],
      );
      assert.equal(await store.deleteClient("a"), true);
      assert.equal(await store.deleteClient("a"), false);
      assert.equal(await store.getClient("a"), undefined);
    });

    it("keeps keys apart from updates, finds them by hash until revoked or the client is deleted", async () => {
      await store.putClient(client("c"));
      assert.equal(await store.addKey("c", { id: "k1", hash: "aa", createdMs: 1 }), true);
      assert.equal(await store.addKey("c", { id: "k2", hash: "bb", createdMs: 2 }), true);
      assert.equal(await store.addKey("nobody", { id: "k3", hash: "cc", createdMs: 3 }), false);
      await store.putClient(client("c", { name: "renamed", generation: 2 })); // an update keeps the keys
      const got = await store.getClient("c");
      assert.equal(got?.name, "renamed");
      assert.deepEqual(got?.keys, [
        { id: "k1", hash: "aa", createdMs: 1 },
        { id: "k2", hash: "bb", createdMs: 2 },
      ]);
      assert.deepEqual(await store.findKey("bb"), { clientId: "c", keyId: "k2" });
      assert.equal(await store.findKey("cc"), undefined);
      assert.equal(await store.revokeKey("c", "k2"), true);
      assert.equal(await store.revokeKey("c", "k2"), false);
      assert.equal(await store.findKey("bb"), undefined);
      assert.deepEqual(
        (await store.getClient("c"))?.keys.map((k) => k.id),
        ["k1"],
      );
      await store.deleteClient("c");
      assert.equal(await store.findKey("aa"), undefined, "deleting a client drops its keys");
    });

    it("keeps the first shared secret", async () => {
      const first = await store.sharedSecret("one");
      assert.equal(await store.sharedSecret("two"), first);
    });
  });
}
