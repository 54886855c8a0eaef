import { strict as assert } from "node:assert";
import { xml2js } from "xml-js";
import { startTestHerald, type TestHerald } from "../support/herald.js";
import { unary } from "../support/grpc-client.js";
import { http, JSON_TYPE, XML, type HttpReply } from "../support/http.js";
import { XmsStream } from "../support/xms-client.js";

const ADMIN = "admin-key-of-the-legacy-access-tests";
const KEY_A = "legacy-key-of-app-a";
const KEY_B = "legacy-key-of-app-b";
const XMS_TYPE = "application/xml";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const basic = (password: string, user = "kony") => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const bearer = (credential: string) => `Bearer ${credential}`;
const xmlOf = (r: HttpReply) => xml2js(r.body, { compact: true }) as Record<string, any>;

/** A registered, published app with these legacy settings and one published event, `${id}-e`. */
async function app(h: TestHerald, id: string, legacy: object = {}): Promise<void> {
  await unary(h.clients.registry, "upsertApp", { app: { id, name: id, published: true, legacy } });
  await unary(h.clients.registry, "upsertEvent", { event: { id: `${id}-e`, appId: id, name: "e", published: true } });
}

/** An API key (`hak_…`) with these roles on these apps. */
async function apiKey(h: TestHerald, roles: string[], appIds: string[]): Promise<string> {
  const { secret } = await unary<{ secret: string }>(h.clients.registry, "createApiKey", { name: "k", roles, appIds });
  return secret;
}

/** The contract's refusal: status = code, the description, no message ids, no stack trace; 401 carries the challenge. */
function assertRefused(r: HttpReply, status: 401 | 403, description?: RegExp): void {
  assert.equal(r.status, status, r.body);
  assert.equal(r.contentType, JSON_TYPE);
  const res = JSON.parse(r.body).messageResponse;
  assert.equal(res.code, status);
  assert.deepEqual(res.messages, []);
  assert.deepEqual(res.invalidSubscribers, []);
  if (description) assert.match(res.description, description);
  assert.equal(r.headers?.["www-authenticate"], status === 401 ? 'Basic realm="herald"' : undefined);
  assert.doesNotMatch(r.body, /\bat .*\.js:\d+/, "no stack trace");
}

describe("legacy routes with access control on: each client's credential is checked", () => {
  let h: TestHerald;
  const base = () => `http://127.0.0.1:${h.httpPort}`;

  before(async () => {
    h = await startTestHerald({ auth: { adminKey: ADMIN } });
    await app(h, "ka", { key: KEY_A });
    await app(h, "kb", { key: KEY_B });
    await app(h, "knet", { networks: ["127.0.0.0/8"] });
    await app(h, "kfar", { key: KEY_A, networks: ["10.0.0.0/8"] });
    await app(h, "xa", { key: "xa-key" });
    await app(h, "xb", { key: "xb-key", xmsBasic: true });
    await app(h, "xc", { key: "xc-key", xmsBasic: true });
  });
  after(() => h.stop());

  describe("Kony / Volt MX", () => {
    const push = (appId: string, headers: Record<string, string> = {}, prefix = "kpns") =>
      http(
        `${base()}/${prefix}/api/v1/messages/push`,
        "POST",
        JSON.stringify({
          messageRequest: { appId, messages: { message: { subscribers: { allActive: "true" }, content: { data: "hi" } } } },
        }),
        { "content-type": JSON_TYPE, ...headers },
      );
    const status = (id: string, headers: Record<string, string> = {}) =>
      http(`${base()}/kpns/api/v1/status/push/request/${id}`, "GET", undefined, headers);
    const subscribe = (appId: string, deviceId: string, headers: Record<string, string> = {}) =>
      http(
        `${base()}/kpns/subscription`,
        "POST",
        JSON.stringify({ subscriptionService: { subscribe: { appId, deviceId, sid: "s", osType: "androidgcm" } } }),
        { "content-type": JSON_TYPE, ...headers },
      );
    const devicesOf = async (appId: string) =>
      (await unary<{ subscribers: Array<{ deviceId: string }> }>(h.clients.registry, "listSubscribers", { appId })).subscribers.map(
        (s) => s.deviceId,
      );

    it("accepts the app's legacy key as the Basic password, as Bearer, as X-Kony-Authorization (raw or Bearer)", async () => {
      for (const headers of [
        { authorization: basic(KEY_A) },
        { authorization: basic(KEY_A, "") },
        { authorization: bearer(KEY_A) },
        { "x-kony-authorization": KEY_A },
        { "x-kony-authorization": bearer(KEY_A) },
      ]) {
        const r = await push("ka", headers, "vpns");
        assert.equal(r.status, 200, `${JSON.stringify(headers)}: ${r.body}`);
        assert.equal(JSON.parse(r.body).messageResponse.description, "Request Queued. ");
      }
    });

    it("refuses a wrong key and no credential with 401 in the contract's shape", async () => {
      assertRefused(await push("ka", { authorization: basic(KEY_B) }), 401, /^Invalid credential/);
      assertRefused(await push("ka", { authorization: bearer(`${KEY_A}x`) }), 401, /^Invalid credential/);
      assertRefused(await push("ka", { "x-kony-authorization": KEY_B }), 401, /^Invalid credential/);
      assertRefused(await push("ka"), 401, /^Authentication required/);
      // The user name is not the credential.
      assertRefused(await push("ka", { authorization: basic("", KEY_A) }), 401);
      // An XML request gets the XML document.
      const xml = await http(
        `${base()}/kpns/service/eventpushmessage`,
        "POST",
        "<event><eventid>ka-e</eventid><message><subscribers><subscriber ksid='x'/></subscribers></message></event>",
        { "content-type": XML, authorization: basic("nope") },
      );
      assert.equal(xml.status, 401, xml.body);
      assert.equal(xml.contentType, XML);
      assert.equal(xmlOf(xml)["messageResponse"].code._text, "401");
      assert.equal(xmlOf(xml)["messageResponse"].description._text, "Invalid credential. ");
    });

    it("checks the event's own app on eventpushmessage", async () => {
      const send = (eventId: string, key: string) =>
        http(
          `${base()}/kpns/service/eventpushmessage`,
          "POST",
          JSON.stringify({ event: { eventid: eventId, message: { subscribers: { subscriber: [{ ksid: "x" }] } } } }),
          { "content-type": JSON_TYPE, authorization: basic(key) },
        );
      assert.equal((await send("ka-e", KEY_A)).status, 200);
      assertRefused(await send("kb-e", KEY_A), 401);
      assert.equal((await send("kb-e", KEY_B)).status, 200);
    });

    it("accepts an API key with the publish role on the app; refuses one of another app, and a watch-only one, with 403", async () => {
      const publishA = await apiKey(h, ["ROLE_PUBLISH"], ["ka"]);
      assert.equal((await push("ka", { authorization: bearer(publishA) })).status, 200);
      assert.equal((await push("ka", { authorization: basic(publishA) })).status, 200);
      assertRefused(await push("kb", { authorization: bearer(publishA) }), 403, /^The credential may not act for this application/);
      const watchA = await apiKey(h, ["ROLE_WATCH"], ["ka"]);
      assertRefused(await push("ka", { authorization: bearer(watchA) }), 403, /^The credential may not publish/);
    });

    it("accepts a client of an app's open network without a credential, from the socket's address only", async () => {
      assert.equal((await push("knet")).status, 200);
      assertRefused(await push("kfar", { "x-forwarded-for": "10.1.2.3" }), 401);
      assert.equal((await push("kfar", { authorization: basic(KEY_A) })).status, 200);
    });

    it("subscribes and unsubscribes only with the app's credential, and acts on nothing when refused", async () => {
      const none = await subscribe("ka", "dev-refused");
      assert.equal(none.status, 401, none.body);
      assert.equal(none.headers?.["www-authenticate"], 'Basic realm="herald"');
      assert.deepEqual(JSON.parse(none.body), {
        subscriptionResponse: { statusCode: 401, message: "Authentication required: send the application's legacy key or an API key. " },
      });
      assert.ok(!(await devicesOf("ka")).includes("dev-refused"), "a refused subscription is not made");
      const ok = await subscribe("ka", "dev-ok", { authorization: basic(KEY_A) });
      assert.equal(ok.status, 200, ok.body);
      const ksid = JSON.parse(ok.body).subscriptionResponse.ksid as string;
      const unsubscribe = (headers: Record<string, string>) =>
        http(`${base()}/kpns/subscription`, "POST", JSON.stringify({ subscriptionService: { unsubscribe: { ksid } } }), {
          "content-type": JSON_TYPE,
          ...headers,
        });
      // By ksid alone: the ksid's own app is checked.
      const refused = await unsubscribe({ authorization: basic(KEY_B) });
      assert.equal(refused.status, 401, refused.body);
      assert.deepEqual(JSON.parse(refused.body), { subscriptionResponse: { statusCode: 401, message: "Invalid credential. " } });
      assert.ok((await devicesOf("ka")).includes("dev-ok"), "a refused unsubscription removes nothing");
      assert.equal((await unsubscribe({ authorization: basic(KEY_A) })).status, 200);
      assert.ok(!(await devicesOf("ka")).includes("dev-ok"));
    });

    it("answers a push's status only to its app's credential; request ids are random", async () => {
      const sub = await subscribe("ka", "dev-push-status", { authorization: basic(KEY_A) });
      const ksid = JSON.parse(sub.body).subscriptionResponse.ksid as string;
      const toKsid = await http(
        `${base()}/kpns/api/v1/messages/push`,
        "POST",
        JSON.stringify({
          messageRequest: { appId: "ka", messages: { message: { subscribers: { subscriber: { ksid } }, content: { data: "hi" } } } },
        }),
        { "content-type": JSON_TYPE, authorization: basic(KEY_A) },
      );
      const first = JSON.parse(toKsid.body).messageResponse;
      const second = JSON.parse((await push("ka", { authorization: basic(KEY_A) })).body).messageResponse;
      assert.match(first.requestId, UUID);
      assert.match(second.requestId, UUID);
      assert.notEqual(first.requestId, second.requestId);
      assert.match(String(first.messages[0].msgId), /^\d+$/, "message ids stay numeric");

      const refused = await status(first.requestId, { authorization: basic(KEY_B) });
      assert.equal(refused.status, 401, refused.body);
      assert.deepEqual(JSON.parse(refused.body), { code: 401, message: "Invalid credential. " });
      assert.equal(refused.headers?.["www-authenticate"], 'Basic realm="herald"');
      assert.equal((await status(first.requestId)).status, 401);
      const publishB = await apiKey(h, ["ROLE_PUBLISH"], ["kb"]);
      const other = await status(first.requestId, { authorization: bearer(publishB) });
      assert.equal(other.status, 403, other.body);
      assert.equal(JSON.parse(other.body).code, 403);
      assert.doesNotMatch(other.body, /pushId|ksid/, "nothing of the status leaks");

      const answered = await status(first.requestId, { authorization: basic(KEY_A) });
      assert.equal(answered.status, 200, answered.body);
      assert.deepEqual(
        JSON.parse(answered.body).messages.map((m: { pushId: string; ksid: string }) => [String(m.pushId), m.ksid]),
        [[String(first.messages[0].msgId), ksid]],
      );
    });

    it("a status by a bare message id needs the app's credential too", async () => {
      const sub = await subscribe("ka", "dev-status", { authorization: basic(KEY_A) });
      const ksid = JSON.parse(sub.body).subscriptionResponse.ksid as string;
      const event = await http(
        `${base()}/kpns/service/eventpushmessage`,
        "POST",
        JSON.stringify({ event: { eventid: "ka-e", message: { subscribers: { subscriber: [{ ksid }] } } } }),
        { "content-type": JSON_TYPE, authorization: basic(KEY_A) },
      );
      assert.equal(event.status, 200, event.body);
      const msgId = String(JSON.parse(event.body).messageResponse.messages[0].msgId);
      assert.match(msgId, /^\d+$/);
      assert.equal((await status(msgId)).status, 401);
      assert.equal((await status(msgId, { authorization: basic(KEY_B) })).status, 401);
      const answered = await status(msgId, { authorization: basic(KEY_A) });
      assert.equal(answered.status, 200, answered.body);
      assert.deepEqual(
        JSON.parse(answered.body).messages.map((m: { pushId: string; ksid: string }) => [String(m.pushId), m.ksid]),
        [[msgId, ksid]],
      );
    });
  });

  describe("XMS", () => {
    const url = (appid: string, id = "") => `${base()}/eventhandlers${id ? `/${id}` : ""}?appid=${encodeURIComponent(appid)}`;
    const BODY = `<web_service version="1.0"><eventhandler><eventsubscribe type="any"/></eventhandler></web_service>`;
    const create = (appid: string, headers: Record<string, string> = {}) =>
      http(url(appid), "POST", BODY, { "content-type": XMS_TYPE, ...headers });
    const list = (appid: string, headers: Record<string, string> = {}) => http(url(appid), "GET", undefined, headers);
    const idOf = (r: HttpReply) => {
      assert.equal(r.status, 201, r.body);
      return xmlOf(r)["web_service"].eventhandler_response._attributes.identifier as string;
    };
    const open: XmsStream[] = [];
    const stream = async (appid: string, id: string, headers: Record<string, string> = {}) => {
      const s = await XmsStream.open(url(appid, id), open.length + 1, headers);
      open.push(s);
      return s;
    };
    afterEach(() => {
      for (const s of open.splice(0)) s.close();
    });

    /** The XMS error document, with its status; 401 carries the Basic challenge. */
    function assertXmsRefused(r: { status: number; body: string; headers?: Record<string, unknown> }, status: 401 | 403): void {
      assert.equal(r.status, status, r.body);
      const error = xmlOf(r as HttpReply)["web_service"]?.error?._attributes;
      assert.equal(error?.status, String(status), r.body);
      assert.ok(typeof error?.reason === "string" && error.reason.length > 0);
      assert.equal(r.headers?.["www-authenticate"], status === 401 ? 'Basic realm="herald"' : undefined);
      assert.doesNotMatch(r.body, /\bat .*\.js:\d+/, "no stack trace");
    }

    it("a registered appid without a credential creates, lists, and streams an event", async () => {
      const id = idOf(await create("xa"));
      assert.match(id, UUID, "handler ids are random");
      const listed = await list("xa");
      assert.equal(listed.status, 200, listed.body);
      assert.ok(listed.body.includes(id));
      const s = await stream("xa", id);
      assert.equal(s.status, 200);
      await unary(h.clients.hub, "sendEvent", { appId: "xa", eventId: "xa-e", type: "ringing", resourceType: "call", resourceId: "c1" });
      await s.received(1);
      assert.equal(s.realEvents[0]!.type, "ringing");
    });

    it("an unregistered appid is refused with 403 on every route", async () => {
      assertXmsRefused(await create("nobody"), 403);
      assertXmsRefused(await list("nobody"), 403);
      const s = await stream("nobody", "00000000-0000-4000-8000-000000000000");
      await s.ended;
      assertXmsRefused({ status: s.status, body: s.body, headers: s.response.headers }, 403);
      assertXmsRefused(await http(url("nobody", "x"), "DELETE"), 403);
    });

    it("an app with xmsBasic wants its legacy key as the Basic password: 401 without it", async () => {
      assertXmsRefused(await create("xb"), 401);
      assertXmsRefused(await create("xb", { authorization: basic("wrong") }), 401);
      const auth = { authorization: basic("xb-key") };
      const id = idOf(await create("xb", auth));
      assert.equal((await list("xb", auth)).status, 200);
      assertXmsRefused(await list("xb"), 401);
      const refusedStream = await stream("xb", id);
      await refusedStream.ended;
      assertXmsRefused({ status: refusedStream.status, body: refusedStream.body, headers: refusedStream.response.headers }, 401);
      const s = await stream("xb", id, auth);
      assert.equal(s.status, 200);
      await unary(h.clients.hub, "sendEvent", { appId: "xb", eventId: "xb-e", type: "hangup", resourceType: "call", resourceId: "c2" });
      await s.received(1);
      const put = await http(url("xb", id), "PUT", BODY.replace("any", "dtmf"), { "content-type": XMS_TYPE });
      assertXmsRefused(put, 401);
      assertXmsRefused(await http(url("xb", id), "DELETE"), 401);
      assert.equal((await http(url("xb", id), "DELETE", undefined, auth)).status, 204);
    });

    it("another app's credentials see nothing of an app's handlers", async () => {
      const id = idOf(await create("xb", { authorization: basic("xb-key") }));
      const asC = { authorization: basic("xc-key") };
      const refused = await list("xb", asC);
      assertXmsRefused(refused, 401);
      assert.ok(!refused.body.includes(id));
      assertXmsRefused(await http(url("xb", id), "DELETE", undefined, asC), 401);
      const own = await list("xc", asC);
      assert.equal(own.status, 200, own.body);
      assert.equal(xmlOf(own)["web_service"].eventhandlers_response._attributes.size, "0");
      assert.ok(!own.body.includes(id));
      assert.equal((await http(url("xc", id), "GET", undefined, asC)).status, 404);
      assert.ok((await list("xb", { authorization: basic("xb-key") })).body.includes(id), "the handler is still there");
    });

    it("accepts a Bearer API key with the watch role on the app; a publish-only one gets 403", async () => {
      const watchB = await apiKey(h, ["ROLE_WATCH"], ["xb"]);
      assert.equal((await list("xb", { authorization: bearer(watchB) })).status, 200);
      assertXmsRefused(await list("xc", { authorization: bearer(watchB) }), 403);
      const publishB = await apiKey(h, ["ROLE_PUBLISH"], ["xb"]);
      assertXmsRefused(await list("xb", { authorization: bearer(publishB) }), 403);
    });
  });
});

describe("legacy routes with access control off: open, as before", () => {
  let h: TestHerald;
  before(async () => {
    h = await startTestHerald();
    await unary(h.clients.registry, "upsertApp", { app: { id: "open", name: "open", published: true, legacy: { key: KEY_A } } });
  });
  after(() => h.stop());

  it("pushes and answers status without a credential, request id = first message id; XMS takes any appid", async () => {
    const base = `http://127.0.0.1:${h.httpPort}`;
    const pushed = await http(
      `${base}/kpns/api/v1/messages/push`,
      "POST",
      JSON.stringify({
        messageRequest: { appId: "open", messages: { message: { subscribers: { allActive: "true" }, content: { data: "hi" } } } },
      }),
      { "content-type": JSON_TYPE },
    );
    assert.equal(pushed.status, 200, pushed.body);
    const res = JSON.parse(pushed.body).messageResponse;
    assert.equal(res.requestId, String(res.messages[0].msgId));
    assert.equal((await http(`${base}/kpns/api/v1/status/push/request/${res.requestId}`, "GET")).status, 200);
    const created = await http(
      `${base}/eventhandlers?appid=unregistered`,
      "POST",
      "<web_service><eventhandler><eventsubscribe/></eventhandler></web_service>",
      {
        "content-type": XMS_TYPE,
      },
    );
    assert.equal(created.status, 201, created.body);
  });
});
