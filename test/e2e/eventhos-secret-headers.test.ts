import { strict as assert } from "node:assert";
import { startTestHerald, type TestHerald } from "../support/herald.js";
import { unary } from "../support/grpc-client.js";
import { ok, Target } from "../support/target.js";
import { ADMIN_TOKEN, EventhosApi, eventhosGrpc } from "../support/eventhos.js";

const REDACTED = "[redacted]";

/** Issue 13: secret action headers reach the target and nowhere else (log, replies). */
describe("eventhos secret action headers", () => {
  let h: TestHerald;
  let api: EventhosApi;
  let eventhos: ReturnType<typeof eventhosGrpc>;
  let target: Target;
  let p: Awaited<ReturnType<EventhosApi["producer"]>>;

  const headers = {
    Authorization: "Bearer crm-s3cret",
    "x-api-key": "k-123",
    "X-Signature": "sig-{{headers.x-sig}}",
    "x-trace": "{{headers.x-trace}}",
  };
  /** Names as given (marking is case-insensitive), secret values redacted. */
  const shown = { Authorization: REDACTED, "x-api-key": REDACTED, "X-Signature": REDACTED, "x-trace": "{{headers.x-trace}}" };

  before(async () => {
    h = await startTestHerald({ auth: { adminKey: ADMIN_TOKEN }, eventhos: { allowHosts: "127.0.0.1", retryLimit: 0 } });
    api = new EventhosApi(h.httpPort);
    eventhos = eventhosGrpc(h.grpcPort, ADMIN_TOKEN);
    target = await Target.start(ok);
    p = await api.producer("vault");
  });
  after(async () => {
    eventhos?.close();
    await h?.stop();
    await target?.close();
  });

  it("always redacts authorization, proxy-authorization, cookie and x-api-key, even unmarked", async () => {
    const q = await api.producer("plain");
    const t = await Target.start(ok);
    try {
      const always = { authorization: "Bearer a1", "proxy-authorization": "Basic p2", cookie: "c=3", "x-api-key": "k4", "x-plain": "v5" };
      await api.contract("plain-hook", q.eventId, q.consumer, t.url("/in"), 1, { headers: always });
      const masked = { ...Object.fromEntries(Object.keys(always).map((k) => [k, REDACTED])), "x-plain": "v5" };
      assert.deepEqual((await api.admin("GET", "/action/plain-hook-action")).headers, masked);
      const sent = await api.send(q.eventId, await api.token(q.clientId, q.secret), {});
      assert.equal(sent.json.code, 200000, sent.body);
      await t.received(1);
      for (const [k, v] of Object.entries(always)) assert.equal(t.calls[0]!.headers[k], v, k);
      const received = await api.settled((await api.latest(q.eventId)).id);
      const logged = received.executions[0].attempts[0].request.headers;
      for (const [k, v] of Object.entries(masked)) assert.equal(logged[k], v, k);
    } finally {
      await t.close();
    }
  });

  it("redacts secret headers in the admin reply of POST /action, in GET /action/:id and GET /action", async () => {
    const created = await api.admin("POST", "/action", {
      id: "crm-call",
      appId: p.consumer,
      name: "crm",
      method: "POST",
      url: target.url("/orders"),
      headers,
      secretHeaders: ["x-SIGNATURE"],
    });
    assert.deepEqual(created.headers, shown);
    assert.deepEqual(created.secretHeaders, ["x-signature"]);
    assert.deepEqual((await api.admin("GET", "/action/crm-call")).headers, shown);
    const listed = (await api.admin("GET", `/action?system=${p.consumer}`)) as any[];
    assert.deepEqual(listed.find((a) => a.id === "crm-call").headers, shown);
    await api.admin("POST", "/contract", { id: "vault-crm", eventId: p.eventId, actionId: "crm-call", order: 1 });
  });

  it("redacts them in GetAction and ListActions over gRPC", async () => {
    assert.deepEqual((await unary(eventhos.delivery, "getAction", { id: "crm-call" })).action.headers, shown);
    const { actions } = await unary(eventhos.delivery, "listActions", { appId: p.consumer });
    assert.deepEqual(actions[0].headers, shown);
  });

  it("sends the real values (templates filled) to the target, and logs them redacted", async () => {
    const sent = await api.send(p.eventId, await api.token(p.clientId, p.secret), { id: 1 }, { "x-sig": "abc", "x-trace": "t-9" });
    assert.equal(sent.json.code, 200000, sent.body);
    await target.received(1);
    const call = target.calls[0]!;
    assert.equal(call.headers["authorization"], "Bearer crm-s3cret");
    assert.equal(call.headers["x-api-key"], "k-123");
    assert.equal(call.headers["x-signature"], "sig-abc");
    assert.equal(call.headers["x-trace"], "t-9");

    const received = await api.settled((await api.latest(p.eventId)).id);
    assert.equal(received.state, "processed");
    const execution = received.executions[0];
    const logged = execution.attempts[0].request.headers;
    assert.equal(logged["authorization"], REDACTED);
    assert.equal(logged["x-api-key"], REDACTED);
    assert.equal(logged["x-signature"], REDACTED, "a templated secret header is redacted too");
    assert.equal(logged["x-trace"], "t-9", "other headers are logged as sent");
    const detail = await api.admin("GET", `/event/received/execution-detail/${execution.id}`);
    assert.deepEqual(detail.attempts[0].request.headers, logged);

    const grpcExecution = (await unary(eventhos.delivery, "getExecution", { id: execution.id })).execution;
    assert.equal(grpcExecution.attempts[0].request.headers["authorization"], REDACTED);
    assert.equal(grpcExecution.attempts[0].request.headers["x-signature"], REDACTED);
    const grpcReceived = await unary(eventhos.delivery, "getReceivedEvent", { id: received.id });
    assert.equal(grpcReceived.executions[0].attempts[0].request.headers["x-api-key"], REDACTED);
    for (const text of [JSON.stringify(detail), JSON.stringify(grpcReceived)]) {
      assert.doesNotMatch(text, /crm-s3cret|k-123|sig-abc/);
    }
  });

  it("keeps the stored value when an admin sends a redacted action back unchanged", async () => {
    const got = await api.admin("GET", "/action/crm-call");
    await api.admin("PUT", "/action/crm-call", { ...got, headers: { ...got.headers, "x-trace": "fixed" } });
    const sent = await api.send(p.eventId, await api.token(p.clientId, p.secret), { id: 2 }, { "x-sig": "def" });
    assert.equal(sent.json.code, 200000, sent.body);
    await target.received(2);
    const call = target.calls[1]!;
    assert.equal(call.headers["authorization"], "Bearer crm-s3cret");
    assert.equal(call.headers["x-api-key"], "k-123");
    assert.equal(call.headers["x-signature"], "sig-def");
    assert.equal(call.headers["x-trace"], "fixed");
  });

  it("refuses the redaction mark as the value of a header that has no stored value", async () => {
    const r = await api.call(
      "POST",
      "/action",
      { id: "fresh", appId: p.consumer, name: "f", url: target.url(), headers: { authorization: REDACTED } },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    assert.equal(r.json.code, 400000, r.body);
  });
});
