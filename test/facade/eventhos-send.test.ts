import { strict as assert } from "node:assert";
import { SignJWT } from "jose";
import { silentLogger } from "../../core/logger.js";
import type { HeraldConfigInput } from "../../server/config.js";
import { startFacadeServer } from "../../server/start-facade.js";
import { startTestHerald, type TestHerald } from "../support/herald.js";
import { ok, Target } from "../support/target.js";
import { ADMIN_TOKEN, EventhosApi } from "../support/eventhos.js";
import { contractText } from "../support/contract-docs.js";
import { http } from "../support/http.js";

const TOKEN_SECRET = "a-token-secret-of-the-test-suite-0123456789";

/** The fixture both suites share: a Herald with the eventhos facade, a producer whose event is contracted to a target, and its token. */
interface ProducerFixture {
  h: TestHerald;
  api: EventhosApi;
  target: Target;
  p: Awaited<ReturnType<EventhosApi["producer"]>>;
  token: string;
}

/** Registers the suite's before/after hooks; the returned fixture is filled in by `before`. */
function withProducer(name: string, options: Omit<HeraldConfigInput, "eventhos">): ProducerFixture {
  const fx = {} as ProducerFixture;
  before(async () => {
    fx.h = await startTestHerald({
      auth: { adminKey: ADMIN_TOKEN },
      eventhos: { tokenSecret: TOKEN_SECRET, allowHosts: "127.0.0.1" },
      ...options,
    });
    fx.api = new EventhosApi(fx.h.httpPort);
    fx.target = await Target.start(ok);
    fx.p = await fx.api.producer(name);
    await fx.api.contract(`${name}-hook`, fx.p.eventId, fx.p.consumer, fx.target.url());
    fx.token = await fx.api.token(fx.p.clientId, fx.p.secret);
  });
  after(async () => {
    await fx.h.stop();
    await fx.target.close();
  });
  return fx;
}

/** Every code of the document's table, reached by a real request, plus malformed input. */
describe("eventhos /event/send and /auth/token: the document's codes", () => {
  const fx = withProducer("codes", {
    limits: { maxBodyBytes: 4096 },
  });

  const received = async () => (await fx.api.admin("GET", `/event/received?event=${fx.p.eventId}&limit=1000`)).length as number;
  const expect = (r: { status: number; json: unknown }, code: number, message: string) => {
    assert.deepEqual(r.json, { code, message });
    assert.equal(r.status, Math.floor(code / 1000));
  };

  it("uses the document's codes and descriptions", () => {
    const doc = contractText("eventhos-event-send.txt");
    for (const [code, description] of [
      [200000, "Event was received successfully"],
      [200310, "Success, but no contracts exists for this event"],
      [401202, "Incorrect token"],
      [400201, "event-identifier is required"],
      [400011, "Client can not generate short live token"],
      [400024, "The event does not exist."],
      [400004, "Client or user not found"],
      [500000, "Not categorized error"],
    ] as const) {
      assert.ok(doc.includes(`${code} | ${description} |`), `${code} is documented as "${description}"`);
    }
  });

  it("200000 success with a token in the header, and with a long-lived key in the query", async () => {
    expect(await fx.api.send(fx.p.eventId, fx.token, { name: "Morpheush", job: "Leader" }), 200000, "success");
    const { key } = await fx.api.admin("POST", `/client/${fx.p.clientId}/key`);
    const r = await fx.api.call("POST", `/event/send?event-identifier=${fx.p.eventId}&access-key=${encodeURIComponent(key)}`, { a: 1 });
    expect(r, 200000, "success");
    const last = await fx.api.latest(fx.p.eventId);
    assert.deepEqual(last.body, { a: 1 });
    assert.equal(last.clientId, fx.p.clientId);
    assert.equal(last.query["access-key"], undefined, "the key is not logged");
  });

  it("accepts any JSON: the document's sample, arrays and scalars", async () => {
    const doc = contractText("eventhos-event-send.txt");
    const sample = doc.slice(doc.indexOf("{", doc.indexOf("Any valid json")), doc.indexOf("}", doc.indexOf("Any valid json")) + 1);
    expect(await fx.api.send(fx.p.eventId, fx.token, sample), 200000, "success");
    assert.equal((await fx.api.latest(fx.p.eventId)).body.createdAt, "2020-02-20T11:00:28.107Z");
    expect(await fx.api.send(fx.p.eventId, fx.token, "[1,2]"), 200000, "success");
    expect(await fx.api.send(fx.p.eventId, fx.token, '"text"'), 200000, "success");
    expect(await fx.api.send(fx.p.eventId, fx.token, "null"), 200000, "success");
  });

  it("reads a send without a body as {}, as the original does: no content type, a bodyless form (axios 0.x), empty JSON", async () => {
    const url = fx.api.url(`/event/send?event-identifier=${fx.p.eventId}`);
    for (const [what, headers] of [
      ["no content type, no body", {}],
      ["form type, no body", { "content-type": "application/x-www-form-urlencoded" }],
      ["JSON type, no body", { "content-type": "application/json" }],
      ["JSON type, chunked, no bytes", { "content-type": "application/json", "transfer-encoding": "chunked" }],
    ] as const) {
      const r = await http(url, "POST", undefined, { "access-key": fx.token, ...headers });
      assert.deepEqual(JSON.parse(r.body), { code: 200000, message: "success" }, what);
      assert.equal(r.status, 200, what);
      const last = await fx.api.latest(fx.p.eventId);
      assert.deepEqual(last.body, {}, what);
    }
  });

  it("200310 when no contract is active", async () => {
    await fx.api.admin("POST", "/event", { id: "codes-lonely", appId: "codes", name: "lonely" });
    expect(await fx.api.send("codes-lonely", fx.token, {}), 200310, "Success, but no contracts exists for this event");
    assert.equal((await fx.api.latest("codes-lonely")).state, "no-contracts");
  });

  it("400201 without event-identifier", async () => {
    expect(await fx.api.call("POST", "/event/send", {}, { "access-key": fx.token }), 400201, "event-identifier is required");
    expect(
      await fx.api.call("POST", "/event/send?event-identifier=", {}, { "access-key": fx.token }),
      400201,
      "event-identifier is required",
    );
  });

  it("400024 for an unknown or unpublished event", async () => {
    const client = { id: "codes-any", appId: "codes", name: "any", secret: "x", allowedEventIds: ["nope", "codes-hidden"] };
    await fx.api.admin("POST", "/client", client);
    const key = await fx.api.token("codes-any", "x");
    expect(await fx.api.send("nope", key, {}), 400024, "The event does not exist.");
    await fx.api.admin("POST", "/event", { id: "codes-hidden", appId: "codes", name: "hidden", published: false });
    expect(await fx.api.send("codes-hidden", key, {}), 400024, "The event does not exist.");
  });

  it("401202 for a missing, wrong, forged, expired or revoked key, or an event the client may not send; nothing is written", async () => {
    const before = await received();
    const forge = (secret: string, exp: number, sub = fx.p.clientId) =>
      new SignJWT({ gen: 1 })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(sub)
        .setIssuer("herald")
        .setAudience("eventhos")
        .setExpirationTime(exp)
        .sign(new TextEncoder().encode(secret));
    const now = Math.floor(Date.now() / 1000);
    const { key, key_id } = await fx.api.admin("POST", `/client/${fx.p.clientId}/key`);
    await fx.api.admin("DELETE", `/client/${fx.p.clientId}/key/${key_id}`);
    await fx.api.admin("POST", "/event", { id: "codes-other", appId: `${fx.p.consumer}`, name: "other" });
    for (const [what, k, event] of [
      ["no key", "", fx.p.eventId],
      ["garbage", "not-a-token", fx.p.eventId],
      ["an unknown long-lived key", "hk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", fx.p.eventId],
      ["a revoked key", key, fx.p.eventId],
      ["a token signed with another secret", await forge("another-secret-another-secret-1234", now + 60), fx.p.eventId],
      ["an expired token", await forge(TOKEN_SECRET, now - 60), fx.p.eventId],
      ["another system's event", fx.token, "codes-other"],
    ] as const) {
      const r = await fx.api.send(event, k, { no: "write" });
      assert.deepEqual(r.json, { code: 401202, message: "Incorrect token" }, what);
      assert.equal(r.status, 401, what);
    }
    // A new secret ends the tokens issued before it.
    await fx.api.admin("POST", "/client", { id: "codes-rotating", appId: "codes", name: "r", secret: "one" });
    const old = await fx.api.token("codes-rotating", "one");
    expect(await fx.api.send(fx.p.eventId, old, {}), 200000, "success");
    await fx.api.admin("PUT", "/client/codes-rotating", { appId: "codes", name: "r", secret: "two" });
    expect(await fx.api.send(fx.p.eventId, old, { no: "write" }), 401202, "Incorrect token");
    expect(await fx.api.send(fx.p.eventId, await fx.api.token("codes-rotating", "two"), {}), 200000, "success");
    assert.equal(await received(), before + 2, "only the two good sends were recorded");
  });

  it("400004 for a token whose client is gone, and /auth/token for an unknown client", async () => {
    await fx.api.admin("POST", "/client", { id: "codes-gone", appId: "codes", name: "gone", secret: "g" });
    const orphan = await fx.api.token("codes-gone", "g");
    await fx.api.admin("DELETE", "/client/codes-gone");
    expect(await fx.api.send(fx.p.eventId, orphan, {}), 400004, "Client or user not found");
    const r = await fx.api.call("POST", "/auth/token", { grant_type: "client_credentials", client_id: "nobody", client_secret: "x" });
    expect(r, 400004, "Client or user not found");
  });

  it("400011 when /auth/token cannot issue a token: wrong secret or grant type", async () => {
    const wrong = await fx.api.call("POST", "/auth/token", {
      grant_type: "client_credentials",
      client_id: fx.p.clientId,
      client_secret: "wrong",
    });
    expect(wrong, 400011, "Client can not generate short live token");
    const grant = await fx.api.call("POST", "/auth/token", {
      grant_type: "password",
      client_id: fx.p.clientId,
      client_secret: fx.p.secret,
    });
    expect(grant, 400011, "Client can not generate short live token");
  });

  it("/auth/token takes a form too and says how long the token lives", async () => {
    const form = `grant_type=client_credentials&client_id=${fx.p.clientId}&client_secret=${encodeURIComponent(fx.p.secret)}`;
    const r = await http(fx.api.url("/auth/token"), "POST", form, { "content-type": "application/x-www-form-urlencoded" });
    const json = JSON.parse(r.body);
    assert.equal(json.code, 200000, r.body);
    assert.equal(json.content.token_type, "Bearer");
    assert.equal(json.content.expires_in, 3600);
    expect(await fx.api.send(fx.p.eventId, json.content.access_token, {}), 200000, "success");
  });

  it("/auth/token also gives the token as content.jwt_token, where the original's clients read it", async () => {
    const r = await fx.api.call("POST", "/auth/token", {
      grant_type: "client_credentials",
      client_id: fx.p.clientId,
      client_secret: fx.p.secret,
    });
    assert.equal(r.json.code, 200000, r.body);
    assert.equal(typeof r.json.content.jwt_token, "string");
    assert.equal(r.json.content.jwt_token, r.json.content.access_token);
    expect(await fx.api.send(fx.p.eventId, r.json.content.jwt_token, {}), 200000, "success");
  });

  it("500000 when the core cannot be reached", async () => {
    const orphan = await startFacadeServer({ server: { host: "127.0.0.1", httpPort: 0, coreUrl: "http://127.0.0.1:1" } }, silentLogger);
    try {
      const r = await new EventhosApi(orphan.httpPort).send(fx.p.eventId, fx.token, {});
      expect(r, 500000, "Not categorized error");
    } finally {
      await orphan.close();
    }
  });

  it("refuses bad JSON, a blank body, an oversized body and another content type with their own codes; nothing is written", async () => {
    const before = await received();
    expect(await fx.api.send(fx.p.eventId, fx.token, '{"name": '), 400001, "Body is not valid json");
    expect(await fx.api.send(fx.p.eventId, fx.token, " \n"), 400001, "Body is not valid json");
    expect(await fx.api.send(fx.p.eventId, fx.token, JSON.stringify({ big: "x".repeat(5000) })), 413001, "Body is too large");
    const deep = "[".repeat(40) + "]".repeat(40);
    expect(await fx.api.send(fx.p.eventId, fx.token, deep), 400001, "Body is not valid json");
    const xml = await http(fx.api.url(`/event/send?event-identifier=${fx.p.eventId}`), "POST", "<a/>", {
      "content-type": "text/xml",
      "access-key": fx.token,
    });
    assert.deepEqual(JSON.parse(xml.body), { code: 415001, message: "Content-Type must be application/json" });
    assert.equal(xml.status, 415);
    for (const [method, path] of [
      ["GET", `/event/send?event-identifier=${fx.p.eventId}`],
      ["PUT", "/event/send"],
      ["GET", "/auth/token"],
    ] as const) {
      const r = await http(fx.api.url(path), method, undefined, { "access-key": fx.token });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.deepEqual(JSON.parse(r.body), { code: 405001, message: "Method not allowed" });
      assert.equal(r.headers?.allow, "POST");
      assert.equal(r.headers?.["content-type"], "application/json; charset=utf-8");
    }
    assert.equal(await received(), before);
  });

  it("records (and runs the contracts of) a send retried with the same Idempotency-Key once; 409002 for another body, 400002 for a bad key", async () => {
    const before = await received();
    const key = { "Idempotency-Key": "eventhos-retry-1" };
    expect(await fx.api.send(fx.p.eventId, fx.token, { order: 1 }, key), 200000, "success");
    const first = await fx.api.latest(fx.p.eventId);
    expect(await fx.api.send(fx.p.eventId, fx.token, { order: 1 }, key), 200000, "success");
    assert.equal(await received(), before + 1, "one received event");
    assert.equal((await fx.api.latest(fx.p.eventId)).id, first.id);
    expect(await fx.api.send(fx.p.eventId, fx.token, { order: 2 }, key), 409002, "Idempotency-Key already used for a different request");
    expect(
      await fx.api.send(fx.p.eventId, fx.token, { order: 3 }, { "Idempotency-Key": "k".repeat(300) }),
      400002,
      "Idempotency-Key must be at most 256 printable ASCII characters",
    );
    assert.equal(await received(), before + 1, "nothing more recorded");
  });

  it("answers a send retried with the same Idempotency-Key as the first time, though the event's contracts changed since", async () => {
    const p = await fx.api.producer("repeat");
    await fx.api.contract("repeat-hook", p.eventId, p.consumer, fx.target.url());
    const token = await fx.api.token(p.clientId, p.secret);
    const key = { "Idempotency-Key": "eventhos-retry-2" };
    expect(await fx.api.send(p.eventId, token, { n: 1 }, key), 200000, "success");
    await fx.api.admin("DELETE", "/contract/repeat-hook");
    expect(await fx.api.send(p.eventId, token, { n: 1 }, key), 200000, "success");
    expect(await fx.api.send(p.eventId, token, { n: 1 }), 200310, "Success, but no contracts exists for this event");
  });

  it("protects the admin routes with the admin token", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: ADMIN_TOKEN }]) {
      const r = await fx.api.call("GET", "/system", undefined, headers);
      expect(r, 401202, "Incorrect token");
    }
    const off = await startTestHerald({});
    try {
      expect(
        await new EventhosApi(off.httpPort).call("GET", "/system", undefined, { authorization: "Bearer " }),
        401202,
        "Incorrect token",
      );
      expect(
        await new EventhosApi(off.httpPort).call("GET", "/event/received", undefined, { authorization: `Bearer ${ADMIN_TOKEN}` }),
        401202,
        "Incorrect token",
      );
    } finally {
      await off.stop();
    }
  });

  it("admin errors keep the shape: unknown fields, missing references, bad action", async () => {
    const bad = await fx.api.call(
      "POST",
      "/action",
      { id: "x", appId: "codes", method: "POST", url: "ftp://x" },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    assert.equal(bad.json.code, 400000);
    assert.match(bad.json.message, /^Invalid request: .*http\(s\) URL/);
    const unknown = await fx.api.call("POST", "/system", { id: "x", colour: "red" }, { authorization: `Bearer ${ADMIN_TOKEN}` });
    assert.equal(unknown.json.code, 400000);
    const missing = await fx.api.call(
      "POST",
      "/contract",
      { id: "c", eventId: "nope", actionId: "codes-hook-action" },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    expect(missing, 400024, "The event does not exist.");
    const none = await fx.api.call("GET", "/event/received/123456789", undefined, { authorization: `Bearer ${ADMIN_TOKEN}` });
    assert.equal(none.json.code, 404001);
    assert.equal(none.status, 404);
  });
});

/** `--eventhos-success-code 20000`: the original server's success code, for its clients; nothing else changes. */
describe("eventhos /event/send with the original server's success code", () => {
  const fx = withProducer("original", {
    eventhosFacade: { successCode: 20000 },
  });

  it("answers {code: 20000} with HTTP 200, as the original's published tests assert, for a send with or without a body", async () => {
    for (const body of [{ name: "Morpheush" }, undefined]) {
      const r = await fx.api.send(fx.p.eventId, fx.token, body);
      assert.deepEqual(r.json, { code: 20000, message: "success" });
      assert.equal(r.status, 200);
    }
  });

  it("keeps the other codes: 200310, /auth/token's 200000, errors", async () => {
    await fx.api.admin("POST", "/event", { id: "original-lonely", appId: "original", name: "lonely" });
    const lonely = await fx.api.send("original-lonely", fx.token, {});
    assert.deepEqual(lonely.json, { code: 200310, message: "Success, but no contracts exists for this event" });
    assert.equal(lonely.status, 200);
    const t = await fx.api.call("POST", "/auth/token", {
      grant_type: "client_credentials",
      client_id: fx.p.clientId,
      client_secret: fx.p.secret,
    });
    assert.equal(t.json.code, 200000);
    const wrong = await fx.api.send(fx.p.eventId, "wrong", {});
    assert.deepEqual(wrong.json, { code: 401202, message: "Incorrect token" });
    assert.equal(wrong.status, 401);
  });
});
