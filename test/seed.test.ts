import { strict as assert } from "node:assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryRegistryStore } from "../core/store/memory-registry-store.js";
import { defaultLimits } from "../core/rpc/limits.js";
import { Validator } from "../core/rpc/validate.js";
import { loadSeed } from "../server/seed.js";
import { sha256 } from "../core/auth/api-key-format.js";

describe("loadSeed", () => {
  const dir = mkdtempSync(join(tmpdir(), "herald-seed-"));
  const seed = (name: string, yaml: string) => {
    const path = join(dir, name);
    writeFileSync(path, yaml);
    return path;
  };
  const ids = new Validator(defaultLimits);

  it("loads the quick-start seed (apps demo and drafts, events 1 and 2, subscriber xxxx)", async () => {
    const store = new MemoryRegistryStore();
    assert.deepEqual(await loadSeed(store, "examples/seed.yaml", ids), { apps: 2, events: 2, subscribers: 1 });
    assert.equal((await store.getSubscriber("xxxx"))?.appId, "demo");
  });

  it("keeps an app's legacy key as UpsertApp does: its hash, never as written; refuses a bad network", async () => {
    const store = new MemoryRegistryStore();
    const yaml = "apps:\n  - id: shop\n    legacy: { key: seeded-legacy-key, networks: ['10.0.0.0/8'] }\n";
    await loadSeed(store, seed("legacy.yaml", yaml), ids);
    const app = await store.getApp("shop");
    assert.equal(app?.legacy?.key, sha256("seeded-legacy-key"));
    assert.deepEqual(app?.legacy?.networks, ["10.0.0.0/8"]);
    await assert.rejects(
      loadSeed(new MemoryRegistryStore(), seed("bad-net.yaml", "apps:\n  - id: shop\n    legacy: { networks: [nowhere] }\n"), ids),
      /apps\[0\]: .*not a network/,
    );
  });

  it("holds its ids to the RPCs' rule (they reach the same keys), and says where", async () => {
    const cases = [
      ["apps:\n  - id: 'a:b'\n", /apps\[0\]: id may contain only/],
      ["apps:\n  - id: a\nevents:\n  - { id: 'e}1', app_id: a }\n", /events\[0\]: id may contain only/],
      [
        "apps:\n  - id: a\nsubscribers:\n  - { app_id: a, ksid: 'k 1', device_id: d, os_type: iphone }\n",
        /subscribers\[0\]: ksid may contain only/,
      ],
      [
        "apps:\n  - id: a\nsubscribers:\n  - { app_id: a, device_id: 'd:1', os_type: iphone }\n",
        /subscribers\[0\]: device_id may contain only/,
      ],
    ] as const;
    for (const [i, [yaml, error]] of cases.entries()) {
      const store = new MemoryRegistryStore();
      await assert.rejects(loadSeed(store, seed(`bad-${i}.yaml`, yaml), ids), error);
      assert.deepEqual(
        (await store.listApps()).map((a) => a.id).filter((id) => id !== "a"),
        [],
        "nothing with the bad id was written",
      );
    }
  });
});
