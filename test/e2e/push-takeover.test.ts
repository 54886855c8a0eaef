import { strict as assert } from "node:assert";
import { once } from "node:events";
import { RedisServer } from "../support/redis-server.js";
import { startHeraldProcess, type HeraldProcess } from "../support/herald-process.js";
import { startTestHerald, uniquePrefix, type TestHerald } from "../support/herald.js";
import { rawClients, unary, type RawClients } from "../support/grpc-client.js";
import { PushFakes } from "../support/push-fakes.js";
import { until } from "../suites/store-suite.js";

const N = 40;
const ANSWERED = 10;
const CLAIM_IDLE_MS = 600;
const token = (i: number) => i.toString(16).padStart(64, "0");

interface Status {
  subscribers: Array<{ ksid: string; pushes: Array<{ state: string; attempts: number }> }>;
}
const delivered = (m: Status[]) => (m[0]?.subscribers ?? []).filter((s) => s.pushes[0]?.state === "DELIVERY_STATE_DELIVERED").length;

/**
 * A core process killed with SIGKILL in the middle of a batch of pushes: another instance on the
 * same Redis takes the job over, sends what was not yet accepted (with the same apns-id) and
 * nothing that was: every device gets the push once.
 */
describe("device pushes on Redis: SIGKILL mid-batch loses none and sends none twice", function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let fakes: PushFakes;
  let a: HeraldProcess | undefined;
  let clientsA: RawClients | undefined;
  let b: TestHerald | undefined;

  before(async () => {
    [redis, fakes] = await Promise.all([RedisServer.start(), PushFakes.start()]);
  });
  after(async () => {
    clientsA?.close();
    if (a && a.proc.exitCode === null && a.proc.signalCode === null) a.proc.kill("SIGKILL");
    await b?.stop();
    await fakes?.close();
    await redis?.destroy();
  });

  it("another instance finishes the batch: each device once, the accepted ones not again", async () => {
    const keyPrefix = uniquePrefix();
    const flags = fakes.flags({ "push-claim-idle-ms": String(CLAIM_IDLE_MS), "push-backoff-base-ms": "10" });
    a = await startHeraldProcess(["--redis-url", redis.url, "--key-prefix", keyPrefix, ...flags]);
    clientsA = rawClients(a.grpcPort);
    await unary(clientsA.registry, "upsertApp", { app: { id: "shop", name: "shop", published: true } });
    await unary(clientsA.registry, "setPushProvider", { provider: fakes.providers("shop")[0] });
    for (let i = 0; i < N; i++) {
      await unary(clientsA.registry, "subscribe", { appId: "shop", deviceId: `d${i}`, osType: "iphone", sid: token(i) });
    }

    // APNs answers the first pushes, then goes quiet with the rest in flight.
    fakes.apns.holdAfterNext(ANSWERED);
    const { msgId } = await unary<{ msgId: string }>(clientsA.hub, "sendPush", {
      appId: "shop",
      allActive: true,
      osType: "iphone",
      content: { data: "flash sale" },
    });
    // Every push is out (A sends them all at once): the rest wait for answers that never come.
    await fakes.apns.received(N);
    // The accepted ones are on record before the kill (status is what the next owner goes by).
    const statusA = () => unary<{ messages: Status[] }>(clientsA!.hub, "getMessageStatus", { requestId: msgId });
    await until(statusA, (s) => delivered(s.messages) === ANSWERED, `${ANSWERED} pushes recorded delivered`);
    const acceptedBefore = new Set(fakes.apns.delivered.values());
    assert.equal(acceptedBefore.size, ANSWERED);

    a.proc.kill("SIGKILL");
    await once(a.proc, "exit");
    clientsA.close();
    clientsA = undefined;
    const sentBeforeKill = fakes.apns.pushes.length;
    assert.equal(sentBeforeKill, N);
    fakes.apns.dropHeld(); // what was held died with the connection: never answered

    b = await startTestHerald({
      redis: { url: redis.url, keyPrefix },
      push: fakes.config({ claimIdleMs: CLAIM_IDLE_MS, backoffBaseMs: 10 }),
    });
    const status = await until(
      () => unary<{ messages: Status[] }>(b!.clients.hub, "getMessageStatus", { requestId: msgId }),
      (s) => delivered(s.messages) === N,
      "every push delivered after the takeover",
      20_000,
    );
    assert.equal(status.messages[0]!.subscribers.length, N);

    // Every device got it, once: N distinct apns-ids accepted, one per token, no repeat accepted.
    assert.equal(fakes.apns.delivered.size, N);
    assert.equal(new Set(fakes.apns.delivered.values()).size, N);
    assert.equal(fakes.apns.repeats, 0);
    // Each token only ever saw one apns-id (a re-sent push carries the id of the first try).
    const ids = new Map<string, Set<string>>();
    for (const p of fakes.apns.pushes) ids.set(p.token, (ids.get(p.token) ?? new Set()).add(String(p.headers["apns-id"])));
    assert.deepEqual(
      [...ids.values()].filter((s) => s.size !== 1),
      [],
    );
    // The takeover sent exactly the pushes not yet accepted, and none of the accepted ones.
    const after = fakes.apns.pushes.slice(sentBeforeKill);
    assert.equal(after.length, N - ANSWERED);
    assert.deepEqual(
      after.filter((p) => acceptedBefore.has(p.token)),
      [],
    );
  });
});
