import { strict as assert } from "node:assert";
import { once } from "node:events";
import { RedisServer } from "../support/redis-server.js";
import { startHeraldProcess } from "../support/herald-process.js";
import { startTestHerald, uniquePrefix, type TestHerald } from "../support/herald.js";
import { Target, ok, type Behaviour } from "../support/target.js";
import { ADMIN_TOKEN, EventhosApi } from "../support/eventhos.js";
import { Redis } from "ioredis";

const CLAIM_IDLE_MS = 600;
const auth = { adminKey: ADMIN_TOKEN };
const delivery = {
  allowHosts: "127.0.0.1",
  claimIdleMs: CLAIM_IDLE_MS,
  backoffBaseMs: 10,
  backoffMaxMs: 50,
  callTimeoutMs: 10_000,
};

/** The real executable on Redis. */
function startProcess(redisUrl: string, keyPrefix: string) {
  return startHeraldProcess(
    [
      "--redis-url",
      redisUrl,
      "--key-prefix",
      keyPrefix,
      "--delivery-claim-idle-ms",
      String(CLAIM_IDLE_MS),
      "--delivery-backoff-base-ms",
      "10",
      "--delivery-allow-hosts",
      "127.0.0.1",
    ],
    { HERALD_ADMIN_KEY: ADMIN_TOKEN },
  );
}

/** Durable delivery on Redis: work left by a killed instance is finished by another, exactly once. */
describe("eventhos delivery on Redis: takeover and exactly-once", () => {
  let redis: RedisServer;
  const cleanup: Array<() => Promise<unknown>> = [];
  before(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  after(() => redis.destroy());

  it("a core process killed mid-delivery: another instance continues, completed contracts are not run again", async () => {
    const keyPrefix = uniquePrefix();
    const first = await Target.start(ok);
    cleanup.push(() => first.close());
    // Holds its first call open (the process is killed during it), answers the next.
    const second = await Target.start((n) => (n === 1 ? "hold" : { status: 200, body: '{"ok":2}' }));
    cleanup.push(() => second.close());

    const p1 = await startProcess(redis.url, keyPrefix);
    cleanup.push(async () => {
      if (p1.proc.exitCode === null && p1.proc.signalCode === null) p1.proc.kill("SIGKILL");
    });
    const api1 = new EventhosApi(p1.httpPort);
    const p = await api1.producer("killed");
    await api1.contract("first", p.eventId, p.consumer, first.url(), 1);
    await api1.contract("second", p.eventId, p.consumer, second.url(), 2);
    const sent = await api1.send(p.eventId, await api1.token(p.clientId, p.secret), { order: 7 });
    assert.equal(sent.json.code, 200000);

    await second.received(1); // order 1 is done, order 2's call is in flight: kill now
    const exited = once(p1.proc, "exit");
    p1.proc.kill("SIGKILL");
    await exited;
    second.dropHeld();
    assert.equal(first.calls.length, 1);

    const h2: TestHerald = await startTestHerald({ redis: { url: redis.url, keyPrefix }, auth, eventhos: delivery });
    cleanup.push(() => h2.stop());
    const api2 = new EventhosApi(h2.httpPort);
    const received = await api2.settled((await api2.latest(p.eventId)).id);
    assert.equal(received.state, "processed");
    const [e1, e2] = received.executions;
    assert.deepEqual(
      e1.attempts.map((a: any) => a.outcome),
      ["success"],
      "order 1 was not run again",
    );
    assert.deepEqual(
      e2.attempts.map((a: any) => a.outcome),
      ["interrupted", "success"],
    );
    assert.match(e2.attempts[0].error, /interrupted/);
    assert.equal(first.calls.length, 1, "the completed contract's target was called once");
    assert.equal(second.calls.length, 2, "the call cut by the kill, then the takeover's attempt");
    assert.deepEqual(JSON.parse(second.calls[1]!.body), { order: 7 });
    // The repeated call says so: same idempotency key, next attempt number.
    const [cut, retried] = second.calls.map((c) => [c.headers["idempotency-key"], c.headers["x-herald-attempt"]]);
    assert.equal(retried![0], cut![0]);
    assert.equal(cut![0], e2.id);
    assert.deepEqual([cut![1], retried![1]], ["1", "2"]);
  });

  it("an instance stopped (as on SIGTERM) during a retry backoff leaves the work to the next one, which continues the attempts", async () => {
    const keyPrefix = uniquePrefix();
    const target = await Target.start((n) => (n === 1 ? { status: 503 } : { status: 200 }));
    cleanup.push(() => target.close());
    // A backoff far longer than the test: only a takeover can make the second attempt.
    const a = await startTestHerald({
      redis: { url: redis.url, keyPrefix },
      auth,
      eventhos: { ...delivery, backoffBaseMs: 600_000, backoffMaxMs: 600_000 },
    });
    cleanup.push(() => a.stop());
    const apiA = new EventhosApi(a.httpPort);
    const p = await apiA.producer("stopped");
    await apiA.contract("stopped-hook", p.eventId, p.consumer, target.url());
    await apiA.send(p.eventId, await apiA.token(p.clientId, p.secret), { n: 1 });
    await target.received(1);
    const id = (await apiA.latest(p.eventId)).id as string;
    // Wait (bounded) until attempt 1 is logged as failed: a is now in its backoff.
    const deadline = Date.now() + 5000;
    while ((await apiA.admin("GET", `/event/received/${id}`)).executions[0].attempts[0]?.outcome !== "failure") {
      assert.ok(Date.now() < deadline, "attempt 1 never finished");
      await new Promise((r) => setTimeout(r, 10));
    }
    // The backoff (600 s) is far beyond mocha's timeout: a stop that waited for it fails the test.
    await a.stop();

    const b = await startTestHerald({ redis: { url: redis.url, keyPrefix }, auth, eventhos: delivery });
    cleanup.push(() => b.stop());
    const done = await new EventhosApi(b.httpPort).settled(id);
    assert.equal(done.state, "processed");
    assert.deepEqual(
      done.executions[0].attempts.map((x: any) => [x.number, x.outcome]),
      [
        [1, "failure"],
        [2, "success"],
      ],
    );
    assert.equal(target.calls.length, 2);
  });

  it("two live instances on one Redis run each contract of each event once", async () => {
    const keyPrefix = uniquePrefix();
    const seen = new Map<number, number>();
    const counting: Behaviour = (_n, call) => {
      const id = (JSON.parse(call.body) as { id: number }).id;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      return { status: 200 };
    };
    const target = await Target.start(counting);
    cleanup.push(() => target.close());
    const options = { redis: { url: redis.url, keyPrefix }, auth, eventhos: { ...delivery, concurrency: 4 } };
    const a = await startTestHerald(options);
    cleanup.push(() => a.stop());
    const b = await startTestHerald(options);
    cleanup.push(() => b.stop());
    const apiA = new EventhosApi(a.httpPort);
    const apiB = new EventhosApi(b.httpPort);
    const p = await apiA.producer("pair");
    await apiA.contract("pair-hook", p.eventId, p.consumer, target.url());
    const token = await apiB.token(p.clientId, p.secret); // a token from one instance works on the other
    const n = 40;
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 ? apiA : apiB).send(p.eventId, token, { id: i })));
    assert.ok(
      replies.every((r) => r.json.code === 200000),
      JSON.stringify(replies.map((r) => r.json.code)),
    );
    await target.received(n);
    const list = await apiA.admin("GET", `/event/received?event=${p.eventId}&limit=${n}`);
    assert.equal(list.length, n);
    for (const r of list) {
      const done = await apiB.settled(r.id);
      assert.equal(done.state, "processed");
      assert.equal(done.executions[0].attempts.length, 1);
    }
    assert.equal(target.calls.length, n, "no call twice");
    assert.deepEqual(
      [...seen.keys()].sort((x, y) => x - y),
      Array.from({ length: n }, (_, i) => i),
    );
    assert.ok([...seen.values()].every((count) => count === 1));
  });

  it("a send recorded but not queued (the queue failed in between) is queued by its retry under the same Idempotency-Key, and runs once", async () => {
    const keyPrefix = uniquePrefix();
    const target = await Target.start(ok);
    cleanup.push(() => target.close());
    const h: TestHerald = await startTestHerald({ redis: { url: redis.url, keyPrefix }, auth, eventhos: delivery });
    cleanup.push(() => h.stop());
    const api = new EventhosApi(h.httpPort);
    const p = await api.producer("requeued");
    await api.contract("hook", p.eventId, p.consumer, target.url(), 1);
    const token = await api.token(p.clientId, p.secret);
    // The work queue's stream replaced by a string: the record is written, then XADD fails
    // (WRONGTYPE), the state a crash between the two steps leaves.
    const admin = new Redis(redis.url);
    cleanup.push(async () => admin.disconnect());
    const queue = `${keyPrefix}eventhos:deliveries`;
    await admin.del(queue);
    await admin.set(queue, "not a stream");
    const key = { "Idempotency-Key": "requeue-1" };
    const failed = await api.send(p.eventId, token, { n: 1 }, key);
    assert.equal(failed.json.code, 500000, "published, not queued");
    const recorded = await api.latest(p.eventId);
    assert.equal(recorded.state, "pending");
    await admin.del(queue); // the queue recreates its stream and group on its next read or write
    const retried = await api.send(p.eventId, token, { n: 1 }, key);
    assert.equal(retried.json.code, 200000);
    const done = await api.settled(recorded.id);
    assert.equal(done.state, "processed");
    assert.equal(target.calls.length, 1, "called once");
    assert.equal((await api.latest(p.eventId)).id, recorded.id, "one record");
  });
});
