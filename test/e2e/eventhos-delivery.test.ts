import { strict as assert } from "node:assert";
import { startTestHerald, watchersLive, type TestHerald } from "../support/herald.js";
import { Watch } from "../support/grpc-client.js";
import { failFirst, hang, ok, Target, type Behaviour } from "../support/target.js";
import { ADMIN_TOKEN, EventhosApi } from "../support/eventhos.js";

/** Contracts calling real HTTP targets, on the embedded default (memory queue and stores). */
describe("eventhos delivery: contracts that call other systems", () => {
  let h: TestHerald;
  let api: EventhosApi;
  const targets: Target[] = [];
  const target = async (b: Behaviour) => {
    const t = await Target.start(b);
    targets.push(t);
    return t;
  };

  before(async () => {
    h = await startTestHerald({
      auth: { adminKey: ADMIN_TOKEN },
      eventhos: {
        allowHosts: "127.0.0.1",
        callTimeoutMs: 300,
        retryLimit: 2,
        backoffBaseMs: 10,
        backoffMaxMs: 40,
      },
    });
    api = new EventhosApi(h.httpPort);
  });
  after(async () => {
    await h.stop();
    await Promise.all(targets.map((t) => t.close()));
  });

  it("calls the action with its templates filled from the event's body, headers and query, and logs one successful attempt", async () => {
    const p = await api.producer("shop");
    const t = await target(ok);
    await api.contract("notify-crm", p.eventId, p.consumer, t.url("/customers/{{body.id}}"), 1, {
      headers: { "x-trace": "{{headers.x-trace}}" },
      bodyTemplate: { customer: "{{body.name}}", id: "{{body.id}}", tags: "{{body.tags}}", source: "from {{query.source}}" },
    });
    const token = await api.token(p.clientId, p.secret);
    const sent = await api.send(p.eventId, token, { name: "Morpheush", id: 199, tags: ["a", "b"] }, { "x-trace": "t-1" }, "&source=web");
    assert.deepEqual(sent.json, { code: 200000, message: "success" });
    assert.equal(sent.status, 200);
    await t.received(1);
    assert.equal(t.calls[0]!.url, "/customers/199");
    assert.equal(t.calls[0]!.headers["x-trace"], "t-1");
    assert.equal(t.calls[0]!.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(t.calls[0]!.body), { customer: "Morpheush", id: 199, tags: ["a", "b"], source: "from web" });

    const received = await api.settled((await api.latest(p.eventId)).id);
    assert.equal(received.state, "processed");
    assert.deepEqual(received.body, { name: "Morpheush", id: 199, tags: ["a", "b"] });
    assert.equal(received.query.source, "web");
    assert.equal(received.headers["access-key"], undefined, "credentials are not logged");
    assert.equal(received.executions.length, 1);
    const [execution] = received.executions;
    assert.equal(execution.state, "processed");
    assert.equal(execution.attempts.length, 1);
    const [attempt] = execution.attempts;
    assert.equal(attempt.outcome, "success");
    assert.equal(attempt.request.url, t.url("/customers/199"));
    assert.equal(attempt.response.status, 200);
    assert.equal(attempt.response.body, '{"ok":true}');
    const detail = await api.admin("GET", `/event/received/execution-detail/${execution.id}`);
    assert.deepEqual(detail, execution);
  });

  it("retries a target that fails twice, with backoff, and logs exactly the three attempts", async () => {
    const p = await api.producer("flaky");
    const t = await target(failFirst(2));
    await api.contract("flaky-hook", p.eventId, p.consumer, t.url());
    const sent = await api.send(p.eventId, await api.token(p.clientId, p.secret), { n: 1 });
    assert.equal(sent.json.code, 200000);
    const received = await api.settled((await api.latest(p.eventId)).id);
    assert.equal(received.state, "processed");
    const attempts = received.executions[0].attempts;
    assert.deepEqual(
      attempts.map((a: any) => [a.number, a.outcome, a.response?.status]),
      [
        [1, "failure", 500],
        [2, "failure", 500],
        [3, "success", 200],
      ],
    );
    assert.equal(attempts[0].error, "status 500");
    assert.equal(t.calls.length, 3);
    // Backoff: each retry waited at least half its base delay (equal jitter) after the failure.
    assert.ok(t.calls[1]!.at - t.calls[0]!.answeredAt! >= 5, "first retry waited");
    assert.ok(t.calls[2]!.at - t.calls[1]!.answeredAt! >= 10, "second retry waited longer");
  });

  it("gives up on a target that hangs past the call timeout after 1 + retry-limit attempts", async () => {
    const p = await api.producer("slow");
    const t = await target(hang);
    await api.contract("slow-hook", p.eventId, p.consumer, t.url());
    await api.send(p.eventId, await api.token(p.clientId, p.secret), {});
    const received = await api.settled((await api.latest(p.eventId)).id);
    assert.equal(received.state, "error");
    const [execution] = received.executions;
    assert.equal(execution.state, "error");
    assert.deepEqual(
      execution.attempts.map((a: any) => [a.number, a.outcome, a.error]),
      [1, 2, 3].map((n) => [n, "failure", "timed out after 300 ms"]),
    );
    for (const a of execution.attempts) assert.ok(a.durationMs >= 290 && a.durationMs < 2000, `duration ${a.durationMs}`);
    assert.equal(t.calls.length, 3);
    // The log is queryable by state and event.
    const errors = await api.admin("GET", `/event/received?state=error&event=${p.eventId}`);
    assert.deepEqual(
      errors.map((r: any) => r.id),
      [received.id],
    );
    assert.deepEqual(await api.admin("GET", `/event/received?state=processed&event=${p.eventId}`), []);
  });

  it("runs the contracts of one order in parallel and the next order only after them", async () => {
    const p = await api.producer("ordered");
    // a and b answer only once both have been called: they finish only if called in parallel.
    let release!: () => void;
    const both = new Promise<{ status: number }>((resolve) => (release = () => resolve({ status: 200 })));
    let calls = 0;
    const gate: Behaviour = () => (++calls === 2 && release(), both);
    const a = await target(gate);
    const b = await target(gate);
    const c = await target(ok);
    await api.contract("o1-a", p.eventId, p.consumer, a.url(), 1);
    await api.contract("o1-b", p.eventId, p.consumer, b.url(), 1);
    await api.contract("o2-c", p.eventId, p.consumer, c.url(), 2);
    await api.send(p.eventId, await api.token(p.clientId, p.secret), {});
    const received = await api.settled((await api.latest(p.eventId)).id);
    assert.equal(received.state, "processed");
    assert.deepEqual(
      received.executions.map((e: any) => [e.order, e.attempts.length]),
      [
        [1, 1],
        [1, 1],
        [2, 1],
      ],
    );
    assert.ok(c.calls[0]!.at >= Math.max(a.calls[0]!.answeredAt!, b.calls[0]!.answeredAt!), "order 2 ran after order 1 finished");
  });

  it("answers 200310 when the event has no active contract, and still records it", async () => {
    const p = await api.producer("quiet");
    const t = await target(ok);
    await api.contract("off", p.eventId, p.consumer, t.url());
    await api.admin("PUT", "/contract/off", { eventId: p.eventId, actionId: "off-action", order: 1, active: false });
    const sent = await api.send(p.eventId, await api.token(p.clientId, p.secret), { x: 1 });
    assert.deepEqual(sent.json, { code: 200310, message: "Success, but no contracts exists for this event" });
    assert.equal(sent.status, 200);
    const received = await api.latest(p.eventId);
    assert.equal(received.state, "no-contracts");
    assert.deepEqual(received.body, { x: 1 });
    assert.equal(t.calls.length, 0);
  });

  it("retries a failed execution by hand with a fresh retry budget, keeping its attempts", async () => {
    const p = await api.producer("manual");
    const t = await target(failFirst(3));
    await api.contract("manual-hook", p.eventId, p.consumer, t.url());
    await api.send(p.eventId, await api.token(p.clientId, p.secret), {});
    const failed = await api.settled((await api.latest(p.eventId)).id);
    assert.equal(failed.state, "error");
    const id = failed.executions[0].id;
    const retried = await api.admin("POST", `/event/received/execution-detail/${id}/retry`);
    assert.equal(retried.state, "pending");
    assert.equal(retried.runStart, 4);
    const done = await api.settled(failed.id);
    assert.equal(done.state, "processed");
    assert.deepEqual(
      done.executions[0].attempts.map((a: any) => a.outcome),
      ["failure", "failure", "failure", "success"],
    );
    assert.equal(t.calls.length, 4);
    const again = await api.call("POST", `/event/received/execution-detail/nope/retry`, undefined, {
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    assert.equal(again.json.code, 404001);
  });

  it("publishes through the hub: a gRPC watcher of the system's app gets the JSON body as payload", async () => {
    const p = await api.producer("watched");
    const watch = new Watch(h.clients.hub, { appId: "watched" });
    await watchersLive(h);
    const sent = await api.send(p.eventId, await api.token(p.clientId, p.secret), { order: 42, items: ["x"] });
    assert.equal(sent.json.code, 200310);
    await watch.received(1);
    const event = watch.events[0] as unknown as { eventId: string; msgId: string; payload: any };
    assert.equal(event.eventId, p.eventId);
    assert.equal(event.payload.structValue.fields.order.numberValue, 42);
    assert.equal((await api.latest(p.eventId)).id, event.msgId, "the received event's id is the hub's msg id");
    watch.cancel();
  });

  it("filters the received log by time range", async () => {
    const p = await api.producer("timed");
    const key = await api.token(p.clientId, p.secret);
    await api.send(p.eventId, key, { n: 1 });
    const first = await api.latest(p.eventId);
    const middle = Date.parse(first.time) + 1;
    // The next event must get a later receive time: wait for the clock to pass it.
    while (Date.now() <= middle) await new Promise((r) => setImmediate(r));
    await api.send(p.eventId, key, { n: 2 });
    const all = await api.admin("GET", `/event/received?event=${p.eventId}`);
    assert.deepEqual(
      all.map((r: any) => r.body.n),
      [2, 1],
      "newest first",
    );
    const later = await api.admin("GET", `/event/received?event=${p.eventId}&from=${middle}`);
    assert.deepEqual(
      later.map((r: any) => r.body.n),
      [2],
    );
    const earlier = await api.admin("GET", `/event/received?event=${p.eventId}&to=${new Date(middle - 1).toISOString()}`);
    assert.deepEqual(
      earlier.map((r: any) => r.body.n),
      [1],
    );
  });
});
