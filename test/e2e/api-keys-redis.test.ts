import { strict as assert } from "node:assert";
import { RedisServer } from "../support/redis-server.js";
import { registerApp, startTestHerald, uniquePrefix, type TestHerald } from "../support/herald.js";
import { rawClients, rejection, unary, type RawClients } from "../support/grpc-client.js";
import { parseApiKey } from "../../core/auth/api-key-format.js";

const ADMIN = "api-keys-redis-admin-key";

/** Calls until `ok` says the answer is the expected one; each try yields to I/O (where Redis's invalidation arrives). Bounded. */
async function until<T>(call: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = await call();
    if (ok(value)) return value;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never saw ${what}`);
}

/** API keys on Redis: made on one instance, honoured on every other, and refused everywhere once revoked. */
describe("API keys shared by instances on one Redis", () => {
  let redis: RedisServer;
  let a: TestHerald;
  let b: TestHerald;
  const open: RawClients[] = [];
  before(async () => {
    redis = await RedisServer.start();
    const keyPrefix = uniquePrefix();
    a = await startTestHerald({ redis: { url: redis.url, keyPrefix }, auth: { adminKey: ADMIN } });
    b = await startTestHerald({ redis: { url: redis.url, keyPrefix }, auth: { adminKey: ADMIN } });
    await registerApp(a, "keys-app");
  });
  after(async () => {
    for (const c of open) c.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.destroy();
  });

  it("a key made on one instance works on the other, and a revocation there refuses it on both", async () => {
    const { key, secret } = await unary(a.clients.registry, "createApiKey", { name: "svc", roles: ["ROLE_PUBLISH"], appIds: ["keys-app"] });
    const onA = rawClients(a.grpcPort, secret);
    const onB = rawClients(b.grpcPort, secret);
    open.push(onA, onB);
    const send = (c: RawClients) => unary(c.hub, "sendEvent", { eventId: "keys-app-e" });
    assert.match((await send(onB)).msgId, /^\d+$/);
    assert.match((await send(onA)).msgId, /^\d+$/);
    // Read on b again: now it comes from b's near cache.
    assert.match((await send(onB)).msgId, /^\d+$/);

    await unary(a.clients.registry, "revokeApiKey", { id: key.id });
    const refused = (c: RawClients) => () => rejection(send(c));
    const errA = await refused(onA)();
    assert.equal(errA.code, 16, "UNAUTHENTICATED at once on the instance that revoked it");
    assert.equal(errA.metadata.get("herald-reason")[0], "CREDENTIAL_INVALID");
    const errB = await until(refused(onB), (e) => e.code === 16, "the revocation on the other instance");
    assert.equal(errB.metadata.get("herald-reason")[0], "CREDENTIAL_INVALID");
    const listed = await unary(b.clients.registry, "listApiKeys", {});
    assert.ok(!listed.keys.some((k: { id: string }) => k.id === key.id));
  });

  it("lists keys without their secrets, to admins only", async () => {
    const { key, secret } = await unary(a.clients.registry, "createApiKey", { name: "reader", roles: ["ROLE_WATCH"], appIds: ["*"] });
    const listed = await unary(b.clients.registry, "listApiKeys", {});
    const found = listed.keys.find((k: { id: string }) => k.id === key.id);
    assert.deepEqual(
      { name: found.name, roles: found.roles, appIds: found.appIds },
      { name: "reader", roles: ["ROLE_WATCH"], appIds: ["*"] },
    );
    // The secret is base64url and may itself hold "_": take it whole, as the server parses it.
    const secretPart = parseApiKey(secret)?.secret;
    assert.ok(secretPart, "a well-formed key");
    assert.ok(!JSON.stringify(listed).includes(secretPart), "never the secret");
    const watcher = rawClients(b.grpcPort, secret);
    open.push(watcher);
    const err = await rejection(unary(watcher.registry, "listApiKeys", {}));
    assert.equal(err.code, 7);
    assert.equal(err.metadata.get("herald-reason")[0], "ROLE_REQUIRED");
  });
});
