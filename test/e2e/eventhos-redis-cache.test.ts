import { strict as assert } from "node:assert";
import { RedisServer } from "../support/redis-server.js";
import { startTestHerald, uniquePrefix, type TestHerald } from "../support/herald.js";
import { ok, Target } from "../support/target.js";
import { ADMIN_TOKEN, EventhosApi } from "../support/eventhos.js";

/** Sends until `done` says the reply is the expected one; each try yields to I/O (where Redis's invalidation arrives). Bounded. */
async function until(send: () => Promise<{ json: { code: number } }>, code: number, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await send()).json.code === code) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never saw ${what}`);
}

/**
 * eventhos keys, clients and contracts are read through each instance's near cache: a change made on
 * one instance applies there at once and on the other as soon as Redis's invalidation arrives.
 */
describe("eventhos on two instances sharing one Redis: cached keys, clients and contracts", () => {
  let redis: RedisServer;
  let a: TestHerald;
  let b: TestHerald;
  let target: Target;
  before(async () => {
    redis = await RedisServer.start();
    const keyPrefix = uniquePrefix();
    const config = () => ({
      redis: { url: redis.url, keyPrefix },
      auth: { adminKey: ADMIN_TOKEN },
      eventhos: { allowHosts: "127.0.0.1" },
    });
    a = await startTestHerald(config());
    b = await startTestHerald(config());
    target = await Target.start(ok);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await target?.close();
    await redis?.destroy();
  });

  it("a key revoked, a client deleted or a contract changed on one instance is honoured by the other", async () => {
    const onA = new EventhosApi(a.httpPort);
    const onB = new EventhosApi(b.httpPort);
    const p = await onA.producer("cached");
    const { key, key_id: keyId } = await onA.admin("POST", `/client/${p.clientId}/key`);
    const send = (api: EventhosApi) => () => api.send(p.eventId, key, { n: 1 });
    // Read on both, twice: the second read of each comes from its cache.
    for (const api of [onA, onB, onA, onB]) assert.equal((await send(api)()).json.code, 200310, "no contract yet");

    await onA.contract("cached-hook", p.eventId, p.consumer, target.url());
    assert.equal((await send(onA)()).json.code, 200000, "the new contract at once where it was made");
    await until(send(onB), 200000, "the new contract on the other instance");
    await onA.admin("DELETE", "/contract/cached-hook");
    assert.equal((await send(onA)()).json.code, 200310, "the deleted contract at once where it was deleted");
    await until(send(onB), 200310, "the deleted contract on the other instance");

    await onA.admin("DELETE", `/client/${p.clientId}/key/${keyId}`);
    assert.equal((await send(onA)()).json.code, 401202, "the revoked key refused at once where it was revoked");
    await until(send(onB), 401202, "the revocation on the other instance");

    // A token names its client: deleting the client refuses it everywhere.
    const token = await onA.token(p.clientId, p.secret);
    for (const api of [onA, onB, onA, onB]) assert.equal((await api.send(p.eventId, token, {})).json.code, 200310);
    await onA.admin("DELETE", `/client/${p.clientId}`);
    assert.equal((await onA.send(p.eventId, token, {})).json.code, 400004, "the deleted client at once where it was deleted");
    await until(() => onB.send(p.eventId, token, {}), 400004, "the deleted client on the other instance");
  });
});
